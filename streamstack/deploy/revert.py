"""`make deploy ENV=x REVERT_DRIFT=1`: restore the values the templates set where the
nested stacks drifted.

A drift-aware change set (DeploymentMode REVERT_DRIFT) compares each resource's actual
state with its template and sets the template's values back. It works on one stack,
not with IncludeNestedStacks, so this plan holds one per drifted nested stack, each of
the template and parameters that stack has deployed now: nothing but the drift
changes. Its rows show each restored value (before: what the resource is now; after:
the template's). `make execute` runs them one stack after the other. Executing a
nested stack's change set removes that stack's other change sets, so the build's own
changes are planned afterwards, with `make deploy`.
"""

from __future__ import annotations

import json
import re

from botocore.exceptions import ClientError

from streamstack.deploy import changeset, drift, plans, stacks
from streamstack.deploy.aws import error_code, error_message
from streamstack.deploy.exits import Refused
from streamstack.errors import StreamstackError

KIND = "REVERT_DRIFT"


def template_url(root_template: dict, root_parameters: dict[str, str], logical: str) -> str:
    """The TemplateURL the root passes a nested stack now (its Fn::Join of
    ArtifactBaseUrl and the key), resolved with the root's current parameters."""
    url = root_template.get("Resources", {}).get(logical, {}).get("Properties", {})
    url = url.get("TemplateURL")
    if isinstance(url, str):
        return url
    if isinstance(url, dict) and "Fn::Join" in url:
        separator, parts = url["Fn::Join"]
        resolved = []
        for part in parts:
            if isinstance(part, dict) and set(part) == {"Ref"}:
                if part["Ref"] not in root_parameters:
                    break
                resolved.append(root_parameters[part["Ref"]])
            elif isinstance(part, str):
                resolved.append(part)
            else:
                break
        else:
            return separator.join(resolved)
    raise StreamstackError(
        f"the deployed root's TemplateURL of {logical} cannot be resolved: plan a normal "
        "deploy first"
    )


def plan(ctx, cfn, boot, stack: dict | None) -> list[dict]:
    """Create the drift-aware change sets; returns one entry per drifted stack (label,
    stack id, change set) with the Change items of each, for the plan's rows."""
    if stack is None or stack["StackStatus"] == "REVIEW_IN_PROGRESS":
        raise Refused(f"{ctx.params.stack_name} is not deployed: there is no drift to restore")
    if ctx.flag("pull_request"):
        raise Refused(
            "a pull request's plan can never be executed, so it cannot restore drift: run "
            f"`make deploy ENV={ctx.env} REVERT_DRIFT=1` from the branch"
        )
    tree = stacks.tree(cfn, stack["StackId"])
    nested = [("/".join(("root",) + path), stack_id) for path, stack_id in tree[1:]]
    outcome = drift.detect(cfn, nested, ctx.env, ctx.sleep, ctx.poll_seconds)
    for note in outcome.notes:
        ctx.out(f"note: {note}")
    if outcome.notes and not outcome.checked:
        raise StreamstackError("drift could not be checked, so nothing can be restored")
    drifted = sorted({d.stack for d in outcome.drifted})
    if not drifted:
        ctx.out(f"no drift in the {len(nested)} nested stacks: nothing to restore")
        return []
    body = cfn.get_template(StackName=stack["StackId"], TemplateStage="Original")["TemplateBody"]
    root_template = json.loads(body) if isinstance(body, str) else body
    root_parameters = {
        p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])
    }
    ids = dict(nested)
    name = changeset.new_name()
    entries = []
    for label in drifted:
        stack_id = ids[label]
        current = stacks.describe(cfn, stack_id)
        url = template_url(root_template, root_parameters, label.split("/")[-1])
        created = changeset.create(
            cfn,
            stack_name=stack_id,
            name=f"{name}-revert",
            change_set_type="UPDATE",
            template_url=url,
            parameters=[
                {"ParameterKey": p["ParameterKey"], "UsePreviousValue": True}
                for p in current.get("Parameters", [])
            ],
            tags=ctx.params.tags,
            description=f"streamstack {ctx.env}: restore drifted values of {label}",
            role_arn=boot.execution_role_arn,
            nested=False,
            deployment_mode=KIND,
        )
        desc = changeset.wait(cfn, created["Id"], ctx.poll_seconds, ctx.sleep)
        if changeset.is_empty(desc):
            cfn.delete_change_set(ChangeSetName=created["Id"])
            ctx.out(f"{label}: drifted, but nothing a drift-aware change set restores")
            continue
        if desc["Status"] == "FAILED":
            raise StreamstackError(
                f"CloudFormation refused the drift-aware change set of {label}: "
                f"{desc.get('StatusReason') or 'no reason given'}"
            )
        path = tuple(label.split("/")[1:])
        changes = [
            changeset.Change(path + c.path, c.resource) for c in changeset.walk(cfn, created["Id"])
        ]
        updated = current.get("LastUpdatedTime") or current.get("CreationTime")
        entries.append(
            {
                "stack": label,
                "stack_id": stack_id,
                "change_set_arn": created["Id"],
                "change_set_name": f"{name}-revert",
                "stack_last_updated": updated.isoformat() if updated else None,
                "changes": changes,
            }
        )
    return entries


def execute(ctx, cfn, the_plan: plans.PlanFile, run) -> None:
    """Run each stack's drift-aware change set, refusing a stack that moved since the
    plan. run(stack id, change set id, total): executes one and follows its events."""
    for entry in the_plan.details.get("revert", []):
        current = stacks.describe(cfn, entry["stack_id"])
        updated = (current or {}).get("LastUpdatedTime") or (current or {}).get("CreationTime")
        if (
            current is None
            or (updated.isoformat() if updated else None) != entry["stack_last_updated"]
        ):
            raise Refused(
                f"{entry['stack']} moved since the plan: plan again with `make deploy "
                f"ENV={ctx.env} REVERT_DRIFT=1`"
            )
        try:
            desc = cfn.describe_change_set(ChangeSetName=entry["change_set_arn"])
        except ClientError as exc:
            if error_code(exc) in ("ChangeSetNotFound", "ChangeSetNotFoundException"):
                raise Refused(
                    f"the drift-aware change set of {entry['stack']} no longer exists: plan "
                    f"again with `make deploy ENV={ctx.env} REVERT_DRIFT=1`"
                ) from None
            raise StreamstackError(f"{entry['stack']}: {error_message(exc)}") from None
        if desc.get("ExecutionStatus") != "AVAILABLE":
            raise Refused(
                f"the drift-aware change set of {entry['stack']} cannot be executed "
                f"({desc.get('ExecutionStatus')}): plan again with `make deploy "
                f"ENV={ctx.env} REVERT_DRIFT=1`"
            )
        ctx.out(f"restoring the drifted values of {entry['stack']}")
        rows = [r for r in the_plan.details["rows"] if r["stack"].startswith(entry["stack"])]
        run(entry["stack_id"], entry["change_set_arn"], len(rows))


def summary(entries: list[dict]) -> str:
    return ", ".join(re.sub(r"^root/", "", e["stack"]) for e in entries)
