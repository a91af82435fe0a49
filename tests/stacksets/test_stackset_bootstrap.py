"""make bootstrap for a StackSet environment: the administrator account's bootstrap
gets what the stack set needs, missing execution roles come back as the exact
commands to run in each target account, then the bootstrap template goes out as a
stack set to every target account and region. Stubber validates every call."""
from __future__ import annotations

import pytest
from botocore.stub import ANY

from streamstack.deploy.settings import DeploySettings
from streamstack.params import EnvParams
from streamstack.stacksets import commands

from tests.stacksets.conftest import StubSession, make_context, stub_state
from tests.stacksets.test_stackset_stubbed import A, ADMIN, B, NAME, config

BOOTSTRAP_PARAMETERS = ["AdministratorAccountId", "Environment", "StackSetAdministration",
                        "StackSetExecution", "TemplateReaderAccountIds", "GitHubRepository"]

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


def context(tmp_path, session, cfg, deploy=None):
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / "bootstrap.json").write_text('{"Resources": {}}\n')
    manifest = {"templates": {"bootstrap": {
        "file": "templates/bootstrap.json", "sha256": "c" * 64, "key": "templates/ccc.json",
        "parameters": BOOTSTRAP_PARAMETERS, "deploy_time_parameters": []}}}
    sections = {"stackset": cfg, **({"deploy": deploy} if deploy else {})}
    env = EnvParams("prod-global", tmp_path / "prod-global.yaml", NAME, "us-west-2", None,
                    {"Project": "video-streaming"}, {"Environment": "prod"}, sections)
    return make_context(env, session, manifest, tmp_path)


def stub_admin_state(session, readers: str, role_exists: bool = True):
    session.stub("sts").add_response("get_caller_identity", {"Account": ADMIN})
    session.stub("cloudformation").add_response("describe_stacks", {"Stacks": [{
        "StackName": f"{NAME}-bootstrap", "CreationTime": "2026-11-01T00:00:00Z",
        "StackStatus": "UPDATE_COMPLETE",
        "Parameters": [{"ParameterKey": "TemplateReaderAccountIds", "ParameterValue": readers}],
        "Outputs": [{"OutputKey": "ArtifactBucketName", "OutputValue": "artifacts"}]}]},
        {"StackName": f"{NAME}-bootstrap"})
    if role_exists:
        session.stub("iam").add_response("get_role", {"Role": {
            "Path": "/", "RoleName": "AWSCloudFormationStackSetAdministrationRole",
            "RoleId": "AROAEXAMPLEEXAMPLE12", "CreateDate": "2026-11-01T00:00:00Z",
            "Arn": f"arn:aws:iam::{ADMIN}:role/AWSCloudFormationStackSetAdministrationRole"}},
            {"RoleName": "AWSCloudFormationStackSetAdministrationRole"})
    else:
        session.stub("iam").add_client_error("get_role", "NoSuchEntity", "not found")


def assume(session, account: str, ok: bool):
    request = {"RoleArn": f"arn:aws:iam::{account}:role/AWSCloudFormationStackSetExecutionRole",
               "RoleSessionName": "streamstack-bootstrap-check", "DurationSeconds": 900}
    if ok:
        session.stub("sts").add_response("assume_role", {"Credentials": {
            "AccessKeyId": "AKIAEXAMPLEEXAMPLE", "SecretAccessKey": "s", "SessionToken": "t",
            "Expiration": "2026-11-22T05:00:00Z"}}, request)
    else:
        session.stub("sts").add_client_error("assume_role", "AccessDenied", "not authorized",
                                             expected_params=request)


def test_missing_execution_roles_are_printed_as_commands_and_nothing_is_created(
        tmp_path, admin_bootstraps):
    session = StubSession()
    stub_admin_state(session, readers=f"{A},{B}")
    assume(session, A, ok=True)
    assume(session, B, ok=False)
    ctx = context(tmp_path, session, config(), DeploySettings(
        bootstrap_parameters={"GitHubRepository": "example/streamstack",
                              "TemplateReaderAccountIds": "999999999999"}))
    assert commands.bootstrap(ctx) == commands.EXIT_REFUSED
    session.assert_done()       # no stack set call was made
    assert admin_bootstraps[0].bootstrap_parameters == {
        "GitHubRepository": "example/streamstack", "StackSetAdministration": "enabled",
        "TemplateReaderAccountIds": f"{A},{B},999999999999"}
    text = "\n".join(ctx.lines)
    assert f"target account {B}: cannot assume AWSCloudFormationStackSetExecutionRole " \
           f"(AccessDenied); with credentials of {B}, run:" in text
    assert "aws iam create-role --role-name AWSCloudFormationStackSetExecutionRole " \
           "--assume-role-policy-document '{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":" \
           f"\"Allow\",\"Principal\":{{\"AWS\":\"arn:aws:iam::{ADMIN}:root\"}}," \
           "\"Action\":\"sts:AssumeRole\"}]}'" in text
    assert f"target account {A}" not in text
    assert text.endswith("then run make bootstrap ENV=prod-global again")


