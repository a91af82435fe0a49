"""Scale: one environment targeting 50 accounts x 4 regions goes out in one operation,
and the API calls grow with operations and pages, not with instances. The numbers are
bench/stacksets.py's (moto's server); page growth is shown with Stubber, since moto
returns every instance in one page."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from streamstack.stacksets import preview
from streamstack.stacksets.operations import Operations
from tests.stacksets.conftest import StubSession
from tests.stacksets.test_stackset_stubbed import NAME, config

BENCH = Path(__file__).resolve().parents[2] / "bench" / "stacksets.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_stacksets", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def measured(bench, monkeypatch_module):
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
    ):
        monkeypatch_module.delenv(name, raising=False)  # restored after the module
    return {n: bench.run(n) for n in (2, 50)}


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_fifty_accounts_by_four_regions_go_out_in_one_operation(measured):
    create = measured[50]["execute (create)"]
    assert create["cloudformation.CreateStackSet"] == 1
    assert create["cloudformation.CreateStackInstances"] == 1, "200 instances, one operation"
    update = measured[50]["execute (template change)"]
    assert update["cloudformation.UpdateStackSet"] == 1
    assert not any("StackInstances" in name and "List" not in name for name in update)


@pytest.mark.parametrize(
    "phase", ["plan (create)", "execute (create)", "execute (template change)"]
)
def test_calls_do_not_grow_with_instances(measured, phase):
    assert measured[2][phase] == measured[50][phase], (8, 200)


def test_a_first_plan_reads_overrides_once_per_existing_instance_and_nothing_else(measured):
    """moto returns no LastOperationId, so every plan there is a first plan; the steady
    state (no reads) is test_stackset_state.py's 200-instance case."""
    small, large = measured[2]["plan (template change)"], measured[50]["plan (template change)"]
    assert small["cloudformation.DescribeStackInstance"] == 8
    assert large["cloudformation.DescribeStackInstance"] == 200
    del small["cloudformation.DescribeStackInstance"], large["cloudformation.DescribeStackInstance"]
    assert small == large


def test_list_calls_grow_with_pages():
    session = StubSession()
    stub = session.stub("cloudformation")
    stub.add_response(
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
    for page in range(3):
        summaries = [
            {
                "Account": f"{100000000000 + page * 100 + i}",
                "Region": "us-east-1",
                "Status": "CURRENT",
                "LastOperationId": "op-1",
            }
            for i in range(100)
        ]
        response = {"Summaries": summaries, **({"NextToken": f"t{page + 1}"} if page < 2 else {})}
        stub.add_response(
            "list_stack_instances",
            response,
            {"StackSetName": NAME, **({"NextToken": f"t{page}"} if page else {})},
        )
    ops = Operations(session.client("cloudformation"), NAME, config(), out=lambda _: None)
    current = preview.read_current(ops, overrides=False)
    session.assert_done()
    assert sum(len(v) for v in current.instances.values()) == 300
