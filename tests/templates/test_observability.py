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
    "Alb5xxRate",
    "AlbUnhealthyTargets",
    "AlbNoHealthyTargets",
    "AlbTargetResponseTimeP99",
    "EcsApiCpu",
    "EcsApiMemory",
    "EcsApiTasksStopped",
    "EcsWebTasksStopped",
    "EcsWorkerTasksStopped",
    "AppErrors",
    "AppErrorsCritical",
    "AuroraCpu",
    "AuroraCpuCritical",
    "AuroraConnections",
    "AuroraFreeableMemory",
    "AuroraReplicaLag",
    "RedisEngineCpu",
    "RedisCpu",
    "RedisMemory",
    "RedisMemoryCritical",
    "RedisEvictions",
    "JobsDlqDepth",
}
CRITICAL = {
    "Alb5xxRate",
    "AlbUnhealthyTargets",
    "AlbNoHealthyTargets",
    "AlbTargetResponseTimeP99",
    "EcsApiTasksStopped",
    "EcsWebTasksStopped",
    "EcsWorkerTasksStopped",
    "AppErrorsCritical",
    "AuroraCpuCritical",
    "RedisMemoryCritical",
}
WARNING_TOPIC = {"Ref": "WarningTopic"}
INFO_TOPIC = {"Ref": "InfoTopic"}
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
def test_every_alarm_notifies_the_topic_of_its_severity_on_alarm_and_ok(obs):
    alarms = obs.of_type("AWS::CloudWatch::Alarm")
    assert {k.removesuffix("Alarm") for k in alarms} == ALWAYS | set(OPTIONAL) - {
        "CloudFront5xxRate"
    }  # CloudFront alarms only exist in us-east-1
    for name, props in ((k.removesuffix("Alarm"), a["Properties"]) for k, a in alarms.items()):
        topic = TOPIC if name in CRITICAL else WARNING_TOPIC
        assert props["AlarmActions"] == [topic] and props["OKActions"] == [topic], name
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
    assert [m["Id"] for m in unhealthy["Metrics"]] == ["api", "web", "unhealthy"]
    assert metric_of(unhealthy, "unhealthy")["Expression"] == "MAX([api, web])"


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
        "fleet": "tg/fleet",
    }
    assert metric_of(props, "unhealthy")["Expression"] == "MAX([api, web, fleet])"


