"""After a local deploy: per tier, how many resources LocalStack really created and which
types it skipped. LocalStack reports a resource of a type it does not model
CREATE_COMPLETE without creating anything (its status reason says so), so a local
CREATE_COMPLETE is never mistaken for a tested CloudFront or Aurora."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from streamstack.deploy import stacks
from templates.root import stack_logical_id

SKIPPED = re.compile(r"Resource type (\S+) is not supported but was deployed as a fallback")


@dataclass
class TierCount:
    tier: str
    created: int = 0
    skipped: Counter = field(default_factory=Counter)  # resource type -> count


def count(cfn, root_id: str, tier_of: dict[str, str]) -> list[TierCount]:
    """One TierCount per nested stack (tier_of: logical id -> tier name), depth first."""
    rows: list[TierCount] = []

    def walk(stack_id: str, path: tuple[str, ...]) -> None:
        row = TierCount(tier_of.get(path[-1], "/".join(path))) if path else None
        if row:
            rows.append(row)
        for resource in stacks.resources(cfn, stack_id):
            physical = resource.get("PhysicalResourceId") or ""
            if resource["ResourceType"] == stacks.NESTED_TYPE and physical.startswith("arn:"):
                walk(physical, path + (resource["LogicalResourceId"],))
            elif row:
                found = SKIPPED.search(resource.get("ResourceStatusReason") or "")
                if found:
                    row.skipped[found.group(1)] += 1
                else:
                    row.created += 1

    walk(root_id, ())
    return rows


def render(rows: list[TierCount]) -> list[str]:
    lines = [
        "what LocalStack really did, per tier (a skipped type is reported "
        "CREATE_COMPLETE but nothing exists):",
        f"  {'tier':<16} {'created':>7} {'skipped':>7}  skipped types",
    ]
    for row in sorted(rows, key=lambda r: r.tier):
        types = ", ".join(f"{t} x{n}" if n > 1 else t for t, n in sorted(row.skipped.items()))
        lines.append(
            f"  {row.tier:<16} {row.created:>7} {sum(row.skipped.values()):>7}  {types}".rstrip()
        )
    created = sum(r.created for r in rows)
    skipped = sum(sum(r.skipped.values()) for r in rows)
    lines.append(f"  {'total':<16} {created:>7} {skipped:>7}")
    lines.append(
        "skipped types are checked by cfn-lint, checkov and the tests, not by an "
        "emulator: see docs/local.md"
    )
    return lines


def report(ctx, cfn) -> None:
    """Print the counts for the environment's root stack, when it has been created."""
    stack = stacks.describe(cfn, ctx.params.stack_name)
    if stack is None or stack["StackStatus"] == "REVIEW_IN_PROGRESS":
        return
    tier_of = {
        stack_logical_id(name): name
        for name, entry in ctx.manifest["templates"].items()
        if entry.get("kind") == "tier"
    }
    for line in render(count(cfn, stack["StackId"], tier_of)):
        ctx.out(line)
