"""Root causes inside nested stacks: when a nested stack failed without a reason, its own
events are read (found by physical id, by the resource, or by CloudFormation's naming
when an emulator gives neither); when no event says why, the line says where to look."""

from __future__ import annotations

import datetime as dt

import pytest

from streamstack.deploy import events
from tests.deploy.conftest import stubbed

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ROOT_ID = "arn:aws:cloudformation:us-west-2:111111111111:stack/streamstack-dev/1"
CHILD_ID = "arn:aws:cloudformation:us-west-2:111111111111:stack/streamstack-dev-NetworkStack-AB/2"


def ev(
    stack,
    stack_id,
    logical,
    status,
    seconds,
    reason=None,
    rtype="AWS::CloudFormation::Stack",
    physical=None,
):
    found = {
        "StackId": stack_id,
        "EventId": f"{logical}-{status}-{seconds}",
        "StackName": stack,
        "LogicalResourceId": logical,
        "ResourceType": rtype,
        "ResourceStatus": status,
        "Timestamp": T0 + dt.timedelta(seconds=seconds),
    }
    if reason:
        found["ResourceStatusReason"] = reason
    if physical:
        found["PhysicalResourceId"] = physical
    return found


def nested_failed(physical=None):
    return ev("streamstack-dev", ROOT_ID, "NetworkStack", "CREATE_FAILED", 5, physical=physical)


CHILD_EVENTS = [
    ev(
        "streamstack-dev-NetworkStack-AB",
        CHILD_ID,
        "NatGateway1",
        "CREATE_FAILED",
        4,
        "Allocation ID 'unknown' not found",
        rtype="AWS::EC2::NatGateway",
    ),
    ev(
        "streamstack-dev-NetworkStack-AB",
        CHILD_ID,
        "Vpc",
        "CREATE_COMPLETE",
        2,
        rtype="AWS::EC2::VPC",
    ),
]


@pytest.fixture
def cfn():
    with stubbed("cloudformation") as found:
        yield found


def look(stack_id):
    return f"look in the log of {stack_id}"


def test_the_nested_stacks_own_events_by_physical_id(cfn):
    client, stub = cfn
    stub.add_response(
        "describe_stack_events", {"StackEvents": CHILD_EVENTS}, {"StackName": CHILD_ID}
    )
    text = events.explain(client, nested_failed(CHILD_ID), look)
    assert text == (
        "streamstack-dev-NetworkStack-AB/NatGateway1 (AWS::EC2::NatGateway) "
        "CREATE_FAILED: Allocation ID 'unknown' not found"
    )


def test_found_by_the_resource_or_by_name_when_the_event_has_no_id(cfn):
    """LocalStack's events of a nested stack resource carry no physical id."""
    client, stub = cfn
    stub.add_response(
        "describe_stack_resource",
        {
            "StackResourceDetail": {
                "LogicalResourceId": "NetworkStack",
                "ResourceType": "AWS::CloudFormation::Stack",
                "LastUpdatedTimestamp": T0,
                "ResourceStatus": "CREATE_FAILED",
            }
        },
        {"StackName": ROOT_ID, "LogicalResourceId": "NetworkStack"},
    )
    stub.add_response(
        "list_stacks",
        {
            "StackSummaries": [
                {
                    "StackId": "arn:old",
                    "StackName": "streamstack-dev-NetworkStack-OLD",
                    "CreationTime": T0,
                    "StackStatus": "DELETE_COMPLETE",
                },
                {
                    "StackId": CHILD_ID,
                    "StackName": "streamstack-dev-NetworkStack-AB",
                    "CreationTime": T0,
                    "StackStatus": "ROLLBACK_COMPLETE",
                },
                {
                    "StackId": "arn:other",
                    "StackName": "streamstack-dev-SecurityStack-CD",
                    "CreationTime": T0,
                    "StackStatus": "CREATE_FAILED",
                },
            ]
        },
        {},
    )
    stub.add_response(
        "describe_stack_events", {"StackEvents": CHILD_EVENTS}, {"StackName": CHILD_ID}
    )
    assert "NatGateway1 (AWS::EC2::NatGateway) CREATE_FAILED: Allocation ID" in events.explain(
        client, nested_failed(), look
    )


def test_no_reason_anywhere_says_where_to_look(cfn):
    client, stub = cfn
    silent = [
        ev(
            "streamstack-dev-NetworkStack-AB",
            CHILD_ID,
            "NatGateway1",
            "CREATE_FAILED",
            4,
            rtype="AWS::EC2::NatGateway",
        )
    ]
    stub.add_response("describe_stack_events", {"StackEvents": silent}, {"StackName": CHILD_ID})
    text = events.explain(client, nested_failed(CHILD_ID), look)
    assert text == (
        "streamstack-dev-NetworkStack-AB/NatGateway1 (AWS::EC2::NatGateway) "
        f"CREATE_FAILED: no reason given; look in the log of {CHILD_ID}"
    )


def test_a_nested_stack_that_cannot_be_found_is_the_cause_with_the_hint(cfn):
    client, stub = cfn
    stub.add_client_error("describe_stack_resource", "ValidationError", "does not exist")
    stub.add_response("list_stacks", {"StackSummaries": []}, {})
    text = events.explain(client, nested_failed(), look)
    assert text == (
        "streamstack-dev/NetworkStack (AWS::CloudFormation::Stack) CREATE_FAILED: "
        f"no reason given; look in the log of {ROOT_ID}"
    )


def test_a_reason_of_its_own_is_kept(cfn):
    client, _ = cfn
    own = ev(
        "streamstack-dev",
        ROOT_ID,
        "NetworkStack",
        "CREATE_FAILED",
        5,
        "Parameter validation failed: parameter value for VpcCidr",
        physical=CHILD_ID,
    )
    assert events.explain(client, own, look).endswith(
        "Parameter validation failed: parameter value for VpcCidr"
    )