def test_a_missing_administration_role_or_reader_is_named(tmp_path, admin_bootstraps):
    session = StubSession()
    stub_admin_state(session, readers=A, role_exists=False)
    assume(session, A, ok=True)
    assume(session, B, ok=True)
    ctx = context(tmp_path, session, config())
    assert commands.bootstrap(ctx) == commands.EXIT_REFUSED
    text = "\n".join(ctx.lines)
    assert "role AWSCloudFormationStackSetAdministrationRole is missing" in text
    assert f'set TemplateReaderAccountIds: "{A},{B}"' in text


def test_bootstrap_goes_out_as_a_stack_set_to_every_target(tmp_path, admin_bootstraps):
    session = StubSession()
    stub_admin_state(session, readers=f"{A},{B}")
    assume(session, A, ok=True)
    assume(session, B, ok=True)
    for _ in ("plan", "apply"):
        stub_state(session, key=f"stacksets/{NAME}-bootstrap/overrides.json")
    cfn = session.stub("cloudformation")
    cfn.add_client_error("describe_stack_set", "StackSetNotFoundException", "not found",
                         expected_params={"StackSetName": f"{NAME}-bootstrap"})
    cfn.add_response("create_stack_set", {"StackSetId": f"{NAME}-bootstrap:1"}, {
        "StackSetName": f"{NAME}-bootstrap", "Description": ANY,
        "TemplateURL": "https://artifacts.example/templates/ccc.json",
        "Parameters": [{"ParameterKey": "AdministratorAccountId", "ParameterValue": ADMIN},
                       {"ParameterKey": "Environment", "ParameterValue": "prod"},
                       {"ParameterKey": "StackSetAdministration", "ParameterValue": "disabled"},
                       {"ParameterKey": "StackSetExecution", "ParameterValue": "disabled"}],
        "Capabilities": ANY, "Tags": [{"Key": "Project", "Value": "video-streaming"}],
        "ClientRequestToken": ANY, "PermissionModel": "SELF_MANAGED",
        "AdministrationRoleARN": ANY, "ExecutionRoleName": "AWSCloudFormationStackSetExecutionRole"})
    cfn.add_response("create_stack_instances", {"OperationId": "op-b"}, {
        "StackSetName": f"{NAME}-bootstrap", "Accounts": [A, B],
        "Regions": ["us-east-1", "us-west-2"], "OperationPreferences": ANY, "OperationId": ANY})
    cfn.add_response("describe_stack_set_operation", {"StackSetOperation": {
        "OperationId": "op-b", "Status": "SUCCEEDED"}},
        {"StackSetName": f"{NAME}-bootstrap", "OperationId": "op-b"})
    cfn.add_response("list_stack_set_operation_results", {"Summaries": [
        {"Account": t, "Region": r, "Status": "SUCCEEDED"}
        for t in (A, B) for r in ("us-east-1", "us-west-2")]},
        {"StackSetName": f"{NAME}-bootstrap", "OperationId": "op-b"})
    ctx = context(tmp_path, session, config())
    assert commands.bootstrap(ctx) == commands.EXIT_OK
    session.assert_done()
    assert any("CREATE SUCCEEDED: 4/4 instances succeeded" in line for line in ctx.lines)


def test_unknown_bootstrap_parameters_are_refused_before_anything_runs(tmp_path,
                                                                       admin_bootstraps):
    session = StubSession()
    session.stub("sts").add_response("get_caller_identity", {"Account": ADMIN})
    ctx = context(tmp_path, session, config(bootstrap_parameters={"Colour": "blue"}))
    with pytest.raises(Exception, match="Colour not declared by the bootstrap template"):
        commands.bootstrap(ctx)
    assert admin_bootstraps == []


def test_an_administrator_account_that_is_also_a_target_gets_its_execution_role():
    target = commands.Target(config(accounts=(ADMIN, A)), NAME, None, ADMIN, "bootstrap")
    assert commands.admin_bootstrap_parameters(target, set(BOOTSTRAP_PARAMETERS)) == {
        "StackSetAdministration": "enabled", "TemplateReaderAccountIds": A,
        "StackSetExecution": "enabled", "AdministratorAccountId": ADMIN}
    service = commands.Target(config(permission_model="service-managed", accounts=(),
                                     organizational_units=("ou-ab12-cd345678",)),
                              NAME, None, ADMIN, "bootstrap")
    assert commands.admin_bootstrap_parameters(service, set(BOOTSTRAP_PARAMETERS)) == {}
