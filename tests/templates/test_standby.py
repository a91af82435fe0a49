"""The standby region: the standby stack (templates/standby.py) under dev, staging and prod
values with conditions evaluated, and what the platform's tiers add when a standby region
is named (bucket replication, secret replicas, the global database, the failover pair)."""

from __future__ import annotations

import pytest
import yaml

from streamstack import PARAMS_DIR
from templates.parts.standby import replica_bucket_name
from tests.cfn import evaluate, statements
from tests.conftest import assert_snapshot

ACCOUNT = "123456789012"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/00000000-0000-0000-0000-00000000000a"
WITH_STANDBY = {"StandbyRegion": "us-east-1", "StandbyKeyArn": KEY}
WITHOUT = {"StandbyRegion": "", "StandbyKeyArn": ""}
# What deploy.py passes the standby stack once the platform's root exists.
FROM_ROOT = {
    "DistributionArn": f"arn:aws:cloudfront::{ACCOUNT}:distribution/E2QWRUHAPOMQZL",
    "GlobalClusterIdentifier": "aurora-global-prod",
    "DatabaseEngineVersion": "16.6",
    "HostedZoneId": "Z0123456789ABCDEFGHIJ",
    "DomainName": "example.org",
    "PrimaryRegion": "us-west-2",
    "DbAppUsername": "app",
    "DbName": "streaming",
    "WorkloadBoundaryPolicy": "streamstack-deploy/workload-boundary-prod-us-west-2",
}
ENVS = ("dev", "staging", "prod")


def standby_values(env: str, **extra) -> dict:
    """The standby template's values as deploy.py builds them: the params file's shared
    parameters, then its standby.parameters, then what deploy.py reads."""
    data = yaml.safe_load((PARAMS_DIR / f"{env}.yaml").read_text())
    given = dict((data.get("standby") or {}).get("parameters") or {})
    given.setdefault("WorkloadBoundaryPolicy", FROM_ROOT["WorkloadBoundaryPolicy"])
    return {k: str(v) for k, v in {**given, **extra}.items()}


@pytest.fixture(scope="module")
def standby(rendered):
    return rendered["standby"]


# -- the standby stack -------------------------------------------------------------------
@pytest.mark.parametrize("env", ENVS)
def test_before_the_root_exists_it_holds_data_only(standby, env):
    """The first `make standby`: key, replicas and vault; nothing that needs the root."""
    ev = evaluate(standby, env, standby_values(env))
    types = {r["Type"] for r in ev.resources.values()}
    assert {"AWS::KMS::Key", "AWS::S3::Bucket", "AWS::Backup::BackupVault"} <= types
    assert not {"AWS::RDS::DBCluster", "AWS::Route53::RecordSet"} & types
    # prod's warm application starts with the first run (its VPC with it); staging's
    # standby holds data only.
    assert ("AWS::ECS::Service" in types) == (env == "prod")
    assert ("AWS::EC2::VPC" in types) == (env == "prod")
    assert ev.outputs["StandbyApplication"]["Value"] == ("enabled" if env == "prod" else "disabled")


@pytest.mark.parametrize("env", ENVS)
def test_replicas_are_private_versioned_and_under_the_standby_key(standby, env):
    ev = evaluate(standby, env, standby_values(env))
    for logical, purpose in (
        ("MediaReplicaBucket", "media"),
        ("StaticReplicaBucket", "static-assets"),
    ):
        props = ev.props(logical)
        assert props["BucketName"] == {"Fn::Sub": replica_bucket_name(purpose, "${AWS::Region}")}
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert rule["ServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": {"Fn::GetAtt": ["StandbyKey", "Arn"]},
        }
        assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
        policy = statements(ev.props(f"{logical}Policy")["PolicyDocument"])
        assert "DenyInsecureTransport" in policy or any(
            s.get("Effect") == "Deny" and "aws:SecureTransport" in str(s) for s in policy.values()
        )
        kept = ev.resources[logical]
        assert (kept.get("DeletionPolicy") == "Retain") == (env != "dev")


