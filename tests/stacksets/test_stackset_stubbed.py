"""What no emulator produces, with botocore's Stubber (every request and response is
validated against the CloudFormation service model): an update with operation
preferences and overrides, OperationInProgress then a retry, FAILED instances within
and beyond the tolerance, drift, and deep preview."""

from __future__ import annotations

import datetime
import json

import pytest
from botocore.stub import ANY

from streamstack.deploy import cli, exits
from streamstack.deploy.plans import classify
from streamstack.stacksets import commands, deep_preview, preview
from streamstack.stacksets.config import Preferences, StackSetConfig
from streamstack.stacksets.operations import Operations, Waiter
from streamstack.stacksets.targets import Group, Instance, desired_instances
from tests.stacksets.conftest import StubSession, make_context, stub_state

NAME = "streamstack-prod-global"
ADMIN, A, B, C = "111111111111", "222222222222", "333333333333", "444444444444"
NOW = datetime.datetime(2026, 11, 22, 4, 0, tzinfo=datetime.UTC)

pytestmark = pytest.mark.usefixtures("sequential_reads")


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def config(**changes) -> StackSetConfig:
    prefs = changes.pop("preferences", None) or Preferences(region_order=("us-east-1", "us-west-2"))
    values = dict(
        name=None,
        permission_model="self-managed",
        call_as="self",
        accounts=(A, B),
        organizational_units=(),
        regions=("us-east-1", "us-west-2"),
        preferences=prefs,
    )
    values.update(changes)
    return StackSetConfig(**values)


def operations(cfg: StackSetConfig, session: StubSession, lines: list, sleeps: Sleeps):
    return Operations(
        session.client("cloudformation"),
        NAME,
        cfg,
        waiter=Waiter(first=2, factor=2, cap=8, sleep=sleeps),
        out=lines.append,
    )


def op_done(stub, op_id: str, status: str = "SUCCEEDED", running: int = 0, **extra) -> None:
    for _ in range(running):
        stub.add_response(
            "describe_stack_set_operation",
            {"StackSetOperation": {"OperationId": op_id, "Status": "RUNNING"}},
            {"StackSetName": NAME, "OperationId": op_id},
        )
    stub.add_response(
        "describe_stack_set_operation",
        {"StackSetOperation": {"OperationId": op_id, "Status": status, **extra}},
        {"StackSetName": NAME, "OperationId": op_id},
    )


def results(stub, op_id: str, rows: list[tuple[str, str, str, str]]) -> None:
    stub.add_response(
        "list_stack_set_operation_results",
        {
            "Summaries": [
                {"Account": a, "Region": r, "Status": s, "StatusReason": why}
                for a, r, s, why in rows
            ]
        },
        {"StackSetName": NAME, "OperationId": op_id},
    )


