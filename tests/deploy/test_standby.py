"""The standby stack as deploy.py manages it (make standby, the root's deploy-time values,
make status), with botocore's Stubber: every request and response is validated against
the service models."""

from __future__ import annotations

import json

import pytest
from botocore.stub import ANY, Stubber

from streamstack.deploy import commands, exits, standby_stack
from streamstack.errors import StreamstackError
from tests.deploy.conftest import REGION, make_context, write_params
from tests.deploy.test_stubbed import (
    ACCOUNT,
    BOUNDARY,
    BUCKET,
    CS_ARN,
    NOW,
    PROD,
    STACK,
    change,
    event,
    outputs_of,
    stack,
    stored,
    stub_caller,
    stub_connect,
)

STANDBY_REGION = "us-east-1"
NAME = f"{STACK}-standby"
STANDBY_ID = f"arn:aws:cloudformation:{STANDBY_REGION}:{ACCOUNT}:stack/{NAME}/66666666-cccc"
STANDBY_KEY = f"arn:aws:kms:{STANDBY_REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-00000000000a"
VAULT = f"arn:aws:backup:{STANDBY_REGION}:{ACCOUNT}:backup-vault:vault-backups-prod"
STATIC_REPLICA = f"s3-static-replica-prod-{ACCOUNT}-{STANDBY_REGION}.s3.us-east-1.amazonaws.com"
APP_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:secret-app-prod-AbCdEf"
DISTRIBUTION = f"arn:aws:cloudfront::{ACCOUNT}:distribution/E2QWRUHAPOMQZL"
PREFIX_LIST = "pl-3b927c52"
STANDBY = """\
standby:
  region: us-east-1
  parameters: {StandbyApplication: enabled, StandbyApiTasks: 2}
"""


def _context(built, tmp_path, text):
    write_params(tmp_path / "params", "prod", text)
    ctx, stubs = make_context(built, tmp_path / "params")
    for service, region in (("ec2", STANDBY_REGION), ("secretsmanager", REGION)):
        client = ctx.session.client(service, region_name=region)
        stubs[f"{service}-{region}"] = Stubber(client)
        stubs[f"{service}-{region}"].activate()
        ctx.clients[(service, region)] = client
    return ctx, stubs


@pytest.fixture
def with_standby(built, tmp_path):
    ctx, stubs = _context(built, tmp_path, PROD + STANDBY)
    yield ctx, stubs
    for stub in stubs.values():
        stub.assert_no_pending_responses()


@pytest.fixture
def without_standby(built, tmp_path):
    ctx, stubs = _context(built, tmp_path, PROD)
    yield ctx, stubs
    for stub in stubs.values():
        stub.assert_no_pending_responses()


def standby_outputs(application="enabled"):
    return outputs_of(
        {
            "StandbyKeyArn": STANDBY_KEY,
            "StandbyBackupVaultArn": VAULT,
            "StaticReplicaBucketDomainName": STATIC_REPLICA,
            "StandbyApplication": application,
        }
    )


def stub_values(ctx, stubs, root):
    """What `make standby` reads before its change set: the prefix list in the standby
    region, the root stack, and each replicated secret it names."""
    stubs["ec2-us-east-1"].add_response(
        "describe_managed_prefix_lists",
        {"PrefixLists": [{"PrefixListId": PREFIX_LIST}]},
        {
            "Filters": [
                {
                    "Name": "prefix-list-name",
                    "Values": ["com.amazonaws.global.cloudfront.origin-facing"],
                }
            ]
        },
    )
    if root is None:
        stubs["cloudformation"].add_client_error(
            "describe_stacks",
            "ValidationError",
            f"Stack with id {STACK} does not exist",
            400,
            expected_params={"StackName": STACK},
        )
    else:
        stubs["cloudformation"].add_response(
            "describe_stacks", {"Stacks": [root]}, {"StackName": STACK}
        )


def stub_upload(ctx, stubs):
    entry = ctx.manifest["templates"]["standby"]
    stubs["s3"].add_response(
        "head_object", stored(entry), {"Bucket": BUCKET, "Key": entry["key"], "ChecksumMode": ANY}
    )


