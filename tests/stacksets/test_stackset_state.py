"""Known overrides (state.py): a plan reads only the instances whose LastOperationId
moved since streamstack last saw them; execute records what its operations left."""

from __future__ import annotations

import json

import pytest

from streamstack.stacksets import commands, preview
from streamstack.stacksets.config import Preferences
from streamstack.stacksets.operations import Operations, Waiter
from streamstack.stacksets.state import OverrideState
from streamstack.stacksets.targets import Group, Instance
from tests.stacksets.conftest import StubSession, stub_state
from tests.stacksets.test_stackset_stubbed import ADMIN, NAME, A, B, C, config

KEY = f"stacksets/{NAME}/overrides.json"
EAST = {"VpcCidr": "10.1.0.0/16"}

pytestmark = pytest.mark.usefixtures("sequential_reads")


def state_body(entries: dict) -> bytes:
    return json.dumps({"instances": entries}).encode()


class Saved:
    """Captures the body of the state file's put_object."""

    def __init__(self) -> None:
        self.body = None

    def __eq__(self, other) -> bool:
        self.body = json.loads(other)
        return True


def summaries(*rows):
    return {
        "Summaries": [
            {"Account": a, "Region": r, "Status": "CURRENT", "LastOperationId": op}
            for a, r, op in rows
        ]
    }


def test_plan_describes_only_instances_whose_last_operation_moved():
    session = StubSession()
    stub_state(
        session,
        key=KEY,
        save=False,
        body=state_body(
            {
                f"{A}/us-east-1": {"operation": "op-1", "overrides": EAST},
                f"{B}/us-east-1": {"operation": "op-1", "overrides": EAST},
                f"{C}/us-east-1": {"operation": "op-1", "overrides": {}},
            }
        ),
    )  # C is gone since
    cfn = session.stub("cloudformation")
    cfn.add_response(
        "describe_stack_set",
        {
            "StackSet": {
                "StackSetName": NAME,
                "Status": "ACTIVE",
                "TemplateBody": "{}",
                "Parameters": [],
            }
        },
    )
    cfn.add_response(
        "list_stack_instances",
        summaries(
            (A, "us-east-1", "op-1"),  # unchanged since: known
            (B, "us-east-1", "op-2"),  # someone else's operation: read again
            (A, "us-west-2", "op-1"),
        ),
    )  # never seen: read
    for account, region, overrides in (
        (B, "us-east-1", {"VpcCidr": "10.9.0.0/16"}),
        (A, "us-west-2", {}),
    ):
        cfn.add_response(
            "describe_stack_instance",
            {
                "StackInstance": {
                    "Account": account,
                    "Region": region,
                    "ParameterOverrides": [
                        {"ParameterKey": k, "ParameterValue": v} for k, v in overrides.items()
                    ],
                }
            },
            {"StackSetName": NAME, "StackInstanceAccount": account, "StackInstanceRegion": region},
        )
    state = OverrideState(session.client("s3"), "artifacts", NAME, print).load()
    ops = Operations(session.client("cloudformation"), NAME, config(), out=print)
    current = preview.read_current(ops, state=state)
    session.assert_done()
    assert current.instances[Instance(A, "us-east-1")][0].overrides == (("VpcCidr", "10.1.0.0/16"),)
    assert current.instances[Instance(B, "us-east-1")][0].overrides == (("VpcCidr", "10.9.0.0/16"),)
    assert state.entries == {
        f"{A}/us-east-1": {"operation": "op-1", "overrides": EAST},
        f"{B}/us-east-1": {"operation": "op-2", "overrides": {"VpcCidr": "10.9.0.0/16"}},
        f"{A}/us-west-2": {"operation": "op-1", "overrides": {}},
    }


def test_a_steady_state_plan_of_200_instances_reads_pages_not_instances():
    """After streamstack's own rollout every LastOperationId is known: 2 list pages,
    no DescribeStackInstance."""
    session = StubSession()
    accounts = [f"{100000000000 + i}" for i in range(50)]
    regions = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]
    rows = [(a, r, "op-rollout") for r in regions for a in accounts]
    stub_state(
        session,
        key=KEY,
        save=False,
        body=state_body({f"{a}/{r}": {"operation": op, "overrides": {}} for a, r, op in rows}),
    )
    cfn = session.stub("cloudformation")
    cfn.add_response(
        "describe_stack_set",
        {
            "StackSet": {
                "StackSetName": NAME,
                "Status": "ACTIVE",
                "TemplateBody": "{}",
                "Parameters": [],
            }
        },
    )
    cfn.add_response(
        "list_stack_instances",
        {**summaries(*rows[:100]), "NextToken": "t1"},
        {"StackSetName": NAME},
    )
    cfn.add_response(
        "list_stack_instances", summaries(*rows[100:]), {"StackSetName": NAME, "NextToken": "t1"}
    )
    state = OverrideState(session.client("s3"), "artifacts", NAME, print).load()
    ops = Operations(session.client("cloudformation"), NAME, config(), out=print)
    current = preview.read_current(ops, state=state)
    session.assert_done()  # nothing else was called
    assert sum(len(v) for v in current.instances.values()) == 200