# -- update with operation preferences and overrides ------------------------------------
def test_update_sends_preferences_then_the_full_override_list():
    prefs = Preferences(
        region_order=("us-east-1", "us-west-2"),
        region_concurrency="parallel",
        max_concurrent=("percentage", 50),
        failure_tolerance=("percentage", 10),
        concurrency_mode="soft",
    )
    cfg = config(preferences=prefs, region_overrides={"us-east-1": {"VpcCidr": "10.1.0.0/16"}})
    current = preview.Current(
        exists=True,
        template_sha="0" * 64,
        template_body="{}",
        parameters={"Environment": "prod", "ArtifactBaseUrl": "https://b.s3.amazonaws.com"},
        instances={
            Instance(t, r): [preview.CurrentInstance(t, "CURRENT", "", "arn:stack", "op-0", ())]
            for t in (A, B)
            for r in ("us-east-1", "us-west-2")
        },
    )
    plan = preview.compute(
        NAME,
        current,
        template_sha="f" * 64,
        template_text='{"x": 1}',
        parameters={"Environment": "prod", "ArtifactBaseUrl": "https://b.s3.amazonaws.com"},
        desired=desired_instances(cfg),
        region_order=prefs.region_order,
        delete_removed_stacks=False,
    )
    assert plan.update_stack_set and plan.template_changed
    assert plan.override_updates == [Group((A, B), ("us-east-1",), (("VpcCidr", "10.1.0.0/16"),))]
    row = next(r for r in plan.rows if r.instance == Instance(A, "us-east-1"))
    assert row.parameters == {"VpcCidr": [None, "10.1.0.0/16"]}
    assert row.template == "000000000000 -> ffffffffffff"

    session, lines, sleeps = StubSession(), [], Sleeps()
    stub = session.stub("cloudformation")
    api_prefs = {
        "RegionOrder": ["us-east-1", "us-west-2"],
        "RegionConcurrencyType": "PARALLEL",
        "MaxConcurrentPercentage": 50,
        "FailureTolerancePercentage": 10,
        "ConcurrencyMode": "SOFT_FAILURE_TOLERANCE",
    }
    stub.add_response(
        "update_stack_set",
        {"OperationId": "op-1"},
        {
            "StackSetName": NAME,
            "Description": "d",
            "TemplateURL": "https://b/t.json",
            "Parameters": [
                {"ParameterKey": "ArtifactBaseUrl", "ParameterValue": "https://b.s3.amazonaws.com"},
                {"ParameterKey": "Environment", "ParameterValue": "prod"},
            ],
            "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
            "Tags": [{"Key": "Project", "Value": "video-streaming"}],
            "OperationPreferences": api_prefs,
            "OperationId": ANY,
            "PermissionModel": "SELF_MANAGED",
            "AdministrationRoleARN": f"arn:aws:iam::{ADMIN}:role/"
            "AWSCloudFormationStackSetAdministrationRole",
            "ExecutionRoleName": "AWSCloudFormationStackSetExecutionRole",
        },
    )
    op_done(stub, "op-1", running=2)
    results(
        stub, "op-1", [(t, r, "SUCCEEDED", "") for t in (A, B) for r in ("us-east-1", "us-west-2")]
    )
    stub.add_response(
        "update_stack_instances",
        {"OperationId": "op-2"},
        {
            "StackSetName": NAME,
            "Regions": ["us-east-1"],
            "Accounts": [A, B],
            "ParameterOverrides": [{"ParameterKey": "VpcCidr", "ParameterValue": "10.1.0.0/16"}],
            "OperationPreferences": {**api_prefs, "RegionOrder": ["us-east-1"]},
            "OperationId": ANY,
        },
    )
    op_done(stub, "op-2")
    results(stub, "op-2", [(A, "us-east-1", "SUCCEEDED", ""), (B, "us-east-1", "SUCCEEDED", "")])

    target = commands.Target(cfg, NAME, operations(cfg, session, lines, sleeps), ADMIN, "root")
    code = commands.apply(
        target,
        plan,
        template_url="https://b/t.json",
        parameters={"Environment": "prod", "ArtifactBaseUrl": "https://b.s3.amazonaws.com"},
        tags={"Project": "video-streaming"},
        description="d",
        prune=False,
        delete_stacks=False,
        out=lines.append,
    )
    assert code == commands.EXIT_OK
    session.assert_done()
    assert sleeps == [2, 4], "two RUNNING polls, with backoff"
    assert f"  {A}/us-east-1" in "\n".join(lines)
    assert any("UPDATE SUCCEEDED: 4/4 instances succeeded" in line for line in lines)


# -- OperationInProgressException, then a retry ---------------------------------------------
def test_operation_in_progress_waits_and_retries_with_the_same_operation_id():
    session, lines, sleeps = StubSession(), [], Sleeps()
    stub = session.stub("cloudformation")
    ops = operations(config(), session, lines, sleeps)
    seen_ids = []

    class Same:  # records the OperationId of each attempt
        def __eq__(self, other):
            seen_ids.append(other)
            return True

    expected = {
        "StackSetName": NAME,
        "Regions": ["us-west-2"],
        "Accounts": [A],
        "OperationPreferences": ANY,
        "OperationId": Same(),
    }
    for _ in range(2):
        stub.add_client_error(
            "create_stack_instances",
            "OperationInProgressException",
            "Another Operation on StackSet is in progress",
            http_status_code=409,
            expected_params=expected,
        )
    stub.add_response("create_stack_instances", {"OperationId": "op-9"}, expected)
    op_done(stub, "op-9")
    results(stub, "op-9", [(A, "us-west-2", "SUCCEEDED", "")])
    result = ops.create_instances(Group((A,), ("us-west-2",), ()))
    assert result.ok and result.operation_id == "op-9"
    assert sleeps == [2, 4]
    assert len(set(seen_ids)) == 1, "a retry reuses the idempotent OperationId"
    assert sum("another operation is in progress" in line for line in lines) == 2
    session.assert_done()


def test_other_errors_are_not_retried():
    session, lines, sleeps = StubSession(), [], Sleeps()
    stub = session.stub("cloudformation")
    stub.add_client_error("create_stack_instances", "StackSetNotFoundException", "no such set")
    with pytest.raises(Exception, match="StackSetNotFoundException"):
        operations(config(), session, lines, sleeps).create_instances(
            Group((A,), ("us-west-2",), ())
        )
    assert sleeps == []


# -- FAILED instances within and beyond the tolerance -------------------------------------
def two_group_plan(cfg) -> preview.Plan:
    return preview.compute(
        NAME,
        preview.Current(exists=False),
        template_sha="a" * 64,
        template_text="{}",
        parameters={},
        desired=desired_instances(cfg),
        region_order=cfg.preferences.region_order,
        delete_removed_stacks=False,
    )


