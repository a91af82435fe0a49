"""One time-ordered view of the events of a stack and every nested stack, with
progress, and the first root cause of a failure."""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from streamstack.deploy.stacks import NESTED_TYPE, describe, in_progress

CANCELLED = (
    "Resource creation cancelled",
    "Resource update cancelled",
    "Resource deletion cancelled",
)
# Parent-level summaries of a failure below them; the cause is the event they point to.
SUMMARIES = ("Embedded stack", "The following resource(s) failed")
SKEW = dt.timedelta(minutes=5)
DONE = (
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "DELETE_COMPLETE",
    "IMPORT_COMPLETE",
    "DELETE_SKIPPED",
)


def is_failure(event: dict) -> bool:
    return event.get("ResourceStatus", "").endswith("_FAILED")


def root_cause(events: list[dict]) -> dict | None:
    """The earliest *_FAILED event that is a cause, not a cancellation or a summary of a
    nested failure; inside nested stacks too. None when nothing failed."""
    failed = sorted((e for e in events if is_failure(e)), key=lambda e: e["Timestamp"])
    for event in failed:
        reason = event.get("ResourceStatusReason") or ""
        if any(text in reason for text in CANCELLED):
            continue
        if event.get("ResourceType") == NESTED_TYPE and (
            reason.startswith(SUMMARIES) or not reason
        ):
            continue
        return event
    return failed[0] if failed else None


def describe_cause(event: dict) -> str:
    reason = event.get("ResourceStatusReason") or "no reason given"
    return (
        f"{event['StackName']}/{event['LogicalResourceId']} ({event['ResourceType']}) "
        f"{event['ResourceStatus']}: {reason}"
    )


def explain(cfn, cause: dict, where_to_look, depth: int = 5) -> str:
    """describe_cause, from the nested stack's own events when the cause is a nested
    stack that failed without saying why (or only pointing below itself); when no event
    gives a reason, where_to_look(stack id) says where the reason is."""
    child = None
    while depth and _points_below(cause):
        child = nested_stack_id(cfn, cause)
        found = root_cause(all_events(cfn, child)) if child else None
        if found is None:
            break
        cause, child, depth = found, None, depth - 1
    text = describe_cause(cause)
    if not cause.get("ResourceStatusReason"):
        text += f"; {where_to_look(child or cause['StackId'])}"
    return text


def _points_below(event: dict) -> bool:
    reason = event.get("ResourceStatusReason") or ""
    return (
        event.get("ResourceType") == NESTED_TYPE
        and event.get("LogicalResourceId") != event.get("StackName")
        and (not reason or reason.startswith(SUMMARIES))
    )


def nested_stack_id(cfn, event: dict) -> str | None:
    """The stack a nested-stack resource event is about: its physical id, or the
    resource's, or (LocalStack gives neither) the live stack CloudFormation named
    <parent>-<logical id>-<suffix>."""
    if event.get("ResourceType") != NESTED_TYPE or event.get("LogicalResourceId") == event.get(
        "StackName"
    ):
        return None
    physical = event.get("PhysicalResourceId") or ""
    if physical.startswith("arn:"):
        return physical
    try:
        detail = cfn.describe_stack_resource(
            StackName=event["StackId"], LogicalResourceId=event["LogicalResourceId"]
        )
        physical = detail["StackResourceDetail"].get("PhysicalResourceId") or ""
    except ClientError:
        physical = ""
    if physical.startswith("arn:"):
        return physical
    prefix = f"{event['StackName']}-{event['LogicalResourceId']}-"
    named = [
        s
        for page in cfn.get_paginator("list_stacks").paginate()
        for s in page["StackSummaries"]
        if s["StackName"].startswith(prefix) and s["StackStatus"] != "DELETE_COMPLETE"
    ]
    return max(named, key=lambda s: s["CreationTime"])["StackId"] if named else None


