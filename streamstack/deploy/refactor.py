"""`make refactor ENV=x`: the reviewed plan's MOVE rows, done with CloudFormation stack
refactoring, so the resource changes nested stack without being replaced.

1. The plan (build/plans/<env>.json) names each move; the build must be the plan's.
2. Both stacks' refactor templates are derived from what they have deployed, with only
   the moves applied (streamstack/deploy/moves.py), and uploaded content-addressed.
3. CreateStackRefactor; its actions (ListStackRefactorActions) are printed for review
   and must be exactly the planned moves.
4. With confirmation (YES=1), ExecuteStackRefactor, followed to its end.
5. The plan is discarded: plan again with `make deploy`, which no longer shows the moves.
"""

from __future__ import annotations

import json
import re

from streamstack.deploy import artifacts, plans
from streamstack.deploy.exits import OperationFailed, Refused
from streamstack.deploy.moves import Move, read_state, refactor_templates
from streamstack.errors import StreamstackError

CREATING = ("CREATE_IN_PROGRESS",)
EXECUTING = ("UNAVAILABLE", "AVAILABLE", "EXECUTE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS")
MAX_DELAY = 15.0
MAX_POLLS = 800  # at most about 3 hours


def run(ctx) -> int:
    from streamstack.deploy.commands import connect

    the_plan = plans.read(ctx.plans, ctx.env, plans.STACK)
    details = the_plan.details
    moves = [Move(**m) for m in details.get("moves", [])]
    if not moves:
        raise StreamstackError(
            f"the plan for {ctx.env} has no MOVE rows: nothing to refactor (`make deploy "
            f"ENV={ctx.env}` shows a move between nested stacks as MOVE)"
        )
    if details.get("pull_request"):
        raise Refused(
            "this plan was made for a pull request: merge, then plan the branch with "
            f"`make deploy ENV={ctx.env}` and refactor from that plan"
        )
    if ctx.manifest["templates"]["root"]["sha256"] != details.get("build_hash"):
        raise Refused(
            f"build/ is not the build the plan was made from: run `make deploy ENV={ctx.env}` "
            "again, then `make refactor`"
        )
    cfn, boot = connect(ctx)
    root = json.loads((ctx.build_dir / ctx.manifest["templates"]["root"]["file"]).read_text())
    involved = sorted({m.source_stack_id for m in moves} | {m.destination_stack_id for m in moves})
    deployed = {stack_id: _deployed(cfn, stack_id) for stack_id in involved}
    states = {stack_id: read_state(cfn, stack_id) for stack_id in involved}
    labels = {m.source_stack_id: m.source for m in moves} | {
        m.destination_stack_id: m.destination for m in moves
    }
    built = {stack_id: _built(ctx, root, labels[stack_id]) for stack_id in involved}
    templates = refactor_templates(moves, deployed, built, states)
    definitions = [
        {
            "StackName": states[stack_id].name,
            "TemplateURL": artifacts.upload_template(
                ctx.client("s3"),
                boot.bucket,
                boot.base_url,
                json.dumps(templates[stack_id], indent=1, sort_keys=True) + "\n",
            ),
        }
        for stack_id in involved
    ]
    mappings = [
        {
            "Source": {
                "StackName": states[m.source_stack_id].name,
                "LogicalResourceId": m.source_logical,
            },
            "Destination": {
                "StackName": states[m.destination_stack_id].name,
                "LogicalResourceId": m.destination_logical,
            },
        }
        for m in moves
    ]
    refactor_id = cfn.create_stack_refactor(
        Description=f"streamstack {ctx.env}: {len(moves)} move(s) of plan "
        f"{details['change_set_name']}",
        EnableStackCreation=False,
        StackDefinitions=definitions,
        ResourceMappings=mappings,
    )["StackRefactorId"]
    described = _wait(ctx, cfn, refactor_id, "Status", CREATING)
    if described["Status"] != "CREATE_COMPLETE":
        raise StreamstackError(
            f"CloudFormation refused the refactor ({described['Status']}): "
            f"{described.get('StatusReason') or 'no reason given'}"
        )
    actions = list_actions(cfn, refactor_id)
    ctx.out(f"stack refactor {refactor_id}:")
    for line in describe_actions(actions):
        ctx.out(f"  {line}")
    unexpected = _unexpected(actions, moves, states)
    if unexpected:
        raise Refused(
            "the refactor would do more than the planned moves ("
            + "; ".join(unexpected)
            + "): nothing was executed; plan again with `make deploy`"
        )
    if not ctx.confirm(f"Move {len(moves)} resource(s) between nested stacks"):
        raise Refused(
            f"review the refactor above, then rerun `make refactor ENV={ctx.env} YES=1` to "
            "execute it"
        )
    cfn.execute_stack_refactor(StackRefactorId=refactor_id)
    final = _wait(ctx, cfn, refactor_id, "ExecutionStatus", EXECUTING)
    if final["ExecutionStatus"] != "EXECUTE_COMPLETE":
        raise OperationFailed(
            f"the stack refactor ended {final['ExecutionStatus']}: "
            f"{final.get('ExecutionStatusReason') or 'no reason given'}; see the stacks' "
            "events in the console"
        )
    plans.discard(ctx.plans, ctx.env)
    ctx.out(
        f"moved {len(moves)} resource(s) without replacing them; plan the rest with "
        f"`make deploy ENV={ctx.env}` (the MOVE rows are gone from it)"
    )
    return 0