def run_creates(cfg, first_results, first_status, more=None):
    session, lines, sleeps = StubSession(), [], Sleeps()
    stub = session.stub("cloudformation")
    stub.add_response("create_stack_set", {"StackSetId": f"{NAME}:1"})
    stub.add_response("create_stack_instances", {"OperationId": "op-1"})
    op_done(stub, "op-1", first_status)
    results(stub, "op-1", first_results)
    for op_id, rows in (more or {}).items():
        stub.add_response("create_stack_instances", {"OperationId": op_id})
        op_done(stub, op_id)
        results(stub, op_id, rows)
    plan = two_group_plan(cfg)
    target = commands.Target(cfg, NAME, operations(cfg, session, lines, sleeps), ADMIN, "root")
    code = commands.apply(
        target,
        plan,
        template_url="https://b/t.json",
        parameters={},
        tags={},
        description="d",
        prune=False,
        delete_stacks=False,
        out=lines.append,
    )
    session.assert_done()
    return code, lines


def three_accounts(tolerance: tuple[str, int]) -> StackSetConfig:
    """A, B, C in two regions; us-east-1 has its own overrides, so two operations."""
    return config(
        accounts=(A, B, C),
        region_overrides={"us-east-1": {"VpcCidr": "10.1.0.0/16"}},
        preferences=Preferences(
            region_order=("us-east-1", "us-west-2"), failure_tolerance=tolerance
        ),
    )


def test_failures_within_the_tolerance_continue_and_succeed():
    code, lines = run_creates(
        three_accounts(("count", 1)),
        [
            (A, "us-east-1", "SUCCEEDED", ""),
            (
                B,
                "us-east-1",
                "FAILED",
                "ResourceLogicalId:Vpc, ResourceType:AWS::EC2::VPC, "
                "ResourceStatusReason:The CIDR is invalid",
            ),
            (C, "us-east-1", "SUCCEEDED", ""),
        ],
        "SUCCEEDED",
        more={"op-2": [(t, "us-west-2", "SUCCEEDED", "") for t in (A, B, C)]},
    )
    assert code == commands.EXIT_OK
    text = "\n".join(lines)
    assert f"{B}/us-east-1" in text and "The CIDR is invalid" in text
    assert "failed per region: us-east-1 1 (tolerated 1)" in text
    assert "exceed" not in text


def test_failures_beyond_the_tolerance_stop_the_rollout_and_fail():
    # 34% of 3 accounts rounds down to 1 tolerated failure; 2 failed
    code, lines = run_creates(
        three_accounts(("percentage", 34)),
        [
            (A, "us-east-1", "FAILED", "Resource handler returned message: quota"),
            (B, "us-east-1", "FAILED", "Resource handler returned message: quota"),
            (C, "us-east-1", "CANCELLED", "Cancelled since failure tolerance has exceeded"),
        ],
        "FAILED",
    )  # no second create: Stubber would fail on an unexpected call
    assert code == commands.EXIT_TOLERANCE
    text = "\n".join(lines)
    assert "failed per region: us-east-1 2 (tolerated 1)" in text
    assert "failures exceed the tolerance" in text
    assert "CANCELLED" in text


