"""`make rollback` and `make release-continue` against ECS's service deployments, with
botocore's Stubber (requests and responses checked against the ECS model): a release in
progress is rolled back only when confirmed, a paused one continued at its hook, and with
nothing in progress nothing is called."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.stub import Stubber

from streamstack.deploy import exits, releases
from tests.deploy.conftest import REGION, make_context, write_params

ACCOUNT = "123456789012"
STACK = "streamstack-prod"
STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/1111"
CLUSTER = "streamstack-prod-ComputeStack-Cluster-1"
SERVICES = {"Api": "streamstack-prod-ApiService-1", "Web": "streamstack-prod-WebService-1"}
DEPLOYMENT = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-deployment/{CLUSTER}/api/abc"
PROD = f"""\
stack_name: {STACK}
region: {REGION}
account_id: "{ACCOUNT}"
parameters: {{Environment: prod}}
"""


@pytest.fixture
def prod(built, tmp_path):
    write_params(tmp_path / "params", "prod", PROD)
    ctx, stubs = make_context(built, tmp_path / "params")
    ecs = ctx.session.client("ecs", region_name=REGION)
    stubs["ecs"] = Stubber(ecs)
    stubs["ecs"].activate()
    ctx.clients[("ecs", REGION)] = ecs
    yield ctx, stubs
    for stub in stubs.values():
        stub.assert_no_pending_responses()


def _root(stubs):
    stubs["sts"].add_response(
        "get_caller_identity",
        {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/ops", "UserId": "AID"},
    )
    outputs = {"ClusterName": CLUSTER, **{f"{k}ServiceName": v for k, v in SERVICES.items()}}
    stubs["cloudformation"].add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": STACK,
                    "StackId": STACK_ID,
                    "CreationTime": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                    "StackStatus": "UPDATE_IN_PROGRESS",
                    "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
                }
            ]
        },
        {"StackName": STACK},
    )


def _list(stubs, service, arns):
    stubs["ecs"].add_response(
        "list_service_deployments",
        {"serviceDeployments": [{"serviceDeploymentArn": a} for a in arns]},
        {"cluster": CLUSTER, "service": service, "status": ["PENDING", "IN_PROGRESS"]},
    )


def _describe(stubs, deployment):
    stubs["ecs"].add_response(
        "describe_service_deployments",
        {"serviceDeployments": [deployment]},
        {"serviceDeploymentArns": [deployment["serviceDeploymentArn"]]},
    )


IN_PROGRESS = {
    "serviceDeploymentArn": DEPLOYMENT,
    "status": "IN_PROGRESS",
    "lifecycleStage": "BAKE_TIME",
}
PAUSED = {
    **IN_PROGRESS,
    "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT",
    "lifecycleHookDetails": [
        {"hookId": "hook-1", "targetType": "PAUSE", "status": "AWAITING_ACTION"},
        {"hookId": "hook-0", "targetType": "AWS_LAMBDA", "status": "SUCCEEDED"},
    ],
}


def test_rollback_with_nothing_in_progress_calls_nothing(prod):
    ctx, stubs = prod
    _root(stubs)
    _list(stubs, SERVICES["Api"], [])
    _list(stubs, SERVICES["Web"], [])
    assert releases.rollback(ctx) == 0
    assert "nothing to roll back" in ctx.out.text
    assert "make deploy ENV=prod" in ctx.out.text


def test_rollback_refuses_without_confirmation(prod):
    ctx, stubs = prod
    _root(stubs)
    _list(stubs, SERVICES["Api"], [DEPLOYMENT])
    _describe(stubs, IN_PROGRESS)
    _list(stubs, SERVICES["Web"], [])
    with pytest.raises(exits.Refused, match="make rollback ENV=prod YES=1"):
        releases.rollback(ctx)
    assert "IN_PROGRESS at BAKE_TIME" in ctx.out.text


def test_rollback_stops_the_release_with_rollback(built, tmp_path):
    write_params(tmp_path / "params", "prod", PROD)
    ctx, stubs = make_context(built, tmp_path / "params", yes=True)
    ecs = ctx.session.client("ecs", region_name=REGION)
    with Stubber(ecs) as stub:
        stubs["ecs"] = stub
        ctx.clients[("ecs", REGION)] = ecs
        _root(stubs)
        _list(stubs, SERVICES["Api"], [DEPLOYMENT])
        _describe(stubs, IN_PROGRESS)
        _list(stubs, SERVICES["Web"], [])
        stub.add_response(
            "stop_service_deployment",
            {"serviceDeploymentArn": DEPLOYMENT},
            {"serviceDeploymentArn": DEPLOYMENT, "stopType": "ROLLBACK"},
        )
        assert releases.rollback(ctx) == 0
        stub.assert_no_pending_responses()
    assert "rollback requested" in ctx.out.text


def test_continue_answers_the_pause_hook_only(built, tmp_path):
    write_params(tmp_path / "params", "prod", PROD)
    ctx, stubs = make_context(built, tmp_path / "params", yes=True)
    ecs = ctx.session.client("ecs", region_name=REGION)
    with Stubber(ecs) as stub:
        stubs["ecs"] = stub
        ctx.clients[("ecs", REGION)] = ecs
        _root(stubs)
        _list(stubs, SERVICES["Api"], [DEPLOYMENT])
        _describe(stubs, PAUSED)
        _list(stubs, SERVICES["Web"], [])
        stub.add_response(
            "continue_service_deployment",
            {"serviceDeploymentArn": DEPLOYMENT},
            {"serviceDeploymentArn": DEPLOYMENT, "hookId": "hook-1", "action": "CONTINUE"},
        )
        assert releases.continue_release(ctx) == 0
        stub.assert_no_pending_responses()


def test_continue_with_nothing_paused(prod):
    ctx, stubs = prod
    _root(stubs)
    _list(stubs, SERVICES["Api"], [DEPLOYMENT])
    _describe(stubs, IN_PROGRESS)
    _list(stubs, SERVICES["Web"], [])
    assert releases.continue_release(ctx) == 0
    assert "waiting for approval" in ctx.out.text


def test_an_undeployed_environment_is_one_clear_line(prod):
    ctx, stubs = prod
    stubs["sts"].add_response(
        "get_caller_identity",
        {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/ops", "UserId": "AID"},
    )
    stubs["cloudformation"].add_client_error(
        "describe_stacks", "ValidationError", f"Stack with id {STACK} does not exist"
    )
    with pytest.raises(Exception, match="not deployed in us-west-2"):
        releases.rollback(ctx)
