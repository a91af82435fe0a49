"""compute tier: cluster, task definitions, services (in the load-balancer tier's
target groups), autoscaling, scheduled jobs and roles, in dev and prod."""

import json
import re

import pytest

from streamstack.deploy.third_party_secrets import secret_name
from templates.compute import FARGATE_SIZES
from tests.cfn import evaluate, statements
from tests.conftest import assert_snapshot

SERVICES = ("Api", "Web", "Worker", "Scheduler")
# Fargate: CPU units -> allowed memory (MiB)
FARGATE = {
    256: {512, 1024, 2048},
    512: set(range(1024, 4097, 1024)),
    1024: set(range(2048, 8193, 1024)),
    2048: set(range(4096, 16385, 1024)),
    4096: set(range(8192, 30721, 1024)),
}


@pytest.fixture(scope="module")
def comp(rendered, env):
    return evaluate(rendered["compute"], env)


def test_snapshot(rendered_text):
    assert_snapshot("compute", rendered_text["compute"])


def test_cluster_insights_and_capacity_strategy(comp, env):
    props = comp.props("Cluster")
    assert props["ClusterSettings"] == [{"Name": "containerInsights", "Value": "enabled"}]
    assert props["CapacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    providers = {s["CapacityProvider"]: s for s in props["DefaultCapacityProviderStrategy"]}
    if env == "dev":
        assert providers["FARGATE"]["Base"] == 1
        assert providers["FARGATE_SPOT"]["Weight"] > providers["FARGATE"]["Weight"]
    else:
        assert set(providers) == {"FARGATE"}
    for name in ("Api", "Web", "Worker"):
        assert (
            comp.props(f"{name}Service")["CapacityProviderStrategy"]
            == props["DefaultCapacityProviderStrategy"]
        )
    # Beat is never interrupted by Spot.
    assert [
        s["CapacityProvider"] for s in comp.props("SchedulerService")["CapacityProviderStrategy"]
    ] == ["FARGATE"]


def test_fargate_sizes_are_all_valid_combinations():
    for size in FARGATE_SIZES:
        cpu, memory = (int(v) for v in size.split("/"))
        assert memory in FARGATE[cpu], size


def test_task_definitions(comp, env):
    # Every service's size in each environment: params file, else the template default.
    sizes = {
        "dev": {"Api": "512/1024", "Web": "256/512", "Worker": "256/512", "Scheduler": "256/512"},
        "prod": {
            "Api": "2048/4096",
            "Web": "256/512",
            "Worker": "1024/2048",
            "Scheduler": "512/1024",
        },
    }
    for name in SERVICES:
        props = comp.props(f"{name}TaskDefinition")
        assert props["RequiresCompatibilities"] == ["FARGATE"]
        assert props["NetworkMode"] == "awsvpc"
        size = comp.values[f"{name}TaskSize"]
        assert size == sizes[env][name], name
        assert props["Cpu"] == {"Fn::Select": [0, {"Fn::Split": ["/", size]}]}
        assert props["Memory"] == {"Fn::Select": [1, {"Fn::Split": ["/", size]}]}
        assert size in FARGATE_SIZES
        assert props["ExecutionRoleArn"] == {"Fn::GetAtt": [f"{name}ExecutionRole", "Arn"]}
        assert props["TaskRoleArn"] == {"Fn::GetAtt": ["TaskRole", "Arn"]}
        # Tracing (off in dev) adds the collector beside the application.
        container, *sidecars = props["ContainerDefinitions"]
        assert [c["Name"] for c in sidecars] == ([] if env == "dev" else ["otel-collector"])
        assert container["User"] == "1000:1000"
        # ECS Exec (dev) needs a writable root file system.
        assert container["ReadonlyRootFilesystem"] is (env != "dev")
        assert container["MountPoints"][0] == {
            "ContainerPath": "/tmp",
            "ReadOnly": False,
            "SourceVolume": "tmp",
        }
        assert len(container["MountPoints"]) == (2 if name == "Worker" else 1)
        assert container["LogConfiguration"]["Options"]["awslogs-group"] == {
            "Ref": f"{name}LogGroup"
        }
        env_names = {e["Name"] for e in container["Environment"]}
        secret_names = {s["Name"] for s in container["Secrets"]}
        assert {"DB_HOST", "DB_PORT", "DB_USER", "REDIS_HOST", "JOBS_QUEUE_URL"} <= env_names
        assert secret_names == {"REDIS_AUTH_TOKEN", "SECRET_KEY", "JWT_SECRET"}
        assert not env_names & secret_names
        assert not any("PASSWORD" in n or "SECRET" in n or "TOKEN" in n for n in env_names)
        assert ("PortMappings" in container) is (name in ("Api", "Web"))


def test_secrets_use_json_keys_of_managed_secrets(comp):
    container = comp.props("ApiTaskDefinition")["ContainerDefinitions"][0]
    secrets = {s["Name"]: s["ValueFrom"] for s in container["Secrets"]}
    assert secrets["SECRET_KEY"] == {"Fn::Sub": "${AppSecretArn}:SECRET_KEY::"}
    assert secrets["REDIS_AUTH_TOKEN"] == "<from:RedisAuthSecretArn>"


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_the_application_signs_in_to_aurora_as_its_own_user_with_iam(rendered, env):
    """No task, role or variable touches the master secret: DB_USER is the application's
    user, signing in with a token of the task role (rds-db:connect on that user only)."""
    comp = evaluate(rendered["compute"], env)
    assert "DbMasterSecretArn" not in rendered["compute"]["Parameters"]
    assert "DbMasterSecretArn" not in json.dumps(rendered["compute"]["Resources"])
    for name in SERVICES:
        container = comp.props(f"{name}TaskDefinition")["ContainerDefinitions"][0]
        environment = {e["Name"]: e["Value"] for e in container["Environment"]}
        assert environment["DB_USER"] == "<from:DbAppUsername>"
        assert environment["DB_IAM_AUTH"] == "true"
        assert not {"DB_PASSWORD", "DB_USER"} & {s["Name"] for s in container["Secrets"]}
    (policy,) = comp.props("TaskRole")["Policies"]
    sign_in = statements(policy["PolicyDocument"])["DatabaseSignIn"]
    assert sign_in["Action"] == ["rds-db:connect"]
    assert sign_in["Resource"] == [
        {
            "Fn::Sub": "arn:${AWS::Partition}:rds-db:${AWS::Region}:${AWS::AccountId}:"
            "dbuser:${DbClusterResourceId}/${DbAppUsername}"
        }
    ]


def test_default_images_are_public_pinned_by_digest_and_answer_health_on_app_port(rendered):
    params = rendered["compute"]["Parameters"]
    for name in ("ApiImage", "WebImage", "WorkerImage"):
        image = params[name]["Default"]
        assert image.startswith(("docker.io/", "public.ecr.aws/"))
        assert re.fullmatch(r"[^@]+@sha256:[0-9a-f]{64}", image), image
    comp = evaluate(rendered["compute"], "dev")
    container = comp.props("WebTaskDefinition")["ContainerDefinitions"][0]
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert environment["WHOAMI_PORT_NUMBER"] == environment["PORT"] == "8000"


def test_log_groups_encrypted_with_retention(comp, env):
    for name in SERVICES:
        group = comp.resources[f"{name}LogGroup"]
        assert group["Properties"]["KmsKeyId"] == "<from:StorageKeyArn>"
        assert group["Properties"]["RetentionInDays"] == ("1" if env == "dev" else "365")
        assert group["DeletionPolicy"] == ("Delete" if env == "dev" else "Retain")


def test_services_private_with_circuit_breaker_and_az_spread(comp, env):
    for name in SERVICES:
        props = comp.props(f"{name}Service")
        network = props["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert network["AssignPublicIp"] == "DISABLED"
        assert network["Subnets"] == "<from:AppSubnetIds>"
        assert network["SecurityGroups"] == ["<from:AppSecurityGroupId>"]
        deployment = props["DeploymentConfiguration"]
        assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
        assert props["EnableExecuteCommand"] is (env == "dev")
        if name == "Scheduler":
            assert props["DesiredCount"] == 1
            assert deployment["MaximumPercent"] == 100
            assert deployment["MinimumHealthyPercent"] == 0
        else:
            assert props["AvailabilityZoneRebalancing"] == "ENABLED"
            assert deployment["MinimumHealthyPercent"] == "100"
            assert deployment["MaximumPercent"] == "200"
    (attached,) = comp.props("ApiService")["LoadBalancers"]
    assert {k: attached[k] for k in ("ContainerName", "ContainerPort", "TargetGroupArn")} == {
        "ContainerName": "api",
        "ContainerPort": "8000",
        "TargetGroupArn": "<from:ApiTargetGroupArn>",
    }


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_releases_blue_green_outside_dev_rolling_in_dev(rendered, env):
    """ECS's own blue/green strategy for the services behind the ALB where the params say
    so (staging, prod): the second target group, the production and test rules and the
    role ECS moves the weights with; rolling in dev. Both roll back on their alarm."""
    comp = evaluate(rendered["compute"], env)
    blue_green = env != "dev"
    assert ("ReleaseTrafficRole" in comp.resources) is blue_green
    for name in ("Api", "Web"):
        props = comp.props(f"{name}Service")
        deployment = props["DeploymentConfiguration"]
        assert deployment["Strategy"] == ("BLUE_GREEN" if blue_green else "ROLLING")
        assert deployment["Alarms"] == {
            "AlarmNames": [{"Ref": f"{name}ReleaseAlarm"}],
            "Enable": True,
            "Rollback": True,
        }
        assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
        (attached,) = props["LoadBalancers"]
        if not blue_green:
            assert "AdvancedConfiguration" not in attached and "BakeTimeInMinutes" not in deployment
            continue
        assert deployment["BakeTimeInMinutes"] == "10"
        assert attached["AdvancedConfiguration"] == {
            "AlternateTargetGroupArn": f"<from:{name}AlternateTargetGroupArn>",
            "ProductionListenerRule": f"<from:{name}ListenerRuleArn>",
            "TestListenerRule": f"<from:{name}TestListenerRuleArn>",
            "RoleArn": {"Fn::GetAtt": ["ReleaseTrafficRole", "Arn"]},
        }
        assert "LifecycleHooks" not in deployment  # approval is optional, off by default
    for name in ("Worker", "Scheduler"):
        assert "Strategy" not in comp.props(f"{name}Service")["DeploymentConfiguration"]


def test_release_approval_pauses_before_production_traffic(rendered):
    comp = evaluate(rendered["compute"], "prod", {"ReleaseApproval": "enabled"})
    (hook,) = comp.props("ApiService")["DeploymentConfiguration"]["LifecycleHooks"]
    assert hook["TargetType"] == "PAUSE"
    assert hook["LifecycleStages"] == ["PRE_PRODUCTION_TRAFFIC_SHIFT"]
    assert hook["TimeoutConfiguration"] == {"TimeoutInMinutes": "60", "Action": "ROLLBACK"}
    # Without blue/green there is no traffic shift to pause before.
    rolling = evaluate(
        rendered["compute"], "prod", {"ReleaseApproval": "enabled", "ReleaseStrategy": "rolling"}
    )
    assert "LifecycleHooks" not in rolling.props("ApiService")["DeploymentConfiguration"]


def test_release_alarm_watches_both_target_groups(comp):
    for name in ("Api", "Web"):
        alarm = comp.props(f"{name}ReleaseAlarm")
        queries = {q["Id"]: q for q in alarm["Metrics"]}
        groups = {
            d["Value"]
            for q in queries.values()
            if "MetricStat" in q
            for d in q["MetricStat"]["Metric"]["Dimensions"]
            if d["Name"] == "TargetGroup"
        }
        assert groups == {
            f"<from:{name}TargetGroupFullName>",
            f"<from:{name}AlternateTargetGroupFullName>",
        }
        assert [q["Id"] for q in queries.values() if q["ReturnData"]] == ["rate"]
        assert alarm["Threshold"] == "5" and alarm["DatapointsToAlarm"] == 3


def test_release_traffic_role_moves_only_this_albs_rules_and_groups(rendered):
    comp = evaluate(rendered["compute"], "prod")
    role = comp.props("ReleaseTrafficRole")
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "ecs.amazonaws.com"}
    (policy,) = role["Policies"]
    st = statements(policy["PolicyDocument"])
    assert set(st["MoveWeights"]["Resource"]) == {
        f"<from:{n}{k}ListenerRuleArn>" for n in ("Api", "Web") for k in ("", "Test")
    }
    assert set(st["RegisterTasks"]["Resource"]) == {
        f"<from:{n}{v}TargetGroupArn>" for n in ("Api", "Web") for v in ("", "Alternate")
    }
    assert st["ModifyServingListener"]["Resource"] == ["<from:AlbListenerArn>"]
    assert st["ReadLoadBalancer"]["Resource"] == ["*"]
    assert all(
        a.startswith("elasticloadbalancing:Describe") for a in st["ReadLoadBalancer"]["Action"]
    )


def test_api_autoscaling(comp, env):
    target = comp.props("ApiScalableTarget")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (
        ("1", "2") if env == "dev" else ("3", "10")
    )
    # A deploy must not reset a count autoscaling raised: no DesiredCount on scaled services.
    for name in ("Api", "Web", "Worker"):
        assert "DesiredCount" not in comp.props(f"{name}Service")
    policies = {
        k: v["Properties"]["TargetTrackingScalingPolicyConfiguration"]
        for k, v in comp.of_type("AWS::ApplicationAutoScaling::ScalingPolicy").items()
        if v["Properties"]["ScalingTargetId"] == {"Ref": "ApiScalableTarget"}
    }
    by_metric = {
        p["PredefinedMetricSpecification"]["PredefinedMetricType"]: p
        for p in policies.values()
        if "PredefinedMetricSpecification" in p
    }
    assert by_metric["ECSServiceAverageCPUUtilization"]["TargetValue"] == 70
    assert by_metric["ECSServiceAverageMemoryUtilization"]["TargetValue"] == 75
    # Requests per task over both target groups: after a blue/green release the traffic
    # is in the other one.
    requests = comp.props("ApiRequestsScaling")["TargetTrackingScalingPolicyConfiguration"]
    queries = {q["Id"]: q for q in requests["CustomizedMetricSpecification"]["Metrics"]}
    assert {
        d["Value"]
        for q in ("requests1", "requests2")
        for d in queries[q]["MetricStat"]["Metric"]["Dimensions"]
        if d["Name"] == "TargetGroup"
    } == {"<from:ApiTargetGroupFullName>", "<from:ApiAlternateTargetGroupFullName>"}
    assert queries["running"]["MetricStat"]["Metric"]["MetricName"] == "RunningTaskCount"
    assert [q["Id"] for q in queries.values() if q["ReturnData"]] == ["per_task"]
    for policy in policies.values():
        assert policy["ScaleOutCooldown"] < policy["ScaleInCooldown"]


def test_worker_scales_on_queue_backlog_per_task(comp):
    config = comp.props("WorkerBacklogScaling")["TargetTrackingScalingPolicyConfiguration"]
    queries = {q["Id"]: q for q in config["CustomizedMetricSpecification"]["Metrics"]}
    visible = queries["visible"]["MetricStat"]["Metric"]
    assert visible["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert visible["Dimensions"] == [{"Name": "QueueName", "Value": "<from:JobsQueueName>"}]
    assert queries["running"]["MetricStat"]["Metric"]["MetricName"] == "RunningTaskCount"
    assert [q["Id"] for q in queries.values() if q["ReturnData"]] == ["backlog"]
    assert config["TargetValue"] == "20"


def test_scheduled_jobs_run_the_worker_task_definition(comp, env):
    jobs = comp.of_type("AWS::Scheduler::Schedule")
    assert set(jobs) == {"NightlyMaintenanceJob", "ReportsJob"}
    for job in jobs.values():
        target = job["Properties"]["Target"]
        assert target["EcsParameters"]["TaskDefinitionArn"] == {"Ref": "WorkerTaskDefinition"}
        assert target["EcsParameters"]["TaskCount"] == 1
        assert target["RoleArn"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
        assert job["Properties"]["State"] == ("DISABLED" if env == "dev" else "ENABLED")


def test_job_command_override_is_valid_json(comp):
    # Render the Join the way CloudFormation would, with the default command.
    input_ = comp.props("ReportsJob")["Target"]["Input"]
    head, _, tail = input_["Fn::Join"][1]
    command = comp.values["ReportsCommand"].split(",")
    text = head + '","'.join(command) + tail
    assert json.loads(text) == {"containerOverrides": [{"name": "worker", "command": command}]}


def test_scheduler_role_runs_only_worker_tasks_and_passes_only_ecs_roles(comp):
    (policy,) = comp.props("SchedulerRole")["Policies"]
    st = statements(policy["PolicyDocument"])
    assert set(st) == {"RunWorkerTasks", "PassTaskRoles"}
    assert st["RunWorkerTasks"]["Action"] == ["ecs:RunTask"]
    assert st["RunWorkerTasks"]["Resource"] == [{"Ref": "WorkerTaskDefinition"}]
    assert st["PassTaskRoles"]["Resource"] == [
        {"Fn::GetAtt": ["TaskRole", "Arn"]},
        {"Fn::GetAtt": ["WorkerExecutionRole", "Arn"]},
    ]


@pytest.mark.parametrize("name", SERVICES)
def test_each_services_execution_role_reads_exactly_its_injected_secrets_and_logs(comp, name):
    (policy,) = comp.props(f"{name}ExecutionRole")["Policies"]
    st = statements(policy["PolicyDocument"])
    assert st["InjectedSecrets"]["Action"] == ["secretsmanager:GetSecretValue"]
    assert st["InjectedSecrets"]["Resource"] == ["<from:RedisAuthSecretArn>", "<from:AppSecretArn>"]
    assert "ThirdPartySecrets" not in st  # none declared with these values
    assert st["ContainerLogs"]["Resource"] == [{"Fn::GetAtt": [f"{name}LogGroup", "Arn"]}]
    stars = [sid for sid, s in st.items() if "*" in s["Resource"]]
    assert stars == ["EcrLogin"]
    assert st["EcrLogin"]["Action"] == ["ecr:GetAuthorizationToken"]


def test_task_role_is_scoped_to_arns(comp, env):
    (policy,) = comp.props("TaskRole")["Policies"]
    st = statements(policy["PolicyDocument"])
    assert st["JobsQueue"]["Resource"] == ["<from:JobsQueueArn>"]
    assert st["VideosTable"]["Resource"][0] == "<from:VideosTableArn>"
    assert st["KeysOfThoseResources"]["Resource"] == ["<from:StorageKeyArn>", "<from:DataKeyArn>"]
    assert st["OwnSecrets"]["Resource"] == ["<from:RedisAuthSecretArn>", "<from:AppSecretArn>"]
    assert len(st["BucketObjects"]["Resource"]) == 3
    stars = [sid for sid, s in st.items() if "*" in s["Resource"]]
    # Only actions without resource-level permissions: metrics (namespace condition),
    # X-Ray with tracing (not in dev), ECS Exec (dev).
    assert stars == (
        ["OwnMetrics", "EcsExecChannels"] if env == "dev" else ["OwnMetrics", "Tracing"]
    )
    for s in st.values():
        assert not any(a.endswith(":*") or a == "*" for a in s["Action"])


def test_task_role_without_videos_table(rendered):
    comp = evaluate(rendered["compute"], "prod", {"VideosTableArn": ""})
    (policy,) = comp.props("TaskRole")["Policies"]
    assert "VideosTable" not in statements(policy["PolicyDocument"])


def test_task_role_invokes_only_the_metadata_apis_video_routes(comp):
    (policy,) = comp.props("TaskRole")["Policies"]
    st = statements(policy["PolicyDocument"])["MetadataApi"]
    assert st["Action"] == ["execute-api:Invoke"]
    assert len(st["Resource"]) == 2
    assert [r["Fn::Sub"] for r in st["Resource"]] == [
        "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${MetadataApiId}/"
        f"${{MetadataApiStageName}}/*/{path}"
        for path in ("videos", "videos/*")
    ]
    env_names = {
        e["Name"] for e in comp.props("ApiTaskDefinition")["ContainerDefinitions"][0]["Environment"]
    }
    assert "METADATA_API_URL" in env_names


def test_task_role_without_metadata_api(rendered):
    comp = evaluate(rendered["compute"], "prod", {"MetadataApiId": ""})
    (policy,) = comp.props("TaskRole")["Policies"]
    assert "MetadataApi" not in statements(policy["PolicyDocument"])


def test_contract_outputs(rendered):
    assert {
        "ClusterName",
        "ClusterArn",
        "ApiServiceName",
        "WebServiceName",
        "WorkerServiceName",
        "SchedulerServiceName",
        "TaskRoleArn",
        *(f"{name}ExecutionRoleArn" for name in SERVICES),
    } <= set(rendered["compute"]["Outputs"])


def test_services_are_attached_to_the_load_balancer_tiers_target_groups(rendered):
    """Wired by name; the nested-stack dependency (the whole load-balancer stack, listener
    rules included) replaces the former DependsOn on the listener rules."""
    comp = evaluate(rendered["compute"], "prod")
    for name in ("Api", "Web"):
        (attached,) = comp.props(f"{name}Service")["LoadBalancers"]
        assert attached["TargetGroupArn"] == f"<from:{name}TargetGroupArn>"
        assert "DependsOn" not in comp.resources[f"{name}Service"]
    assert not comp.of_type("AWS::ElasticLoadBalancingV2::LoadBalancer")


ROTATED = {"AppSecret": "<from:AppSecretArn>", "RedisAuthSecret": "<from:RedisAuthSecretArn>"}


@pytest.mark.parametrize("env,days", [("dev", "7"), ("staging", "30"), ("prod", "30")])
def test_the_redis_token_and_the_app_secret_rotate_on_the_environments_schedule(
    rendered, env, days
):
    comp = evaluate(rendered["compute"], env)
    for logical, secret in ROTATED.items():
        schedule = comp.props(f"{logical}Rotation")
        assert schedule["SecretId"] == secret
        assert schedule["RotationLambdaARN"] == {"Fn::GetAtt": ["SecretRotationFunction", "Arn"]}
        assert schedule["RotationRules"] == {"AutomaticallyAfterDays": days}
        assert schedule["RotateImmediatelyOnUpdate"] is False
        permission = comp.props(f"{logical}RotationPermission")
        assert permission["Principal"] == "secretsmanager.amazonaws.com"
        assert permission["SourceArn"] == secret
        assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    function = comp.props("SecretRotationFunction")
    variables = function["Environment"]["Variables"]
    assert variables["APP_SECRET_ARN"] == ROTATED["AppSecret"]
    assert variables["REDIS_SECRET_ARN"] == ROTATED["RedisAuthSecret"]
    assert variables["APP_SECRET_KEYS"] == "SECRET_KEY,JWT_SECRET"
    assert function["Timeout"] == 900


def test_the_rotation_role_touches_only_the_rotated_secrets_the_group_and_the_services(comp):
    (policy,) = comp.props("SecretRotationFunctionRole")["Policies"]
    st = statements(policy["PolicyDocument"])
    assert st["RotatedSecrets"]["Resource"] == list(ROTATED.values())
    assert "secretsmanager:PutSecretValue" in st["RotatedSecrets"]["Action"]
    assert st["RedisToken"]["Action"] == [
        "elasticache:DescribeReplicationGroups",
        "elasticache:ModifyReplicationGroup",
    ]
    assert st["RedisToken"]["Resource"][0]["Fn::Sub"].endswith(
        ":replicationgroup:${RedisReplicationGroupId}"
    )
    assert st["RollServices"]["Resource"] == [{"Ref": f"{name}Service"} for name in SERVICES]
    stars = sorted(sid for sid, s in st.items() if "*" in s["Resource"])
    assert stars == ["NewValues", "Tracing"]
    assert st["NewValues"]["Action"] == ["secretsmanager:GetRandomPassword"]
    assert "DbMasterSecretArn" not in json.dumps(policy)


def test_rotation_is_a_real_option_the_local_profile_turns_off(rendered):
    comp = evaluate(rendered["compute"], "dev", {"SecretRotation": "disabled"})
    assert not {
        "SecretRotationFunction",
        "SecretRotationFunctionRole",
        "AppSecretRotation",
        "RedisAuthSecretRotation",
    } & set(comp.resources)


# -- tracing, metrics, logs, processing storage ------------------------------------------
def test_collector_beside_every_task_when_tracing(comp, env):
    for name in SERVICES:
        containers = comp.props(f"{name}TaskDefinition")["ContainerDefinitions"]
        environment = {e["Name"]: e["Value"] for e in containers[0]["Environment"]}
        if env == "dev":  # Tracing: disabled
            assert len(containers) == 1 and "OTEL_SERVICE_NAME" not in environment
            continue
        app, collector = containers
        assert collector["Essential"] is False and app["Essential"] is True
        assert collector["Image"] == comp.values["TracingCollectorImage"]
        assert collector["Image"].startswith("public.ecr.aws/aws-observability/aws-otel-collector:")
        assert "@sha256:" in collector["Image"]
        assert collector["Command"] == ["--config=/etc/ecs/ecs-xray.yaml"]
        assert collector["ReadonlyRootFilesystem"] is True
        assert collector["LogConfiguration"]["Options"]["awslogs-stream-prefix"] == "otel"
        assert environment["OTEL_SERVICE_NAME"] == name.lower()
        assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4317"
        assert environment["AWS_XRAY_DAEMON_ADDRESS"] == "127.0.0.1:2000"


def test_task_role_writes_traces_only_with_tracing(comp, env):
    (policy,) = comp.props("TaskRole")["Policies"]
    st = statements(policy["PolicyDocument"])
    if env == "dev":
        assert "Tracing" not in st
        return
    assert set(st["Tracing"]["Action"]) == {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:GetSamplingStatisticSummaries",
    }


def test_custom_metrics_only_into_the_platforms_namespace(comp):
    (policy,) = comp.props("TaskRole")["Policies"]
    st = statements(policy["PolicyDocument"])["OwnMetrics"]
    assert st["Action"] == ["cloudwatch:PutMetricData"]
    assert st["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": {"Fn::Sub": "StreamStack/${Environment}"}}
    }
    container = comp.props("ApiTaskDefinition")["ContainerDefinitions"][0]
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert environment["METRICS_NAMESPACE"] == {"Fn::Sub": "StreamStack/${Environment}"}


def test_error_lines_of_every_service_count_as_application_errors(comp):
    filters = comp.of_type("AWS::Logs::MetricFilter")
    assert set(filters) == {f"{name}ErrorsMetricFilter" for name in SERVICES}
    for name in SERVICES:
        props = comp.props(f"{name}ErrorsMetricFilter")
        assert props["LogGroupName"] == {"Ref": f"{name}LogGroup"}
        assert props["FilterPattern"] == '{ ($.level = "error") || ($.level = "critical") }'
        (transformation,) = props["MetricTransformations"]
        assert transformation == {
            "MetricNamespace": {"Fn::Sub": "StreamStack/${Environment}"},
            "MetricName": "ApplicationErrors",
            "MetricValue": "1",
            "DefaultValue": 0,
            "Unit": "Count",
        }


def test_worker_mounts_the_access_point_with_tls_and_iam(comp):
    props = comp.props("WorkerTaskDefinition")
    volume = next(v for v in props["Volumes"] if v["Name"] == "processing")
    assert volume["EFSVolumeConfiguration"] == {
        "FilesystemId": "<from:FileSystemId>",
        "TransitEncryption": "ENABLED",
        "AuthorizationConfig": {"AccessPointId": "<from:AppAccessPointId>", "IAM": "ENABLED"},
    }
    container = props["ContainerDefinitions"][0]
    assert {
        "ContainerPath": "/mnt/processing",
        "ReadOnly": False,
        "SourceVolume": "processing",
    } in (container["MountPoints"])
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert environment["PROCESSING_DIR"] == "/mnt/processing"
    for other in ("Api", "Web", "Scheduler"):
        assert [v["Name"] for v in comp.props(f"{other}TaskDefinition")["Volumes"]] == ["tmp"]
    (policy,) = comp.props("TaskRole")["Policies"]
    st = statements(policy["PolicyDocument"])["ProcessingStorage"]
    assert st["Action"] == ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    assert st["Resource"] == ["<from:FileSystemArn>"]
    assert st["Condition"] == {
        "StringEquals": {"elasticfilesystem:AccessPointArn": "<from:AppAccessPointArn>"}
    }


# -- third-party secrets --------------------------------------------------------------
# What deploy.py passes for PAYMENT_API_KEY (slot 1, Api and Worker, has a value) and
# SMTP_CREDENTIALS (slot 2, Worker, still empty).
THIRD_PARTY = {
    "ThirdPartySecret1Name": "PAYMENT_API_KEY",
    "ThirdPartySecret1ForApi": "enabled",
    "ThirdPartySecret1ForWorker": "enabled",
    "ThirdPartySecret2Name": "SMTP_CREDENTIALS",
}


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_third_party_secrets_exist_per_named_slot_empty_and_under_the_data_key(rendered, env):
    comp = evaluate(rendered["compute"], env, THIRD_PARTY)
    secrets = {k for k in comp.of_type("AWS::SecretsManager::Secret") if "ThirdParty" in k}
    assert secrets == {"ThirdPartySecret1", "ThirdPartySecret2"}
    props = comp.props("ThirdPartySecret1")
    # The name deploy.py looks the secret up by (and an operator puts its value under).
    name = props["Name"]["Fn::Sub"].replace("${Environment}", env)
    name = name.replace("${ThirdPartySecret1Name}", "PAYMENT_API_KEY")
    assert name == secret_name(env, "PAYMENT_API_KEY") == f"third-party/{env}/PAYMENT_API_KEY"
    assert props["KmsKeyId"] == "<from:DataKeyArn>"
    # Empty: the value is put by an operator, never in a template or change set.
    assert "SecretString" not in props and "GenerateSecretString" not in props
    retained = "Delete" if env == "dev" else "Retain"
    assert comp.resources["ThirdPartySecret2"]["DeletionPolicy"] == retained
    bare = evaluate(rendered["compute"], env)
    assert not {k for k in bare.of_type("AWS::SecretsManager::Secret") if "ThirdParty" in k}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_a_third_party_secret_reaches_only_the_services_it_is_injected_into(rendered, env):
    comp = evaluate(rendered["compute"], env, THIRD_PARTY)
    for name in SERVICES:
        container = comp.props(f"{name}TaskDefinition")["ContainerDefinitions"][0]
        injected = {s["Name"]: s["ValueFrom"] for s in container["Secrets"]}
        (policy,) = comp.props(f"{name}ExecutionRole")["Policies"]
        st = statements(policy["PolicyDocument"])
        if name in ("Api", "Worker"):
            assert injected["PAYMENT_API_KEY"] == {"Ref": "ThirdPartySecret1"}
            assert st["ThirdPartySecrets"]["Action"] == ["secretsmanager:GetSecretValue"]
            assert st["ThirdPartySecrets"]["Resource"] == [{"Ref": "ThirdPartySecret1"}]
        else:
            assert "PAYMENT_API_KEY" not in injected
            assert "ThirdPartySecrets" not in st
        # Not injected anywhere while it has no value (a task would not start).
        assert "SMTP_CREDENTIALS" not in injected
        # No task role reads a third-party secret: only ECS, to inject it.
    (task_policy,) = comp.props("TaskRole")["Policies"]
    assert "ThirdPartySecret" not in json.dumps(task_policy)


def test_the_platforms_own_container_variables_are_reserved(rendered):
    """Every variable the tier sets is in PLATFORM_VARIABLES (or a reserved prefix), so
    params validation refuses a third-party secret that would shadow it."""
    from templates.parts import third_party

    names = set()
    for resource in rendered["compute"]["Resources"].values():
        if resource["Type"] == "AWS::ECS::TaskDefinition":
            text = json.dumps(resource["Properties"]["ContainerDefinitions"])
            names |= set(re.findall(r'"Name": "([A-Z][A-Z0-9_]+)"', text))
    assert names
    for name in names:
        assert third_party.name_problem(name), name