def _deployed(cfn, stack_id: str) -> dict:
    body = cfn.get_template(StackName=stack_id, TemplateStage="Original")["TemplateBody"]
    return json.loads(body) if isinstance(body, str) else body


def _built(ctx, root: dict, label: str) -> dict:
    logical = label.split("/")[-1]
    url = json.dumps(root.get("Resources", {}).get(logical, {}).get("Properties", {}))
    match = re.search(r"([0-9a-f]{64})\.json", url)
    for entry in ctx.manifest["templates"].values():
        if match and entry["sha256"] == match.group(1):
            return json.loads((ctx.build_dir / entry["file"]).read_text())
    return {}


def _wait(ctx, cfn, refactor_id: str, field: str, running: tuple[str, ...]) -> dict:
    delay = ctx.poll_seconds
    for _ in range(MAX_POLLS):
        described = cfn.describe_stack_refactor(StackRefactorId=refactor_id)
        if described.get(field) not in running:
            return described
        ctx.sleep(delay)
        delay = min(max(delay, 1.0) * 1.5, MAX_DELAY)
    raise OperationFailed(
        f"the stack refactor {refactor_id} is still {described.get(field)} after "
        f"{MAX_POLLS} checks; follow it in the console (CloudFormation, Stack refactors)"
    )


def list_actions(cfn, refactor_id: str) -> list[dict]:
    actions, token = [], None
    while True:
        kwargs = {"StackRefactorId": refactor_id}
        if token:
            kwargs["NextToken"] = token
        page = cfn.list_stack_refactor_actions(**kwargs)
        actions += page.get("StackRefactorActions", [])
        token = page.get("NextToken")
        if not token:
            return actions


def describe_actions(actions: list[dict]) -> list[str]:
    lines = []
    for action in actions:
        mapping = action.get("ResourceMapping", {})
        source, destination = mapping.get("Source", {}), mapping.get("Destination", {})
        where = (
            f"{source.get('StackName')}/{source.get('LogicalResourceId')} -> "
            f"{destination.get('StackName')}/{destination.get('LogicalResourceId')}"
            if source
            else ""
        )
        tags = ""
        if action.get("TagResources") or action.get("UntagResources"):
            tags = (
                f"; tags added {len(action.get('TagResources', []))}, removed "
                f"{len(action.get('UntagResources', []))}"
            )
        words = [
            action.get("Action"),
            action.get("Entity"),
            action.get("PhysicalResourceId"),
            where,
        ]
        detection = ": ".join(
            x for x in (action.get("Detection"), action.get("DetectionReason")) if x
        )
        lines.append(
            " ".join(str(w) for w in words if w) + (f" ({detection})" if detection else "") + tags
        )
    return lines


def _unexpected(actions: list[dict], moves: list[Move], states) -> list[str]:
    planned = {
        (
            states[m.source_stack_id].name,
            m.source_logical,
            states[m.destination_stack_id].name,
            m.destination_logical,
        )
        for m in moves
    }
    found = []
    for action in actions:
        mapping = action.get("ResourceMapping", {})
        key = (
            mapping.get("Source", {}).get("StackName"),
            mapping.get("Source", {}).get("LogicalResourceId"),
            mapping.get("Destination", {}).get("StackName"),
            mapping.get("Destination", {}).get("LogicalResourceId"),
        )
        if action.get("Action") != "MOVE" or action.get("Entity") != "RESOURCE":
            found.append(f"{action.get('Action')} {action.get('Entity')}")
        elif key not in planned:
            found.append(f"an unplanned move of {key[1]}")
    return found
