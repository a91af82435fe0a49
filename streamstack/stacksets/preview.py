"""Preview a stack set deploy: what the current stack set and its instances hold, what
the params file and the build want, and the difference per instance.

Reads: DescribeStackSet (template body and parameters), ListStackInstances (paginated),
and, for the plan only, DescribeStackInstance for each instance whose overrides are not
already known for its current LastOperationId (state.py): the API has no bulk read of
ParameterOverrides, and a preview that guessed them could hide a change. Those reads
run a few at a time. Execute's "did it move?" check needs no per-instance
read: every operation that touches an instance changes its LastOperationId, which
ListStackInstances returns. Nothing here writes.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from streamstack.stacksets.operations import Operations
from streamstack.stacksets.state import OverrideState
from streamstack.stacksets.targets import Group, Instance, Overrides, freeze, group

DESCRIBE_THREADS = 8


@dataclass
class CurrentInstance:
    account: str
    status: str
    reason: str
    stack_id: str | None
    last_operation: str
    overrides: Overrides | None  # None: not read (execute's check does not need them)


@dataclass
class Current:
    exists: bool
    template_sha: str | None = None
    template_body: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    # Tags, PermissionModel, roles or AutoDeployment: what UpdateStackSet also sets
    settings: dict[str, object] = field(default_factory=dict)
    # (target, region) -> the accounts' instances there (one for account targets)
    instances: dict[Instance, list[CurrentInstance]] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """What a plan was computed against: execute refuses when it changed."""
        state = {
            "exists": self.exists,
            "template": self.template_sha,
            "parameters": self.parameters,
            "settings": self.settings,
            "instances": sorted(
                [str(i), c.account, c.last_operation]
                for i, cs in self.instances.items()
                for c in cs
            ),
        }
        return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


def read_current(
    ops: Operations, *, overrides: bool = True, state: OverrideState | None = None
) -> Current:
    """The stack set and its instances; with `overrides`, every instance's overrides
    (from `state` where its LastOperationId still matches, else DescribeStackInstance),
    and `state` is brought up to date with what was seen."""
    stack_set = ops.describe()
    if stack_set is None:
        return Current(exists=False)
    body = stack_set.get("TemplateBody", "")
    current = Current(
        exists=True,
        template_sha=hashlib.sha256(body.encode()).hexdigest(),
        template_body=body,
        parameters={
            p["ParameterKey"]: p.get("ParameterValue", "") for p in stack_set.get("Parameters", [])
        },
        settings=settings_of(stack_set),
    )
    summaries = ops.list_instances()

    def describe(summary: dict) -> CurrentInstance:
        found = None
        if overrides:
            account, region = summary["Account"], summary["Region"]
            last = summary.get("LastOperationId", "")
            found = state.known(account, region, last) if state else None
            if found is None:
                detail = ops.cfn.describe_stack_instance(
                    StackSetName=ops.name,
                    StackInstanceAccount=account,
                    StackInstanceRegion=region,
                    **ops.call_as,
                )["StackInstance"]
                found = freeze(
                    {
                        p["ParameterKey"]: p.get("ParameterValue", "")
                        for p in detail.get("ParameterOverrides", [])
                    }
                )
            if state is not None:
                state.remember(account, region, last, found)
        return CurrentInstance(
            account=summary["Account"],
            status=summary.get("Status", ""),
            reason=summary.get("StatusReason", ""),
            stack_id=summary.get("StackId"),
            last_operation=summary.get("LastOperationId", ""),
            overrides=found,
        )

    with ThreadPoolExecutor(DESCRIBE_THREADS) as pool:
        details = list(pool.map(describe, summaries))
    if state is not None and overrides:
        present = {f"{s['Account']}/{s['Region']}" for s in summaries}
        state.entries = {k: v for k, v in state.entries.items() if k in present}
    for summary, detail in zip(summaries, details, strict=True):
        target = (
            summary.get("OrganizationalUnitId")
            if not ops.config.self_managed
            else summary["Account"]
        )
        current.instances.setdefault(Instance(target, summary["Region"]), []).append(detail)
    return current


SETTINGS = ("PermissionModel", "AdministrationRoleARN", "ExecutionRoleName", "AutoDeployment")


def settings_of(stack_set: dict) -> dict[str, object]:
    """The stack-set-wide settings of a DescribeStackSet answer (or a create request)."""
    found: dict[str, object] = {k: stack_set[k] for k in SETTINGS if k in stack_set}
    if isinstance(found.get("AutoDeployment"), dict):
        found["AutoDeployment"] = {
            k: v
            for k, v in found["AutoDeployment"].items()
            if k in ("Enabled", "RetainStacksOnAccountRemoval")
        }
    found["Tags"] = (
        {t["Key"]: t["Value"] for t in stack_set.get("Tags", [])}
        if isinstance(stack_set.get("Tags"), list)
        else dict(stack_set.get("Tags", {}))
    )
    return found


# -- the plan ------------------------------------------------------------------------
@dataclass
class Row:
    """One instance's change: action, template change, parameter differences."""

    instance: Instance
    action: str  # add | update | unchanged | remove
    template: str  # "a1b2c3d4 -> e5f6a7b8", "new", or "" when unchanged
    parameters: dict[str, list]  # name -> [old, new] (None when absent)
    risk: str = "NORMAL"