def all_events(cfn, stack_id: str) -> list[dict]:
    pages = cfn.get_paginator("describe_stack_events").paginate(StackName=stack_id)
    return [event for page in pages for event in page["StackEvents"]]


@dataclass
class TreeEvents:
    """Collects new events of a stack tree since a moment, discovering nested stacks."""

    cfn: object
    root_id: str
    since: dt.datetime
    stacks: list[str] = field(default_factory=list)  # the root, then nested stack ids
    seen: set[str] = field(default_factory=set)
    events: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.stacks.insert(0, self.root_id)

    @classmethod
    def primed(cls, cfn, stack_id: str, nested: list[tuple[tuple[str, ...], str]] = ()):
        """A view that starts now: the existing events of the stack (and of the given
        nested stacks) from the last minutes are marked as seen. The margin absorbs clock
        skew between this machine and CloudFormation."""
        view = cls(
            cfn, stack_id, dt.datetime.now(dt.UTC) - SKEW, [nested_id for _, nested_id in nested]
        )
        view.poll()
        view.events.clear()
        return view

    def poll(self) -> list[dict]:
        new: list[dict] = []
        queue = list(self.stacks)
        while queue:
            stack_id = queue.pop(0)
            for event in self._new_events(stack_id):
                new.append(event)
                physical = event.get("PhysicalResourceId") or ""
                if (
                    event.get("ResourceType") == NESTED_TYPE
                    and physical.startswith("arn:")
                    and physical not in self.stacks
                ):
                    self.stacks.append(physical)
                    queue.append(physical)
        new.sort(key=lambda e: e["Timestamp"])
        self.events += new
        return new

    def _new_events(self, stack_id: str) -> list[dict]:
        found = []
        for page in self.cfn.get_paginator("describe_stack_events").paginate(StackName=stack_id):
            stop = False
            for event in page["StackEvents"]:  # newest first
                if event["EventId"] in self.seen or event["Timestamp"] < self.since:
                    stop = True
                    break
                self.seen.add(event["EventId"])
                found.append(event)
            if stop:
                break
        return found


class Progress:
    """Prints events as lines; on a terminal also keeps a live status line."""

    def __init__(self, out, total: int, stream=None) -> None:
        self.out = out
        self.total = total
        self.done: set[tuple[str, str]] = set()
        self.stream = stream or sys.stdout
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def show(self, events: list[dict]) -> None:
        for event in events:
            if event["ResourceStatus"] in DONE and event["LogicalResourceId"] != event["StackName"]:
                self.done.add((event["StackName"], event["LogicalResourceId"]))
            self._clear()
            self.out(self.line(event))

    def line(self, event: dict) -> str:
        stamp = event["Timestamp"].astimezone(dt.UTC).strftime("%H:%M:%S")
        where = event["LogicalResourceId"]
        reason = event.get("ResourceStatusReason") or ""
        counter = f"[{min(len(self.done), self.total)}/{self.total}]" if self.total else ""
        return (
            f"{stamp} {counter:>9} {event['ResourceStatus']:<32} {where:<34} "
            f"{event['ResourceType']}  {reason}"
        ).rstrip()

    def status(self, text: str) -> None:
        if self.tty:
            self.stream.write(f"\r\x1b[K{text}")
            self.stream.flush()

    def _clear(self) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K")


def follow(
    cfn, tree: TreeEvents, total: int, out, poll: float, sleep, stream=None
) -> tuple[dict, list[dict]]:
    """Stream the tree's events until the root stack leaves *_IN_PROGRESS.

    Returns (the final stack, every event of this operation).
    """
    stack_id = tree.root_id
    progress = Progress(out, total, stream)
    while True:
        stack = describe(cfn, stack_id)
        progress.show(tree.poll())
        if stack is None or not in_progress(stack["StackStatus"]):
            progress.show(tree.poll())
            return stack or {"StackStatus": "DELETE_COMPLETE", "StackId": stack_id}, tree.events
        progress.status(f"{stack['StackStatus']} [{len(progress.done)}/{total}]")
        sleep(poll)
