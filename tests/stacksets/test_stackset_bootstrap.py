"""make bootstrap for a StackSet environment: the administrator account's bootstrap
gets what the stack set needs, missing or outdated execution roles come back as the
exact command to run in each target account (the stackset-role stack, never
AdministratorAccess), then the bootstrap template goes out as a stack set to every
target account and region. Stubber validates every call."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from streamstack.deploy.settings import DeploySettings
from streamstack.params import EnvParams
from streamstack.stacksets import commands
from tests.stacksets.conftest import StubSession, make_context, stub_state
from tests.stacksets.test_stackset_stubbed import ADMIN, NAME, A, B, config

BOOTSTRAP_PARAMETERS = [
    "DirectDeploys",
    "Environment",
    "StackSetAdministration",
    "TemplateReaderAccountIds",
    "EcrKeepImages",
]
DIGEST = "0123456789abcdef"
KEY_ARN = f"arn:aws:kms:us-west-2:{ADMIN}:key/00000000-0000-0000-0000-000000000001"
ROLE_STACK = f"{NAME}-stackset-role"

pytestmark = pytest.mark.usefixtures("sequential_reads")


@pytest.fixture()
def admin_bootstraps(monkeypatch):
    """deploy.py's ordinary bootstrap (its own tests cover it), recorded: the deploy
    settings it was given."""
    seen = []

    def ordinary_bootstrap(ctx):
        seen.append(ctx.params.sections["deploy"])
        return 0

    monkeypatch.setattr(commands.stack_commands, "bootstrap", ordinary_bootstrap)
    monkeypatch.setattr(commands, "publish", lambda ctx: ("artifacts", "https://artifacts.example"))
    return seen


@pytest.fixture()
def targets(monkeypatch):
    """The preview role of each target account: account -> the digest of its deployed
    stackset-role stack, or None when the role cannot be assumed (no stack yet)."""
    digests: dict[str, str | None] = {}

    def preview_client(ctx, role, account):
        assert role == "streamstack-deploy/stackset-preview-prod"
        if digests[account] is None:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "AssumeRole")
        cfn = boto3.client(
            "cloudformation",
            region_name="us-west-2",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        stub = Stubber(cfn)
        stub.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": ROLE_STACK,
                        "CreationTime": "2026-11-01T00:00:00Z",
                        "StackStatus": "CREATE_COMPLETE",
                        "Outputs": [
                            {
                                "OutputKey": "DeployPermissionsDigest",
                                "OutputValue": digests[account],
                            }
                        ],
                    }
                ]
            },
            {"StackName": ROLE_STACK},
        )
        stub.activate()
        return cfn

    monkeypatch.setattr(commands, "preview_client", preview_client)
    return digests


def context(tmp_path, session, cfg, deploy=None):
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / "bootstrap.json").write_text('{"Resources": {}}\n')
    (tmp_path / "templates" / "stackset-role.json").write_text(
        json.dumps({"Outputs": {"DeployPermissionsDigest": {"Value": DIGEST}}})
    )
    manifest = {
        "templates": {
            "bootstrap": {
                "file": "templates/bootstrap.json",
                "sha256": "c" * 64,
                "key": "templates/ccc.json",
                "parameters": BOOTSTRAP_PARAMETERS,
                "deploy_time_parameters": [],
            },
            "stackset-role": {
                "file": "templates/stackset-role.json",
                "sha256": "d" * 64,
                "key": "templates/ddd.json",
                "parameters": [],
                "deploy_time_parameters": [],
            },
        }
    }
    sections = {"stackset": cfg, **({"deploy": deploy} if deploy else {})}
    env = EnvParams(
        "prod-global",
        tmp_path / "prod-global.yaml",
        NAME,
        "us-west-2",
        None,
        {"Project": "video-streaming"},
        {"Environment": "prod"},
        sections,
    )
    return make_context(env, session, manifest, tmp_path)


def stub_admin_state(session, readers: str, role_exists: bool = True):
    session.stub("sts").add_response("get_caller_identity", {"Account": ADMIN})
    session.stub("cloudformation").add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": f"{NAME}-bootstrap",
                    "CreationTime": "2026-11-01T00:00:00Z",
                    "StackStatus": "UPDATE_COMPLETE",
                    "Parameters": [
                        {"ParameterKey": "TemplateReaderAccountIds", "ParameterValue": readers}
                    ],
                    "Outputs": [
                        {"OutputKey": "ArtifactBucketName", "OutputValue": "artifacts"},
                        {"OutputKey": "ArtifactKeyArn", "OutputValue": KEY_ARN},
                    ],
                }
            ]
        },
        {"StackName": f"{NAME}-bootstrap"},
    )
    if role_exists:
        session.stub("iam").add_response(
            "get_role",
            {
                "Role": {
                    "Path": "/",
                    "RoleName": "AWSCloudFormationStackSetAdministrationRole",
                    "RoleId": "AROAEXAMPLEEXAMPLE12",
                    "CreateDate": "2026-11-01T00:00:00Z",
                    "Arn": f"arn:aws:iam::{ADMIN}:role/AWSCloudFormationStackSetAdministrationRole",
                }
            },
            {"RoleName": "AWSCloudFormationStackSetAdministrationRole"},
        )
    else:
        session.stub("iam").add_client_error("get_role", "NoSuchEntity", "not found")


def test_missing_or_outdated_execution_roles_are_printed_as_commands_and_nothing_is_created(
    tmp_path, admin_bootstraps, targets
):
    session = StubSession()
    stub_admin_state(session, readers=f"{A},{B}")
    targets.update({A: None, B: "an-older-digest"})
    ctx = context(
        tmp_path,
        session,
        config(),
        DeploySettings(
            bootstrap_parameters={"EcrKeepImages": "30", "TemplateReaderAccountIds": "999999999999"}
        ),
    )
    assert commands.bootstrap(ctx) == commands.EXIT_REFUSED
    session.assert_done()  # no stack set call was made
    assert admin_bootstraps[0].bootstrap_parameters == {
        "EcrKeepImages": "30",
        "StackSetAdministration": "enabled",
        "TemplateReaderAccountIds": f"{A},{B},999999999999",
    }
    text = "\n".join(ctx.lines)
    arguments = (
        f"--region us-west-2 --stack-name {ROLE_STACK} --template-url "
        "https://artifacts.example/templates/ddd.json --capabilities "
        "CAPABILITY_NAMED_IAM --parameters "
        "ParameterKey=AdministrationRoleName,"
        "ParameterValue=AWSCloudFormationStackSetAdministrationRole "
        f"ParameterKey=AdministratorAccountId,ParameterValue={ADMIN} "
        "ParameterKey=ArtifactBucketName,ParameterValue=artifacts "
        f"ParameterKey=ArtifactKeyArn,ParameterValue={KEY_ARN} "
        "ParameterKey=Environment,ParameterValue=prod "
        "ParameterKey=ExecutionRoleName,"
        "ParameterValue=AWSCloudFormationStackSetExecutionRole "
        f"ParameterKey=StackSetName,ParameterValue={NAME}"
    )
    assert (
        f"target account {A}: no StackSet execution role yet (cannot assume "
        "streamstack-deploy/stackset-preview-prod: AccessDenied); with credentials of "
        f"{A}, run:" in text
    )
    assert f"  aws cloudformation create-stack {arguments}" in ctx.lines
    assert (
        f"target account {B}: its StackSet execution role is older than this build "
        f"(policy digest an-older-digest, built {DIGEST})" in text
    )
    assert f"  aws cloudformation update-stack {arguments}" in ctx.lines
    assert "AdministratorAccess" not in text
    assert text.endswith("then run make bootstrap ENV=prod-global again")


def test_a_missing_administration_role_or_reader_is_named(tmp_path, admin_bootstraps, targets):
    session = StubSession()
    stub_admin_state(session, readers=A, role_exists=False)
    targets.update({A: DIGEST, B: DIGEST})
    ctx = context(tmp_path, session, config())
    assert commands.bootstrap(ctx) == commands.EXIT_REFUSED
    text = "\n".join(ctx.lines)
    assert "role AWSCloudFormationStackSetAdministrationRole is missing" in text
    assert f'set TemplateReaderAccountIds: "{A},{B}"' in text


def test_bootstrap_goes_out_as_a_stack_set_to_every_target(tmp_path, admin_bootstraps, targets):
    session = StubSession()
    stub_admin_state(session, readers=f"{A},{B}")
    targets.update({A: DIGEST, B: DIGEST})
    for _ in ("plan", "apply"):
        stub_state(session, key=f"stacksets/{NAME}-bootstrap/overrides.json")
    cfn = session.stub("cloudformation")
    cfn.add_client_error(
        "describe_stack_set",
        "StackSetNotFoundException",
        "not found",
        expected_params={"StackSetName": f"{NAME}-bootstrap"},
    )
    cfn.add_response(
        "create_stack_set",
        {"StackSetId": f"{NAME}-bootstrap:1"},
        {
            "StackSetName": f"{NAME}-bootstrap",
            "Description": ANY,
            "TemplateURL": "https://artifacts.example/templates/ccc.json",
            # A target is deployed by the stack set: no artifact bucket, no roles of its own.
            "Parameters": [
                {"ParameterKey": "DirectDeploys", "ParameterValue": "disabled"},
                {"ParameterKey": "Environment", "ParameterValue": "prod"},
                {"ParameterKey": "StackSetAdministration", "ParameterValue": "disabled"},
            ],
            "Capabilities": ANY,
            "Tags": [{"Key": "Project", "Value": "video-streaming"}],
            "ClientRequestToken": ANY,
            "PermissionModel": "SELF_MANAGED",
            "AdministrationRoleARN": ANY,
            "ExecutionRoleName": "AWSCloudFormationStackSetExecutionRole",
        },
    )
    cfn.add_response(
        "create_stack_instances",
        {"OperationId": "op-b"},
        {
            "StackSetName": f"{NAME}-bootstrap",
            "Accounts": [A, B],
            "Regions": ["us-east-1", "us-west-2"],
            "OperationPreferences": ANY,
            "OperationId": ANY,
        },
    )
    cfn.add_response(
        "describe_stack_set_operation",
        {"StackSetOperation": {"OperationId": "op-b", "Status": "SUCCEEDED"}},
        {"StackSetName": f"{NAME}-bootstrap", "OperationId": "op-b"},
    )
    cfn.add_response(
        "list_stack_set_operation_results",
        {
            "Summaries": [
                {"Account": t, "Region": r, "Status": "SUCCEEDED"}
                for t in (A, B)
                for r in ("us-east-1", "us-west-2")
            ]
        },
        {"StackSetName": f"{NAME}-bootstrap", "OperationId": "op-b"},
    )
    ctx = context(tmp_path, session, config())
    assert commands.bootstrap(ctx) == commands.EXIT_OK
    session.assert_done()
    assert any("CREATE SUCCEEDED: 4/4 instances succeeded" in line for line in ctx.lines)


def test_unknown_bootstrap_parameters_are_refused_before_anything_runs(tmp_path, admin_bootstraps):
    session = StubSession()
    session.stub("sts").add_response("get_caller_identity", {"Account": ADMIN})
    ctx = context(tmp_path, session, config(bootstrap_parameters={"Colour": "blue"}))
    with pytest.raises(Exception, match="Colour not declared by the bootstrap template"):
        commands.bootstrap(ctx)
    assert admin_bootstraps == []


def test_the_administrator_bootstrap_gets_the_administration_role_and_the_readers():
    """An administrator account that is a target too is probed like any other target
    (its stackset-role stack, deployed with its own credentials)."""
    target = commands.Target(config(accounts=(ADMIN, A)), NAME, None, ADMIN, "bootstrap")
    assert commands.admin_bootstrap_parameters(target, set(BOOTSTRAP_PARAMETERS)) == {
        "StackSetAdministration": "enabled",
        "TemplateReaderAccountIds": A,
    }
    service = commands.Target(
        config(
            permission_model="service-managed",
            accounts=(),
            organizational_units=("ou-ab12-cd345678",),
        ),
        NAME,
        None,
        ADMIN,
        "bootstrap",
    )
    assert commands.admin_bootstrap_parameters(service, set(BOOTSTRAP_PARAMETERS)) == {}
