"""observability tier: topic encryption and policy, every alarm's metric, threshold,
periods, missing-data treatment and actions, the platform-health rule, and the
dashboard's widgets, in dev and prod and with the optional parts on and off."""

import json
import re

import pytest

from tests.cfn import Evaluated, env_values, evaluate, statements
from tests.conftest import assert_snapshot

TOPIC = {"Ref": "AlarmTopic"}
OPTIONAL_ON = {
    "FleetAutoScalingGroupName": "asg-fleet",
    "FleetTargetGroupFullName": "tg/fleet",
    "MediaConvertJobTemplateName": "HlsJobTemplate-1",
    "TranscodeDeadLetterQueueName": "transcode-dlq",
    "DistributionId": "E123",
    "MetadataApiId": "a1b2c3",
    "MetadataApiStageName": "dev",
}
OPTIONAL_OFF = {k: "" for k in OPTIONAL_ON}
ALWAYS = {
    "BackupJobsFailed",
    "BackupJobsExpired",
    "CopyJobsFailed",
    "RestoreJobsFailed",
    "Alb5xxRate",
    "AlbUnhealthyTargets",
    "AlbTargetResponseTimeP99",
    "EcsApiCpu",
    "EcsApiMemory",
    "AuroraCpu",
    "AuroraConnections",
    "AuroraFreeableMemory",
    "AuroraReplicaLag",
    "RedisEngineCpu",
    "RedisCpu",
    "RedisMemory",
    "RedisEvictions",
    "JobsDlqDepth",
}
OPTIONAL = {
    "FleetCpu": "fleet",
    "TranscodeDlqDepth": "media",
    "MediaConvertErrors": "media",
    "CloudFront5xxRate": "cdn",
    "MetadataApi5xxRate": "api",
}


@pytest.fixture(scope="module")
def template(rendered):
    return rendered["observability"]


@pytest.fixture(scope="module")
def obs(template, env):
    return evaluate(template, env, OPTIONAL_ON)


def alarm(obs, name):
    return obs.props(f"{name}Alarm")


def metric_of(props, id_):
    return next(m for m in props["Metrics"] if m["Id"] == id_)


def dims(query):
    return {d["Name"]: d["Value"] for d in query["MetricStat"]["Metric"]["Dimensions"]}


def test_snapshot(rendered_text):
    assert_snapshot("observability", rendered_text["observability"])


# -- topic -------------------------------------------------------------------------
def test_topic_encrypted_with_the_storage_key(obs):
    assert obs.props("AlarmTopic")["KmsMasterKeyId"] == "<from:StorageKeyArn>"


