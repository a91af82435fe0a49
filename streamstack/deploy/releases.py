"""Releases of the services behind the ALB (api, web), as ECS runs them: roll back the one
in progress (`make rollback`), or continue one paused for approval before its production
traffic moves (`make release-continue`).

A release is an ECS service deployment; the platform's stack update that started it
waits for it, so rolling it back fails that update and CloudFormation rolls the stack
back to the previous task definitions too. With no release in progress there is nothing
to stop: going back to an older revision is a new release of the older commit.
"""

from __future__ import annotations

from streamstack.deploy import aws, stacks
from streamstack.deploy.exits import Refused
from streamstack.errors import StreamstackError

SERVICES = ("Api", "Web")
ACTIVE = ["PENDING", "IN_PROGRESS"]


def _services(ctx) -> tuple[str, list[str]]:
    """The cluster and the api/web service names, from the root stack's outputs."""
    aws.check_account(ctx.params, ctx.client("sts"))
    stack = stacks.describe(ctx.client("cloudformation"), ctx.params.stack_name)
    if stack is None:
        raise StreamstackError(
            f"{ctx.params.stack_name} is not deployed in {ctx.params.region}: there is no "
            "release to act on"
        )
    outputs = stacks.outputs(stack)
    names = [outputs.get(f"{name}ServiceName") for name in SERVICES]
    if not outputs.get("ClusterName") or not all(names):
        raise StreamstackError(
            f"{ctx.params.stack_name} has no ClusterName/ApiServiceName/WebServiceName outputs: "
            "its compute tier is not deployed yet"
        )
    return outputs["ClusterName"], names


def active(ecs, cluster: str, service: str) -> list[dict]:
    """The service's deployments that are pending or in progress, described."""
    listed = ecs.list_service_deployments(cluster=cluster, service=service, status=ACTIVE)
    arns = [d["serviceDeploymentArn"] for d in listed.get("serviceDeployments", [])]
    if not arns:
        return []
    return ecs.describe_service_deployments(serviceDeploymentArns=arns)["serviceDeployments"]


def rollback(ctx) -> int:
    ecs = ctx.client("ecs")
    cluster, services = _services(ctx)
    found = [(s, d) for s in services for d in active(ecs, cluster, s)]
    if not found:
        ctx.out(
            f"no release of {', '.join(services)} is in progress: nothing to roll back. To go "
            "back to an older revision, release it: check out the older commit (or set the "
            f"older image parameters) and `make deploy ENV={ctx.env}` "
            "(docs/runbooks/roll-back-a-release.md)"
        )
        return 0
    for service, deployment in found:
        ctx.out(
            f"{service}: release {deployment['serviceDeploymentArn']} is "
            f"{deployment['status']} at {deployment.get('lifecycleStage', 'an unknown stage')}"
        )
    if not ctx.confirm(f"Roll back {len(found)} release(s) in {ctx.env}"):
        raise Refused(
            f"rolling back changes what serves {ctx.env}: rerun `make rollback ENV={ctx.env} "
            "YES=1` to roll the release(s) above back"
        )
    for service, deployment in found:
        ecs.stop_service_deployment(
            serviceDeploymentArn=deployment["serviceDeploymentArn"], stopType="ROLLBACK"
        )
        ctx.out(f"{service}: rollback requested; ECS moves traffic back to the previous revision")
    ctx.out(
        f"follow it with `make status ENV={ctx.env}`: the stack update that started the "
        "release fails and rolls back to the previous task definitions"
    )
    return 0


def continue_release(ctx) -> int:
    """Continue releases waiting at their approval hook (ReleaseApproval)."""
    ecs = ctx.client("ecs")
    cluster, services = _services(ctx)
    waiting = [
        (service, deployment, hook)
        for service in services
        for deployment in active(ecs, cluster, service)
        for hook in deployment.get("lifecycleHookDetails", [])
        if hook.get("targetType") == "PAUSE" and hook.get("status") == "AWAITING_ACTION"
    ]
    if not waiting:
        ctx.out(f"no release of {', '.join(services)} is waiting for approval")
        return 0
    for service, deployment, hook in waiting:
        ctx.out(
            f"{service}: release {deployment['serviceDeploymentArn']} waits before production "
            f"traffic moves (rolls back at {hook.get('expiresAt', 'its timeout')})"
        )
    if not ctx.confirm(f"Send production traffic of {ctx.env} to the new revision(s)"):
        raise Refused(
            f"continuing moves {ctx.env}'s production traffic: rerun `make release-continue "
            f"ENV={ctx.env} YES=1`, or `make rollback ENV={ctx.env} YES=1` to abandon it"
        )
    for service, deployment, hook in waiting:
        ecs.continue_service_deployment(
            serviceDeploymentArn=deployment["serviceDeploymentArn"],
            hookId=hook["hookId"],
            action="CONTINUE",
        )
        ctx.out(f"{service}: continued; production traffic moves to the new revision")
    return 0
