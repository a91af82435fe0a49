"""security tier: KMS keys, security groups, flow logs, in dev and prod."""

import pytest

from tests.cfn import dumps, evaluate, statements
from tests.conftest import assert_snapshot


@pytest.fixture(scope="module")
def sec(rendered, env):
    return evaluate(rendered["security"], env)


def test_snapshot(rendered_text):
    assert_snapshot("security", rendered_text["security"])


@pytest.mark.parametrize("key,purpose", [("DataKey", "data"), ("StorageKey", "storage")])
def test_keys_rotate_with_env_deletion_window_and_alias(sec, env, key, purpose):
    resource = sec.resources[key]
    props = resource["Properties"]
    assert props["EnableKeyRotation"] is True
    assert props["PendingWindowInDays"] == (7 if env == "dev" else 30)
    policy = "Delete" if env == "dev" else "Retain"
    assert resource["DeletionPolicy"] == policy and resource["UpdateReplacePolicy"] == policy
    alias = sec.props(f"{key}Alias")
    assert alias["AliasName"] == {"Fn::Sub": f"alias/{purpose}-${{Environment}}"}
    assert alias["TargetKeyId"] == {"Ref": key}


def test_key_policies_keep_root_and_grant_exact_services(sec):
    def principals(key):
        found = {}
        for sid, st in statements(sec.props(key)["KeyPolicy"]).items():
            found[sid] = st["Principal"]
        return found

    data = principals("DataKey")
    storage = principals("StorageKey")
    for found in (data, storage):
        assert found["AccountRootFullAccess"] == {
            "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
        }
    assert data["RdsUse"] == {"Service": "rds.amazonaws.com"}
    services = {dumps(p["Service"]) for sid, p in storage.items() if "Service" in p}
    assert services == {
        dumps(s)
        for s in [
            "s3.amazonaws.com",
            {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"},
            "cloudwatch.amazonaws.com",
            "events.amazonaws.com",
            "sns.amazonaws.com",
            "sqs.amazonaws.com",
            "cloudfront.amazonaws.com",
            # the info topic hears budgets and cost anomalies (observability tier)
            "budgets.amazonaws.com",
            "costalerts.amazonaws.com",
        ]
    }
    # EventBridge must describe the key of an encrypted bus (messaging tier).
    event_bridge = statements(sec.props("StorageKey")["KeyPolicy"])["EventBridgeUse"]
    assert "kms:DescribeKey" in event_bridge["Action"]
    # Service grants are scoped to this account (or its log groups / distributions).
    for sid, st in statements(sec.props("StorageKey")["KeyPolicy"]).items():
        if sid != "AccountRootFullAccess":
            assert "Condition" in st and "kms:*" not in st["Action"], sid


def test_groups_have_no_inline_ingress_and_no_default_egress(sec):
    groups = sec.of_type("AWS::EC2::SecurityGroup")
    assert set(groups) == {
        f"{g}SecurityGroup" for g in ("Alb", "App", "Database", "Cache", "Efs", "Fleet")
    }
    for props in (g["Properties"] for g in groups.values()):
        assert "SecurityGroupIngress" not in props
        assert props["SecurityGroupEgress"] == [
            {
                "CidrIp": "255.255.255.255/32",
                "Description": "Disallow all egress",
                "FromPort": 252,
                "IpProtocol": "icmp",
                "ToPort": 86,
            }
        ]


def test_every_rule_is_a_described_resource(sec):
    rules = {
        **sec.of_type("AWS::EC2::SecurityGroupIngress"),
        **sec.of_type("AWS::EC2::SecurityGroupEgress"),
    }
    assert len(rules) >= 12
    assert all(r["Properties"]["Description"] for r in rules.values())


def _ingress(sec, group):
    return {
        k: v["Properties"]
        for k, v in sec.of_type("AWS::EC2::SecurityGroupIngress").items()
        if v["Properties"]["GroupId"] == {"Ref": f"{group}SecurityGroup"}
    }


def test_alb_open_to_viewers_without_prefix_list(sec):
    rules = _ingress(sec, "Alb")
    assert sorted((r["FromPort"], r["CidrIp"]) for r in rules.values()) == [
        (80, "0.0.0.0/0"),
        (443, "0.0.0.0/0"),
    ]


def test_alb_only_from_cloudfront_with_prefix_list(rendered):
    sec = evaluate(rendered["security"], "prod", {"CloudFrontPrefixListId": "pl-82a045eb"})
    rules = _ingress(sec, "Alb")
    assert sorted((r["FromPort"], r["SourcePrefixListId"]) for r in rules.values()) == [
        (80, "pl-82a045eb"),
        (443, "pl-82a045eb"),
    ]
    assert not any("CidrIp" in r for r in rules.values())


@pytest.mark.parametrize("engine,port", [("aurora-postgresql", 5432), ("aurora-mysql", 3306)])
def test_tiers_reach_each_other_only_on_their_ports(rendered, engine, port):
    sec = evaluate(rendered["security"], "prod", {"DatabaseEngine": engine})
    expect = {
        "App": [("Alb", "8000")],
        # The EC2 fleet is an application tier as well: it reaches Aurora too.
        "Database": [("App", port), ("Fleet", port)],
        "Cache": [("App", 6379)],
        "Efs": [("App", 2049)],
        "Fleet": [("Alb", 80)],
    }
    for group, sources in expect.items():
        rules = _ingress(sec, group).values()
        assert sorted(
            (r["SourceSecurityGroupId"]["Ref"], str(r["FromPort"]), str(r["ToPort"])) for r in rules
        ) == sorted((f"{s}SecurityGroup", str(p), str(p)) for s, p in sources)
    egress = sec.props("FleetEgressToDatabase")
    assert egress["DestinationSecurityGroupId"] == {"Ref": "DatabaseSecurityGroup"}
    assert str(egress["FromPort"]) == str(port)


def test_egress_is_explicit(sec):
    egress = {k: v["Properties"] for k, v in sec.of_type("AWS::EC2::SecurityGroupEgress").items()}
    by_group = {}
    for props in egress.values():
        by_group.setdefault(props["GroupId"]["Ref"], []).append(props)
    assert set(by_group) == {"AlbSecurityGroup", "AppSecurityGroup", "FleetSecurityGroup"}
    assert {p["DestinationSecurityGroupId"]["Ref"] for p in by_group["AlbSecurityGroup"]} == {
        "AppSecurityGroup",
        "FleetSecurityGroup",
    }


def test_flow_logs_all_traffic_to_encrypted_group_with_env_retention(sec, env):
    flow = sec.props("VpcFlowLog")
    assert flow["TrafficType"] == "ALL" and flow["ResourceType"] == "VPC"
    assert flow["LogDestinationType"] == "cloud-watch-logs"
    group = sec.resources["FlowLogGroup"]
    assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["StorageKey", "Arn"]}
    assert group["Properties"]["RetentionInDays"] == ("1" if env == "dev" else "365")
    assert group["DeletionPolicy"] == ("Delete" if env == "dev" else "Retain")
    role = sec.props("FlowLogRole")
    (st,) = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert st["Resource"] == [{"Fn::GetAtt": ["FlowLogGroup", "Arn"]}]