# The third-party slots as the standby gets them from a root that declares none.
NO_THIRD_PARTY = {
    **{f"ThirdPartySecret{slot}Name": "" for slot in range(1, 6)},
    **{f"ThirdPartySecret{slot}For{s}": "disabled" for slot in range(1, 6) for s in ("Api", "Web")},
}


def change_set_parameters(ctx, **extra):
    declared = json.loads(
        (ctx.build_dir / ctx.manifest["templates"]["standby"]["file"]).read_text()
    )
    values = {
        "Environment": "prod",
        "PrimaryRegion": REGION,
        "StandbyApiTasks": "2",
        "StandbyApplication": "enabled",
        "WorkloadBoundaryPolicy": BOUNDARY,
        "CloudFrontPrefixListId": PREFIX_LIST,
        **NO_THIRD_PARTY,
        **extra,
    }
    assert set(values) <= set(declared["Parameters"])
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(values.items())]


def test_standby_without_a_standby_section_names_the_fix(without_standby):
    ctx, _ = without_standby
    with pytest.raises(StreamstackError, match=r"has no standby: section; add standby: \{region"):
        commands.standby(ctx)


def test_first_standby_is_created_in_its_region_before_the_root(with_standby):
    """Before the platform's first deploy: the replicas, vault and key only; the output
    tells the engineer to run it again after the root exists."""
    ctx, stubs = with_standby
    east = stubs["cloudformation-us-east-1"]
    stub_connect(stubs)
    stub_values(ctx, stubs, root=None)
    stub_upload(ctx, stubs)
    east.add_client_error(
        "describe_stacks",
        "ValidationError",
        f"Stack with id {NAME} does not exist",
        400,
        expected_params={"StackName": NAME},
    )
    entry = ctx.manifest["templates"]["standby"]
    east.add_response(
        "create_change_set",
        {"Id": CS_ARN, "StackId": STANDBY_ID},
        {
            "StackName": NAME,
            "ChangeSetName": ANY,
            "ChangeSetType": "CREATE",
            "TemplateURL": f"https://{BUCKET}.s3.{REGION}.amazonaws.com/{entry['key']}",
            "Capabilities": ANY,
            "Tags": ANY,
            "Description": ANY,
            "IncludeNestedStacks": False,
            "Parameters": change_set_parameters(ctx),
        },
    )
    east.add_response(
        "describe_change_set", {"Status": "CREATE_COMPLETE"}, {"ChangeSetName": CS_ARN}
    )
    east.add_response(
        "describe_change_set",
        {"Changes": [change("MediaReplicaBucket", "AWS::S3::Bucket", action="Add")]},
        {"ChangeSetName": CS_ARN, "IncludePropertyValues": True},
    )
    east.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STANDBY_ID})
    east.add_response(
        "execute_change_set", {}, {"ChangeSetName": CS_ARN, "RetainExceptOnCreate": True}
    )
    done = stack(NAME, STANDBY_ID, "CREATE_COMPLETE", Outputs=standby_outputs())
    east.add_response("describe_stacks", {"Stacks": [done]}, {"StackName": STANDBY_ID})
    east.add_response(
        "describe_stack_events",
        {
            "StackEvents": [
                event(NAME, STANDBY_ID, NAME, "AWS::CloudFormation::Stack", "CREATE_COMPLETE", NOW)
            ]
        },
        {"StackName": STANDBY_ID},
    )
    east.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STANDBY_ID})
    east.add_response(
        "update_termination_protection",
        {"StackId": STANDBY_ID},
        {"EnableTerminationProtection": True, "StackName": STANDBY_ID},
    )
    assert commands.standby(ctx) == 0
    assert "is not deployed yet" in ctx.out.text and "again" in ctx.out.text
    assert f"standby {NAME} (us-east-1): CREATE_COMPLETE" in ctx.out.text
    assert f"StandbyKeyArn = {STANDBY_KEY}" in ctx.out.text


