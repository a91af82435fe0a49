"""observability: the alarm topic, an alarm for every tier, the platform-health composite
alarm (the deploy's rollback trigger) and the platform dashboard.

Every alarm is an Alarm spec (templates/parts/alarms.py) and notifies the topic on ALARM
and on OK. No alarm treats missing data as breaching, so a stack still being created, or
a quiet environment, never trips the rollback trigger; an absent metric means "no
traffic / no replica / feature off" there.

Optional parts follow their producers: the fleet alarm exists when the fleet does
(FleetAutoScalingGroupName != ""), the media alarms when the pipeline does, and the
CloudFront alarm when there is a distribution AND the stack runs in us-east-1: CloudFront
publishes its metrics only there and an alarm can only watch metrics of its own region.
The dashboard shows CloudFront from us-east-1 wherever the stack runs.
"""

from __future__ import annotations

import json
import re

from troposphere import And, Equals, GetAtt, If, Join, Not, Ref, Sub, cloudwatch
from troposphere import Condition as IsTrue

from templates.base import Tier
from templates.parts.alarms import (
    Alarm,
    Expression,
    Metric,
    add_alarm,
    alarm_topic,
    cloudfront_5xx_alarm,
)

# Redis (cluster mode off) names its nodes <group>-001..-003; the data tier allows up to
# two replicas. Alarms take the worst node; a node that does not exist has no data.
REDIS_NODES = ("001", "002", "003")

# Wiring parameters: name -> (the tier that outputs it, what it is); docs/wiring.md.
WIRING = {
    "StorageKeyArn": ("security", "Storage KMS key encrypting the topic (security)"),
    "AlbFullName": ("load-balancer", "ALB full name for metrics, app/<name>/<id> (load-balancer)"),
    "ApiTargetGroupFullName": ("load-balancer", "API target group full name (load-balancer)"),
    "WebTargetGroupFullName": ("load-balancer", "Web target group full name (load-balancer)"),
    "ApiAlternateTargetGroupFullName": (
        "load-balancer",
        "API second (blue/green) target group full name (load-balancer)",
    ),
    "WebAlternateTargetGroupFullName": (
        "load-balancer",
        "Web second (blue/green) target group full name (load-balancer)",
    ),
    "ClusterName": ("compute", "ECS cluster (compute)"),
    "ApiServiceName": ("compute", "ECS api service (compute)"),
    "WebServiceName": ("compute", "ECS web service (compute)"),
    "FleetAutoScalingGroupName": ("fleet", 'Fleet Auto Scaling group; "" when off (fleet)'),
    "FleetTargetGroupFullName": ("fleet", 'Fleet target group full name; "" when off (fleet)'),
    "DbClusterIdentifier": ("data", "Aurora cluster identifier (data)"),
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
    "BackupVaultName": ("backup", "Backup vault (backup)"),
}


