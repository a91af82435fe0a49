"""After an execution: when each nested stack and each slow resource started and ended,
as Markdown next to the plan, the three slowest resources printed, and the measured
seconds per type that the next plans' estimates use."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from streamstack.deploy.durations import CREATE, DELETE, UPDATE
from streamstack.deploy.report import about, minutes

NESTED_STACK = "AWS::CloudFormation::Stack"
OPERATIONS = {"CREATE": CREATE, "UPDATE": UPDATE, "DELETE": DELETE, "IMPORT": UPDATE}
SLOW = 60.0  # seconds: a resource at least this slow gets a line of its own
LISTED = 15  # at most this many slow resources in the timeline


@dataclass(frozen=True)
class Span:
    stack: str  # the stack the resource is in (its name)
    logical_id: str
    resource_type: str
    operation: str  # create, update, delete
    start: dt.datetime
    end: dt.datetime
    status: str  # the closing status (..._COMPLETE or ..._FAILED)

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def completed(self) -> bool:
        return self.status.endswith("_COMPLETE")

    @property
    def is_stack(self) -> bool:
        """A nested stack or the root itself (their time is their resources')."""
        return self.resource_type == NESTED_STACK


def spans(events: list[dict]) -> list[Span]:
    """One span per resource operation: from its first ..._IN_PROGRESS to the
    ..._COMPLETE or ..._FAILED that closes it. Rollbacks are not measured. A nested
    stack is measured from its parent's events (its own repeat them)."""
    found: list[Span] = []
    opened: dict[tuple[str, str], tuple[str, dict]] = {}
    nested_names = {
        e.get("PhysicalResourceId", "").split("/")[1]
        for e in events
        if e.get("ResourceType") == NESTED_STACK
        and e.get("LogicalResourceId") != e.get("StackName")
        and e.get("PhysicalResourceId", "").count("/") >= 2
    }
    for event in sorted(events, key=lambda e: e["Timestamp"]):
        status = event.get("ResourceStatus", "")
        if "ROLLBACK" in status:
            continue
        prefix = status.split("_")[0]
        operation = OPERATIONS.get(prefix)
        if operation is None:
            continue
        own = event.get("LogicalResourceId") == event.get("StackName")
        if own and event.get("StackName") in nested_names:
            continue  # the parent's events measure the nested stack
        key = (event.get("StackId", event.get("StackName", "")), event["LogicalResourceId"])
        if status.endswith("_IN_PROGRESS"):
            if status == f"{prefix}_COMPLETE_CLEANUP_IN_PROGRESS":
                continue
            if key not in opened or opened[key][0] != operation:
                opened[key] = (operation, event)
            continue
        if key in opened and (status.endswith("_COMPLETE") or status.endswith("_FAILED")):
            operation, start = opened.pop(key)
            found.append(
                Span(
                    stack=event.get("StackName", ""),
                    logical_id=event["LogicalResourceId"],
                    resource_type=event.get("ResourceType", ""),
                    operation=operation,
                    start=start["Timestamp"],
                    end=event["Timestamp"],
                    status=status,
                )
            )
    return found


def samples(found: list[Span]) -> list[tuple[str, str, float]]:
    """(type, operation, seconds) of every completed resource operation, for the next
    estimates (stacks excluded: their time is their resources')."""
    return [
        (s.resource_type, s.operation, s.seconds) for s in found if s.completed and not s.is_stack
    ]


def slowest(found: list[Span], count: int = 3) -> list[Span]:
    resources = [s for s in found if not s.is_stack]
    return sorted(resources, key=lambda s: (-s.seconds, s.logical_id))[:count]


def _clock(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%H:%M:%S")


def markdown(
    found: list[Span], *, environment: str, change_set: str, status: str, expected: dict | None
) -> str:
    if not found:
        return f"### Timeline: {environment} ({change_set})\n\nNo resource events were seen.\n"
    start = min(s.start for s in found)
    end = max(s.end for s in found)
    total = (end - start).total_seconds()
    head = (
        f"### Timeline: {environment} ({change_set})\n\n"
        f"{status}: {start.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} to {_clock(end)} UTC, "
        f"{minutes(total)}"
    )
    if expected:
        head += f" (the plan expected {about(expected['seconds'])})"
    lines = [
        head + ".\n",
        "| stack | start | end | duration | status |",
        "| --- | --- | --- | --- | --- |",
    ]
    for span in sorted((s for s in found if s.is_stack), key=lambda s: s.start):
        lines.append(
            f"| {span.logical_id} | {_clock(span.start)} | {_clock(span.end)} | "
            f"{minutes(span.seconds)} | {span.status} |"
        )
    slow = [s for s in slowest(found, LISTED) if s.seconds >= SLOW] or slowest(found, 3)
    lines += [
        "",
        f"Resources that took {minutes(SLOW)} or more (the slowest first):",
        "",
        "| resource | stack | type | operation | start | end | duration |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for span in slow:
        lines.append(
            f"| `{span.logical_id}` | {span.stack} | {span.resource_type} | {span.operation} | "
            f"{_clock(span.start)} | {_clock(span.end)} | {minutes(span.seconds)} |"
        )
    return "\n".join(lines) + "\n"
