"""observability: the notification topics by severity, an alarm for every tier, the
platform-health composite alarm (the deploy's rollback trigger), the platform's event
notifications (ECS task failures, deployments, scaling, backups), the environment's
budget and cost anomaly detection, and the platform dashboard.

Severity decides where a notification goes (templates/parts/alarms.py TopicSpec):
critical alarms and platform-health page (AlarmTopic), warnings go to chat
(WarningTopic), information to e-mail (InfoTopic); each topic takes its subscriptions
from parameters. Every alarm is an Alarm spec and notifies on ALARM and on OK. No alarm
treats missing data as breaching, so a stack still being created, or a quiet
environment, never trips the rollback trigger; an absent metric means "no traffic / no
replica / feature off" there.

Optional parts follow their producers: the fleet alarm exists when the fleet does
(FleetAutoScalingGroupName != ""), the media alarms when the pipeline does, and the
CloudFront alarm when there is a distribution AND the stack runs in us-east-1: CloudFront
publishes its metrics only there and an alarm can only watch metrics of its own region.
The dashboard shows CloudFront from us-east-1 wherever the stack runs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from troposphere import (
    And,
    Equals,
    FindInMap,
    GetAtt,
    If,
    Join,
    Not,
    Ref,
    Sub,
    budgets,
    ce,
    cloudwatch,
    events,
)
from troposphere import Condition as IsTrue

from templates.base import Tier
from templates.parts.alarms import (
    BUDGETS,
    CLOUDWATCH_ALARMS,
    COST_ANOMALY_ALERTS,
    EVENTBRIDGE_RULES,
    Alarm,
    Expression,
    Metric,
    TopicSpec,
    add_alarm,
    cloudfront_5xx_alarm,
    notification_topic,
)
from templates.parts.logs import APP_ERRORS_METRIC, APP_METRICS_NAMESPACE

# Redis (cluster mode off) names its nodes <group>-001..-003; the data tier allows up to
# two replicas. Alarms take the worst node; a node that does not exist has no data.
REDIS_NODES = ("001", "002", "003")

# Notification topics by severity. The critical topic keeps the logical id and the
# AlarmEmail parameter it always had (the edge stack's alarm topic shares both).
TOPICS = (
    TopicSpec(
        "AlarmTopic",
        "critical",
        "paging",
        "CriticalAlert",
        publishers=(CLOUDWATCH_ALARMS,),
        email="AlarmEmail",
    ),
    TopicSpec(
        "WarningTopic",
        "warning",
        "chat",
        "WarningAlert",
        publishers=(CLOUDWATCH_ALARMS, EVENTBRIDGE_RULES),
    ),
    TopicSpec(
        "InfoTopic",
        "info",
        "e-mail",
        "InfoAlert",
        publishers=(EVENTBRIDGE_RULES, BUDGETS, COST_ANOMALY_ALERTS),
    ),
)

# Aurora's default max_connections by instance class, from each engine's default formula
# (the platform's parameter groups leave it alone) on the class's memory:
#   PostgreSQL  LEAST(DBInstanceClassMemory / 9531392, 5000)
#   MySQL       GREATEST(45 * log2(DBInstanceClassMemory / 805306368),
#                        1000 * log2(DBInstanceClassMemory / 8187281408))
# with the nominal memory of the class; AWS's figure uses the memory left after the
# engine's own, a few percent less, so the alarm fires a little late, never early.
DB_CLASS_MEMORY_GIB = {
    "db.t3.medium": 4,
    "db.t4g.medium": 4,
    "db.t4g.large": 8,
    **{
        f"db.{family}.{size}": gib
        for family in ("r6g", "r7g")
        for size, gib in (("large", 16), ("xlarge", 32), ("2xlarge", 64), ("4xlarge", 128))
    },
}
GIB = 1024**3
SERVERLESS_GIB_PER_ACU = 2  # Aurora Serverless v2: one ACU is about 2 GiB of memory


def max_connections(engine: str, gib: float) -> int:
    """The engine's default max_connections for `gib` of instance memory."""
    memory = gib * GIB
    if engine == "postgresql":
        return int(min(memory / 9531392, 5000))
    return int(max(45 * math.log2(memory / 805306368), 1000 * math.log2(memory / 8187281408)))


# Serverless v2 sizes max_connections from the maximum ACUs, a parameter: metric math
# evaluates the formula. Both engines' terms are concave in memory, so each is the MIN
# of its chords (exact at the chords' ends, at most 5% low between, so the alarm errs
# early), and MySQL's formula is the MAX of its two terms.
# MySQL's first term counts below 8 ACUs, its second (steep near 4) from 4 up.
SMALL_ACU_POINTS = (1, 2, 4, 8)
LARGE_ACU_POINTS = (4, 5, 6, 8, 11, 16, 32, 64, 128, 256)


def _chords(term, points) -> list[tuple[float, float]]:
    """(slope, intercept) of the chords of term(acu) between consecutive points."""
    lines = []
    for low, high in zip(points, points[1:], strict=False):
        slope = (term(high) - term(low)) / (high - low)
        lines.append((round(slope, 3), round(term(low) - slope * low, 3)))
    return lines


def _min_of_lines(lines) -> str:
    # `c * 0 +` makes each line a time series, so MIN works point by point.
    return "MIN([%s])" % ", ".join(
        f"c * 0 + {slope} * ${{Acu}} {'-' if intercept < 0 else '+'} {abs(intercept)}"
        for slope, intercept in lines
    )


