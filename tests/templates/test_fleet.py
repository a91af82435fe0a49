"""fleet tier: off by default; when enabled, an EC2 Auto Scaling group behind the ALB."""

import pytest

from tests.cfn import evaluate, statements
from tests.conftest import assert_snapshot

ON = {"Fleet": "enabled"}


@pytest.fixture(scope="module")
def fleet(rendered, env):
    return evaluate(rendered["fleet"], env, ON)


def test_snapshot(rendered_text):
    assert_snapshot("fleet", rendered_text["fleet"])


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_off_by_default_with_empty_outputs(rendered, env):
    off = evaluate(rendered["fleet"], env)
    assert off.resources == {}
    assert {o["Value"] for o in off.outputs.values()} == {""}
    assert set(off.outputs) == {
        "FleetAutoScalingGroupName",
        "FleetAutoScalingGroupArn",
        "FleetTargetGroupArn",
        "FleetTargetGroupFullName",
        "FleetRoleArn",
    }


def test_ami_resolved_once_at_the_root_and_passed_as_an_id(rendered):
    """The root resolves the public SSM parameter on every deploy and passes the AMI id:
    a new AMI changes the fleet stack's parameter (and rolls the group). Were the fleet's
    parameter SSM-typed too, the id would be looked up as a parameter name."""
    root_ami = rendered["root"]["Parameters"]["FleetAmiId"]
    assert root_ami["Type"] == "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
    assert (
        root_ami["Default"]
        == "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    )
    assert rendered["fleet"]["Parameters"]["FleetAmiId"]["Type"] == "AWS::EC2::Image::Id"
    assert "Default" not in rendered["fleet"]["Parameters"]["FleetAmiId"]
    passed = rendered["root"]["Resources"]["FleetStack"]["Properties"]["Parameters"]
    assert passed["FleetAmiId"] == {"Ref": "FleetAmiId"}
    image = rendered["fleet"]["Resources"]["FleetLaunchTemplate"]["Properties"][
        "LaunchTemplateData"
    ]["ImageId"]
    assert image == {"Ref": "FleetAmiId"}
    assert rendered["fleet"]["Parameters"]["FleetInstanceType"]["Default"] == "t3.micro"


def test_launch_template_imdsv2_and_encrypted_gp3(fleet):
    data = fleet.props("FleetLaunchTemplate")["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    (device,) = data["BlockDeviceMappings"]
    assert device["Ebs"]["VolumeType"] == "gp3" and device["Ebs"]["Encrypted"] is True
    assert data["SecurityGroupIds"] == ["<from:FleetSecurityGroupId>"]
    assert data["IamInstanceProfile"] == {"Arn": {"Fn::GetAtt": ["FleetInstanceProfile", "Arn"]}}


def test_user_data_serves_health_and_signals(fleet):
    script, variables = fleet.props("FleetLaunchTemplate")["LaunchTemplateData"]["UserData"][
        "Fn::Base64"
    ]["Fn::Sub"]
    assert "dnf install -y nginx" in script
    assert "location = /health" in script and 'return 200 "ok\\n"' in script
    assert "systemctl enable --now nginx" in script
    assert "/opt/aws/bin/cfn-signal" in script and "signal 0" in script
    assert "${FleetLogGroup}" in script
    assert set(variables) == {"AppLogsBucket", "Namespace"}


def test_instance_role_least_privilege(fleet):
    role = fleet.props("FleetRole")
    assert role["MaxSessionDuration"] == 3600
    (policy,) = role["Policies"]
    st = statements(policy["PolicyDocument"])
    assert st["WriteAppLogs"]["Action"] == ["s3:PutObject"]
    assert st["WriteAppLogs"]["Resource"] == [
        {"Fn::Join": ["", ["<from:AppLogsBucketArn>", "/fleet/*"]]}
    ]
    assert st["OwnLogGroup"]["Resource"] == [{"Fn::GetAtt": ["FleetLogGroup", "Arn"]}]
    assert {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"} <= set(
        st["OwnLogGroup"]["Action"]
    )
    assert st["OwnMetrics"]["Action"] == ["cloudwatch:PutMetricData"]
    assert st["OwnMetrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "StreamStack/Fleet"}
    }
    assert st["StorageKey"]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert st["StorageKey"]["Resource"] == ["<from:StorageKeyArn>"]


def test_group_sizes_health_checks_and_rolling_refresh(fleet):
    group = fleet.resources["FleetAutoScalingGroup"]
    props = group["Properties"]
    assert props["VPCZoneIdentifier"] == "<from:AppSubnetIds>"
    assert (props["MinSize"], props["MaxSize"], props["DesiredCapacity"]) == ("3", "20", "3")
    assert props["HealthCheckType"] == "ELB"
    assert props["TargetGroupARNs"] == [{"Ref": "FleetTargetGroup"}]
    assert props["LaunchTemplate"]["Version"] == {
        "Fn::GetAtt": ["FleetLaunchTemplate", "LatestVersionNumber"]
    }
    rolling = group["UpdatePolicy"]["AutoScalingRollingUpdate"]
    assert rolling["WaitOnResourceSignals"] is True and rolling["MaxBatchSize"] == 1
    assert rolling["MinInstancesInService"] == "3"
    assert group["CreationPolicy"]["ResourceSignal"]["Count"] == "3"


def test_cpu_target_tracking(fleet):
    config = fleet.props("FleetCpuScaling")["TargetTrackingConfiguration"]
    assert config["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "ASGAverageCPUUtilization"
    )
    assert config["TargetValue"] == 70


def test_target_group_and_listener_rule(fleet):
    tg = fleet.props("FleetTargetGroup")
    assert (tg["Port"], tg["Protocol"], tg["TargetType"]) == (80, "HTTP", "instance")
    assert tg["HealthCheckPath"] == "/health"
    assert tg["HealthyThresholdCount"] == tg["UnhealthyThresholdCount"] == 2
    rule = fleet.props("FleetListenerRule")
    assert rule["ListenerArn"] == "<from:AlbListenerArn>"
    assert rule["Priority"] == "5"
    assert rule["Conditions"][0]["PathPatternConfig"] == {"Values": ["/fleet/*"]}


@pytest.mark.parametrize("enforced,conditions", [("true", 2), ("false", 1)])
def test_rule_requires_origin_header_when_the_alb_does(rendered, enforced, conditions):
    fleet = evaluate(rendered["fleet"], "prod", {**ON, "OriginVerifyEnforced": enforced})
    rule = fleet.props("FleetListenerRule")
    assert len(rule["Conditions"]) == conditions
    if conditions == 2:
        assert rule["Conditions"][1]["HttpHeaderConfig"]["Values"] == [
            {"Fn::Sub": "{{resolve:secretsmanager:${OriginVerifySecretArn}}}"}
        ]


def test_log_group_encrypted_and_kept_outside_dev(fleet, env):
    group = fleet.resources["FleetLogGroup"]
    assert group["Properties"]["KmsKeyId"] == "<from:StorageKeyArn>"
    assert group["DeletionPolicy"] == ("Delete" if env == "dev" else "Retain")