def test_execute_records_what_its_operations_left():
    session, lines = StubSession(), []
    saved = Saved()
    stub_state(
        session,
        key=KEY,
        save=False,
        body=state_body(
            {
                f"{A}/us-east-1": {"operation": "op-0", "overrides": EAST},
                f"{A}/us-west-2": {"operation": "op-0", "overrides": {}},
            }
        ),
    )
    session.stub("s3").add_response(
        "put_object",
        {},
        {"Bucket": "artifacts", "Key": KEY, "Body": saved, "ContentType": "application/json"},
    )
    cfn = session.stub("cloudformation")
    for op, rows in (
        ("op-update", [(A, "us-east-1"), (A, "us-west-2")]),
        ("op-overrides", [(A, "us-west-2")]),
        ("op-create", [(B, "us-east-1")]),
    ):
        method = {
            "op-update": "update_stack_set",
            "op-overrides": "update_stack_instances",
            "op-create": "create_stack_instances",
        }[op]
        cfn.add_response(method, {"OperationId": op})
        cfn.add_response(
            "describe_stack_set_operation",
            {"StackSetOperation": {"OperationId": op, "Status": "SUCCEEDED"}},
            {"StackSetName": NAME, "OperationId": op},
        )
        cfn.add_response(
            "list_stack_set_operation_results",
            {"Summaries": [{"Account": a, "Region": r, "Status": "SUCCEEDED"} for a, r in rows]},
            {"StackSetName": NAME, "OperationId": op},
        )
    cfg = config(accounts=(A, B), preferences=Preferences(region_order=("us-east-1", "us-west-2")))
    plan = preview.Plan(
        stack_set=NAME,
        exists=True,
        template_sha="a" * 64,
        template_changed=True,
        parameter_changes={},
        update_stack_set=True,
        creates=[Group((B,), ("us-east-1",), (("VpcCidr", "10.1.0.0/16"),))],
        override_updates=[Group((A,), ("us-west-2",), (("NatLayout", "single"),))],
        removals=[],
        rows=[
            preview.Row(Instance(A, "us-east-1"), "update", "x", {}),
            preview.Row(Instance(A, "us-west-2"), "update", "x", {}),
        ],
        fingerprint="f",
    )
    ops = Operations(
        session.client("cloudformation"),
        NAME,
        cfg,
        waiter=Waiter(sleep=lambda _: None),
        out=lines.append,
    )
    state = OverrideState(session.client("s3"), "artifacts", NAME, lines.append).load()
    code = commands.apply(
        commands.Target(cfg, NAME, ops, ADMIN, "root"),
        plan,
        template_url="https://b/t.json",
        parameters={},
        tags={},
        description="d",
        prune=False,
        delete_stacks=False,
        out=lines.append,
        state=state,
    )
    assert code == commands.EXIT_OK
    session.assert_done()
    assert saved.body == {
        "instances": {
            f"{A}/us-east-1": {"operation": "op-update", "overrides": EAST},  # kept by the update
            f"{A}/us-west-2": {"operation": "op-overrides", "overrides": {"NatLayout": "single"}},
            f"{B}/us-east-1": {"operation": "op-create", "overrides": EAST},
        }
    }


def test_an_update_that_waited_for_someone_else_forgets_what_it_touched():
    session, lines = StubSession(), []
    saved = Saved()
    stub_state(
        session,
        key=KEY,
        save=False,
        body=state_body({f"{A}/us-east-1": {"operation": "op-0", "overrides": EAST}}),
    )
    session.stub("s3").add_response(
        "put_object",
        {},
        {"Bucket": "artifacts", "Key": KEY, "Body": saved, "ContentType": "application/json"},
    )
    cfn = session.stub("cloudformation")
    cfn.add_client_error("update_stack_set", "OperationInProgressException", "busy")
    cfn.add_response("update_stack_set", {"OperationId": "op-u"})
    cfn.add_response(
        "describe_stack_set_operation",
        {"StackSetOperation": {"OperationId": "op-u", "Status": "SUCCEEDED"}},
    )
    cfn.add_response(
        "list_stack_set_operation_results",
        {"Summaries": [{"Account": A, "Region": "us-east-1", "Status": "SUCCEEDED"}]},
    )
    cfg = config(
        accounts=(A,), regions=("us-east-1",), preferences=Preferences(region_order=("us-east-1",))
    )
    plan = preview.Plan(
        NAME,
        True,
        "a" * 64,
        True,
        {},
        True,
        [],
        [],
        [],
        [preview.Row(Instance(A, "us-east-1"), "update", "x", {})],
        "f",
    )
    ops = Operations(
        session.client("cloudformation"),
        NAME,
        cfg,
        waiter=Waiter(sleep=lambda _: None),
        out=lines.append,
    )
    state = OverrideState(session.client("s3"), "artifacts", NAME, lines.append).load()
    commands.apply(
        commands.Target(cfg, NAME, ops, ADMIN, "root"),
        plan,
        template_url="https://b/t.json",
        parameters={},
        tags={},
        description="d",
        prune=False,
        delete_stacks=False,
        out=lines.append,
        state=state,
    )
    session.assert_done()
    assert saved.body == {"instances": {}}


def test_an_unreadable_or_invalid_state_file_costs_reads_not_correctness():
    session, lines = StubSession(), []
    stub_state(session, key=KEY, save=False, body=b"not json")
    state = OverrideState(session.client("s3"), "artifacts", NAME, lines.append).load()
    assert state.entries == {} and lines == [f"note: s3://artifacts/{KEY} is not valid; ignored"]
    session.stub("s3").add_client_error("get_object", "AccessDenied", "denied", 403)
    state = OverrideState(session.client("s3"), "artifacts", NAME, lines.append).load()
    assert state.entries == {} and "(AccessDenied)" in lines[-1]
    assert state.known(A, "us-east-1", "") is None, "no LastOperationId is never a match"