def serverless_max_connections(engine: str) -> str:
    """Metric math of max_connections at ${Acu} maximum ACUs."""
    gib = SERVERLESS_GIB_PER_ACU * GIB
    if engine == "postgresql":
        return "MIN([c * 0 + %s * ${Acu}, c * 0 + 5000])" % round(gib / 9531392, 3)
    small = _chords(lambda acu: 45 * math.log2(acu * gib / 805306368), SMALL_ACU_POINTS)
    large = _chords(lambda acu: 1000 * math.log2(acu * gib / 8187281408), LARGE_ACU_POINTS)
    return f"MAX([{_min_of_lines(small)}, {_min_of_lines(large)}])"


# Wiring parameters: name -> (the tier that outputs it, what it is); docs/wiring.md.
WIRING = {
    "StorageKeyArn": ("security", "Storage KMS key encrypting the topic (security)"),
    "AlbFullName": ("load-balancer", "ALB full name for metrics, app/<name>/<id> (load-balancer)"),
    "ApiTargetGroupFullName": ("load-balancer", "API target group full name (load-balancer)"),
    "WebTargetGroupFullName": ("load-balancer", "Web target group full name (load-balancer)"),
    "ClusterName": ("compute", "ECS cluster (compute)"),
    "ApiServiceName": ("compute", "ECS api service (compute)"),
    "WebServiceName": ("compute", "ECS web service (compute)"),
    "WorkerServiceName": ("compute", "ECS worker service (compute)"),
    "ClusterArn": ("compute", "ARN of the ECS cluster: its task and deployment events (compute)"),
    "FleetAutoScalingGroupName": ("fleet", 'Fleet Auto Scaling group; "" when off (fleet)'),
    "FleetTargetGroupFullName": ("fleet", 'Fleet target group full name; "" when off (fleet)'),
    "DbClusterIdentifier": ("data", "Aurora cluster identifier (data)"),
    "DbInstanceClass": ("data", "Aurora instance class: its max_connections (data)"),
    "DbMaxCapacity": ("data", "Serverless v2 maximum ACUs: its max_connections (data)"),
    "RedisReplicationGroupId": ("data", "Redis/Valkey replication group (data)"),
    "JobsQueueName": ("messaging", "Jobs queue (messaging)"),
    "JobsDeadLetterQueueName": ("messaging", "Jobs dead-letter queue (messaging)"),
    "DistributionId": ("cdn", "CloudFront distribution (cdn)"),
    "MediaConvertJobTemplateName": (
        "media",
        'Media job template; "" when the pipeline is off (media)',
    ),
    "TranscodeDeadLetterQueueName": ("media", 'Transcode dead-letter queue; "" when off (media)'),
    "MetadataApiId": ("api", 'Metadata HTTP API; "" when off (api)'),
    "MetadataApiStageName": ("api", 'Stage of the metadata API; "" when off (api)'),
}


@dataclass(frozen=True)
class EventRule:
    """One EventBridge rule `<logical>Rule` on the default bus notifying the topic of
    `severity` with `message` (an input template over `paths`)."""

    logical: str
    severity: str
    description: str
    pattern: dict
    paths: dict
    message: str
    condition: str | None = None


def event_rules(cluster, services) -> list[EventRule]:
    """The platform's event notifications: ECS task failures and deployment failures
    warn; deployments, scaling and backups that completed inform."""
    ecs_service = {
        "source": ["aws.ecs"],
        "resources": [{"prefix": services}],
    }
    backup_paths = {
        "job": "$.detail.backupJobId",
        "state": "$.detail.state",
        "resource": "$.detail.resourceArn",
        "message": "$.detail.statusMessage",
    }
    return [
        EventRule(
            "EcsTaskFailure",
            "warning",
            "ECS task of the platform stopped with a non-zero exit code, a failed health "
            "check or a failure to start",
            {
                "source": ["aws.ecs"],
                "detail-type": ["ECS Task State Change"],
                "detail": {
                    "clusterArn": [cluster],
                    "lastStatus": ["STOPPED"],
                    "$or": [
                        {"stopCode": ["TaskFailedToStart"]},
                        {
                            "stoppedReason": [
                                {"prefix": "Task failed ELB health checks"},
                                {"prefix": "Task failed container health checks"},
                            ]
                        },
                        {
                            "stopCode": ["EssentialContainerExited"],
                            "containers": {"exitCode": [{"anything-but": 0}]},
                        },
                    ],
                },
            },
            {
                "task": "$.detail.taskArn",
                "group": "$.detail.group",
                "code": "$.detail.stopCode",
                "reason": "$.detail.stoppedReason",
            },
            "ECS task <task> (<group>) stopped: <code>, <reason>",
        ),
        EventRule(
            "EcsDeploymentFailed",
            "warning",
            "ECS deployment of a platform service failed (the circuit breaker rolls it back)",
            {
                **ecs_service,
                "detail-type": ["ECS Deployment State Change"],
                "detail": {"eventName": ["SERVICE_DEPLOYMENT_FAILED"]},
            },
            {"service": "$.resources[0]", "reason": "$.detail.reason"},
            "ECS deployment of <service> failed: <reason>",
        ),
        EventRule(
            "EcsDeploymentCompleted",
            "info",
            "ECS deployment of a platform service completed",
            {
                **ecs_service,
                "detail-type": ["ECS Deployment State Change"],
                "detail": {"eventName": ["SERVICE_DEPLOYMENT_COMPLETED"]},
            },
            {"service": "$.resources[0]", "deployment": "$.detail.deploymentId"},
            "ECS deployment <deployment> of <service> completed",
        ),
        EventRule(
            "EcsScaling",
            "info",
            "A platform service's desired task count changed (autoscaling) or its tasks "
            "could not start",
            {
                **ecs_service,
                "detail-type": ["ECS Service Action"],
                "detail": {
                    "eventName": ["SERVICE_DESIRED_COUNT_UPDATED", "SERVICE_TASK_START_IMPAIRED"]
                },
            },
            {"service": "$.resources[0]", "event": "$.detail.eventName"},
            "ECS service <service>: <event>",
        ),
        EventRule(
            "FleetScaling",
            "info",
            "The EC2 fleet launched or terminated an instance (or failed to)",
            {
                "source": ["aws.autoscaling"],
                "detail-type": [
                    "EC2 Instance Launch Successful",
                    "EC2 Instance Terminate Successful",
                    "EC2 Instance Launch Unsuccessful",
                    "EC2 Instance Terminate Unsuccessful",
                ],
                "detail": {"AutoScalingGroupName": [Ref("FleetAutoScalingGroupName")]},
            },
            {
                "event": "$.detail-type",
                "instance": "$.detail.EC2InstanceId",
                "cause": "$.detail.Cause",
            },
            "Fleet: <event> (<instance>): <cause>",
            condition="HasFleet",
        ),
        EventRule(
            "BackupJobFailed",
            "warning",
            "An AWS Backup job of this account and region failed, was aborted or expired",
            {
                "source": ["aws.backup"],
                "detail-type": ["Backup Job State Change", "Copy Job State Change"],
                "detail": {"state": ["FAILED", "ABORTED", "EXPIRED"]},
            },
            backup_paths,
            "Backup job <job> of <resource>: <state>, <message>",
        ),
        EventRule(
            "BackupJobCompleted",
            "info",
            "An AWS Backup job of this account and region completed",
            {
                "source": ["aws.backup"],
                "detail-type": ["Backup Job State Change"],
                "detail": {"state": ["COMPLETED"]},
            },
            backup_paths,
            "Backup job <job> of <resource> completed",
        ),
    ]