# -- drift -----------------------------------------------------------------------------
def test_drift_reports_drifted_instances_and_resources(tmp_path):
    from streamstack.params import EnvParams

    session = StubSession()
    session.stub("sts").add_response("get_caller_identity", {"Account": ADMIN})
    stub = session.stub("cloudformation")
    stub.add_response(
        "describe_stack_set", {"StackSet": {"StackSetName": NAME, "Status": "ACTIVE"}}
    )
    stub.add_response(
        "detect_stack_set_drift",
        {"OperationId": "drift-1"},
        {
            "StackSetName": NAME,
            "OperationId": ANY,
            "OperationPreferences": {
                "RegionConcurrencyType": "SEQUENTIAL",
                "MaxConcurrentCount": 1,
                "FailureToleranceCount": 0,
                "ConcurrencyMode": "STRICT_FAILURE_TOLERANCE",
            },
        },
    )
    op_done(stub, "drift-1", running=1)
    results(
        stub,
        "drift-1",
        [(t, r, "SUCCEEDED", "") for t in (A, B) for r in ("us-east-1", "us-west-2")],
    )
    details = {
        "DriftStatus": "DRIFTED",
        "DriftDetectionStatus": "COMPLETED",
        "TotalStackInstancesCount": 4,
        "DriftedStackInstancesCount": 1,
        "InSyncStackInstancesCount": 3,
        "FailedStackInstancesCount": 0,
    }
    op_done(stub, "drift-1", StackSetDriftDetectionDetails=details)
    stub.add_response(
        "list_stack_instances",
        {
            "Summaries": [
                {
                    "Account": B,
                    "Region": "us-west-2",
                    "StackId": "arn:stack",
                    "Status": "CURRENT",
                    "DriftStatus": "DRIFTED",
                }
            ]
        },
        {"StackSetName": NAME, "Filters": [{"Name": "DRIFT_STATUS", "Values": "DRIFTED"}]},
    )
    drift_row = {
        "StackId": "arn:stack",
        "ResourceType": "AWS::EC2::SecurityGroup",
        "StackResourceDriftStatus": "MODIFIED",
        "Timestamp": NOW,
        "PropertyDifferences": [
            {
                "PropertyPath": "/SecurityGroupIngress/0/CidrIp",
                "ExpectedValue": "10.0.0.0/16",
                "ActualValue": "0.0.0.0/0",
                "DifferenceType": "NOT_EQUAL",
            }
        ],
    }
    request = {
        "StackSetName": NAME,
        "StackInstanceAccount": B,
        "StackInstanceRegion": "us-west-2",
        "OperationId": "drift-1",
        "StackInstanceResourceDriftStatuses": ["MODIFIED", "DELETED"],
    }
    stub.add_response(
        "list_stack_instance_resource_drifts",
        {
            "Summaries": [{**drift_row, "LogicalResourceId": "AlbSecurityGroup"}],
            "NextToken": "page-2",
        },
        request,
    )
    stub.add_response(
        "list_stack_instance_resource_drifts",
        {
            "Summaries": [
                {
                    **drift_row,
                    "LogicalResourceId": "FlowLogGroup",
                    "ResourceType": "AWS::Logs::LogGroup",
                    "StackResourceDriftStatus": "DELETED",
                    "PropertyDifferences": [],
                }
            ]
        },
        {**request, "NextToken": "page-2"},
    )

    env = EnvParams(
        "prod-global",
        tmp_path / "prod-global.yaml",
        NAME,
        "us-west-2",
        None,
        {},
        {},
        {"stackset": config()},
    )
    ctx = make_context(env, session, {"templates": {}}, tmp_path)
    code = commands.drift(ctx, waiter=Waiter(first=0, sleep=lambda _: None))
    assert code == commands.EXIT_DRIFTED
    session.assert_done()
    text = "\n".join(ctx.lines)
    assert "drift DRIFTED (1 drifted, 3 in sync, 0 failed of 4 instances)" in text
    assert f"{B}/us-west-2: 2 drifted resource(s)" in text
    assert "AlbSecurityGroup" in text and "/SecurityGroupIngress/0/CidrIp" in text
    assert "DELETED   FlowLogGroup" in text


# -- deep preview --------------------------------------------------------------------------
def change(logical: str, rtype: str, replacement: str = "False", **extra) -> dict:
    return {
        "Type": "Resource",
        "ResourceChange": {
            "Action": "Modify",
            "LogicalResourceId": logical,
            "ResourceType": rtype,
            "Replacement": replacement,
            "Scope": ["Properties"],
            "Details": [
                {
                    "Target": {
                        "Attribute": "Properties",
                        "Name": "BucketName",
                        "RequiresRecreation": "Always",
                    },
                    "Evaluation": "Static",
                    "ChangeSource": "DirectModification",
                }
            ],
            **extra,
        },
    }


def stub_change_set(
    stub, *, failed_reason: str | None = None, template_url: str = "https://b/root.json"
):
    cs_id = "arn:aws:cloudformation:us-east-1:222222222222:changeSet/p/1"
    nested = "arn:aws:cloudformation:us-east-1:222222222222:changeSet/p-nested/2"
    stub.add_response(
        "create_change_set",
        {"Id": cs_id, "StackId": "arn:stack"},
        {
            "StackName": "arn:stack",
            "ChangeSetName": ANY,
            "ChangeSetType": "UPDATE",
            "TemplateURL": template_url,
            "IncludeNestedStacks": True,
            "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
            "Parameters": [{"ParameterKey": "VpcCidr", "ParameterValue": "10.1.0.0/16"}],
            "Description": ANY,
        },
    )
    stub.add_response(
        "describe_change_set", {"Status": "CREATE_IN_PROGRESS"}, {"ChangeSetName": cs_id}
    )
    if failed_reason:
        stub.add_response(
            "describe_change_set",
            {"Status": "FAILED", "StatusReason": failed_reason},
            {"ChangeSetName": cs_id},
        )
    else:
        stub.add_response(
            "describe_change_set", {"Status": "CREATE_COMPLETE"}, {"ChangeSetName": cs_id}
        )
        stub.add_response(
            "describe_change_set",
            {
                "Status": "CREATE_COMPLETE",
                "Changes": [
                    change("StorageStack", "AWS::CloudFormation::Stack", ChangeSetId=nested)
                ],
            },
            {"ChangeSetName": cs_id, "IncludePropertyValues": True},
        )
        stub.add_response(
            "describe_change_set",
            {
                "Status": "CREATE_COMPLETE",
                "Changes": [
                    change("MediaBucket", "AWS::S3::Bucket", "True"),
                    change("StaticBucketPolicy", "AWS::S3::BucketPolicy"),
                ],
            },
            {"ChangeSetName": nested, "IncludePropertyValues": True},
        )
    stub.add_response("delete_change_set", {}, {"ChangeSetName": cs_id})


