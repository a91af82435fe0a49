"""security tier: KMS keys, security groups, flow logs, in dev, staging and prod."""

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


CERTIFICATES = {"DomainName": "streaming.example.com", "Certificates": "enabled"}


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_alb_ingress_without_the_prefix_list(rendered, env):
    """dev's internet-facing ALB answers viewers on 80 and 443; the internal ALB of
    staging and prod only its VPC, on the one port CloudFront's VPC origin uses."""
    rules = _ingress(evaluate(rendered["security"], env), "Alb")
    found = sorted((r["FromPort"], r["ToPort"], r["CidrIp"]) for r in rules.values())
    if env == "dev":
        assert found == [(80, 80, "0.0.0.0/0"), (443, 443, "0.0.0.0/0")]
    else:
        assert found == [(80, 80, "<from:VpcCidr>")]
        https = _ingress(evaluate(rendered["security"], env, CERTIFICATES), "Alb")
        assert [(r["FromPort"], r["CidrIp"]) for r in https.values()] == [(443, "<from:VpcCidr>")]


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
@pytest.mark.parametrize("certificates,port", [({}, 80), (CERTIFICATES, 443)])
def test_alb_only_from_cloudfront_on_one_port_with_prefix_list(rendered, env, certificates, port):
    """One rule: the prefix list weighs 55 of a security group's 60 rules."""
    values = {"CloudFrontPrefixListId": "pl-82a045eb", **certificates}
    rules = _ingress(evaluate(rendered["security"], env, values), "Alb")
    assert [(r["FromPort"], r["ToPort"], r["SourcePrefixListId"]) for r in rules.values()] == [
        (port, port, "pl-82a045eb")
    ]
    assert not any("CidrIp" in r for r in rules.values())


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
@pytest.mark.parametrize("key", ["DataKey", "StorageKey"])
def test_keys_allow_grants_for_aws_services_only(rendered, env, key):
    policy = statements(evaluate(rendered["security"], env).props(key)["KeyPolicy"])
    assert policy["GrantsForAwsServicesOnly"] == {
        "Sid": "GrantsForAwsServicesOnly",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": ["kms:CreateGrant"],
        "Resource": ["*"],
        "Condition": {"Bool": {"kms:GrantIsForAWSResource": "false"}},
    }


def test_cloudfront_decrypts_only_the_cdn_buckets_objects(sec):
    oac = statements(sec.props("StorageKey")["KeyPolicy"])["CloudFrontOacDecrypt"]
    like = oac["Condition"]["ArnLike"]
    assert like["aws:SourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/*"
    }
    buckets = [b["Fn::Sub"] for b in like["kms:EncryptionContext:aws:s3:arn"]]
    assert buckets == [
        f"arn:${{AWS::Partition}}:s3:::s3-{purpose}-${{Environment}}-${{AWS::AccountId}}"
        f"-${{AWS::Region}}{suffix}"
        for purpose in ("static-assets", "media")
        for suffix in ("", "/*")
    ]
    # Why not the platform's distribution alone, next to the key.
    reason = sec.resources["StorageKey"]["Metadata"]["streamstack:OacScope"]
    assert "cycle" in reason and "distribution" in reason


def test_the_oac_buckets_are_the_storage_tiers_static_and_media(rendered):
    oac = statements(rendered["security"]["Resources"]["StorageKey"]["Properties"]["KeyPolicy"])
    named = {
        b["Fn::Sub"]
        for b in oac["CloudFrontOacDecrypt"]["Condition"]["ArnLike"][
            "kms:EncryptionContext:aws:s3:arn"
        ]
    }
    storage = rendered["storage"]["Resources"]
    for bucket in ("StaticBucket", "MediaBucket"):
        name = storage[bucket]["Properties"]["BucketName"]["Fn::Sub"]
        assert f"arn:${{AWS::Partition}}:s3:::{name}" in named


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