def test_second_standby_reads_the_root_and_only_in_sync_secret_replicas(with_standby):
    """After the root exists: its distribution, global database, zone and the replicas of
    the secrets that are in sync reach the standby; a protected update waits for YES=1."""
    ctx, stubs = with_standby
    east = stubs["cloudformation-us-east-1"]
    secrets = stubs["secretsmanager-us-west-2"]
    origin = APP_SECRET.replace("secret-app", "secret-origin-verify")
    db_secret = APP_SECRET.replace("secret-app", "secret-db-master")
    root = stack(
        Outputs=outputs_of(
            {
                "DistributionArn": DISTRIBUTION,
                "DbGlobalClusterId": "aurora-global-prod",
                "DbEngineVersion": "16.6",
                "HostedZoneId": "Z0123456789ABCDEFGHIJ",
                "OriginVerifySecretArn": origin,
                "AppSecretArn": APP_SECRET,
                "DbMasterSecretArn": db_secret,
                "DbAppUsername": "app",
                "DbName": "streaming",
            }
        )
    )
    stub_connect(stubs)
    stub_values(ctx, stubs, root)
    # The origin secret's replica is still being created; the app secret's is in sync.
    # (The master secret is the data tier's: the standby tasks sign in with IAM.)
    replicas = {
        "OriginVerifySecretArn": (origin, "InProgress"),
        "AppSecretArn": (APP_SECRET, "InSync"),
    }
    for name in standby_stack.REPLICATED_SECRETS:
        arn, status = replicas[name]
        secrets.add_response(
            "describe_secret",
            {"ARN": arn, "ReplicationStatus": [{"Region": STANDBY_REGION, "Status": status}]},
            {"SecretId": arn},
        )
    stub_upload(ctx, stubs)
    east.add_response(
        "describe_stacks",
        {"Stacks": [stack(NAME, STANDBY_ID, "CREATE_COMPLETE", Outputs=standby_outputs())]},
        {"StackName": NAME},
    )
    east_arn = lambda arn: arn.replace(REGION, STANDBY_REGION)  # noqa: E731
    east.add_response(
        "create_change_set",
        {"Id": CS_ARN, "StackId": STANDBY_ID},
        {
            "StackName": NAME,
            "ChangeSetName": ANY,
            "ChangeSetType": "UPDATE",
            "TemplateURL": ANY,
            "Capabilities": ANY,
            "Tags": ANY,
            "Description": ANY,
            "IncludeNestedStacks": False,
            "Parameters": change_set_parameters(
                ctx,
                DistributionArn=DISTRIBUTION,
                GlobalClusterIdentifier="aurora-global-prod",
                DatabaseEngineVersion="16.6",
                HostedZoneId="Z0123456789ABCDEFGHIJ",
                AppSecretArn=east_arn(APP_SECRET),
                DbAppUsername="app",
                DbName="streaming",
            ),
        },
    )
    east.add_response(
        "describe_change_set", {"Status": "CREATE_COMPLETE"}, {"ChangeSetName": CS_ARN}
    )
    east.add_response(
        "describe_change_set",
        {"Changes": [change("DbCluster", "AWS::RDS::DBCluster", action="Add")]},
        {"ChangeSetName": CS_ARN, "IncludePropertyValues": True},
    )
    with pytest.raises(exits.Refused, match="make standby ENV=prod YES=1"):
        commands.standby(ctx)
    assert "DbCluster" in ctx.out.text


def test_root_values_are_empty_without_a_standby(without_standby):
    ctx, _ = without_standby
    assert standby_stack.root_values(ctx) == {
        "StandbyRegion": "",
        "ApiFailover": "disabled",
        "StandbyKeyArn": "",
        "StandbyBackupVaultArn": "",
        "StaticReplicaBucketDomainName": "",
    }


def test_root_values_refuse_before_the_standby_exists(with_standby):
    ctx, stubs = with_standby
    stubs["cloudformation-us-east-1"].add_client_error(
        "describe_stacks",
        "ValidationError",
        f"Stack with id {NAME} does not exist",
        400,
        expected_params={"StackName": NAME},
    )
    with pytest.raises(
        StreamstackError, match=r"does not exist: run `make standby ENV=prod` first"
    ):
        standby_stack.root_values(ctx)