def test_topic_policy_lets_only_this_accounts_alarms_publish(obs):
    st = statements(obs.props("AlarmTopicPolicy")["PolicyDocument"])
    allow = st["CloudWatchAlarmsOfThisAccount"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == ["sns:Publish"] and allow["Resource"] == [TOPIC]
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert allow["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"].endswith(":alarm:*")
    assert st["DenyInsecureTransport"]["Effect"] == "Deny"


def test_no_email_subscription_unless_given(template, obs):
    assert "AlarmEmailSubscription" not in obs.resources
    given = evaluate(template, "prod", {"AlarmEmail": "oncall@example.com"})
    sub = given.props("AlarmEmailSubscription")
    assert (sub["Protocol"], sub["Endpoint"], sub["TopicArn"]) == (
        "email",
        "oncall@example.com",
        TOPIC,
    )
    assert re.match(template["Parameters"]["AlarmEmail"]["AllowedPattern"], "")
    assert not re.match(template["Parameters"]["AlarmEmail"]["AllowedPattern"], "not-an-email")


# -- alarms ------------------------------------------------------------------------
def test_every_alarm_notifies_the_topic_on_alarm_and_ok(obs):
    alarms = obs.of_type("AWS::CloudWatch::Alarm")
    assert {k.removesuffix("Alarm") for k in alarms} == ALWAYS | set(OPTIONAL) - {
        "CloudFront5xxRate"
    }  # CloudFront alarms only exist in us-east-1
    for props in (a["Properties"] for a in alarms.values()):
        assert props["AlarmActions"] == [TOPIC] and props["OKActions"] == [TOPIC]
        assert props["TreatMissingData"] in ("notBreaching", "missing", "ignore", "breaching")
        assert sum(1 for m in props["Metrics"] if m["ReturnData"]) == 1
        assert props["AlarmName"]["Fn::Sub"].startswith("alarm-")
        assert props["AlarmName"]["Fn::Sub"].endswith("-${Environment}")


def test_optional_alarms_follow_their_producers(template, env):
    off = evaluate(template, env, OPTIONAL_OFF)
    names = {k.removesuffix("Alarm") for k in off.of_type("AWS::CloudWatch::Alarm")}
    assert names == ALWAYS
    for name in OPTIONAL:
        assert off.outputs[f"{name}AlarmName"]["Value"] == ""
    unhealthy = alarm(off, "AlbUnhealthyTargets")
    assert [m["Id"] for m in unhealthy["Metrics"]] == ["api", "web", "api2", "web2", "unhealthy"]
    assert metric_of(unhealthy, "unhealthy")["Expression"] == "MAX([api, web, api2, web2])"


def test_cloudfront_alarm_only_in_us_east_1(template):
    values = env_values("prod", template, overrides=OPTIONAL_ON)
    east = Evaluated(template, {**values, "AWS::Region": "us-east-1"})
    props = alarm(east, "CloudFront5xxRate")
    query = metric_of(props, "rate")
    assert query["MetricStat"]["Metric"]["MetricName"] == "5xxErrorRate"
    assert dims(query) == {"DistributionId": "E123", "Region": "Global"}
    assert (props["Threshold"], props["EvaluationPeriods"]) == (5, 2)
    rule = east.props("PlatformHealthAlarm")["AlarmRule"]["Fn::Sub"]
    assert "${CloudFront5xxRateAlarm.Arn}" in rule


def test_alb_5xx_rate_is_metric_math_over_requests(obs, env):
    props = alarm(obs, "Alb5xxRate")
    rate = metric_of(props, "rate")
    assert rate["ReturnData"] is True
    assert rate["Expression"] == (
        "IF(requests > 0, 100 * (FILL(elb, 0) + FILL(target, 0)) / requests, 0)"
    )
    names = {
        m["Id"]: m["MetricStat"]["Metric"]["MetricName"]
        for m in props["Metrics"]
        if "MetricStat" in m
    }
    assert names == {
        "elb": "HTTPCode_ELB_5XX_Count",
        "target": "HTTPCode_Target_5XX_Count",
        "requests": "RequestCount",
    }
    assert all(
        dims(m) == {"LoadBalancer": "<from:AlbFullName>"}
        for m in props["Metrics"]
        if "MetricStat" in m
    )
    assert props["Threshold"] == "5"
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (5, 3)
    assert props["TreatMissingData"] == "notBreaching"


def test_unhealthy_targets_one_for_two_periods_over_every_target_group(obs):
    props = alarm(obs, "AlbUnhealthyTargets")
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert props["Threshold"] == 1
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (2, 2)
    groups = {m["Id"]: dims(m)["TargetGroup"] for m in props["Metrics"] if "MetricStat" in m}
    assert groups == {
        "api": "<from:ApiTargetGroupFullName>",
        "web": "<from:WebTargetGroupFullName>",
        # A blue/green release serves from the second group of each.
        "api2": "<from:ApiAlternateTargetGroupFullName>",
        "web2": "<from:WebAlternateTargetGroupFullName>",
        "fleet": "tg/fleet",
    }
    assert metric_of(props, "unhealthy")["Expression"] == "MAX([api, web, api2, web2, fleet])"


def test_p99_latency(obs):
    props = alarm(obs, "AlbTargetResponseTimeP99")
    query = metric_of(props, "p99")
    assert query["MetricStat"]["Stat"] == "p99"
    assert query["MetricStat"]["Metric"]["MetricName"] == "TargetResponseTime"
    assert props["Threshold"] == "2" and props["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize(
    "name, namespace, metric, dimension, threshold",
    [
        ("EcsApiCpu", "AWS/ECS", "CPUUtilization", "ServiceName", 80),
        ("EcsApiMemory", "AWS/ECS", "MemoryUtilization", "ServiceName", 80),
        ("FleetCpu", "AWS/EC2", "CPUUtilization", "AutoScalingGroupName", 80),
        ("AuroraCpu", "AWS/RDS", "CPUUtilization", "DBClusterIdentifier", 75),
    ],
)
def test_utilization_alarms_two_five_minute_periods(
    obs, name, namespace, metric, dimension, threshold
):
    props = alarm(obs, name)
    (query,) = props["Metrics"]
    assert query["MetricStat"]["Metric"]["Namespace"] == namespace
    assert query["MetricStat"]["Metric"]["MetricName"] == metric
    assert query["MetricStat"]["Period"] == 300
    assert dimension in dims(query)
    assert props["Threshold"] == threshold
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (2, 2)


def test_aurora_alarms(obs, env):
    connections = alarm(obs, "AuroraConnections")
    assert connections["Threshold"] == ("100" if env == "dev" else "1000")
    memory = alarm(obs, "AuroraFreeableMemory")
    assert memory["ComparisonOperator"] == "LessThanThreshold"
    assert memory["Metrics"][0]["MetricStat"]["Stat"] == "Minimum"
    lag = alarm(obs, "AuroraReplicaLag")
    assert dims(lag["Metrics"][0]) == {
        "DBClusterIdentifier": "<from:DbClusterIdentifier>",
        "Role": "READER",
    }
    # dev has no readers: no data must not alarm.
    assert lag["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize(
    "name, metric, threshold",
    [
        ("RedisEngineCpu", "EngineCPUUtilization", 80),
        ("RedisCpu", "CPUUtilization", 90),
        ("RedisMemory", "DatabaseMemoryUsagePercentage", 80),
        ("RedisEvictions", "Evictions", "1000"),
    ],
)
def test_redis_alarms_take_every_node(obs, name, metric, threshold):
    props = alarm(obs, name)
    nodes = [m for m in props["Metrics"] if "MetricStat" in m]
    assert [m["MetricStat"]["Metric"]["MetricName"] for m in nodes] == [metric] * 3
    assert [dims(m)["CacheClusterId"] for m in nodes] == [
        {"Fn::Join": ["-", ["<from:RedisReplicationGroupId>", n]]} for n in ("001", "002", "003")
    ]
    assert props["Threshold"] == threshold


@pytest.mark.parametrize(
    "name, queue",
    [("JobsDlqDepth", "<from:JobsDeadLetterQueueName>"), ("TranscodeDlqDepth", "transcode-dlq")],
)
def test_dead_letter_queues_alarm_on_any_message(obs, name, queue):
    props = alarm(obs, name)
    (query,) = props["Metrics"]
    assert dims(query) == {"QueueName": queue}
    assert query["MetricStat"]["Metric"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 0)
    assert props["TreatMissingData"] == "notBreaching"


def test_metadata_api_5xx_rate(obs):
    props = alarm(obs, "MetadataApi5xxRate")
    rate = metric_of(props, "rate")
    assert rate["Expression"] == "IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)"
    errors = metric_of(props, "errors")
    assert errors["MetricStat"]["Metric"]["MetricName"] == "5xx"
    assert dims(errors) == {"ApiId": "a1b2c3", "Stage": "dev"}
    assert (props["Threshold"], props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (5, 5, 3)


def test_mediaconvert_errors(obs):
    props = alarm(obs, "MediaConvertErrors")
    (query,) = props["Metrics"]
    assert query["MetricStat"]["Metric"]["MetricName"] == "JobsErroredCount"
    assert query["MetricStat"]["Stat"] == "Sum"
    assert dims(query)["Queue"]["Fn::Sub"].endswith(":queues/Default")


def test_nothing_in_platform_health_breaches_on_missing_data(obs):
    rule = obs.props("PlatformHealthAlarm")["AlarmRule"]["Fn::Sub"]
    members = re.findall(r'ALARM\("\$\{(\w+)Alarm\.Arn\}"\)', rule)
    assert set(members) == {
        "Alb5xxRate",
        "AlbUnhealthyTargets",
        "AlbTargetResponseTimeP99",
        "AuroraCpu",
        "RedisMemory",
    }
    assert rule.count(" OR ") == len(members) - 1
    assert all(alarm(obs, m)["TreatMissingData"] != "breaching" for m in members)


def test_platform_health_composite(obs):
    props = obs.props("PlatformHealthAlarm")
    assert props["AlarmName"] == {"Fn::Sub": "alarm-platform-health-${Environment}"}
    assert props["AlarmActions"] == [TOPIC] and props["OKActions"] == [TOPIC]
    assert obs.outputs["PlatformHealthAlarmArn"]["Value"] == {
        "Fn::GetAtt": ["PlatformHealthAlarm", "Arn"]
    }


# -- dashboard ---------------------------------------------------------------------
def dashboard(evaluated) -> dict:
    """The body as CloudWatch receives it, with parameters and ARNs filled in."""

    def resolve(node):
        if isinstance(node, str):
            return node
        if "Fn::Join" in node:
            sep, parts = node["Fn::Join"]
            return sep.join(resolve(p) for p in parts)
        if "Fn::Sub" in node:
            return re.sub(
                r"\$\{([\w:]+)(\.Arn)?\}",
                lambda m: evaluated.values.get(m[1], f"arn:{m[1]}"),
                node["Fn::Sub"],
            )
        raise AssertionError(node)

    return json.loads(resolve(evaluated.props("PlatformDashboard")["DashboardBody"]))


def titles(body):
    return [w["properties"]["title"] for w in body["widgets"]]


def test_dashboard_widgets(obs):
    body = dashboard(obs)
    assert titles(body) == [
        "Alarms",
        "ALB requests",
        "ALB target response time (s)",
        "ECS CPU (%)",
        "EC2 fleet CPU (%)",
        "Aurora connections",
        "Aurora CPU (%)",
        "Redis hit rate (%)",
        "CloudFront requests",
        "CloudFront error rate (%)",
        "Queue depth",
        "Transcoding",
    ]
    by_title = {w["properties"]["title"]: w["properties"] for w in body["widgets"]}
    assert by_title["ALB requests"]["metrics"] == [
        ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", "<from:AlbFullName>"]
    ]
    assert by_title["CloudFront requests"]["region"] == "us-east-1"
    assert by_title["Redis hit rate (%)"]["metrics"][-1][0]["expression"].startswith("100 * ")
    assert "arn:PlatformHealthAlarm" in by_title["Alarms"]["alarms"]
    assert all(w["width"] <= 24 for w in body["widgets"])


def test_dashboard_without_optional_parts_is_still_valid_json(template, env):
    body = dashboard(evaluate(template, env, OPTIONAL_OFF))
    assert titles(body) == [
        "Alarms",
        "ALB requests",
        "ALB target response time (s)",
        "ECS CPU (%)",
        "Aurora connections",
        "Aurora CPU (%)",
        "Redis hit rate (%)",
        "Queue depth",
    ]


def test_outputs_name_every_alarm(template):
    outputs = template["Outputs"]
    for name in ALWAYS | set(OPTIONAL):
        assert f"{name}AlarmName" in outputs
    assert {
        "AlarmTopicArn",
        "PlatformHealthAlarmName",
        "PlatformHealthAlarmArn",
        "DashboardName",
    } <= set(outputs)
    assert all(o["Description"] for o in outputs.values())