def test_the_static_replica_lets_only_the_platforms_distribution_read(standby):
    ev = evaluate(standby, "prod", standby_values("prod", **FROM_ROOT))
    policy = statements(ev.props("StaticReplicaBucketPolicy")["PolicyDocument"])
    oac = policy["CloudFrontOacRead"]
    assert oac["Condition"] == {"StringEquals": {"AWS:SourceArn": FROM_ROOT["DistributionArn"]}}
    assert "CloudFrontOacRead" not in statements(
        ev.props("MediaReplicaBucketPolicy")["PolicyDocument"]
    )


@pytest.mark.parametrize(
    "env,lock", [("dev", None), ("staging", "governance"), ("prod", "compliance")]
)
def test_vault_is_locked_like_the_platforms(standby, env, lock):
    data = yaml.safe_load((PARAMS_DIR / f"{env}.yaml").read_text())["parameters"]
    ev = evaluate(standby, env, standby_values(env))
    vault = ev.props("StandbyBackupVault")
    assert vault["EncryptionKeyArn"] == {"Fn::GetAtt": ["StandbyKey", "Arn"]}
    assert data.get("BackupVaultLock") == lock
    if lock is None:
        assert "LockConfiguration" not in vault
    else:
        assert vault["LockConfiguration"]["MinRetentionDays"] == str(
            data["BackupDailyRetentionDays"]
        )
        assert ("ChangeableForDays" in vault["LockConfiguration"]) == (lock == "compliance")


def test_prod_secondary_joins_the_global_database(standby):
    ev = evaluate(standby, "prod", standby_values("prod", **FROM_ROOT))
    cluster = ev.props("DbCluster")
    assert cluster["GlobalClusterIdentifier"] == "aurora-global-prod"
    assert cluster["EngineVersion"] == "16.6"
    assert cluster["StorageEncrypted"] is True
    assert cluster["KmsKeyId"] == {"Fn::GetAtt": ["StandbyKey", "Arn"]}
    assert cluster["DeletionProtection"] is True
    assert ev.resources["DbCluster"]["DeletionPolicy"] == "Retain"
    # prod's StandbyDatabaseInstances: 1.
    assert sorted(ev.of_type("AWS::RDS::DBInstance")) == ["DbInstance1"]
    subnets = ev.props("DbSubnetGroup")["SubnetIds"]
    assert subnets == [{"Ref": f"DataSubnet{az}"} for az in (1, 2, 3)]


def test_without_a_global_database_there_is_no_secondary(standby):
    values = standby_values("prod", **{**FROM_ROOT, "GlobalClusterIdentifier": ""})
    ev = evaluate(standby, "prod", values)
    assert not ev.of_type("AWS::RDS::DBCluster") and not ev.of_type("AWS::RDS::DBInstance")
    assert ev.outputs["StandbyDbClusterIdentifier"]["Value"] == ""


def test_headless_secondary_has_no_instances(standby):
    values = standby_values("prod", **FROM_ROOT, StandbyDatabaseInstances="0")
    ev = evaluate(standby, "prod", values)
    assert ev.of_type("AWS::RDS::DBCluster") and not ev.of_type("AWS::RDS::DBInstance")


def test_data_subnets_have_no_route_out(standby):
    ev = evaluate(standby, "prod", standby_values("prod", **FROM_ROOT))
    routes = [
        r["Properties"]
        for r in ev.of_type("AWS::EC2::Route").values()
        if r["Properties"]["RouteTableId"] == {"Ref": "DataRouteTable"}
    ]
    assert routes == []
    for az in (1, 2, 3):
        association = ev.props(f"DataSubnet{az}RouteTableAssociation")
        assert association["RouteTableId"] == {"Ref": "DataRouteTable"}