@pytest.mark.parametrize("application,failover", [("enabled", "enabled"), ("disabled", "disabled")])
def test_root_values_come_from_the_standby_outputs(with_standby, application, failover):
    ctx, stubs = with_standby
    stubs["cloudformation-us-east-1"].add_response(
        "describe_stacks",
        {"Stacks": [stack(NAME, STANDBY_ID, Outputs=standby_outputs(application))]},
        {"StackName": NAME},
    )
    assert standby_stack.root_values(ctx) == {
        "StandbyRegion": STANDBY_REGION,
        "ApiFailover": failover,
        "StandbyKeyArn": STANDBY_KEY,
        "StandbyBackupVaultArn": VAULT,
        "StaticReplicaBucketDomainName": STATIC_REPLICA,
    }


def test_status_shows_the_standby_and_its_outputs(with_standby):
    ctx, stubs = with_standby
    from tests.deploy.test_stubbed import boot_stack, role_stack

    cfn, east = stubs["cloudformation"], stubs["cloudformation-us-east-1"]
    stub_caller(stubs)
    cfn.add_response(
        "describe_stacks", {"Stacks": [boot_stack()]}, {"StackName": f"{STACK}-bootstrap"}
    )
    cfn.add_response(
        "describe_stacks", {"Stacks": [role_stack()]}, {"StackName": f"{STACK}-bootstrap-role"}
    )
    east.add_client_error(
        "describe_stacks",
        "ValidationError",
        f"Stack with id {STACK}-edge does not exist",
        400,
        expected_params={"StackName": f"{STACK}-edge"},
    )
    east.add_response(
        "describe_stacks",
        {"Stacks": [stack(NAME, STANDBY_ID, Outputs=standby_outputs())]},
        {"StackName": NAME},
    )
    cfn.add_client_error(
        "describe_stacks",
        "ValidationError",
        f"Stack with id {STACK} does not exist",
        400,
        expected_params={"StackName": STACK},
    )
    commands.status(ctx)
    assert f"standby {NAME} (us-east-1): UPDATE_COMPLETE" in ctx.out.text
    assert f"StandbyBackupVaultArn = {VAULT}" in ctx.out.text


def test_standby_services_get_a_third_party_secret_once_its_replica_is_in_sync(with_standby):
    """The root's slots reach the standby; a standby service gets a secret the platform
    injects into the same service, once this region's replica is in sync."""
    ctx, stubs = with_standby
    secrets = stubs["secretsmanager-us-west-2"]
    root = stack(
        Parameters=[
            {"ParameterKey": k, "ParameterValue": v}
            for k, v in {
                "ThirdPartySecret1Name": "PAYMENT_API_KEY",
                "ThirdPartySecret1ForApi": "enabled",
                "ThirdPartySecret1ForWorker": "enabled",
                "ThirdPartySecret2Name": "PARTNER_API_KEY",
                "ThirdPartySecret2ForWeb": "enabled",
                "ThirdPartySecret3Name": "SMTP_CREDENTIALS",  # the Worker's: not in the standby
                "ThirdPartySecret3ForWorker": "enabled",
            }.items()
        ]
    )
    for name, status in (("PAYMENT_API_KEY", "InSync"), ("PARTNER_API_KEY", "InProgress")):
        secret_id = f"third-party/prod/{name}"
        secrets.add_response(
            "describe_secret",
            {
                "Name": secret_id,
                "ReplicationStatus": [{"Region": STANDBY_REGION, "Status": status}],
            },
            {"SecretId": secret_id},
        )
    values = standby_stack.third_party_values(ctx, root, STANDBY_REGION)
    assert values["ThirdPartySecret1Name"] == "PAYMENT_API_KEY"
    assert values["ThirdPartySecret3Name"] == "SMTP_CREDENTIALS"
    enabled = sorted(k for k, v in values.items() if v == "enabled")
    assert enabled == ["ThirdPartySecret1ForApi"]
    assert set(values) == set(NO_THIRD_PARTY)
    assert (
        "secret PARTNER_API_KEY: its replica in us-east-1 is not in sync yet; the standby Web "
        "get it on the next `make standby ENV=prod`"
    ) in ctx.out.text