@dataclass
class Plan:
    stack_set: str
    exists: bool
    template_sha: str
    template_changed: bool
    parameter_changes: dict[str, list]
    update_stack_set: bool
    creates: list[Group]
    override_updates: list[Group]
    removals: list[Group]
    rows: list[Row]
    fingerprint: str
    deep: dict[str, dict] = field(default_factory=dict)  # instance -> deep preview
    setting_changes: dict[str, list] = field(default_factory=dict)
    # existing instances that are not CURRENT (OUTDATED, INOPERABLE), with the reason
    attention: list[str] = field(default_factory=list)

    @property
    def no_changes(self) -> bool:
        return (
            self.exists
            and not self.update_stack_set
            and not self.creates
            and not self.override_updates
            and not self.removals
        )

    def risk_summary(self) -> dict[str, int]:
        summary: dict[str, int] = {}
        for row in self.rows:
            if row.action != "unchanged":
                summary[row.risk] = summary.get(row.risk, 0) + 1
        for deep in self.deep.values():
            for change in deep.get("changes", []):
                summary[change["risk"]] = summary.get(change["risk"], 0) + 1
        return dict(sorted(summary.items()))

    def to_json(self) -> dict:
        return {
            "stack_set": self.stack_set,
            "exists": self.exists,
            "template_sha256": self.template_sha,
            "template_changed": self.template_changed,
            "parameter_changes": self.parameter_changes,
            "setting_changes": self.setting_changes,
            "update_stack_set": self.update_stack_set,
            "creates": [g.to_json() for g in self.creates],
            "override_updates": [g.to_json() for g in self.override_updates],
            "removals": [g.to_json() for g in self.removals],
            "instances": [
                {
                    "target": r.instance.target,
                    "region": r.instance.region,
                    "action": r.action,
                    "template": r.template,
                    "parameters": r.parameters,
                    "risk": r.risk,
                }
                for r in self.rows
            ],
            "deep_preview": self.deep,
            "current_fingerprint": self.fingerprint,
            "risk_summary": self.risk_summary(),
            "attention": self.attention,
        }

    @classmethod
    def from_json(cls, data: dict) -> Plan:
        rows = [
            Row(
                Instance(r["target"], r["region"]),
                r["action"],
                r["template"],
                r["parameters"],
                r["risk"],
            )
            for r in data["instances"]
        ]
        return cls(
            data["stack_set"],
            data["exists"],
            data["template_sha256"],
            data["template_changed"],
            data["parameter_changes"],
            data["update_stack_set"],
            [Group.from_json(g) for g in data["creates"]],
            [Group.from_json(g) for g in data["override_updates"]],
            [Group.from_json(g) for g in data["removals"]],
            rows,
            data["current_fingerprint"],
            data.get("deep_preview", {}),
            data.get("setting_changes", {}),
            data.get("attention", []),
        )