def test_warm_standby_is_sized_by_its_own_parameters(standby):
    ev = evaluate(standby, "prod", standby_values("prod", **FROM_ROOT))
    assert ev.props("ApiService")["DesiredCount"] == "2"
    assert ev.props("WebService")["DesiredCount"] == "2"
    ev = evaluate(standby, "prod", standby_values("prod", **FROM_ROOT, StandbyApiTasks="5"))
    assert ev.props("ApiService")["DesiredCount"] == "5"


def test_standby_tasks_sign_in_with_iam_like_the_platforms(standby):
    ev = evaluate(standby, "prod", standby_values("prod", **FROM_ROOT))
    (container,) = ev.props("ApiTaskDefinition")["ContainerDefinitions"]
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert environment["DB_USER"] == "app" and environment["DB_IAM_AUTH"] == "true"
    assert environment["DB_HOST"] == {"Fn::GetAtt": ["DbCluster", "Endpoint.Address"]}
    assert not [s for s in container.get("Secrets", []) if s["Name"].startswith("DB_")]
    policy = statements(ev.props("TaskRole")["Policies"][0]["PolicyDocument"])
    assert policy["DatabaseSignIn"]["Action"] == ["rds-db:connect"]
    (resource,) = policy["DatabaseSignIn"]["Resource"]
    assert resource["Fn::Sub"][0].endswith(":dbuser:${ResourceId}/${DbAppUsername}")


def test_the_secondary_failover_record_points_at_the_standby_alb(standby):
    ev = evaluate(standby, "prod", standby_values("prod", **FROM_ROOT))
    for record_type in ("A", "AAAA"):
        record = ev.props(f"FailoverRecord{record_type}")
        assert record["Failover"] == "SECONDARY"
        assert record["Name"] == {"Fn::Sub": "failover.api.${DomainName}"}
        assert record["HostedZoneId"] == FROM_ROOT["HostedZoneId"]
        assert record["AliasTarget"]["DNSName"] == {"Fn::GetAtt": ["Alb", "DNSName"]}
        assert record["AliasTarget"]["EvaluateTargetHealth"] is True
    # No zone yet (the root is not deployed): no record.
    ev = evaluate(standby, "prod", standby_values("prod", **{**FROM_ROOT, "HostedZoneId": ""}))
    assert not ev.of_type("AWS::Route53::RecordSet")


@pytest.mark.parametrize("env", ENVS)
def test_every_role_is_a_bounded_workload_role(standby, env):
    ev = evaluate(standby, env, standby_values(env, **FROM_ROOT))
    roles = ev.of_type("AWS::IAM::Role")
    assert roles
    for role in roles.values():
        assert role["Properties"]["PermissionsBoundary"] == {
            "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/"
            "${WorkloadBoundaryPolicy}"
        }
        assert role["Properties"]["Path"] == {
            "Fn::Sub": "/streamstack/${Environment}/${AWS::Region}/"
        }


# -- what the platform's tiers add with a standby region ------------------------------------
@pytest.mark.parametrize("env", ENVS)
def test_media_and_static_replicate_to_their_replicas(rendered, env):
    storage = rendered["storage"]
    ev = evaluate(storage, env, WITH_STANDBY)
    for logical, purpose in (("MediaBucket", "media"), ("StaticBucket", "static-assets")):
        config = ev.props(logical)["ReplicationConfiguration"]
        assert config["Role"] == {"Fn::GetAtt": ["ReplicationRole", "Arn"]}
        (rule,) = config["Rules"]
        assert rule["Status"] == "Enabled"
        assert rule["DeleteMarkerReplication"] == {"Status": "Enabled"}
        destination = rule["Destination"]
        assert destination["Bucket"] == {
            "Fn::Sub": "arn:${AWS::Partition}:s3:::" + replica_bucket_name(purpose)
        }
        assert destination["EncryptionConfiguration"] == {"ReplicaKmsKeyID": KEY}
    for logical in ("UploadsBucket", "AppLogsBucket", "AccessLogsBucket"):
        assert "ReplicationConfiguration" not in ev.props(logical)
    role = ev.props("ReplicationRole")
    assert role["PermissionsBoundary"]
    policy = statements(role["Policies"][0]["PolicyDocument"])
    assert policy["EncryptReplicas"]["Resource"] == [KEY]
    # Without a standby region: no rule, no role.
    ev = evaluate(storage, env, WITHOUT)
    assert "ReplicationRole" not in ev.resources
    assert "ReplicationConfiguration" not in ev.props("MediaBucket")
    assert ev.outputs["ReplicationRoleArn"]["Value"] == ""


