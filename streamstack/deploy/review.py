"""What the plan adds to the change set's rows before a reviewer reads them: the
templates each stack gets (for secrets and the graph), moves between nested stacks,
drift of the touched nested stacks, and the expected duration with its critical path.
commands.plan calls these in this order."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from streamstack.deploy import critical_path, drift, moves, stacks
from streamstack.deploy.critical_path import DELETE
from streamstack.deploy.durations import Durations
from streamstack.deploy.secrets import Secrets

NESTED_STACK = "AWS::CloudFormation::Stack"
REMOVED = "(removed stack)"  # a removed nested stack's work in the estimate


def built(build_dir, manifest: dict) -> tuple[dict, dict[str, dict]]:
    """The built root template and every built template by its sha256."""
    root = json.loads((build_dir / manifest["templates"]["root"]["file"]).read_text())
    return root, {
        e["sha256"]: json.loads((build_dir / e["file"]).read_text())
        for e in manifest["templates"].values()
    }


def templates_by_stack(root: dict, templates_by_sha: dict[str, dict]) -> dict[str, dict]:
    """Stack label ("root", "root/DataStack") -> the built template it gets."""
    found = {"root": root}
    for logical, resource in root.get("Resources", {}).items():
        if resource.get("Type") != NESTED_STACK:
            continue
        url = json.dumps(resource.get("Properties", {}).get("TemplateURL", ""))
        match = re.search(r"([0-9a-f]{64})\.json", url)
        if match and match.group(1) in templates_by_sha:
            found[f"root/{logical}"] = templates_by_sha[match.group(1)]
    return found


def root_values(root: dict, given: dict[str, str]) -> dict[str, str]:
    """The root's parameter values as the change set gets them: given, else defaults."""
    values = {
        name: str(spec["Default"])
        for name, spec in root.get("Parameters", {}).items()
        if "Default" in spec
    }
    return {**values, **given}


def account_of(stack_id: str) -> str:
    parts = stack_id.split(":")
    return parts[4] if len(parts) > 5 else ""


@dataclass
class Extras:
    moves: list[moves.Move] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    estimate: critical_path.Estimate | None = None


def deployed_reader(cfn):
    """Deployed templates and stack states, each read once."""
    templates: dict[str, dict] = {}
    states: dict[str, moves.StackState] = {}

    def template(stack_id: str) -> dict:
        if stack_id not in templates:
            body = cfn.get_template(StackName=stack_id, TemplateStage="Original")["TemplateBody"]
            templates[stack_id] = json.loads(body) if isinstance(body, str) else body
        return templates[stack_id]

    def state(stack_id: str) -> moves.StackState:
        if stack_id not in states:
            states[stack_id] = moves.read_state(cfn, stack_id)
        return states[stack_id]

    return template, state


def find_moves(ctx, cfn, rows, changes, *, templates, root_values, stack_id) -> list[moves.Move]:
    template, state = deployed_reader(cfn)

    def nested_ids() -> dict[str, str]:
        return {
            f"root/{r['LogicalResourceId']}": r["PhysicalResourceId"]
            for r in stacks.resources(cfn, stack_id)
            if r["ResourceType"] == NESTED_STACK
            and r.get("PhysicalResourceId", "").startswith("arn:")
        }

    found = moves.pair(
        rows,
        changes,
        deployed=template,
        state=state,
        built=templates,
        root=templates["root"],
        root_values=root_values,
        region=ctx.params.region,
        account=account_of(stack_id),
        nested_ids=nested_ids,
    )
    moves.mark(rows, found, ctx.env)
    return found


def check_drift(ctx, cfn, rows, changes, secrets: Secrets) -> list[str]:
    """Drift detection of the nested stacks the change set touches, into the rows."""
    if ctx.flag("no_drift"):
        return []
    stacks = drift.touched(changes)
    if not stacks:
        return []
    ctx.out(f"checking drift of the {len(stacks)} nested stack(s) this plan touches")
    outcome = drift.detect(cfn, stacks, ctx.env, ctx.sleep, ctx.poll_seconds)
    return outcome.notes + drift.annotate(rows, outcome, secrets, ctx.env)


def work_of(changes, templates: dict[str, dict], root_values: dict[str, str]):
    """Nested stack -> {resource: operation} for the estimate. A nested stack the
    change set adds without listing its resources is created whole (its conditions
    decided with the plan's parameters); a removed one is one deletion."""
    root = templates["root"]
    work: dict[str, dict[str, str]] = {}
    added, removed = [], []
    for change in changes:
        res = change.resource
        if change.path:
            op = critical_path.operation(
                res.get("Action", ""), res.get("Replacement", ""), res.get("PolicyAction", "")
            )
            if op:
                work.setdefault(change.path[0], {})[res["LogicalResourceId"]] = op
        elif res.get("ResourceType") == NESTED_STACK and res.get("Action") == "Add":
            added.append(res["LogicalResourceId"])
        elif res.get("ResourceType") == NESTED_STACK and res.get("Action") == "Remove":
            removed.append(res["LogicalResourceId"])
        elif res.get("ResourceType") == NESTED_STACK:
            work.setdefault(res["LogicalResourceId"], {})
    for stack in added:
        if not work.get(stack):
            work[stack] = critical_path.created(
                templates.get(f"root/{stack}", {}),
                critical_path.nested_values(root, stack, root_values),
            )
    for stack in removed:
        work[stack] = {REMOVED: DELETE}
    return work


def estimate(changes, templates, root_values, durations: Durations) -> critical_path.Estimate:
    nested = {label.split("/", 1)[1]: t for label, t in templates.items() if label != "root"}
    return critical_path.estimate(
        templates["root"], nested, work_of(changes, templates, root_values), durations
    )