def test_deep_preview_walks_nested_change_sets_labels_and_cleans_up():
    session = StubSession(region="us-east-1")
    stub_change_set(session.stub("cloudformation"))
    result = deep_preview.preview_instance(
        session.client("cloudformation"),
        "arn:stack",
        template_url="https://b/root.json",
        parameters={"VpcCidr": "10.1.0.0/16"},
        classify=classify,
        waiter=Waiter(first=0, sleep=lambda _: None),
    )
    session.assert_done()  # the change set was deleted, never executed
    assert [
        (c["stack"], c["logical_id"], c["replacement"], c["risk"]) for c in result["changes"]
    ] == [
        ("", "StorageStack", "False", "NORMAL"),
        ("StorageStack", "MediaBucket", "True", "DATA-LOSS"),
        ("StorageStack", "StaticBucketPolicy", "False", "SECURITY"),
    ]
    assert result["changes"][1]["properties"] == ["BucketName"]


def test_deep_preview_of_an_unchanged_instance_says_so_and_cleans_up():
    session = StubSession(region="us-east-1")
    stub_change_set(
        session.stub("cloudformation"),
        failed_reason=(
            "The submitted information didn't contain changes. Submit different information "
            "to create a change set."
        ),
    )
    result = deep_preview.preview_instance(
        session.client("cloudformation"),
        "arn:stack",
        template_url="https://b/root.json",
        parameters={"VpcCidr": "10.1.0.0/16"},
        classify=classify,
        waiter=Waiter(first=0, sleep=lambda _: None),
    )
    session.assert_done()
    assert result == {"summary": "no resource changes", "changes": []}


def test_plan_with_deep_preview_blocks_on_data_loss(tmp_path, monkeypatch):
    """commands.plan: the execution role is assumed per target, a DATA-LOSS change in a
    nested stack blocks the plan (exit 3), an unassumable role is reported as skipped."""
    from streamstack.params import EnvParams

    cfg = config(
        regions=("us-east-1",),
        accounts=(A, B),
        preferences=Preferences(region_order=("us-east-1",)),
        region_overrides={"us-east-1": {"VpcCidr": "10.1.0.0/16"}},
    )
    root = tmp_path / "templates" / "root.json"
    root.parent.mkdir()
    root.write_text('{"Resources": {}}\n')
    manifest = {
        "templates": {
            "root": {
                "file": "templates/root.json",
                "sha256": "b" * 64,
                "key": "templates/bbb.json",
                "deploy_time_parameters": [],
            }
        }
    }
    monkeypatch.setattr(commands, "publish", lambda ctx: ("artifacts", "https://b"))

    session = StubSession()
    session.stub("sts").add_response("get_caller_identity", {"Account": ADMIN})
    stub_state(session, key=f"stacksets/{NAME}/overrides.json")
    admin = session.stub("cloudformation")
    admin.add_response(
        "describe_stack_set",
        {
            "StackSet": {
                "StackSetName": NAME,
                "Status": "ACTIVE",
                "TemplateBody": '{"old": true}',
                "Parameters": [],
            }
        },
    )
    admin.add_response(
        "list_stack_instances",
        {
            "Summaries": [
                {
                    "Account": t,
                    "Region": "us-east-1",
                    "StackId": "arn:stack",
                    "Status": status,
                    "StatusReason": reason,
                    "LastOperationId": "op-0",
                }
                for t, status, reason in (
                    (A, "CURRENT", ""),
                    (B, "OUTDATED", "User Initiated: stack update failed"),
                )
            ]
        },
    )
    for t in (A, B):
        admin.add_response(
            "describe_stack_instance",
            {
                "StackInstance": {
                    "Account": t,
                    "Region": "us-east-1",
                    "ParameterOverrides": [
                        {"ParameterKey": "VpcCidr", "ParameterValue": "10.1.0.0/16"}
                    ],
                }
            },
            {"StackSetName": NAME, "StackInstanceAccount": t, "StackInstanceRegion": "us-east-1"},
        )
    target_session = StubSession(region="us-east-1")
    stub_change_set(
        target_session.stub("cloudformation"), template_url="https://b/templates/bbb.json"
    )

    def clients(account, region):
        if account == B:
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "not trusted"}}, "AssumeRole"
            )
        return target_session.client("cloudformation", region)

    env = EnvParams(
        "prod-global",
        tmp_path / "prod-global.yaml",
        NAME,
        "us-west-2",
        None,
        {},
        {},
        {"stackset": cfg},
    )
    ctx = make_context(env, session, manifest, tmp_path, deep_preview=True)
    code = commands.plan(ctx, waiter=Waiter(first=0, sleep=lambda _: None), clients=clients)
    assert code == commands.EXIT_DATA_LOSS
    session.assert_done()
    target_session.assert_done()
    text = "\n".join(ctx.lines)
    assert f"deep preview {A}/us-east-1: 3 resource change(s)" in text
    assert f"deep preview {B}/us-east-1: skipped: AccessDenied: not trusted" in text
    assert "MediaBucket" in text and "[DATA-LOSS] (StorageStack)" in text
    assert f"attention: {B}/us-east-1 is OUTDATED: User Initiated: stack update failed" in text
    written = json.loads((tmp_path / "plans" / "prod-global.json").read_text())
    assert written["blocked"] and written["risk_summary"]["DATA-LOSS"] == 1