class ObservabilityTier(Tier):
    name = "observability"
    description = "alarm topic, alarms for every tier, platform-health composite, dashboard"

    def build(self) -> None:
        self.inputs()
        self.topics()
        self.thresholds()
        self.alarms = self.alarm_catalogue()
        actions = {severity: n.actions() for severity, n in self.notify.items()}
        for alarm in self.alarms:
            add_alarm(self, alarm, actions=actions)
        self.platform_health()
        self.event_notifications()
        self.cost_guardrails()
        self.dashboard()

    # -- inputs --------------------------------------------------------------------
    def inputs(self) -> None:
        for name, (source, description) in WIRING.items():
            self.wired(name, source, Description=f"{description}.")
        self.condition("HasFleet", Not(Equals(Ref("FleetAutoScalingGroupName"), "")))
        self.condition("HasMedia", Not(Equals(Ref("MediaConvertJobTemplateName"), "")))
        self.condition("HasMetadataApi", Not(Equals(Ref("MetadataApiId"), "")))
        self.condition("HasDistribution", Not(Equals(Ref("DistributionId"), "")))
        self.condition("InUsEast1", Equals(Ref("AWS::Region"), "us-east-1"))
        self.condition("HasCloudFrontAlarm", And(IsTrue("HasDistribution"), IsTrue("InUsEast1")))
        self.engine = self.shared_parameter("DatabaseEngine")
        self.condition("IsMySql", Equals(self.engine, "aurora-mysql"))
        self.condition("IsServerless", Equals(Ref("DbInstanceClass"), "db.serverless"))
        self.template.add_mapping(
            "DbMaxConnections",
            {
                cls: {
                    "PostgreSql": max_connections("postgresql", gib),
                    "MySql": max_connections("mysql", gib),
                }
                for cls, gib in DB_CLASS_MEMORY_GIB.items()
            },
        )

    def connections_percent(self) -> If:
        """Metric math: DatabaseConnections (id c) in percent of the instance's
        max_connections."""
        provisioned = Sub(
            "100 * c / ${Max}",
            Max=If(
                "IsMySql",
                FindInMap("DbMaxConnections", Ref("DbInstanceClass"), "MySql"),
                FindInMap("DbMaxConnections", Ref("DbInstanceClass"), "PostgreSql"),
            ),
        )
        serverless = If(
            "IsMySql",
            Sub(f"100 * c / {serverless_max_connections('mysql')}", Acu=Ref("DbMaxCapacity")),
            Sub(f"100 * c / {serverless_max_connections('postgresql')}", Acu=Ref("DbMaxCapacity")),
        )
        return If("IsServerless", serverless, provisioned)

    # -- topics ----------------------------------------------------------------------
    def topics(self) -> None:
        """severity -> what its alarms and events notify."""
        self.notify = {
            spec.severity: notification_topic(self, spec, Ref("StorageKeyArn")) for spec in TOPICS
        }

    # -- alarms ----------------------------------------------------------------------
    def thresholds(self) -> None:
        def number(name, label, default, description, **limits):
            self.parameter(
                name,
                "Observability",
                label,
                Type="Number",
                Default=default,
                Description=description,
                **limits,
            )

        number(
            "Alb5xxRateThreshold",
            "ALB 5xx rate (%)",
            5,
            "Percent of ALB requests answered 5xx (by the ALB or the targets) that alarms, "
            "in 3 of 5 minutes. A rate rather than a count per minute: a count pages a busy "
            "environment for a normal error rate and never a quiet one for a broken release.",
            MinValue=1,
            MaxValue=100,
        )
        number(
            "AlbP99LatencyThreshold",
            "ALB p99 target response time (s)",
            2,
            "Seconds of p99 target response time that alarms, in 3 of 5 minutes.",
            MinValue=0.1,
            MaxValue=60,
        )
        number(
            "DbConnectionsPercentThreshold",
            "Aurora connections (% of max_connections)",
            80,
            "Percent of the instance's max_connections in use that warns. The maximum is "
            "derived from the instance class (Serverless v2: from the maximum ACUs) by the "
            "engine's default formula.",
            MinValue=10,
            MaxValue=100,
        )
        number(
            "AppErrorsWarningThreshold",
            "Application errors per minute (warning)",
            100,
            "Log lines per minute at level error or critical, over every service, that warn "
            "(docs/logging.md).",
            MinValue=1,
        )
        number(
            "AppErrorsCriticalThreshold",
            "Application errors per minute (critical)",
            500,
            "Log lines per minute at level error or critical, over every service, that page.",
            MinValue=1,
        )
        number(
            "DbFreeableMemoryThreshold",
            "Aurora freeable memory (bytes)",
            268435456,
            "Freeable memory below which Aurora alarms (default 256 MiB).",
            MinValue=16777216,
        )
        number(
            "DbReplicaLagThreshold",
            "Aurora replica lag (ms)",
            1000,
            "Milliseconds of Aurora replica lag that alarm (no readers: never).",
            MinValue=10,
        )
        number(
            "CacheEvictionsThreshold",
            "Redis evictions per 5 min",
            1000,
            "Keys evicted in 5 minutes that alarm (allkeys-lru evicts by design; many "
            "evictions mean the cache is too small).",
            MinValue=1,
        )

    def alarm_catalogue(self) -> list[Alarm]:
        alb = {"LoadBalancer": Ref("AlbFullName")}
        ecs_api = {"ClusterName": Ref("ClusterName"), "ServiceName": Ref("ApiServiceName")}
        db = {"DBClusterIdentifier": Ref("DbClusterIdentifier")}
        api = {"ApiId": Ref("MetadataApiId"), "Stage": Ref("MetadataApiStageName")}

        def unhealthy(id_, target_group):
            return Metric(
                id_,
                "AWS/ApplicationELB",
                "UnHealthyHostCount",
                {**alb, "TargetGroup": Ref(target_group)},
                "Maximum",
                condition="HasFleet" if id_ == "fleet" else None,
            )

        def healthy(id_, target_group):
            return Metric(
                id_,
                "AWS/ApplicationELB",
                "HealthyHostCount",
                {**alb, "TargetGroup": Ref(target_group)},
                "Minimum",
            )

        def redis_nodes(name, stat="Maximum"):
            return tuple(
                Metric(
                    f"n{i}",
                    "AWS/ElastiCache",
                    name,
                    {"CacheClusterId": Join("-", [Ref("RedisReplicationGroupId"), node])},
                    stat,
                )
                for i, node in enumerate(REDIS_NODES, 1)
            )

        def redis_worst(name, metric, purpose, description, threshold, critical=False):
            return Alarm(
                f"Redis{name}",
                purpose,
                description,
                threshold=threshold,
                critical=critical,
                metrics=(
                    *redis_nodes(metric),
                    Expression("worst", "MAX([n1, n2, n3])", f"worst node {purpose}"),
                ),
            )

        def depth(queue):
            return (
                Metric(
                    "depth",
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    {"QueueName": Ref(queue)},
                    "Maximum",
                    visible=True,
                ),
            )

        return [
            Alarm(
                "Alb5xxRate",
                "alb-5xx-rate",
                "More than Alb5xxRateThreshold % of ALB requests failed with 5xx",
                threshold="Alb5xxRateThreshold",
                period=60,
                evaluation_periods=5,
                datapoints=3,
                critical=True,
                metrics=(
                    Metric("elb", "AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", alb, "Sum"),
                    Metric("target", "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", alb, "Sum"),
                    Metric("requests", "AWS/ApplicationELB", "RequestCount", alb, "Sum"),
                    Expression(
                        "rate",
                        "IF(requests > 0, 100 * (FILL(elb, 0) + FILL(target, 0)) / requests, 0)",
                        "5xx rate (%)",
                    ),
                ),
            ),
            Alarm(
                "AlbUnhealthyTargets",
                "alb-unhealthy-targets",
                "At least one ALB target unhealthy for 2 consecutive minutes",
                comparison="GreaterThanOrEqualToThreshold",
                threshold=1,
                period=60,
                critical=True,
                metrics=(
                    unhealthy("api", "ApiTargetGroupFullName"),
                    unhealthy("web", "WebTargetGroupFullName"),
                    unhealthy("fleet", "FleetTargetGroupFullName"),
                    Expression(
                        "unhealthy",
                        If("HasFleet", "MAX([api, web, fleet])", "MAX([api, web])"),
                        "unhealthy targets (worst target group)",
                    ),
                ),
            ),
            Alarm(
                "AlbNoHealthyTargets",
                "alb-no-healthy-targets",
                "No healthy target left in the api or the web target group for 2 minutes",
                comparison="LessThanThreshold",
                threshold=1,
                period=60,
                critical=True,
                metrics=(
                    healthy("api", "ApiTargetGroupFullName"),
                    healthy("web", "WebTargetGroupFullName"),
                    Expression(
                        "healthy", "MIN([api, web])", "healthy targets (emptiest target group)"
                    ),
                ),
            ),
            *(
                Alarm(
                    f"Ecs{service}TasksStopped",
                    f"ecs-{service.lower()}-tasks-stopped",
                    f"Every task of the ECS {service.lower()} service stopped (no running task "
                    "for 3 minutes)",
                    comparison="LessThanThreshold",
                    threshold=1,
                    period=60,
                    evaluation_periods=3,
                    datapoints=3,
                    critical=True,
                    metrics=(
                        Metric(
                            "running",
                            "ECS/ContainerInsights",
                            "RunningTaskCount",
                            {
                                "ClusterName": Ref("ClusterName"),
                                "ServiceName": Ref(f"{service}ServiceName"),
                            },
                            "Minimum",
                            visible=True,
                        ),
                    ),
                )
                for service in ("Api", "Web", "Worker")
            ),
            *(
                Alarm(
                    logical,
                    purpose,
                    f"More than {threshold} application log lines per minute at level error or "
                    "critical, in 3 of 5 minutes",
                    threshold=threshold,
                    period=60,
                    evaluation_periods=5,
                    datapoints=3,
                    critical=critical,
                    metrics=(
                        Metric(
                            "errors",
                            Sub(APP_METRICS_NAMESPACE),
                            APP_ERRORS_METRIC,
                            {},
                            "Sum",
                            visible=True,
                        ),
                    ),
                )
                for logical, purpose, threshold, critical in (
                    ("AppErrors", "app-errors", "AppErrorsWarningThreshold", False),
                    (
                        "AppErrorsCritical",
                        "app-errors-critical",
                        "AppErrorsCriticalThreshold",
                        True,
                    ),
                )
            ),
            Alarm(
                "AlbTargetResponseTimeP99",
                "alb-p99-latency",
                "p99 target response time above AlbP99LatencyThreshold seconds",
                threshold="AlbP99LatencyThreshold",
                period=60,
                evaluation_periods=5,
                datapoints=3,
                critical=True,
                metrics=(
                    Metric(
                        "p99", "AWS/ApplicationELB", "TargetResponseTime", alb, "p99", visible=True
                    ),
                ),
            ),
            Alarm(
                "EcsApiCpu",
                "ecs-api-cpu",
                "ECS api service CPU above 75% for 2 x 5 min",
                threshold=75,
                metrics=(
                    Metric("cpu", "AWS/ECS", "CPUUtilization", ecs_api, "Average", visible=True),
                ),
            ),
            Alarm(
                "EcsApiMemory",
                "ecs-api-memory",
                "ECS api service memory above 80% for 2 x 5 min",
                threshold=80,
                metrics=(
                    Metric(
                        "memory", "AWS/ECS", "MemoryUtilization", ecs_api, "Average", visible=True
                    ),
                ),
            ),
            Alarm(
                "FleetCpu",
                "fleet-cpu",
                "Fleet ASG average CPU above 80% for 2 x 5 min",
                threshold=80,
                condition="HasFleet",
                metrics=(
                    Metric(
                        "cpu",
                        "AWS/EC2",
                        "CPUUtilization",
                        {"AutoScalingGroupName": Ref("FleetAutoScalingGroupName")},
                        "Average",
                        visible=True,
                    ),
                ),
            ),
            Alarm(
                "AuroraCpu",
                "aurora-cpu",
                "Aurora CPU above 75% for 2 x 5 min",
                threshold=75,
                metrics=(Metric("cpu", "AWS/RDS", "CPUUtilization", db, "Maximum", visible=True),),
            ),
            Alarm(
                "AuroraCpuCritical",
                "aurora-cpu-critical",
                "Aurora CPU above 90% for 2 x 5 min",
                threshold=90,
                critical=True,
                metrics=(Metric("cpu", "AWS/RDS", "CPUUtilization", db, "Maximum", visible=True),),
            ),
            Alarm(
                "AuroraConnections",
                "aurora-connections",
                "Aurora connections above DbConnectionsPercentThreshold % of the instance's "
                "max_connections for 2 x 5 min",
                threshold="DbConnectionsPercentThreshold",
                metrics=(
                    Metric("c", "AWS/RDS", "DatabaseConnections", db, "Maximum"),
                    Expression("percent", self.connections_percent(), "connections (% of maximum)"),
                ),
            ),
            Alarm(
                "AuroraFreeableMemory",
                "aurora-freeable-memory",
                "Aurora freeable memory below DbFreeableMemoryThreshold for 2 x 5 min",
                comparison="LessThanThreshold",
                threshold="DbFreeableMemoryThreshold",
                metrics=(
                    Metric("memory", "AWS/RDS", "FreeableMemory", db, "Minimum", visible=True),
                ),
            ),
            Alarm(
                "AuroraReplicaLag",
                "aurora-replica-lag",
                "Aurora reader lag above DbReplicaLagThreshold ms in 3 of 5 minutes",
                threshold="DbReplicaLagThreshold",
                period=60,
                evaluation_periods=5,
                datapoints=3,
                metrics=(
                    Metric(
                        "lag",
                        "AWS/RDS",
                        "AuroraReplicaLag",
                        {**db, "Role": "READER"},
                        "Maximum",
                        visible=True,
                    ),
                ),
            ),
            redis_worst(
                "EngineCpu",
                "EngineCPUUtilization",
                "redis-engine-cpu",
                "Redis engine (main thread) CPU above 80% on any node for 2 x 5 min",
                80,
            ),
            redis_worst(
                "Cpu",
                "CPUUtilization",
                "redis-cpu",
                "Redis host CPU above 90% on any node for 2 x 5 min",
                90,
            ),
            redis_worst(
                "Memory",
                "DatabaseMemoryUsagePercentage",
                "redis-memory",
                "Redis memory above 80% of maxmemory on any node for 2 x 5 min",
                80,
            ),
            redis_worst(
                "MemoryCritical",
                "DatabaseMemoryUsagePercentage",
                "redis-memory-critical",
                "Redis memory above 95% of maxmemory on any node for 2 x 5 min",
                95,
                critical=True,
            ),
            Alarm(
                "RedisEvictions",
                "redis-evictions",
                "Redis evicted more than CacheEvictionsThreshold keys in 5 minutes",
                threshold="CacheEvictionsThreshold",
                evaluation_periods=1,
                datapoints=1,
                metrics=(
                    *redis_nodes("Evictions", "Sum"),
                    Expression(
                        "evictions",
                        "SUM([FILL(n1, 0), FILL(n2, 0), FILL(n3, 0)])",
                        "evictions (all nodes)",
                    ),
                ),
            ),
            Alarm(
                "JobsDlqDepth",
                "jobs-dlq-depth",
                "Jobs dead-letter queue holds messages (a job failed 5 times)",
                threshold=0,
                evaluation_periods=1,
                datapoints=1,
                metrics=depth("JobsDeadLetterQueueName"),
            ),
            Alarm(
                "TranscodeDlqDepth",
                "transcode-dlq-depth",
                "Transcode dead-letter queue holds uploads that were never submitted",
                threshold=0,
                evaluation_periods=1,
                datapoints=1,
                condition="HasMedia",
                metrics=depth("TranscodeDeadLetterQueueName"),
            ),
            Alarm(
                "MediaConvertErrors",
                "mediaconvert-errors",
                "MediaConvert jobs ended in ERROR in the last 5 minutes",
                threshold=0,
                evaluation_periods=1,
                datapoints=1,
                condition="HasMedia",
                metrics=(
                    Metric(
                        "errors",
                        "AWS/MediaConvert",
                        "JobsErroredCount",
                        {
                            "Queue": Sub(
                                "arn:${AWS::Partition}:mediaconvert:${AWS::Region}:"
                                "${AWS::AccountId}:queues/Default"
                            )
                        },
                        "Sum",
                        visible=True,
                    ),
                ),
            ),
            Alarm(
                "MetadataApi5xxRate",
                "metadata-api-5xx-rate",
                "More than 5% of metadata API requests failed with 5xx in 3 of 5 minutes",
                threshold=5,
                period=60,
                evaluation_periods=5,
                datapoints=3,
                condition="HasMetadataApi",
                metrics=(
                    Metric("errors", "AWS/ApiGateway", "5xx", api, "Sum"),
                    Metric("requests", "AWS/ApiGateway", "Count", api, "Sum"),
                    Expression(
                        "rate",
                        "IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)",
                        "5xx rate (%)",
                    ),
                ),
            ),
            cloudfront_5xx_alarm("HasCloudFrontAlarm", critical=True),
        ]

    # -- composite ---------------------------------------------------------------------
    def platform_health(self) -> None:
        critical = [a for a in self.alarms if a.critical]

        def rule(alarms):
            return Sub(" OR ".join(f'ALARM("${{{a.logical}Alarm.Arn}}")' for a in alarms))

        always = [a for a in critical if not a.condition]
        optional = [a for a in critical if a.condition]
        assert all(a.condition == "HasCloudFrontAlarm" for a in optional)
        self.add(
            cloudwatch.CompositeAlarm(
                "PlatformHealthAlarm",
                AlarmName=self.physical_name("alarm", "platform-health"),
                AlarmDescription="platform-health: any user-facing symptom (5xx, unhealthy "
                "targets, latency, database or cache saturation). Rollback "
                "trigger of every deploy.",
                AlarmRule=If("HasCloudFrontAlarm", rule(always + optional), rule(always)),
                ActionsEnabled=True,
                AlarmActions=self.notify["critical"].actions(),
                OKActions=self.notify["critical"].actions(),
            )
        )
        self.output(
            "PlatformHealthAlarmName",
            Ref("PlatformHealthAlarm"),
            "Composite alarm over the critical alarms; the deploy's rollback trigger",
        )
        self.output(
            "PlatformHealthAlarmArn",
            GetAtt("PlatformHealthAlarm", "Arn"),
            "ARN of the platform-health composite alarm (rollback trigger)",
        )

    # -- events ------------------------------------------------------------------------
    def event_notifications(self) -> None:
        """Rules on the default bus (where AWS services send their events) that notify the
        topics, each message saying what happened to what."""
        cluster = Ref("ClusterArn")
        services = Sub(
            "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:service/${ClusterName}/"
        )
        for rule in event_rules(cluster, services):

            def target(id_, arn, rule=rule):
                return events.Target(
                    Id=f"{rule.severity}-{id_}",
                    Arn=arn,
                    InputTransformer=events.InputTransformer(
                        InputPathsMap=rule.paths, InputTemplate=json.dumps(rule.message)
                    ),
                )

            targets = self.notify[rule.severity].targets(target)
            kwargs = {"Condition": rule.condition} if rule.condition else {}
            self.add(
                events.Rule(
                    f"{rule.logical}Rule",
                    **kwargs,
                    Description=rule.description,
                    EventPattern=rule.pattern,
                    State="ENABLED",
                    Targets=targets,
                )
            )

    # -- cost --------------------------------------------------------------------------
    def cost_guardrails(self) -> None:
        amount = self.parameter(
            "MonthlyBudget",
            "Observability",
            "Monthly budget (USD)",
            Type="Number",
            Default=0,
            MinValue=0,
            MaxValue=10000000,
            Description="Monthly cost budget of this environment in USD: the info topic hears "
            "when the month's forecast reaches 80% and 100% of it. Counts the costs tagged "
            "Environment=<this environment> (activate Environment as a cost allocation tag "
            "in the billing console). 0: no budget.",
        )
        anomaly = self.parameter(
            "CostAnomalyThreshold",
            "Observability",
            "Cost anomaly alert (USD)",
            Type="Number",
            Default=100,
            MinValue=1,
            Description="Total impact in USD above which a cost anomaly of this environment "
            "(outside dev) notifies the info topic at once.",
        )
        self.condition("HasBudget", Not(Equals(amount, 0)))
        self.add(
            budgets.Budget(
                "EnvironmentBudget",
                Condition="HasBudget",
                Budget=budgets.BudgetData(
                    BudgetName=Sub("budget-platform-${Environment}-${AWS::Region}"),
                    BudgetType="COST",
                    TimeUnit="MONTHLY",
                    BudgetLimit=budgets.Spend(Amount=amount, Unit="USD"),
                    CostFilters={"TagKeyValue": [Sub("user:Environment$${Environment}")]},
                ),
                NotificationsWithSubscribers=[
                    budgets.NotificationWithSubscribers(
                        Notification=budgets.Notification(
                            NotificationType="FORECASTED",
                            ComparisonOperator="GREATER_THAN",
                            Threshold=percent,
                            ThresholdType="PERCENTAGE",
                        ),
                        Subscribers=[
                            budgets.Subscriber(SubscriptionType="SNS", Address=Ref("InfoTopic"))
                        ],
                    )
                    for percent in (80, 100)
                ],
            )
        )
        outside_dev = self.condition("OutsideDev", Not(Equals(self.environment, "dev")))
        self.add(
            ce.AnomalyMonitor(
                "CostAnomalyMonitor",
                Condition=outside_dev,
                MonitorName=self.physical_name("anomaly", "platform"),
                MonitorType="CUSTOM",
                MonitorSpecification=Sub(
                    json.dumps(
                        {
                            "Tags": {
                                "Key": "Environment",
                                "Values": ["${Environment}"],
                                "MatchOptions": ["EQUALS"],
                            }
                        },
                        sort_keys=True,
                    )
                ),
            )
        )
        self.add(
            ce.AnomalySubscription(
                "CostAnomalySubscription",
                Condition=outside_dev,
                SubscriptionName=self.physical_name("anomaly-alerts", "platform"),
                Frequency="IMMEDIATE",
                MonitorArnList=[Ref("CostAnomalyMonitor")],
                Subscribers=[ce.Subscriber(Type="SNS", Address=Ref("InfoTopic"))],
                ThresholdExpression=Sub(
                    json.dumps(
                        {
                            "Dimensions": {
                                "Key": "ANOMALY_TOTAL_IMPACT_ABSOLUTE",
                                "MatchOptions": ["GREATER_THAN_OR_EQUAL"],
                                "Values": ["${Threshold}"],
                            }
                        },
                        sort_keys=True,
                    ),
                    Threshold=anomaly,
                ),
            )
        )

    # -- dashboard ---------------------------------------------------------------------
    def dashboard(self) -> None:
        widgets = Dashboard(self)
        self.add(
            cloudwatch.Dashboard(
                "PlatformDashboard",
                DashboardName=self.physical_name("dashboard", "platform"),
                DashboardBody=widgets.body(),
            )
        )
        self.output(
            "DashboardName", Ref("PlatformDashboard"), "CloudWatch dashboard of the platform"
        )