def test_p99_latency(obs):
    props = alarm(obs, "AlbTargetResponseTimeP99")
    query = metric_of(props, "p99")
    assert query["MetricStat"]["Stat"] == "p99"
    assert query["MetricStat"]["Metric"]["MetricName"] == "TargetResponseTime"
    assert props["Threshold"] == "2" and props["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize(
    "name, namespace, metric, dimension, threshold",
    [
        ("EcsApiCpu", "AWS/ECS", "CPUUtilization", "ServiceName", 75),
        ("EcsApiMemory", "AWS/ECS", "MemoryUtilization", "ServiceName", 80),
        ("FleetCpu", "AWS/EC2", "CPUUtilization", "AutoScalingGroupName", 80),
        ("AuroraCpu", "AWS/RDS", "CPUUtilization", "DBClusterIdentifier", 75),
        ("AuroraCpuCritical", "AWS/RDS", "CPUUtilization", "DBClusterIdentifier", 90),
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
    assert connections["Threshold"] == "80"
    assert metric_of(connections, "c")["MetricStat"]["Metric"]["MetricName"] == (
        "DatabaseConnections"
    )
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
        ("RedisMemoryCritical", "DatabaseMemoryUsagePercentage", 95),
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
    assert set(members) == CRITICAL
    assert rule.count(" OR ") == len(members) - 1
    assert all(alarm(obs, m)["TreatMissingData"] != "breaching" for m in members)


def test_platform_health_composite(obs):
    props = obs.props("PlatformHealthAlarm")
    assert props["AlarmName"] == {"Fn::Sub": "alarm-platform-health-${Environment}"}
    assert props["AlarmActions"] == [TOPIC] and props["OKActions"] == [TOPIC]  # it pages
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
    return [w["properties"].get("title") or w["properties"]["markdown"] for w in body["widgets"]]


def test_dashboard_widgets(obs):
    body = dashboard(obs)
    assert titles(body) == [
        "Alarms",
        "## Edge: CloudFront and the load balancer",
        "CloudFront requests",
        "CloudFront error rate (%)",
        "ALB requests",
        "ALB target response time (s)",
        "ALB healthy targets",
        "## Application: ECS services, EC2 fleet, jobs",
        "ECS CPU (%)",
        "ECS memory (%)",
        "ECS running tasks",
        "Application errors per minute",
        "EC2 fleet CPU (%)",
        "Queue depth",
        "## Data: Aurora and Redis",
        "Aurora connections",
        "Aurora CPU (%)",
        "Aurora IOPS",
        "Aurora latency (s)",
        "Redis hit rate (%)",
        "Redis connections",
        "Redis memory (% of maxmemory)",
        "## Media: uploads to HLS",
        "Transcoding",
    ]
    by_title = {w["properties"].get("title"): w["properties"] for w in body["widgets"]}
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
        "## Edge: CloudFront and the load balancer",
        "ALB requests",
        "ALB target response time (s)",
        "ALB healthy targets",
        "## Application: ECS services, EC2 fleet, jobs",
        "ECS CPU (%)",
        "ECS memory (%)",
        "ECS running tasks",
        "Application errors per minute",
        "Queue depth",
        "## Data: Aurora and Redis",
        "Aurora connections",
        "Aurora CPU (%)",
        "Aurora IOPS",
        "Aurora latency (s)",
        "Redis hit rate (%)",
        "Redis connections",
        "Redis memory (% of maxmemory)",
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


# -- topics by severity --------------------------------------------------------------
@pytest.mark.parametrize(
    "topic, publishers",
    [
        ("AlarmTopic", {"cloudwatch.amazonaws.com"}),
        ("WarningTopic", {"cloudwatch.amazonaws.com", "events.amazonaws.com"}),
        (
            "InfoTopic",
            {"events.amazonaws.com", "budgets.amazonaws.com", "costalerts.amazonaws.com"},
        ),
    ],
)
def test_three_encrypted_topics_each_with_only_its_publishers(obs, topic, publishers):
    assert obs.props(topic)["KmsMasterKeyId"] == "<from:StorageKeyArn>"
    st = statements(obs.props(f"{topic}Policy")["PolicyDocument"])
    allowed = [s for s in st.values() if s["Effect"] == "Allow"]
    assert {s["Principal"]["Service"] for s in allowed} == publishers
    for s in allowed:
        assert s["Action"] == ["sns:Publish"] and s["Resource"] == [{"Ref": topic}]
        assert s["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert st["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": False}}
    assert not obs.of_type("AWS::SNS::Subscription")  # none unless params give one


def test_subscriptions_and_chat_topics_come_from_params(template):
    chat = "arn:aws:sns:us-west-2:123456789012:chatbot-alerts"
    ev = evaluate(
        template,
        "prod",
        {
            "AlarmEmail": "oncall@example.com",
            "CriticalAlertHttpsEndpoint": "https://events.pagerduty.com/integration/x/enqueue",
            "WarningAlertChatTopicArn": chat,
            "InfoAlertEmail": "team@example.com",
        },
    )
    subs = {
        k: (v["Properties"]["Protocol"], v["Properties"]["TopicArn"])
        for k, v in ev.of_type("AWS::SNS::Subscription").items()
    }
    assert subs == {
        "AlarmEmailSubscription": ("email", TOPIC),
        "AlarmTopicHttpsEndpointSubscription": ("https", TOPIC),
        "InfoTopicEmailSubscription": ("email", INFO_TOPIC),
    }
    # A warning notifies the chat integration's topic beside the warning topic.
    assert alarm(ev, "EcsApiCpu")["AlarmActions"] == [WARNING_TOPIC, chat]
    targets = ev.props("EcsTaskFailureRule")["Targets"]
    assert [t["Arn"] for t in targets] == [WARNING_TOPIC, chat]
    pattern = template["Parameters"]["WarningAlertChatTopicArn"]["AllowedPattern"]
    assert re.match(pattern, chat) and re.match(pattern, "")
    assert not re.match(pattern, "https://hooks.slack.com/x")


# -- the alarms the platform's users named --------------------------------------------
@pytest.mark.parametrize("service", ["Api", "Web", "Worker"])
def test_every_task_of_a_service_stopped_pages(obs, service):
    props = alarm(obs, f"Ecs{service}TasksStopped")
    (query,) = props["Metrics"]
    assert query["MetricStat"]["Metric"]["Namespace"] == "ECS/ContainerInsights"
    assert query["MetricStat"]["Metric"]["MetricName"] == "RunningTaskCount"
    assert dims(query) == {
        "ClusterName": "<from:ClusterName>",
        "ServiceName": f"<from:{service}ServiceName>",
    }
    assert (props["ComparisonOperator"], props["Threshold"]) == ("LessThanThreshold", 1)
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (3, 3)


def test_no_healthy_target_in_a_target_group_pages(obs):
    props = alarm(obs, "AlbNoHealthyTargets")
    groups = {m["Id"]: dims(m)["TargetGroup"] for m in props["Metrics"] if "MetricStat" in m}
    assert groups == {
        "api": "<from:ApiTargetGroupFullName>",
        "web": "<from:WebTargetGroupFullName>",
    }
    assert metric_of(props, "healthy")["Expression"] == "MIN([api, web])"
    assert (props["ComparisonOperator"], props["Threshold"]) == ("LessThanThreshold", 1)


@pytest.mark.parametrize("name, threshold", [("AppErrors", "100"), ("AppErrorsCritical", "500")])
def test_application_errors_from_the_log_metric(obs, name, threshold):
    props = alarm(obs, name)
    (query,) = props["Metrics"]
    metric = query["MetricStat"]["Metric"]
    assert metric["Namespace"] == {"Fn::Sub": "StreamStack/${Environment}"}
    assert metric["MetricName"] == "ApplicationErrors"
    assert query["MetricStat"]["Period"] == 60 and query["MetricStat"]["Stat"] == "Sum"
    assert props["Threshold"] == threshold


def test_connections_alarm_in_percent_of_the_derived_maximum(template):
    from templates.data import DB_INSTANCE_CLASSES
    from templates.observability import DB_CLASS_MEMORY_GIB, max_connections

    # Every provisioned class the data tier offers has its maximum, per engine.
    assert set(template["Mappings"]["DbMaxConnections"]) == set(DB_INSTANCE_CLASSES) - {
        "db.serverless"
    }
    # The engines' formulas, at the figures AWS publishes for these classes.
    assert max_connections("postgresql", DB_CLASS_MEMORY_GIB["db.r7g.large"]) == 1802
    assert max_connections("postgresql", DB_CLASS_MEMORY_GIB["db.r7g.4xlarge"]) == 5000
    assert 1000 <= max_connections("mysql", DB_CLASS_MEMORY_GIB["db.r7g.large"]) <= 1100
    prov = evaluate(template, "prod", {"DbInstanceClass": "db.r7g.large"})
    text = metric_of(alarm(prov, "AuroraConnections"), "percent")["Expression"]["Fn::Sub"]
    assert text[0] == "100 * c / ${Max}"
    assert text[1]["Max"] == {"Fn::FindInMap": ["DbMaxConnections", "db.r7g.large", "PostgreSql"]}
    serverless = evaluate(
        template, "dev", {"DbInstanceClass": "db.serverless", "DbMaxCapacity": "2"}
    )
    text = metric_of(alarm(serverless, "AuroraConnections"), "percent")["Expression"]["Fn::Sub"]
    assert text[0].startswith("100 * c / MIN([c * 0 + 225.306 * ${Acu}, c * 0 + 5000])")
    assert text[1] == {"Acu": "2"}


def test_mysql_serverless_maximum_follows_its_formula():
    """The chords" MAX-of-MINs follows the formula and stays
    within 5% below it in between (the alarm errs early)."""
    from templates.observability import (
        SERVERLESS_GIB_PER_ACU,
        max_connections,
        serverless_max_connections,
    )

    text = serverless_max_connections("mysql")

    def evaluate_text(acu):
        py = text.replace("${Acu}", str(acu)).replace("c * 0 + ", "").replace("MAX([", "max([")
        return eval(py.replace("MIN([", "min(["), {"max": max, "min": min})  # noqa: S307

    for acu in (1, 2, 3, 4, 6, 8, 12, 16, 48, 64, 100, 256):
        exact = max_connections("mysql", SERVERLESS_GIB_PER_ACU * acu)
        assert 0.95 * exact <= evaluate_text(acu) <= exact + 1, acu


# -- events -------------------------------------------------------------------------
def test_ecs_task_failures_warn_with_the_task_and_the_reason(obs):
    rule = obs.props("EcsTaskFailureRule")
    pattern = rule["EventPattern"]
    assert pattern["detail-type"] == ["ECS Task State Change"]
    assert pattern["detail"]["clusterArn"] == ["<from:ClusterArn>"]
    assert pattern["detail"]["lastStatus"] == ["STOPPED"]
    alternatives = pattern["detail"]["$or"]
    assert {"stopCode": ["TaskFailedToStart"]} in alternatives
    assert {
        "stopCode": ["EssentialContainerExited"],
        "containers": {"exitCode": [{"anything-but": 0}]},
    } in alternatives
    (target,) = rule["Targets"]
    assert target["Arn"] == WARNING_TOPIC
    transformer = target["InputTransformer"]
    assert transformer["InputPathsMap"]["task"] == "$.detail.taskArn"
    assert transformer["InputPathsMap"]["reason"] == "$.detail.stoppedReason"
    assert json.loads(transformer["InputTemplate"]).startswith("ECS task <task>")


@pytest.mark.parametrize(
    "rule, topic",
    [
        ("EcsDeploymentFailed", WARNING_TOPIC),
        ("EcsDeploymentCompleted", INFO_TOPIC),
        ("EcsScaling", INFO_TOPIC),
        ("FleetScaling", INFO_TOPIC),
        ("BackupJobFailed", WARNING_TOPIC),
        ("BackupJobCompleted", INFO_TOPIC),
    ],
)
def test_deployment_scaling_and_backup_notifications(obs, rule, topic):
    props = obs.props(f"{rule}Rule")
    assert [t["Arn"] for t in props["Targets"]] == [topic]
    assert props["State"] == "ENABLED" and "Name" not in props


def test_fleet_events_only_with_a_fleet(template, env):
    assert "FleetScalingRule" not in evaluate(template, env, OPTIONAL_OFF).resources


# -- cost ---------------------------------------------------------------------------
@pytest.mark.parametrize("env, amount", [("dev", "300"), ("staging", "800"), ("prod", "2500")])
def test_budget_per_environment_forecast_alerts_to_info(template, env, amount):
    props = evaluate(template, env).props("EnvironmentBudget")
    budget = props["Budget"]
    assert budget["BudgetLimit"] == {"Amount": amount, "Unit": "USD"}
    assert budget["CostFilters"] == {
        "TagKeyValue": [{"Fn::Sub": "user:Environment$${Environment}"}]
    }
    notes = props["NotificationsWithSubscribers"]
    assert [
        (n["Notification"]["NotificationType"], n["Notification"]["Threshold"]) for n in notes
    ] == [
        ("FORECASTED", 80),
        ("FORECASTED", 100),
    ]
    assert all(
        n["Subscribers"] == [{"Address": INFO_TOPIC, "SubscriptionType": "SNS"}] for n in notes
    )


def test_no_budget_at_zero(template):
    assert "EnvironmentBudget" not in evaluate(template, "prod", {"MonthlyBudget": "0"}).resources


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_cost_anomaly_detection_outside_dev(template, env):
    ev = evaluate(template, env)
    assert ("CostAnomalyMonitor" in ev.resources) == (env != "dev")
    assert ("CostAnomalySubscription" in ev.resources) == (env != "dev")
    if env == "dev":
        return
    monitor = ev.props("CostAnomalyMonitor")
    assert monitor["MonitorType"] == "CUSTOM"
    assert json.loads(monitor["MonitorSpecification"]["Fn::Sub"])["Tags"]["Key"] == "Environment"
    sub = ev.props("CostAnomalySubscription")
    assert sub["Subscribers"] == [{"Address": INFO_TOPIC, "Type": "SNS"}]
    assert sub["Frequency"] == "IMMEDIATE"
