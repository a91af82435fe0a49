"""observability: the alarm topic, an alarm for every tier, the platform-health composite
alarm (the deploy's rollback trigger) and the platform dashboard.

Every alarm notifies the topic on ALARM and on OK. Missing data is decided per alarm
(TREAT_MISSING below): nothing that feeds platform-health treats missing data as
breaching, so a stack still being created, or a quiet environment, never trips the
rollback trigger; an absent metric means "no traffic / no replica / feature off" there.

Optional parts follow their producers: the fleet alarm exists when the fleet does
(FleetAutoScalingGroupName != ""), the media alarms when the pipeline does, and the
CloudFront alarm when there is a distribution AND the stack runs in us-east-1: CloudFront
publishes its metrics only there and an alarm can only watch metrics of its own region.
The dashboard shows CloudFront from us-east-1 wherever the stack runs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from awacs import sns as sns_actions
from awacs.aws import (
    Allow, ArnLike, Bool, Condition, Deny, Policy, Principal, Statement, StringEquals,
)
from troposphere import (
    And, Equals, GetAtt, If, Join, Not, Ref, Sub, cloudwatch, sns,
)
from troposphere import Condition as IsTrue

from templates.base import Tier

# Redis (cluster mode off) names its nodes <group>-001..-003; the data tier allows up to
# two replicas. Alarms take the worst node; a node that does not exist has no data.
REDIS_NODES = ("001", "002", "003")


@dataclass
class Alarm:
    """One CloudWatch alarm of this tier, declared as data (see ALARMS)."""
    logical: str           # "<logical>Alarm" resource, "<logical>AlarmName" output
    purpose: str           # alarm-<purpose>-<env>
    description: str
    comparison: str
    threshold: object      # number, or the name of a threshold parameter
    period: int            # seconds
    evaluation: int        # periods evaluated
    datapoints: int        # breaching periods out of `evaluation` that alarm
    missing: str           # TreatMissingData
    metrics: list = field(default_factory=list)  # MetricDataQuery dicts (one returns)
    condition: str | None = None
    critical: bool = False  # part of platform-health


def metric(id_, namespace, name, dimensions, stat, period, label=None,
           visible=False) -> cloudwatch.MetricDataQuery:
    return cloudwatch.MetricDataQuery(
        Id=id_, ReturnData=visible, Label=label or name, MetricStat=cloudwatch.MetricStat(
            Metric=cloudwatch.Metric(Namespace=namespace, MetricName=name, Dimensions=[
                cloudwatch.MetricDimension(Name=k, Value=v) for k, v in dimensions.items()]),
            Period=period, Stat=stat))


def expression(id_, text, label) -> cloudwatch.MetricDataQuery:
    return cloudwatch.MetricDataQuery(Id=id_, Expression=text, Label=label, ReturnData=True)


# Wiring parameters: producer outputs this tier reads (docs/wiring.md).
WIRING = {
    "StorageKeyArn": "Storage KMS key encrypting the topic (security)",
    "AlbFullName": "ALB full name for metrics, app/<name>/<id> (load-balancer)",
    "ApiTargetGroupFullName": "API target group full name (load-balancer)",
    "WebTargetGroupFullName": "Web target group full name (load-balancer)",
    "ClusterName": "ECS cluster (compute)",
    "ApiServiceName": "ECS api service (compute)",
    "WebServiceName": "ECS web service (compute)",
    "FleetAutoScalingGroupName": "Fleet Auto Scaling group; \"\" when off (fleet)",
    "FleetTargetGroupFullName": "Fleet target group full name; \"\" when off (fleet)",
    "DbClusterIdentifier": "Aurora cluster identifier (data)",
    "RedisReplicationGroupId": "Redis/Valkey replication group (data)",
    "JobsQueueName": "Jobs queue (messaging)",
    "JobsDeadLetterQueueName": "Jobs dead-letter queue (messaging)",
    "DistributionId": "CloudFront distribution (cdn)",
    "MediaConvertJobTemplateName": "Media job template; \"\" when the pipeline is off (media)",
    "TranscodeDeadLetterQueueName": "Transcode dead-letter queue; \"\" when off (media)",
    "MetadataApiId": "Metadata HTTP API; \"\" when off (api)",
    "MetadataApiStageName": "Stage of the metadata API; \"\" when off (api)",
}


def alarm_topic(tier: Tier, key, condition: str | None = None, prefix: str = "") -> Ref:
    """The alarm topic (AlarmTopic), encrypted with `key`, which only CloudWatch alarms of
    this account may publish to, over TLS, with the optional AlarmEmail subscription.
    Shared by this tier and the edge stack's CloudFront alarm in us-east-1; `prefix`
    keeps the edge stack's output names apart from the root's."""
    email = tier.parameter(
        "AlarmEmail", "Observability", "Alarm e-mail", Type="String", Default="",
        AllowedPattern=r"^([^@\s]+@[^@\s]+\.[^@\s]+)?$",
        ConstraintDescription="empty, or one e-mail address",
        Description="Address subscribed to the alarm topic (it must confirm the e-mail "
                    "AWS sends). Empty: no subscription; subscribe later in the console.")
    has_email = tier.condition("HasAlarmEmail", Not(Equals(email, "")))
    only = {"Condition": condition} if condition else {}
    tier.add(sns.Topic(
        "AlarmTopic", **only, DisplayName=Sub("streamstack ${Environment} alarms"),
        KmsMasterKeyId=key, Tags=tier.tags("sns", "alarms")))
    topic = Ref("AlarmTopic")
    tier.add(sns.TopicPolicy("AlarmTopicPolicy", **only, Topics=[topic], PolicyDocument=Policy(
        Version="2012-10-17", Statement=[
            Statement(Sid="CloudWatchAlarmsOfThisAccount", Effect=Allow,
                      Principal=Principal("Service", "cloudwatch.amazonaws.com"),
                      Action=[sns_actions.Publish], Resource=[topic],
                      Condition=Condition([
                          StringEquals("aws:SourceAccount", Ref("AWS::AccountId")),
                          ArnLike("aws:SourceArn", Sub(
                              "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:"
                              "${AWS::AccountId}:alarm:*"))])),
            Statement(Sid="DenyInsecureTransport", Effect=Deny, Principal=Principal("*"),
                      Action=[sns_actions.Publish], Resource=[topic],
                      Condition=Condition(Bool("aws:SecureTransport", False))),
        ])))
    if condition:
        has_email = tier.condition("HasAlarmEmailSubscription",
                                   And(IsTrue(condition), IsTrue(has_email)))
    tier.add(sns.SubscriptionResource("AlarmEmailSubscription", Condition=has_email,
                                      TopicArn=topic, Protocol="email", Endpoint=email))
    tier.output(f"{prefix}AlarmTopicArn", If(condition, topic, "") if condition else topic,
                "SNS topic every alarm notifies (ALARM and OK)"
                + (" (\"\" when there is none)" if condition else ""))
    return topic


def add_alarm(tier: Tier, alarm: Alarm, prefix: str = "") -> None:
    """The alarm as a resource, notifying AlarmTopic on ALARM and OK, and its name as
    the output <prefix><logical>AlarmName ("" when its condition is false)."""
    threshold = (Ref(alarm.threshold) if isinstance(alarm.threshold, str)
                 else alarm.threshold)
    kwargs = {"Condition": alarm.condition} if alarm.condition else {}
    tier.add(cloudwatch.Alarm(
        f"{alarm.logical}Alarm", **kwargs,
        AlarmName=tier.physical_name("alarm", alarm.purpose),
        AlarmDescription=alarm.description, ActionsEnabled=True,
        AlarmActions=[Ref("AlarmTopic")], OKActions=[Ref("AlarmTopic")],
        ComparisonOperator=alarm.comparison, Threshold=threshold,
        EvaluationPeriods=alarm.evaluation, DatapointsToAlarm=alarm.datapoints,
        TreatMissingData=alarm.missing, Metrics=alarm.metrics))
    value = Ref(f"{alarm.logical}Alarm")
    if alarm.condition:
        value = If(alarm.condition, value, "")
    tier.output(f"{prefix}{alarm.logical}AlarmName", value,
                f"Alarm: {alarm.description}" + (" (\"\" when that part is off)"
                                                 if alarm.condition else ""))


def cloudfront_5xx_alarm(condition: str, critical: bool) -> Alarm:
    """CloudFront's 5xx rate. Its metrics exist only in us-east-1, so the alarm lives
    here when the root runs there, and in the edge stack otherwise."""
    return Alarm("CloudFront5xxRate", "cloudfront-5xx-rate",
                 "CloudFront 5xx error rate above 5% for 2 x 5 min", "GreaterThanThreshold",
                 5, 300, 2, 2, "notBreaching", condition=condition, critical=critical,
                 metrics=[metric("rate", "AWS/CloudFront", "5xxErrorRate", {
                     "DistributionId": Ref("DistributionId"), "Region": "Global"}, "Average",
                     300, visible=True)])


class ObservabilityTier(Tier):
    name = "observability"
    description = "alarm topic, alarms for every tier, platform-health composite, dashboard"

    def build(self) -> None:
        self.inputs()
        self.topic()
        self.thresholds()
        self.alarms = self.alarm_catalogue()
        for alarm in self.alarms:
            self.add_alarm(alarm)
        self.platform_health()
        self.dashboard()

    # -- inputs --------------------------------------------------------------------
    def inputs(self) -> None:
        for name, description in WIRING.items():
            self.parameter(name, "Wiring", Type="String", Description=f"{description}.")
        self.condition("HasFleet", Not(Equals(Ref("FleetAutoScalingGroupName"), "")))
        self.condition("HasMedia", Not(Equals(Ref("MediaConvertJobTemplateName"), "")))
        self.condition("HasMetadataApi", Not(Equals(Ref("MetadataApiId"), "")))
        self.condition("HasDistribution", Not(Equals(Ref("DistributionId"), "")))
        self.condition("InUsEast1", Equals(Ref("AWS::Region"), "us-east-1"))
        self.condition("HasCloudFrontAlarm", And(IsTrue("HasDistribution"),
                                                 IsTrue("InUsEast1")))

    # -- topic -----------------------------------------------------------------------
    def topic(self) -> None:
        alarm_topic(self, Ref("StorageKeyArn"))

    # -- alarms ----------------------------------------------------------------------
    def thresholds(self) -> None:
        def number(name, label, default, description, **limits):
            self.parameter(name, "Observability", label, Type="Number", Default=default,
                           Description=description, **limits)
        number("Alb5xxRateThreshold", "ALB 5xx rate (%)", 5,
               "Percent of ALB requests answered 5xx (by the ALB or the targets) that alarms, "
               "in 3 of 5 minutes.", MinValue=1, MaxValue=100)
        number("AlbP99LatencyThreshold", "ALB p99 target response time (s)", 2,
               "Seconds of p99 target response time that alarms, in 3 of 5 minutes.",
               MinValue=0.1, MaxValue=60)
        number("DbConnectionsThreshold", "Aurora connections", 400,
               "Database connections that alarm (size it to the instance class's "
               "max_connections).", MinValue=10, MaxValue=16000)
        number("DbFreeableMemoryThreshold", "Aurora freeable memory (bytes)", 268435456,
               "Freeable memory below which Aurora alarms (default 256 MiB).",
               MinValue=16777216)
        number("DbReplicaLagThreshold", "Aurora replica lag (ms)", 1000,
               "Milliseconds of Aurora replica lag that alarm (no readers: never).",
               MinValue=10)
        number("CacheEvictionsThreshold", "Redis evictions per 5 min", 1000,
               "Keys evicted in 5 minutes that alarm (allkeys-lru evicts by design; many "
               "evictions mean the cache is too small).", MinValue=1)

    def alarm_catalogue(self) -> list[Alarm]:
        alb = {"LoadBalancer": Ref("AlbFullName")}
        ecs_api = {"ClusterName": Ref("ClusterName"), "ServiceName": Ref("ApiServiceName")}
        db = {"DBClusterIdentifier": Ref("DbClusterIdentifier")}
        api = {"ApiId": Ref("MetadataApiId"), "Stage": Ref("MetadataApiStageName")}

        def redis_nodes(name, stat="Maximum"):
            return [metric(f"n{i}", "AWS/ElastiCache", name, {
                "CacheClusterId": Join("-", [Ref("RedisReplicationGroupId"), node])}, stat, 300)
                for i, node in enumerate(REDIS_NODES, 1)]

        def redis_max(name, purpose, description, threshold):
            return Alarm(
                f"Redis{name}", purpose, description, "GreaterThanThreshold", threshold, 300,
                2, 2, "notBreaching", critical=name == "Memory",
                metrics=[*redis_nodes({"EngineCpu": "EngineCPUUtilization",
                                       "Cpu": "CPUUtilization",
                                       "Memory": "DatabaseMemoryUsagePercentage"}[name]),
                         expression("worst", "MAX([n1, n2, n3])", f"worst node {purpose}")])

        return [
            Alarm("Alb5xxRate", "alb-5xx-rate",
                  "More than Alb5xxRateThreshold % of ALB requests failed with 5xx",
                  "GreaterThanThreshold", "Alb5xxRateThreshold", 60, 5, 3, "notBreaching",
                  critical=True, metrics=[
                      metric("elb", "AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", alb, "Sum",
                             60),
                      metric("target", "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", alb,
                             "Sum", 60),
                      metric("requests", "AWS/ApplicationELB", "RequestCount", alb, "Sum", 60),
                      expression("rate", "IF(requests > 0, 100 * (FILL(elb, 0) + "
                                         "FILL(target, 0)) / requests, 0)", "5xx rate (%)")]),
            Alarm("AlbUnhealthyTargets", "alb-unhealthy-targets",
                  "At least one ALB target unhealthy for 2 consecutive minutes",
                  "GreaterThanOrEqualToThreshold", 1, 60, 2, 2, "notBreaching", critical=True,
                  metrics=[
                      metric("api", "AWS/ApplicationELB", "UnHealthyHostCount",
                             {**alb, "TargetGroup": Ref("ApiTargetGroupFullName")}, "Maximum", 60),
                      metric("web", "AWS/ApplicationELB", "UnHealthyHostCount",
                             {**alb, "TargetGroup": Ref("WebTargetGroupFullName")}, "Maximum", 60),
                      If("HasFleet", metric("fleet", "AWS/ApplicationELB",
                                            "UnHealthyHostCount",
                                            {**alb, "TargetGroup": Ref("FleetTargetGroupFullName")},
                                            "Maximum", 60), Ref("AWS::NoValue")),
                      expression("unhealthy", If("HasFleet", "MAX([api, web, fleet])",
                                                 "MAX([api, web])"),
                                 "unhealthy targets (worst target group)")]),
            Alarm("AlbTargetResponseTimeP99", "alb-p99-latency",
                  "p99 target response time above AlbP99LatencyThreshold seconds",
                  "GreaterThanThreshold", "AlbP99LatencyThreshold", 60, 5, 3, "notBreaching",
                  critical=True, metrics=[metric("p99", "AWS/ApplicationELB",
                                                 "TargetResponseTime", alb, "p99", 60,
                                                 visible=True)]),
            Alarm("EcsApiCpu", "ecs-api-cpu", "ECS api service CPU above 80% for 2 x 5 min",
                  "GreaterThanThreshold", 80, 300, 2, 2, "notBreaching", metrics=[
                      metric("cpu", "AWS/ECS", "CPUUtilization", ecs_api, "Average", 300,
                             visible=True)]),
            Alarm("EcsApiMemory", "ecs-api-memory",
                  "ECS api service memory above 80% for 2 x 5 min", "GreaterThanThreshold",
                  80, 300, 2, 2, "notBreaching", metrics=[
                      metric("memory", "AWS/ECS", "MemoryUtilization", ecs_api, "Average", 300,
                             visible=True)]),
            Alarm("FleetCpu", "fleet-cpu", "Fleet ASG average CPU above 80% for 2 x 5 min",
                  "GreaterThanThreshold", 80, 300, 2, 2, "notBreaching", condition="HasFleet",
                  metrics=[metric("cpu", "AWS/EC2", "CPUUtilization",
                                  {"AutoScalingGroupName": Ref("FleetAutoScalingGroupName")}, "Average", 300,
                                  visible=True)]),
            Alarm("AuroraCpu", "aurora-cpu", "Aurora CPU above 75% for 2 x 5 min",
                  "GreaterThanThreshold", 75, 300, 2, 2, "notBreaching", critical=True,
                  metrics=[metric("cpu", "AWS/RDS", "CPUUtilization", db, "Maximum", 300,
                                  visible=True)]),
            Alarm("AuroraConnections", "aurora-connections",
                  "Aurora connections above DbConnectionsThreshold for 2 x 5 min",
                  "GreaterThanThreshold", "DbConnectionsThreshold", 300, 2, 2, "notBreaching",
                  metrics=[metric("connections", "AWS/RDS", "DatabaseConnections", db,
                                  "Maximum", 300, visible=True)]),
            Alarm("AuroraFreeableMemory", "aurora-freeable-memory",
                  "Aurora freeable memory below DbFreeableMemoryThreshold for 2 x 5 min",
                  "LessThanThreshold", "DbFreeableMemoryThreshold", 300, 2, 2, "notBreaching",
                  metrics=[metric("memory", "AWS/RDS", "FreeableMemory", db, "Minimum", 300,
                                  visible=True)]),
            Alarm("AuroraReplicaLag", "aurora-replica-lag",
                  "Aurora reader lag above DbReplicaLagThreshold ms in 3 of 5 minutes",
                  "GreaterThanThreshold", "DbReplicaLagThreshold", 60, 5, 3, "notBreaching",
                  metrics=[metric("lag", "AWS/RDS", "AuroraReplicaLag",
                                  {**db, "Role": "READER"}, "Maximum", 60, visible=True)]),
            redis_max("EngineCpu", "redis-engine-cpu",
                      "Redis engine (main thread) CPU above 80% on any node for 2 x 5 min", 80),
            redis_max("Cpu", "redis-cpu", "Redis host CPU above 90% on any node for 2 x 5 min",
                      90),
            redis_max("Memory", "redis-memory",
                      "Redis memory above 80% of maxmemory on any node for 2 x 5 min", 80),
            Alarm("RedisEvictions", "redis-evictions",
                  "Redis evicted more than CacheEvictionsThreshold keys in 5 minutes",
                  "GreaterThanThreshold", "CacheEvictionsThreshold", 300, 1, 1, "notBreaching",
                  metrics=[*redis_nodes("Evictions", "Sum"),
                           expression("evictions", "SUM([FILL(n1, 0), FILL(n2, 0), "
                                                   "FILL(n3, 0)])", "evictions (all nodes)")]),
            Alarm("JobsDlqDepth", "jobs-dlq-depth",
                  "Jobs dead-letter queue holds messages (a job failed 5 times)",
                  "GreaterThanThreshold", 0, 300, 1, 1, "notBreaching", metrics=[
                      metric("depth", "AWS/SQS", "ApproximateNumberOfMessagesVisible",
                             {"QueueName": Ref("JobsDeadLetterQueueName")}, "Maximum", 300, visible=True)]),
            Alarm("TranscodeDlqDepth", "transcode-dlq-depth",
                  "Transcode dead-letter queue holds uploads that were never submitted",
                  "GreaterThanThreshold", 0, 300, 1, 1, "notBreaching", condition="HasMedia",
                  metrics=[metric("depth", "AWS/SQS", "ApproximateNumberOfMessagesVisible",
                                  {"QueueName": Ref("TranscodeDeadLetterQueueName")}, "Maximum", 300,
                                  visible=True)]),
            Alarm("MediaConvertErrors", "mediaconvert-errors",
                  "MediaConvert jobs ended in ERROR in the last 5 minutes",
                  "GreaterThanThreshold", 0, 300, 1, 1, "notBreaching", condition="HasMedia",
                  metrics=[metric("errors", "AWS/MediaConvert", "JobsErroredCount", {
                      "Queue": Sub("arn:${AWS::Partition}:mediaconvert:${AWS::Region}:"
                                   "${AWS::AccountId}:queues/Default")}, "Sum", 300,
                      visible=True)]),
            Alarm("MetadataApi5xxRate", "metadata-api-5xx-rate",
                  "More than 5% of metadata API requests failed with 5xx in 3 of 5 minutes",
                  "GreaterThanThreshold", 5, 60, 5, 3, "notBreaching",
                  condition="HasMetadataApi", metrics=[
                      metric("errors", "AWS/ApiGateway", "5xx", api, "Sum", 60),
                      metric("requests", "AWS/ApiGateway", "Count", api, "Sum", 60),
                      expression("rate", "IF(requests > 0, 100 * FILL(errors, 0) / requests, "
                                         "0)", "5xx rate (%)")]),
            cloudfront_5xx_alarm("HasCloudFrontAlarm", critical=True),
        ]

    def add_alarm(self, alarm: Alarm) -> None:
        add_alarm(self, alarm)

    # -- composite ---------------------------------------------------------------------
    def platform_health(self) -> None:
        critical = [a for a in self.alarms if a.critical]

        def rule(alarms):
            return Sub(" OR ".join(f'ALARM("${{{a.logical}Alarm.Arn}}")' for a in alarms))
        always = [a for a in critical if not a.condition]
        optional = [a for a in critical if a.condition]
        assert all(a.condition == "HasCloudFrontAlarm" for a in optional)
        self.add(cloudwatch.CompositeAlarm(
            "PlatformHealthAlarm", AlarmName=self.physical_name("alarm", "platform-health"),
            AlarmDescription="platform-health: any user-facing symptom (5xx, unhealthy targets, "
                             "latency, database or cache saturation). Rollback trigger of "
                             "every deploy.",
            AlarmRule=If("HasCloudFrontAlarm", rule(always + optional), rule(always)),
            ActionsEnabled=True, AlarmActions=[Ref("AlarmTopic")],
            OKActions=[Ref("AlarmTopic")]))
        self.output("PlatformHealthAlarmName", Ref("PlatformHealthAlarm"),
                    "Composite alarm over the critical alarms; the deploy's rollback trigger")
        self.output("PlatformHealthAlarmArn", GetAtt("PlatformHealthAlarm", "Arn"),
                    "ARN of the platform-health composite alarm (rollback trigger)")

    # -- dashboard ---------------------------------------------------------------------
    def dashboard(self) -> None:
        widgets = Dashboard(self)
        self.add(cloudwatch.Dashboard(
            "PlatformDashboard", DashboardName=self.physical_name("dashboard", "platform"),
            DashboardBody=widgets.body()))
        self.output("DashboardName", Ref("PlatformDashboard"),
                    "CloudWatch dashboard of the platform")


class Dashboard:
    """The dashboard body: JSON text with ${Parameter} references, joined from widgets of
    which some are conditional (fleet, media, CloudFront)."""

    def __init__(self, tier: ObservabilityTier) -> None:
        self.tier = tier
        self.y = 0

    def _widget(self, title: str, metrics: list, *, region="${AWS::Region}", stat="Sum",
                width=12, period=300, extra=None) -> dict:
        return {"type": "metric", "width": width, "height": 6,
                "properties": {"title": title, "region": region, "stat": stat,
                               "period": period, "view": "timeSeries", "stacked": False,
                               "metrics": metrics, **(extra or {})}}

    def widgets(self) -> list[tuple[dict, str | None]]:
        """(widget, condition) in reading order."""
        lb = ["LoadBalancer", "${AlbFullName}"]
        db = ["DBClusterIdentifier", "${DbClusterIdentifier}"]
        nodes = [f"${{RedisReplicationGroupId}}-{n}" for n in REDIS_NODES]
        hits = [["AWS/ElastiCache", "CacheHits", "CacheClusterId", n, {"id": f"h{i}",
                                                                       "visible": False}]
                for i, n in enumerate(nodes, 1)]
        misses = [["AWS/ElastiCache", "CacheMisses", "CacheClusterId", n,
                   {"id": f"m{i}", "visible": False}] for i, n in enumerate(nodes, 1)]
        cf = ["DistributionId", "${DistributionId}", "Region", "Global"]
        alarm_arns = [f"${{{a.logical}Alarm.Arn}}" for a in self.tier.alarms
                      if not a.condition]
        return [
            ({"type": "alarm", "width": 24, "height": 4, "properties": {
                "title": "Alarms", "alarms": ["${PlatformHealthAlarm.Arn}", *alarm_arns]}},
             None),
            (self._widget("ALB requests", [["AWS/ApplicationELB", "RequestCount", *lb]],
                          period=60), None),
            (self._widget("ALB target response time (s)", [
                ["AWS/ApplicationELB", "TargetResponseTime", *lb, {"stat": "p50"}],
                ["...", {"stat": "p99"}]], stat="p99", period=60), None),
            (self._widget("ECS CPU (%)", [
                ["AWS/ECS", "CPUUtilization", "ClusterName", "${ClusterName}", "ServiceName",
                 "${ApiServiceName}"],
                ["...", "${WebServiceName}"]], stat="Average"), None),
            (self._widget("EC2 fleet CPU (%)", [
                ["AWS/EC2", "CPUUtilization", "AutoScalingGroupName",
                 "${FleetAutoScalingGroupName}"]], stat="Average"), "HasFleet"),
            (self._widget("Aurora connections", [["AWS/RDS", "DatabaseConnections", *db]],
                          stat="Maximum"), None),
            (self._widget("Aurora CPU (%)", [["AWS/RDS", "CPUUtilization", *db]],
                          stat="Maximum"), None),
            (self._widget("Redis hit rate (%)", [
                *hits, *misses,
                [{"expression": "100 * SUM([FILL(h1, 0), FILL(h2, 0), FILL(h3, 0)]) / "
                                "(SUM([FILL(h1, 0), FILL(h2, 0), FILL(h3, 0)]) + "
                                "SUM([FILL(m1, 0), FILL(m2, 0), FILL(m3, 0)]))",
                  "label": "hit rate", "id": "rate"}]]), None),
            (self._widget("CloudFront requests", [["AWS/CloudFront", "Requests", *cf]],
                          region="us-east-1"), "HasDistribution"),
            (self._widget("CloudFront error rate (%)", [
                ["AWS/CloudFront", "5xxErrorRate", *cf],
                ["AWS/CloudFront", "4xxErrorRate", *cf]],
                region="us-east-1", stat="Average"), "HasDistribution"),
            (self._widget("Queue depth", [
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName",
                 "${JobsQueueName}"],
                ["...", "${JobsDeadLetterQueueName}"]], stat="Maximum"), None),
            (self._widget("Transcoding", [
                ["AWS/MediaConvert", "JobsCompletedCount", "Queue",
                 "arn:${AWS::Partition}:mediaconvert:${AWS::Region}:${AWS::AccountId}:"
                 "queues/Default"],
                [".", "JobsErroredCount", ".", "."],
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName",
                 "${TranscodeDeadLetterQueueName}", {"stat": "Maximum"}]]), "HasMedia"),
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