def test_replica_names_agree_between_the_two_regions():
    """The source's destination (named in the platform's region) is the bucket the standby
    stack creates (named with its own region)."""
    assert replica_bucket_name("media", "us-east-1") == (
        "s3-media-replica-${Environment}-${AWS::AccountId}-us-east-1"
    )
    assert replica_bucket_name("media") == replica_bucket_name("media", "${StandbyRegion}")


@pytest.mark.parametrize("env", ENVS)
def test_secrets_the_standby_reads_are_replicated_there(rendered, env):
    # The origin-verify secret exists only for an internet-facing ALB that requires it.
    origin_verify = {"AlbScheme": "internet-facing", "AlbOriginVerify": "enabled"}
    for tier, logical, extra in (
        ("data", "AppSecret", {}),
        ("load-balancer", "OriginVerifySecret", origin_verify),
    ):
        ev = evaluate(rendered[tier], env, {**WITH_STANDBY, **extra})
        assert ev.props(logical)["ReplicaRegions"] == [{"Region": "us-east-1", "KmsKeyId": KEY}]
        ev = evaluate(rendered[tier], env, {**WITHOUT, **extra})
        assert "ReplicaRegions" not in ev.props(logical)


@pytest.mark.parametrize("env", ENVS)
def test_third_party_secrets_are_replicated_to_the_standby_region(rendered, env):
    named = {"ThirdPartySecret1Name": "PAYMENT_API_KEY"}
    ev = evaluate(rendered["compute"], env, {**WITH_STANDBY, **named})
    assert ev.props("ThirdPartySecret1")["ReplicaRegions"] == [
        {"Region": "us-east-1", "KmsKeyId": KEY}
    ]
    ev = evaluate(rendered["compute"], env, {**WITHOUT, **named})
    assert "ReplicaRegions" not in ev.props("ThirdPartySecret1")


def test_standby_services_read_only_their_own_third_party_replicas(standby):
    slots = {
        "ThirdPartySecret1Name": "PAYMENT_API_KEY",
        "ThirdPartySecret1ForApi": "enabled",
        "ThirdPartySecret2Name": "SMTP_CREDENTIALS",  # the platform's Worker only
    }
    ev = evaluate(standby, "prod", standby_values("prod", **FROM_ROOT, **slots))
    name = {"Fn::Sub": "third-party/${Environment}/${ThirdPartySecret1Name}"}
    api = ev.props("ApiTaskDefinition")["ContainerDefinitions"][0]
    assert {s["Name"]: s["ValueFrom"] for s in api["Secrets"]}["PAYMENT_API_KEY"] == name
    web = ev.props("WebTaskDefinition")["ContainerDefinitions"][0]
    assert "PAYMENT_API_KEY" not in {s["Name"] for s in web["Secrets"]}
    (policy,) = ev.props("ApiExecutionRole")["Policies"]
    st = statements(policy["PolicyDocument"])
    assert st["ThirdPartySecrets"]["Resource"] == [
        {
            "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:"
            "secret:third-party/${Environment}/${ThirdPartySecret1Name}-??????"
        }
    ]
    assert st["ContainerLogs"]["Resource"] == [{"Fn::GetAtt": ["ApiLogGroup", "Arn"]}]
    (policy,) = ev.props("WebExecutionRole")["Policies"]
    assert "ThirdPartySecrets" not in statements(policy["PolicyDocument"])