def compute(
    name: str,
    current: Current,
    *,
    template_sha: str,
    template_text: str,
    parameters: dict[str, str],
    desired: dict[Instance, Overrides],
    region_order: tuple[str, ...],
    delete_removed_stacks: bool,
    settings: dict[str, object] | None = None,
) -> Plan:
    """The difference between the current stack set and the desired one."""
    template_changed = not current.exists or not _same_template(
        current, template_sha, template_text
    )
    parameter_changes = {
        k: [current.parameters.get(k), parameters.get(k)]
        for k in sorted(set(current.parameters) | set(parameters))
        if current.parameters.get(k) != parameters.get(k)
    }
    wanted = settings_of(settings or {})
    setting_changes = (
        {
            k: [current.settings.get(k), wanted.get(k)]
            for k in sorted(set(current.settings) | set(wanted))
            if current.settings.get(k) != wanted.get(k)
        }
        if settings
        else {}
    )
    if not current.exists:
        parameter_changes, setting_changes = {}, {}
    old_sha, new_sha = (current.template_sha or "")[:12], template_sha[:12]
    template_text_row = f"{old_sha} -> {new_sha}" if template_changed and current.exists else ""

    rows, to_create, to_override = [], {}, {}
    for instance, overrides in sorted(desired.items()):
        new = {**parameters, **dict(overrides)}
        existing = current.instances.get(instance)
        if not existing:
            to_create[instance] = overrides
            rows.append(
                Row(
                    instance,
                    "add",
                    f"new {new_sha}",
                    {k: [None, v] for k, v in sorted(dict(overrides).items())},
                )
            )
            continue
        if any(c.overrides != overrides for c in existing):
            to_override[instance] = overrides
        diffs: dict[str, list] = {}
        for c in existing:
            old = {**current.parameters, **dict(c.overrides)}
            for k in sorted(set(old) | set(new)):
                if old.get(k) != new.get(k):
                    diffs[k] = [old.get(k), new.get(k)]
        changed = template_changed or diffs
        rows.append(Row(instance, "update" if changed else "unchanged", template_text_row, diffs))
    removed = sorted(set(current.instances) - set(desired))
    for instance in removed:
        rows.append(
            Row(instance, "remove", "", {}, "DATA-LOSS" if delete_removed_stacks else "NORMAL")
        )
    return Plan(
        stack_set=name,
        exists=current.exists,
        template_sha=template_sha,
        template_changed=template_changed,
        parameter_changes=parameter_changes,
        update_stack_set=current.exists
        and bool(template_changed or parameter_changes or setting_changes),
        setting_changes=setting_changes,
        creates=group(to_create, region_order),
        override_updates=group(to_override, region_order),
        removals=group({i: () for i in removed}, region_order),
        rows=rows,
        fingerprint=current.fingerprint(),
        attention=[
            f"{c.account}/{instance.region} is {c.status}" + (f": {c.reason}" if c.reason else "")
            for instance, cs in sorted(current.instances.items())
            for c in cs
            if c.status and c.status != "CURRENT"
        ],
    )


def _same_template(current: Current, sha: str, text: str) -> bool:
    if current.template_sha == sha:
        return True
    try:  # CloudFormation may hand the body back re-serialised
        return json.loads(current.template_body or "") == json.loads(text)
    except ValueError:
        return False