def test_assumed_clients_assume_the_execution_role_once_per_account():
    session = StubSession()
    sts = session.stub("sts")
    creds = {
        "AccessKeyId": "AKIAEXAMPLEEXAMPLE",
        "SecretAccessKey": "s",
        "SessionToken": "t",
        "Expiration": NOW,
    }
    sts.add_response(
        "assume_role",
        {"Credentials": creds},
        {
            "RoleArn": f"arn:aws:iam::{A}:role/AWSCloudFormationStackSetExecutionRole",
            "RoleSessionName": "streamstack-deep-preview",
            "DurationSeconds": 900,
        },
    )
    clients = deep_preview.assumed_clients(session, "AWSCloudFormationStackSetExecutionRole")
    east, west = clients(A, "us-east-1"), clients(A, "us-west-2")
    session.assert_done()
    assert east.meta.region_name == "us-east-1" and west.meta.region_name == "us-west-2"
    assert east._request_signer._credentials.access_key == "AKIAEXAMPLEEXAMPLE"


# -- service-managed: OUs, call-as, auto-deployment ---------------------------------------
def test_service_managed_targets_ous_as_delegated_admin():
    cfg = config(
        permission_model="service-managed",
        call_as="delegated-admin",
        accounts=(),
        organizational_units=("ou-ab12-cd345678",),
        auto_deployment=(True, True),
        preferences=Preferences(
            region_order=("us-east-1", "us-west-2"), failure_tolerance=("percentage", 50)
        ),
    )
    session, lines, sleeps = StubSession(), [], Sleeps()
    stub = session.stub("cloudformation")
    stub.add_response(
        "create_stack_set",
        {"StackSetId": f"{NAME}:1"},
        {
            "StackSetName": NAME,
            "Description": "d",
            "TemplateURL": "https://b/t.json",
            "Parameters": [],
            "Capabilities": ANY,
            "Tags": [],
            "ClientRequestToken": ANY,
            "PermissionModel": "SERVICE_MANAGED",
            "CallAs": "DELEGATED_ADMIN",
            "AutoDeployment": {"Enabled": True, "RetainStacksOnAccountRemoval": True},
        },
    )
    stub.add_response(
        "create_stack_instances",
        {"OperationId": "op-1"},
        {
            "StackSetName": NAME,
            "Regions": ["us-east-1", "us-west-2"],
            "DeploymentTargets": {"OrganizationalUnitIds": ["ou-ab12-cd345678"]},
            "OperationPreferences": ANY,
            "OperationId": ANY,
            "CallAs": "DELEGATED_ADMIN",
        },
    )
    stub.add_response(
        "describe_stack_set_operation",
        {"StackSetOperation": {"OperationId": "op-1", "Status": "SUCCEEDED"}},
        {"StackSetName": NAME, "OperationId": "op-1", "CallAs": "DELEGATED_ADMIN"},
    )
    # 4 accounts of the OU in us-east-1, one failed: 50% of 4 tolerates 2
    stub.add_response(
        "list_stack_set_operation_results",
        {
            "Summaries": [
                {
                    "Account": f"5555555555{i:02d}",
                    "Region": "us-east-1",
                    "OrganizationalUnitId": "ou-ab12-cd345678",
                    "Status": "FAILED" if i == 0 else "SUCCEEDED",
                    "StatusReason": "quota" if i == 0 else "",
                }
                for i in range(4)
            ]
        },
        {"StackSetName": NAME, "OperationId": "op-1", "CallAs": "DELEGATED_ADMIN"},
    )
    plan = two_group_plan(cfg)
    assert [g.regions for g in plan.creates] == [("us-east-1", "us-west-2")]
    target = commands.Target(cfg, NAME, operations(cfg, session, lines, sleeps), ADMIN, "root")
    code = commands.apply(
        target,
        plan,
        template_url="https://b/t.json",
        parameters={},
        tags={},
        description="d",
        prune=False,
        delete_stacks=False,
        out=lines.append,
    )
    session.assert_done()
    assert code == commands.EXIT_OK
    assert any("us-east-1 1 (tolerated 2)" in line for line in lines)