class Dashboard:
    """The dashboard body: JSON text with ${Parameter} references, joined from widgets of
    which some are conditional (fleet, media, CloudFront)."""

    def __init__(self, tier: ObservabilityTier) -> None:
        self.tier = tier
        self.y = 0

    def _widget(
        self,
        title: str,
        metrics: list,
        *,
        region="${AWS::Region}",
        stat="Sum",
        width=12,
        period=300,
        extra=None,
    ) -> dict:
        return {
            "type": "metric",
            "width": width,
            "height": 6,
            "properties": {
                "title": title,
                "region": region,
                "stat": stat,
                "period": period,
                "view": "timeSeries",
                "stacked": False,
                "metrics": metrics,
                **(extra or {}),
            },
        }

    @staticmethod
    def _section(markdown: str) -> dict:
        return {"type": "text", "width": 24, "height": 1, "properties": {"markdown": markdown}}

    def widgets(self) -> list[tuple[dict, str | None]]:
        """(widget, condition) in reading order: the alarms, then one section per area
        (edge, application, data, media)."""
        lb = ["LoadBalancer", "${AlbFullName}"]
        db = ["DBClusterIdentifier", "${DbClusterIdentifier}"]
        nodes = [f"${{RedisReplicationGroupId}}-{n}" for n in REDIS_NODES]
        cluster = ["ClusterName", "${ClusterName}"]
        services = ["${ApiServiceName}", "${WebServiceName}", "${WorkerServiceName}"]

        def per_node(metric, prefix=None):
            return [
                [
                    "AWS/ElastiCache",
                    metric,
                    "CacheClusterId",
                    n,
                    *([{"id": f"{prefix}{i}", "visible": False}] if prefix else []),
                ]
                for i, n in enumerate(nodes, 1)
            ]

        def per_service(namespace, metric, extra=None):
            first = [namespace, metric, *cluster, "ServiceName", services[0], *(extra or [])]
            return [first, *(["...", s] for s in services[1:])]

        def per_target_group(metric):
            return [
                ["AWS/ApplicationELB", metric, *lb, "TargetGroup", "${ApiTargetGroupFullName}"],
                ["...", "${WebTargetGroupFullName}"],
            ]

        cf = ["DistributionId", "${DistributionId}", "Region", "Global"]
        alarm_arns = [f"${{{a.logical}Alarm.Arn}}" for a in self.tier.alarms if not a.condition]
        w = self._widget
        return [
            (
                {
                    "type": "alarm",
                    "width": 24,
                    "height": 4,
                    "properties": {
                        "title": "Alarms",
                        "alarms": ["${PlatformHealthAlarm.Arn}", *alarm_arns],
                    },
                },
                None,
            ),
            (self._section("## Edge: CloudFront and the load balancer"), None),
            (
                w("CloudFront requests", [["AWS/CloudFront", "Requests", *cf]], region="us-east-1"),
                "HasDistribution",
            ),
            (
                w(
                    "CloudFront error rate (%)",
                    [
                        ["AWS/CloudFront", "5xxErrorRate", *cf],
                        ["AWS/CloudFront", "4xxErrorRate", *cf],
                    ],
                    region="us-east-1",
                    stat="Average",
                ),
                "HasDistribution",
            ),
            (w("ALB requests", [["AWS/ApplicationELB", "RequestCount", *lb]], period=60), None),
            (
                w(
                    "ALB target response time (s)",
                    [
                        ["AWS/ApplicationELB", "TargetResponseTime", *lb, {"stat": "p50"}],
                        ["...", {"stat": "p99"}],
                    ],
                    stat="p99",
                    period=60,
                ),
                None,
            ),
            (
                w(
                    "ALB healthy targets",
                    per_target_group("HealthyHostCount"),
                    stat="Minimum",
                    period=60,
                ),
                None,
            ),
            (self._section("## Application: ECS services, EC2 fleet, jobs"), None),
            (w("ECS CPU (%)", per_service("AWS/ECS", "CPUUtilization"), stat="Average"), None),
            (
                w("ECS memory (%)", per_service("AWS/ECS", "MemoryUtilization"), stat="Average"),
                None,
            ),
            (
                w(
                    "ECS running tasks",
                    per_service("ECS/ContainerInsights", "RunningTaskCount"),
                    stat="Minimum",
                    period=60,
                ),
                None,
            ),
            (
                w(
                    "Application errors per minute",
                    [[APP_METRICS_NAMESPACE, APP_ERRORS_METRIC]],
                    period=60,
                ),
                None,
            ),
            (
                w(
                    "EC2 fleet CPU (%)",
                    [
                        [
                            "AWS/EC2",
                            "CPUUtilization",
                            "AutoScalingGroupName",
                            "${FleetAutoScalingGroupName}",
                        ]
                    ],
                    stat="Average",
                ),
                "HasFleet",
            ),
            (
                w(
                    "Queue depth",
                    [
                        [
                            "AWS/SQS",
                            "ApproximateNumberOfMessagesVisible",
                            "QueueName",
                            "${JobsQueueName}",
                        ],
                        ["...", "${JobsDeadLetterQueueName}"],
                    ],
                    stat="Maximum",
                ),
                None,
            ),
            (self._section("## Data: Aurora and Redis"), None),
            (
                w("Aurora connections", [["AWS/RDS", "DatabaseConnections", *db]], stat="Maximum"),
                None,
            ),
            (w("Aurora CPU (%)", [["AWS/RDS", "CPUUtilization", *db]], stat="Maximum"), None),
            (
                w(
                    "Aurora IOPS",
                    [["AWS/RDS", "ReadIOPS", *db], ["AWS/RDS", "WriteIOPS", *db]],
                    stat="Average",
                ),
                None,
            ),
            (
                w(
                    "Aurora latency (s)",
                    [["AWS/RDS", "ReadLatency", *db], ["AWS/RDS", "WriteLatency", *db]],
                    stat="Average",
                ),
                None,
            ),
            (
                w(
                    "Redis hit rate (%)",
                    [
                        *per_node("CacheHits", "h"),
                        *per_node("CacheMisses", "m"),
                        [
                            {
                                "expression": "100 * SUM([FILL(h1, 0), FILL(h2, 0), "
                                "FILL(h3, 0)]) / (SUM([FILL(h1, 0), FILL(h2, 0), "
                                "FILL(h3, 0)]) + SUM([FILL(m1, 0), FILL(m2, 0), "
                                "FILL(m3, 0)]))",
                                "label": "hit rate",
                                "id": "rate",
                            }
                        ],
                    ],
                ),
                None,
            ),
            (w("Redis connections", per_node("CurrConnections"), stat="Maximum"), None),
            (
                w(
                    "Redis memory (% of maxmemory)",
                    per_node("DatabaseMemoryUsagePercentage"),
                    stat="Maximum",
                ),
                None,
            ),
            (self._section("## Media: uploads to HLS"), "HasMedia"),
            (
                w(
                    "Transcoding",
                    [
                        [
                            "AWS/MediaConvert",
                            "JobsCompletedCount",
                            "Queue",
                            "arn:${AWS::Partition}:mediaconvert:${AWS::Region}:${AWS::AccountId}:"
                            "queues/Default",
                        ],
                        [".", "JobsErroredCount", ".", "."],
                        [
                            "AWS/SQS",
                            "ApproximateNumberOfMessagesVisible",
                            "QueueName",
                            "${TranscodeDeadLetterQueueName}",
                            {"stat": "Maximum"},
                        ],
                    ],
                ),
                "HasMedia",
            ),
        ]

    def body(self) -> Join:
        parts = []
        for widget, condition in self.widgets():
            text = json.dumps(widget, sort_keys=True)
            parts.append((Sub(text), condition))
        # The first widget is unconditional, so every other one is prefixed with a comma.
        pieces = ['{"widgets": [', parts[0][0]]
        for value, condition in parts[1:]:
            piece = Join("", [",", value])
            pieces.append(If(condition, piece, "") if condition else piece)
        pieces.append("]}")
        return Join("", pieces)
