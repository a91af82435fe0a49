"""Drift in the plan: which resources a deploy touches were changed outside
CloudFormation, which property differs, and what the deploy will do to it.

The tree is nested, and CloudFormation's two drift tools treat nested stacks
differently: a drift-aware change set (DeploymentMode REVERT_DRIFT) works on one stack
and cannot be combined with IncludeNestedStacks, and drift detection on a stack does
not descend into its nested stacks. So the plan keeps its one change set for the whole
tree and runs drift detection on each nested stack that change set touches, side by
side, while the plan is written. A plan made with --revert-drift (streamstack/deploy/
revert.py) is the other tool: a drift-aware change set per drifted nested stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from streamstack.deploy.aws import error_code, error_message
from streamstack.deploy.report import shorten
from streamstack.deploy.secrets import Secrets

NESTED_STACK = "AWS::CloudFormation::Stack"
DRIFTED = ("MODIFIED", "DELETED")
DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")
UNAVAILABLE = ("InternalFailure", "NotImplemented", "InvalidAction", "UnknownOperation")
MAX_POLLS = 120


@dataclass(frozen=True)
class Drifted:
    stack: str  # "root/StorageStack"
    logical_id: str
    resource_type: str
    status: str  # MODIFIED or DELETED
    differences: tuple[dict, ...] = ()  # PropertyPath, ExpectedValue, ActualValue


@dataclass
class Outcome:
    drifted: list[Drifted] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # stack labels detected
    notes: list[str] = field(default_factory=list)


def touched(changes) -> list[tuple[str, str]]:
    """(stack label, stack id) of each existing nested stack the change set changes."""
    found = []
    for change in changes:
        res = change.resource
        physical = res.get("PhysicalResourceId", "")
        if (
            res.get("ResourceType") == NESTED_STACK
            and res.get("Action") == "Modify"
            and physical.startswith("arn:")
        ):
            found.append(
                ("/".join(("root",) + change.path + (res["LogicalResourceId"],)), physical)
            )
    return found


def detect(cfn, stacks: list[tuple[str, str]], env: str, sleep, poll: float) -> Outcome:
    """Drift detection on each stack, started together, then read: the drifted
    resources with their differing properties. Never raises for a refused call: the
    outcome's notes say what could not be checked and how to fix it."""
    outcome = Outcome()
    running = {}
    for label, stack_id in stacks:
        try:
            running[label] = (
                stack_id,
                cfn.detect_stack_drift(StackName=stack_id)["StackDriftDetectionId"],
            )
        except ClientError as exc:
            note = _refused(exc, env, "DetectStackDrift")
            if note not in outcome.notes:
                outcome.notes.append(note)
            if error_code(exc) in DENIED + UNAVAILABLE:
                return outcome
    pending = dict(running)
    polls = 0
    while pending and polls < MAX_POLLS:
        for label, (stack_id, detection) in list(pending.items()):
            try:
                status = cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection)
                drifted = (
                    _drifted(cfn, label, stack_id)
                    if status.get("StackDriftStatus") == "DRIFTED"
                    and status["DetectionStatus"] != "DETECTION_IN_PROGRESS"
                    else []
                )
            except ClientError as exc:
                del pending[label]
                outcome.notes.append(_refused(exc, env, "DescribeStackResourceDrifts"))
                continue
            if status["DetectionStatus"] == "DETECTION_IN_PROGRESS":
                continue
            del pending[label]
            if status["DetectionStatus"] == "DETECTION_FAILED" and not status.get(
                "DriftedStackResourceCount"
            ):
                outcome.notes.append(
                    f"drift detection of {label} failed: "
                    f"{status.get('DetectionStatusReason') or 'no reason given'}"
                )
            outcome.checked.append(label)
            outcome.drifted += drifted
        if pending:
            polls += 1
            sleep(poll)
    for label in pending:
        outcome.notes.append(f"drift detection of {label} did not finish in time: not checked")
    return outcome


def _drifted(cfn, label: str, stack_id: str) -> list[Drifted]:
    found = []
    token = None
    while True:
        kwargs = {"StackName": stack_id, "StackResourceDriftStatusFilters": list(DRIFTED)}
        if token:
            kwargs["NextToken"] = token
        page = cfn.describe_stack_resource_drifts(**kwargs)
        for drift in page.get("StackResourceDrifts", []):
            found.append(
                Drifted(
                    stack=label,
                    logical_id=drift["LogicalResourceId"],
                    resource_type=drift["ResourceType"],
                    status=drift["StackResourceDriftStatus"],
                    differences=tuple(drift.get("PropertyDifferences", [])),
                )
            )
        token = page.get("NextToken")
        if not token:
            return found


def _refused(exc: ClientError, env: str, operation: str) -> str:
    code = error_code(exc)
    if code in DENIED:
        return (
            f"drift was not checked (cloudformation:{operation} is denied: "
            f"{error_message(exc)}); update the CI roles with `make bootstrap ENV={env}`, "
            "or check drift with `make status`"
        )
    if code in UNAVAILABLE:
        return f"this endpoint has no drift detection ({operation}: {error_message(exc)})"
    return f"drift was not checked: {operation}: {code}: {error_message(exc)}"


def _top(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    return parts[1] if parts[:1] == ["Properties"] and len(parts) > 1 else (parts or [""])[0]


def annotate(rows, outcome: Outcome, secrets: Secrets, env: str) -> list[str]:
    """Drift into the rows of the resources it concerns; returns notes on drifted
    resources of the touched stacks that this deploy leaves alone."""
    by_key = {(row.stack, row.logical_id): row for row in rows}
    untouched: dict[str, list[str]] = {}
    revert = f"`make deploy ENV={env} REVERT_DRIFT=1` restores the template's values"
    for drifted in outcome.drifted:
        row = by_key.get((drifted.stack, drifted.logical_id))
        if row is None:
            what = (
                "deleted"
                if drifted.status == "DELETED"
                else ", ".join(
                    sorted({_top(d.get("PropertyPath", "")) for d in drifted.differences})
                )
            )
            untouched.setdefault(drifted.stack, []).append(f"{drifted.logical_id} ({what})")
            continue
        if drifted.status == "DELETED":
            row.drift.append(
                {
                    "status": "DELETED",
                    "path": "",
                    "outcome": "updating it fails (it no longer exists): restore it, or "
                    "remove it from the template and deploy before adding it back",
                }
            )
            continue
        for difference in drifted.differences:
            path = difference.get("PropertyPath", "")
            top = _top(path)
            after = next((v for v in row.values if v.get("property") == top), None)
            if row.action == "Remove":
                fate = "the deploy removes the resource"
            elif top in row.properties and after is not None and after.get("after") is not None:
                fate = f"this deploy sets it to {shorten(str(after['after']), 40)}"
            elif top in row.properties:
                fate = "this deploy changes that property to the template's value"
            else:
                fate = f"this deploy leaves it as it is; {revert}"

            def hide(value, path=path, drifted=drifted):
                return secrets.mask(
                    drifted.stack, drifted.logical_id, drifted.resource_type, path, value
                )

            row.drift.append(
                {
                    "status": "MODIFIED",
                    "path": path,
                    "difference": difference.get("DifferenceType", ""),
                    "expected": hide(difference.get("ExpectedValue")),
                    "actual": hide(difference.get("ActualValue")),
                    "outcome": fate,
                }
            )
    return [
        f"drift in {stack} that this deploy does not touch: {', '.join(names)}; {revert}"
        for stack, names in sorted(untouched.items())
    ]