def test_ctrl_c_while_waiting_leaves_the_operation_running_and_says_how_to_follow_it():
    session, lines = StubSession(), []
    stub = session.stub("cloudformation")
    stub.add_response("create_stack_instances", {"OperationId": "op-7"})
    op_done(stub, "op-7", status="RUNNING")

    def interrupt(_):
        raise KeyboardInterrupt

    ops = Operations(
        session.client("cloudformation"),
        NAME,
        config(),
        waiter=Waiter(sleep=interrupt),
        out=lines.append,
    )
    with pytest.raises(KeyboardInterrupt):
        ops.create_instances(Group((A,), ("us-west-2",), ()))
    assert lines[-1] == (
        f"stack set {NAME}: operation op-7 keeps running; follow it with: aws "
        f"cloudformation describe-stack-set-operation --stack-set-name {NAME} "
        "--operation-id op-7"
    )


def test_a_refused_aws_call_is_one_error_line_not_a_traceback(tmp_path):
    from streamstack.errors import StreamstackError
    from streamstack.params import EnvParams

    session = StubSession()
    session.stub("sts").add_response("get_caller_identity", {"Account": ADMIN})
    session.stub("cloudformation").add_client_error(
        "describe_stack_set",
        "AccessDenied",
        "User is not authorized to perform cloudformation:DescribeStackSet",
    )
    env = EnvParams(
        "prod-global",
        tmp_path / "prod-global.yaml",
        NAME,
        "us-west-2",
        None,
        {},
        {},
        {"stackset": config()},
    )
    with pytest.raises(StreamstackError) as error:
        cli.dispatch(make_context(env, session, {"templates": {}}, tmp_path), "drift")
    assert str(error.value) == (
        "AWS refused DescribeStackSet: AccessDenied: User is not "
        "authorized to perform cloudformation:DescribeStackSet"
    )


def test_tag_and_role_changes_are_shown_and_update_every_instance():
    current = preview.Current(
        exists=True,
        template_sha="a" * 64,
        template_body="{}",
        parameters={},
        settings=preview.settings_of(
            {
                "PermissionModel": "SELF_MANAGED",
                "ExecutionRoleName": "OldExecutionRole",
                "AdministrationRoleARN": f"arn:aws:iam::{ADMIN}:role/Admin",
                "Tags": [{"Key": "CostCenter", "Value": "video"}],
            }
        ),
        instances={
            Instance(A, "us-east-1"): [
                preview.CurrentInstance(A, "CURRENT", "", "arn:stack", "op-0", ())
            ]
        },
    )
    wanted = {
        "Tags": {"CostCenter": "streaming"},
        "PermissionModel": "SELF_MANAGED",
        "ExecutionRoleName": "AWSCloudFormationStackSetExecutionRole",
        "AdministrationRoleARN": f"arn:aws:iam::{ADMIN}:role/Admin",
    }
    plan = preview.compute(
        NAME,
        current,
        template_sha="a" * 64,
        template_text="{}",
        parameters={},
        desired={Instance(A, "us-east-1"): ()},
        region_order=("us-east-1",),
        delete_removed_stacks=False,
        settings=wanted,
    )
    assert plan.update_stack_set and not plan.template_changed
    assert plan.setting_changes == {
        "ExecutionRoleName": ["OldExecutionRole", "AWSCloudFormationStackSetExecutionRole"],
        "Tags": [{"CostCenter": "video"}, {"CostCenter": "streaming"}],
    }
    text = "\n".join(preview.render(plan, prune=False))
    assert "Tags: {'CostCenter': 'video'} -> {'CostCenter': 'streaming'} (every instance" in text
    same = preview.compute(
        NAME,
        preview.Current(**{**current.__dict__, "settings": preview.settings_of(wanted)}),
        template_sha="a" * 64,
        template_text="{}",
        parameters={},
        desired={Instance(A, "us-east-1"): ()},
        region_order=("us-east-1",),
        delete_removed_stacks=False,
        settings=wanted,
    )
    assert same.no_changes


def deploy_time_case(tmp_path, declared: dict, cfg: StackSetConfig, protected: bool = True):
    """A Context over a root declaring `declared` as deploy-time parameters, its Target,
    and the session (ec2 stubbed in both regions when the prefix list is declared)."""
    from streamstack.deploy.settings import DeploySettings
    from streamstack.params import EnvParams

    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / "root.json").write_text(json.dumps({"Parameters": declared}))
    manifest = {
        "templates": {
            "root": {"file": "templates/root.json", "deploy_time_parameters": sorted(declared)}
        }
    }
    session = StubSession()
    if "CloudFrontPrefixListId" in declared:
        for region, pl in (("us-east-1", "pl-3b927c52"), ("us-west-2", "pl-82a045eb")):
            session.stub("ec2", region).add_response(
                "describe_managed_prefix_lists",
                {
                    "PrefixLists": [
                        {
                            "PrefixListId": pl,
                            "PrefixListName": "com.amazonaws.global.cloudfront.origin-facing",
                        }
                    ]
                },
                {
                    "Filters": [
                        {
                            "Name": "prefix-list-name",
                            "Values": ["com.amazonaws.global.cloudfront.origin-facing"],
                        }
                    ]
                },
            )
    sections = {"stackset": cfg, "deploy": DeploySettings(protected=protected)}
    env = EnvParams(
        "prod-global", tmp_path / "prod-global.yaml", NAME, "us-west-2", None, {}, {}, sections
    )
    ctx = make_context(env, session, manifest, tmp_path)
    return ctx, commands.Target(cfg, NAME, None, ADMIN, "root"), session