def test_the_standby_runs_the_services_deploy_py_passes_slots_for():
    from streamstack.deploy.standby_stack import STANDBY_SERVICES
    from templates.standby import SERVICES

    assert STANDBY_SERVICES == tuple(SERVICES)


def test_prod_is_the_primary_of_a_global_database(rendered):
    data = rendered["data"]
    ev = evaluate(data, "prod", WITH_STANDBY)
    assert ev.props("GlobalCluster")["SourceDBClusterIdentifier"] == {
        "Fn::GetAtt": ["DbCluster", "DBClusterArn"]
    }
    cluster = ev.props("DbCluster")
    assert cluster["ManageMasterUserPassword"] is False
    assert "MasterUserSecret" not in cluster
    assert "DbMasterSecret" in cluster["MasterUserPassword"]["Fn::Sub"]
    assert ev.props("DbMasterSecret")["ReplicaRegions"] == [
        {"Region": "us-east-1", "KmsKeyId": KEY}
    ]
    assert ev.outputs["DbMasterSecretArn"]["Value"] == {"Ref": "DbMasterSecret"}
    # staging (no AuroraGlobalDatabase), or prod without a standby region: RDS manages the
    # password and the standby restores from the copied backups.
    for env, overrides in (("staging", WITH_STANDBY), ("prod", WITHOUT)):
        ev = evaluate(data, env, overrides)
        assert "GlobalCluster" not in ev.resources and "DbMasterSecret" not in ev.resources
        assert ev.props("DbCluster")["ManageMasterUserPassword"] is True
        assert ev.outputs["DbGlobalClusterId"]["Value"] == ""


def test_api_fails_over_with_a_warm_standby(rendered):
    records = rendered["dns-records"]
    ev = evaluate(records, "prod", {"DomainName": "example.org", "ApiFailover": "enabled"})
    for record_type in ("A", "AAAA"):
        primary = ev.props(f"ApiFailoverRecord{record_type}")
        assert primary["Failover"] == "PRIMARY"
        assert primary["Name"] == {"Fn::Sub": "failover.api.${DomainName}"}
        assert primary["HealthCheckId"] == {"Ref": "ApiHealthCheck"}
        assert ev.props(f"ApiRecord{record_type}")["AliasTarget"]["DNSName"] == primary["Name"]
    # Healthy while either of the api's target groups has a healthy target; Route 53 reads
    # only single-metric alarms.
    calculated = ev.props("ApiHealthCheck")["HealthCheckConfig"]
    assert calculated["Type"] == "CALCULATED" and calculated["HealthThreshold"] == 1
    assert calculated["ChildHealthChecks"] == [
        {"Ref": "ApiBlueHealthCheck"},
        {"Ref": "ApiGreenHealthCheck"},
    ]
    for colour, group in (("Blue", "ApiTargetGroup"), ("Green", "ApiAlternateTargetGroup")):
        alarm = ev.props(f"Api{colour}NoHealthyTargetAlarm")
        assert "Metrics" not in alarm
        assert alarm["MetricName"] == "HealthyHostCount"
        assert {"Name": "TargetGroup", "Value": f"<from:{group}FullName>"} in alarm["Dimensions"]
        check = ev.props(f"Api{colour}HealthCheck")["HealthCheckConfig"]
        assert check["AlarmIdentifier"]["Name"] == {"Ref": f"Api{colour}NoHealthyTargetAlarm"}
    # Without the warm standby: api.<domain> is the ALB's alias, no health check.
    ev = evaluate(records, "prod", {"DomainName": "example.org", "ApiFailover": "disabled"})
    assert not ev.of_type("AWS::Route53::HealthCheck")
    assert ev.props("ApiRecordA")["AliasTarget"]["DNSName"] == "<from:AlbDnsName>"


def test_snapshot(rendered_text):
    assert_snapshot("standby", rendered_text["standby"])