class ObservabilityTier(Tier):
    name = "observability"
    description = "alarm topic, alarms for every tier, platform-health composite, dashboard"

    def build(self) -> None:
        self.inputs()
        self.topic()
        self.thresholds()
        self.alarms = self.alarm_catalogue()
        for alarm in self.alarms:
            add_alarm(self, alarm)
        self.platform_health()
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

    # -- topic -----------------------------------------------------------------------
    def topic(self) -> None:
        alarm_topic(self, Ref("StorageKeyArn"))

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
            "in 3 of 5 minutes.",
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
            "DbConnectionsThreshold",
            "Aurora connections",
            400,
            "Database connections that alarm (size it to the instance class's max_connections).",
            MinValue=10,
            MaxValue=16000,
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
                    # A blue/green release serves from either group of api and web.
                    unhealthy("api2", "ApiAlternateTargetGroupFullName"),
                    unhealthy("web2", "WebAlternateTargetGroupFullName"),
                    unhealthy("fleet", "FleetTargetGroupFullName"),
                    Expression(
                        "unhealthy",
                        If(
                            "HasFleet",
                            "MAX([api, web, api2, web2, fleet])",
                            "MAX([api, web, api2, web2])",
                        ),
                        "unhealthy targets (worst target group)",
                    ),
                ),
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
                "ECS api service CPU above 80% for 2 x 5 min",
                threshold=80,
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
                critical=True,
                metrics=(Metric("cpu", "AWS/RDS", "CPUUtilization", db, "Maximum", visible=True),),
            ),
            Alarm(
                "AuroraConnections",
                "aurora-connections",
                "Aurora connections above DbConnectionsThreshold for 2 x 5 min",
                threshold="DbConnectionsThreshold",
                metrics=(
                    Metric(
                        "connections", "AWS/RDS", "DatabaseConnections", db, "Maximum", visible=True
                    ),
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
            *self.backup_alarms(),
        ]

    @staticmethod
    def backup_alarms() -> list[Alarm]:
        """A failed backup, copy or restore job alarms at once. AWS Backup publishes these
        counts per resource type (and vault); a Metrics Insights query sums them. Restore
        jobs (the restore tests among them) carry no vault: any failed restore of this
        account and region alarms."""

        def failed(logical, description, metric, vault=True):
            where = " WHERE BackupVaultName = '${BackupVaultName}'" if vault else ""
            return Alarm(
                logical,
                "-".join(part.lower() for part in re.findall(r"[A-Z][a-z]+", logical)),
                f"{description} (within 5 min)",
                threshold=0,
                period=300,
                evaluation_periods=1,
                datapoints=1,
                metrics=(
                    Expression(
                        "failed",
                        Sub(f'SELECT SUM({metric}) FROM "AWS/Backup"{where}'),
                        metric,
                        insights=True,
                    ),
                ),
            )

        return [
            failed("BackupJobsFailed", "A backup job failed", "NumberOfBackupJobsFailed"),
            failed(
                "BackupJobsExpired",
                "A backup job did not start in its window",
                "NumberOfBackupJobsExpired",
            ),
            failed(
                "CopyJobsFailed",
                "A copy to the standby region's vault failed",
                "NumberOfCopyJobsFailed",
            ),
            failed(
                "RestoreJobsFailed",
                "A restore job (a restore test among them) failed",
                "NumberOfRestoreJobsFailed",
                vault=False,
            ),
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
                AlarmActions=[Ref("AlarmTopic")],
                OKActions=[Ref("AlarmTopic")],
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

    def widgets(self) -> list[tuple[dict, str | None]]:
        """(widget, condition) in reading order."""
        lb = ["LoadBalancer", "${AlbFullName}"]
        db = ["DBClusterIdentifier", "${DbClusterIdentifier}"]
        nodes = [f"${{RedisReplicationGroupId}}-{n}" for n in REDIS_NODES]
        hits = [
            ["AWS/ElastiCache", "CacheHits", "CacheClusterId", n, {"id": f"h{i}", "visible": False}]
            for i, n in enumerate(nodes, 1)
        ]
        misses = [
            [
                "AWS/ElastiCache",
                "CacheMisses",
                "CacheClusterId",
                n,
                {"id": f"m{i}", "visible": False},
            ]
            for i, n in enumerate(nodes, 1)
        ]
        cf = ["DistributionId", "${DistributionId}", "Region", "Global"]
        alarm_arns = [f"${{{a.logical}Alarm.Arn}}" for a in self.tier.alarms if not a.condition]
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
            (
                self._widget(
                    "ALB requests", [["AWS/ApplicationELB", "RequestCount", *lb]], period=60
                ),
                None,
            ),
            (
                self._widget(
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
                self._widget(
                    "ECS CPU (%)",
                    [
                        [
                            "AWS/ECS",
                            "CPUUtilization",
                            "ClusterName",
                            "${ClusterName}",
                            "ServiceName",
                            "${ApiServiceName}",
                        ],
                        ["...", "${WebServiceName}"],
                    ],
                    stat="Average",
                ),
                None,
            ),
            (
                self._widget(
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
                self._widget(
                    "Aurora connections", [["AWS/RDS", "DatabaseConnections", *db]], stat="Maximum"
                ),
                None,
            ),
            (
                self._widget(
                    "Aurora CPU (%)", [["AWS/RDS", "CPUUtilization", *db]], stat="Maximum"
                ),
                None,
            ),
            (
                self._widget(
                    "Redis hit rate (%)",
                    [
                        *hits,
                        *misses,
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
            (
                self._widget(
                    "CloudFront requests", [["AWS/CloudFront", "Requests", *cf]], region="us-east-1"
                ),
                "HasDistribution",
            ),
            (
                self._widget(
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
            (
                self._widget(
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
            (
                self._widget(
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
