"""The plan as a reviewer reads it: the printed text and the Markdown of a pull-request
comment. Both show, per row, the risk label, the values before and after (long ones
shortened: the plan JSON holds them whole), what happens to the data of a resource that
goes, drift, and the expected duration with its critical path."""

from __future__ import annotations

import json

from streamstack.deploy.secrets import HIDDEN

TEXT_LIMIT = 72  # characters of one value in the printed plan
MARKDOWN_LIMIT = 120
ELLIPSIS = "..."


def shorten(value: str | None, limit: int) -> str:
    if value is None:
        return "(none)"
    text = str(value).replace("\n", " ")
    if text == HIDDEN or len(text) <= limit:
        return text
    keep = limit - len(ELLIPSIS)
    return text[: keep - keep // 3] + ELLIPSIS + text[len(text) - keep // 3 :]


def minutes(seconds: float) -> str:
    """90 -> 1m30s, 45 -> 45s, 3600 -> 60m."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    whole, rest = divmod(seconds, 60)
    return f"{whole}m{rest:02d}s" if rest and whole < 10 else f"{whole}m"


def about(seconds: float) -> str:
    """A reviewer's rounding: about 4 min, about 1 h 05 min."""
    total = max(1, int(round(seconds / 60)))
    if total < 60:
        return f"about {total} min"
    return f"about {total // 60} h {total % 60:02d} min"


def _as_dict(row) -> dict:
    return row if isinstance(row, dict) else vars(row)


LEAVES = 6  # differing places shown per structured value


def _parse(text):
    try:
        found = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return found if isinstance(found, (dict, list)) else None


def leaf_changes(before, after, path: str = "") -> list[tuple[str, object, object]]:
    """The places where two JSON structures differ: (path, before, after); _NONE for a
    side that lacks it."""
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in sorted(set(before) | set(after)):
            found += leaf_changes(
                before.get(key, _NONE), after.get(key, _NONE), f"{path}/{key}" if path else key
            )
        return found
    if isinstance(before, list) and isinstance(after, list):
        found = []
        for index in range(max(len(before), len(after))):
            found += leaf_changes(
                before[index] if index < len(before) else _NONE,
                after[index] if index < len(after) else _NONE,
                f"{path}/{index}" if path else str(index),
            )
        return found
    return [] if before == after else [(path, before, after)]


class _None:
    def __repr__(self) -> str:
        return "(none)"


_NONE = _None()


def _leaf(value) -> str:
    if value is _NONE:
        return "(none)"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def value_lines(value: dict, limit: int, code=lambda s: s) -> list[str]:
    """Property: before -> after (where the before value comes from); a structured
    value as the places that differ."""
    before, after = value.get("before"), value.get("after")
    source = " (actual)" if value.get("before_from") == "ACTUAL_STATE" else ""
    name = value.get("property") or value.get("path") or "value"
    if value.get("change") == "SyncWithActual":
        return [
            f"{name}: keeps {code(shorten(before, limit))}{source}; only the drift status resets"
        ]
    if before is None:
        return [f"{name}: {code(shorten(after, limit))}"]
    if after is None:
        return [f"{name}: {code(shorten(before, limit))}{source} -> (removed)"]
    old, new = _parse(before), _parse(after)
    if old is not None and new is not None:
        leaves = leaf_changes(old, new)
        lines = [
            f"{name}/{where}: {code(shorten(_leaf(b), limit))}{source} -> "
            f"{code(shorten(_leaf(a), limit))}"
            for where, b, a in leaves[:LEAVES]
        ]
        if len(leaves) > LEAVES:
            lines.append(f"{name}: {len(leaves) - LEAVES} more differences (in the plan JSON)")
        if lines:
            return lines
    return [f"{name}: {code(shorten(before, limit))}{source} -> {code(shorten(after, limit))}"]


def drift_text(item: dict, limit: int, code=lambda s: s) -> str:
    where = item.get("path") or "the resource"
    if item.get("status") == "DELETED":
        return f"drift: deleted outside CloudFormation; {item['outcome']}"
    return (
        f"drift: {where} is {code(shorten(item.get('actual'), limit))}, the last deploy set "
        f"{code(shorten(item.get('expected'), limit))}; {item['outcome']}"
    )


def details(row, limit: int, code=lambda s: s) -> list[str]:
    """The lines under a row: values, the data's fate, drift, the other half of a move."""
    row = _as_dict(row)
    lines = [line for v in row.get("values", []) for line in value_lines(v, limit, code)]
    if row.get("move"):
        move = row["move"]
        lines.append(
            f"move: {move['from']}/{move['from_logical']} -> {move['to']}/{move['to_logical']}; "
            f"{move['advice']}"
        )
    if row.get("consequence"):
        lines.append(f"data: {row['consequence']}")
    lines += [drift_text(d, limit, code) for d in row.get("drift", [])]
    return lines


# -- text ----------------------------------------------------------------------------------
def render_text(rows) -> list[str]:
    if not rows:
        return [
            "no resource changes: the change set only updates stack-level settings "
            "(outputs, tags or parameter values no resource uses)"
        ]
    rows = [_as_dict(r) for r in rows]
    lines = []
    for stack in sorted({row["stack"] for row in rows}, key=lambda s: (s.count("/"), s)):
        lines.append(f"{stack}:")
        for row in (r for r in rows if r["stack"] == stack):
            replacement = f"replace={row['replacement']}" if row["replacement"] else ""
            props = ",".join(row["properties"])
            note = f"  ({row['note']})" if row.get("note") else ""
            lines.append(
                f"  {row['risk']:<12} {row['action']:<7} {row['logical_id']:<32} "
                f"{row['resource_type']:<36} {replacement:<18} {props}{note}".rstrip()
            )
            lines += [f"{'':15}{line}" for line in details(row, TEXT_LIMIT)]
    if any(ELLIPSIS in line for line in lines):
        lines.append("(values shortened with ...: the plan JSON holds them whole)")
    return lines


def duration_text(estimate: dict | None) -> list[str]:
    if not estimate:
        return []
    path = " -> ".join(f"{step['stack']} {minutes(step['seconds'])}" for step in estimate["path"])
    lines = [f"expected duration: {about(estimate['seconds'])} (critical path: {path or 'none'})"]
    if estimate.get("cleanup_seconds"):
        lines[0] += f", then {minutes(estimate['cleanup_seconds'])} of cleanup"
    slowest = estimate.get("slowest", [])
    if slowest:
        lines.append(
            "  slowest on that path: "
            + ", ".join(
                f"{s['stack']}/{s['logical_id']} ({s['resource_type']}) {minutes(s['seconds'])}"
                for s in slowest
            )
        )
    lines.append(f"  durations: {estimate['source']}")
    return lines


# -- Markdown ------------------------------------------------------------------------------
def _code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def render_markdown(plan: dict) -> str:
    risk = plan["risk"]
    head = (
        f"### streamstack plan: {plan['environment']} ({plan['stack_name']})\n\n"
        f"Change set `{plan['change_set_name']}` ({plan['change_set_type']}), "
        f"build `{plan['build_hash'][:12]}`, commit `{plan['commit'][:12]}`.\n\n"
        + (" · ".join(f"**{k}** {v}" for k, v in risk.items() if v) or "no resource changes")
        + "\n\n"
    )
    if plan.get("duration"):
        estimate = plan["duration"]
        lines = duration_text(estimate)
        head += f"**Expected duration:** {lines[0].removeprefix('expected duration: ')}"
        head += "".join(f"  \n{line.strip()}" for line in lines[1:]) + "\n\n"
    if plan.get("blocked"):
        head += (
            "> **Blocked:** this plan removes, replaces or moves stateful resources "
            "(DATA-LOSS, RECOVERABLE, ORPHAN and MOVE rows). Review what happens to their "
            "data below; run `make refactor` for a MOVE, and re-plan with "
            "`--allow-data-loss` only if the data may go.\n\n"
        )
    if plan.get("invalid"):
        head += (
            "> **Invalid:** CloudFormation's pre-deployment validation says executing "
            "this change set would fail (INVALID rows).\n\n"
        )
    for note in plan.get("notes", []):
        head += f"> {note}\n\n"
    if not plan["rows"]:
        return head + "No changes.\n"
    table = [
        "| stack | risk | action | logical id | type | replacement | properties |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in plan["rows"]:
        note = f" ({row['note']})" if row.get("note") else ""
        table.append(
            f"| {row['stack']} | {row['risk']} | {row['action']} | "
            f"`{row['logical_id']}` | {row['resource_type']} | "
            f"{row['replacement'] or '-'}{note} | {', '.join(row['properties'])} |"
        )
    body = head + "\n".join(table) + "\n"
    described = [row for row in plan["rows"] if details(row, MARKDOWN_LIMIT)]
    if described:
        body += "\n#### Values, data and drift\n\n"
        for row in described:
            body += f"**{row['stack']} `{row['logical_id']}`** ({row['risk']})\n\n"
            body += "".join(f"- {line}\n" for line in details(row, MARKDOWN_LIMIT, _code))
            body += "\n"
        if any(ELLIPSIS in line for r in described for line in details(r, MARKDOWN_LIMIT)):
            body += "_Long values are shortened with `...`; the plan JSON holds them whole._\n\n"
    return body + f"\n[Review in the console]({plan['console_url']})\n"