# -- rendering -----------------------------------------------------------------------
def render(plan: Plan, *, prune: bool) -> list[str]:
    """The plan as text: one line per group of instances with the same change."""
    lines = [
        f"stack set {plan.stack_set}: "
        + ("no changes" if plan.no_changes else "create" if not plan.exists else "update")
    ]
    if plan.template_changed and plan.exists:
        lines.append(f"  template: {_short_change(plan.rows)}")
    elif not plan.exists:
        lines.append(f"  template: {plan.template_sha[:12]} (new stack set)")
    for name, (old, new) in plan.parameter_changes.items():
        lines.append(f"  parameter {name}: {_value(old)} -> {_value(new)}")
    for name, (old, new) in plan.setting_changes.items():
        lines.append(f"  {name}: {_value(old)} -> {_value(new)} (every instance is updated)")
    by_change: dict[tuple, list[Instance]] = {}
    for row in plan.rows:
        if row.action == "unchanged":
            continue
        key = (row.action, row.template, json.dumps(row.parameters, sort_keys=True), row.risk)
        by_change.setdefault(key, []).append(row.instance)
    unchanged = sum(1 for r in plan.rows if r.action == "unchanged")
    for (action, template, params_json, risk), instances in by_change.items():
        label = action if action != "remove" or prune else "remove (skipped without --prune)"
        lines.append(f"  {label:<8} {_where(instances)}  [{risk}]")
        if template and action != "add":
            lines.append(f"           template {template}")
        changes = json.loads(params_json)
        if action == "add" and changes:
            lines.append(
                "           overrides "
                + ", ".join(f"{name}={new}" for name, (_, new) in changes.items())
            )
        elif changes:
            lines += [
                f"           {name}: {_value(old)} -> {_value(new)}"
                for name, (old, new) in changes.items()
            ]
    if unchanged:
        lines.append(f"  unchanged {unchanged} instance(s)")
    for where, deep in sorted(plan.deep.items()):
        lines.append(f"  deep preview {where}: {deep.get('summary', '')}")
        for change in deep.get("changes", []):
            lines.append(
                f"    {change['action']:<7} {change['logical_id']:<32} "
                f"{change['type']:<36} replacement={change['replacement']} "
                f"[{change['risk']}]" + (f" ({change['stack']})" if change.get("stack") else "")
            )
    for note in plan.attention:
        lines.append(f"  attention: {note}")
    lines.append(f"  operations: {_operations(plan, prune)}")
    summary = plan.risk_summary()
    if summary:
        lines.append("  risk: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    return lines


def markdown(plan: Plan, env: str, *, prune: bool) -> str:
    body = "\n".join(render(plan, prune=prune))
    return f"### StackSet plan for `{env}`: `{plan.stack_set}`\n\n```\n{body}\n```\n"


def _operations(plan: Plan, prune: bool) -> str:
    parts = []
    if not plan.exists:
        parts.append("CreateStackSet")
    elif plan.update_stack_set:
        parts.append("UpdateStackSet (every instance, one operation)")
    parts += [f"UpdateStackInstances {_where(g.instances())}" for g in plan.override_updates]
    parts += [f"CreateStackInstances {_where(g.instances())}" for g in plan.creates]
    if prune:
        parts += [f"DeleteStackInstances {_where(g.instances())}" for g in plan.removals]
    return "; ".join(parts) or "none"


def _where(instances: list[Instance]) -> str:
    """Compact `targets x regions` text for a list of instances."""
    regions: dict[str, list[str]] = {}
    for i in instances:
        regions.setdefault(i.region, []).append(i.target)
    by_targets: dict[tuple, list[str]] = {}
    for region, targets in regions.items():
        by_targets.setdefault(tuple(sorted(targets)), []).append(region)
    parts = []
    for targets, rs in by_targets.items():
        shown = (
            ", ".join(targets)
            if len(targets) <= 3
            else f"{len(targets)} targets ({targets[0]}..{targets[-1]})"
        )
        parts.append(f"{shown} x {', '.join(rs)}")
    return "; ".join(parts)


def _short_change(rows: list[Row]) -> str:
    for row in rows:
        if row.template:
            return row.template
    return "changed"


def _value(value) -> str:
    return "(none)" if value is None else repr(value)