WEB_ACLS = {
    account: f"arn:aws:wafv2:us-east-1:{account}:global/webacl/waf-cdn-prod/0a1b-{account[:4]}"
    for account in (A, B)
}


def test_deploy_time_values_per_region_wide_and_defaulted(tmp_path):
    from streamstack.errors import StreamstackError

    declared = {
        "ArtifactBaseUrl": {"Type": "String"},
        "CloudFrontPrefixListId": {"Type": "String", "Default": ""},
        "CdnCertificateArn": {"Type": "String", "Default": ""},
    }
    ctx, target, session = deploy_time_case(tmp_path, declared, config())
    wide, per_region = commands.deploy_time_values(ctx, target, "https://b")
    session.assert_done()
    assert wide == {"ArtifactBaseUrl": "https://b"}
    assert per_region == {
        "us-east-1": {"CloudFrontPrefixListId": "pl-3b927c52"},
        "us-west-2": {"CloudFrontPrefixListId": "pl-82a045eb"},
    }
    assert "note: deploy-time CdnCertificateArn has no per-target source" in ctx.lines[0]

    del declared["CdnCertificateArn"]["Default"]
    declared.pop("CloudFrontPrefixListId")
    ctx, target, session = deploy_time_case(tmp_path, declared, config())
    with pytest.raises(StreamstackError, match="CdnCertificateArn has no default"):
        commands.deploy_time_values(ctx, target, "https://b")


WEB_ACL_DECLARED = {
    "ArtifactBaseUrl": {"Type": "String"},
    "CdnWebAclArn": {"Type": "String", "Default": ""},
}


def test_a_protected_stack_set_refuses_targets_without_a_web_acl(tmp_path):
    cfg = config(web_acls={A: WEB_ACLS[A]})
    ctx, target, _ = deploy_time_case(tmp_path, WEB_ACL_DECLARED, cfg)
    with pytest.raises(exits.Refused) as refused:
        commands.deploy_time_values(ctx, target, "https://b")
    message = str(refused.value)
    assert message.startswith("prod-global is protected and CloudFront would serve it without")
    assert f"({B})" in message and "stackset.web_acls" in message


def test_each_target_gets_its_own_accounts_web_acl(tmp_path):
    cfg = config(web_acls=WEB_ACLS)
    ctx, target, _ = deploy_time_case(tmp_path, WEB_ACL_DECLARED, cfg)
    wide, per_region = commands.deploy_time_values(ctx, target, "https://b")
    assert "CdnWebAclArn" not in wide and per_region == {}
    desired = desired_instances(cfg, per_region)
    for instance, overrides in desired.items():
        assert dict(overrides)["CdnWebAclArn"] == WEB_ACLS[instance.target]


def test_an_unprotected_stack_set_runs_without_web_acls_and_says_so(tmp_path):
    ctx, target, _ = deploy_time_case(tmp_path, WEB_ACL_DECLARED, config(), protected=False)
    commands.deploy_time_values(ctx, target, "https://b")
    assert ctx.lines == [
        f"note: no web ACL in stackset.web_acls for {A}, {B}: their distributions run without WAF"
    ]


def test_an_endpoint_that_answers_garbage_is_one_error_line(tmp_path, monkeypatch):
    from botocore.parsers import ResponseParserError

    from streamstack.errors import StreamstackError
    from streamstack.params import EnvParams

    def garbage(ctx, **_):
        raise ResponseParserError("Unable to parse response (syntax error), invalid XML")

    monkeypatch.setattr(commands.drift_report, "detect", garbage)
    session = StubSession()
    session.stub("sts").add_response("get_caller_identity", {"Account": ADMIN})
    session.stub("cloudformation").add_response(
        "describe_stack_set", {"StackSet": {"StackSetName": NAME, "Status": "ACTIVE"}}
    )
    env = EnvParams(
        "prod-global",
        tmp_path / "prod-global.yaml",
        NAME,
        "us-west-2",
        None,
        {},
        {},
        {"stackset": config()},
    )
    with pytest.raises(StreamstackError, match="an AWS call failed: Unable to parse response"):
        cli.dispatch(make_context(env, session, {"templates": {}}, tmp_path), "drift")
