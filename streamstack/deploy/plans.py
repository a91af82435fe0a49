"""Plans: one row per resource change with a risk label, its values before and after
(secrets hidden) and what happens to its data, printed grouped by nested stack, and
the plan file build/plans/<env>.json (+ a Markdown twin for pull requests) that
`make deploy` writes and `make execute` runs, for a stack and for a stack set.

Risk labels (the first that applies):
  INVALID       CloudFormation's pre-deployment validation says executing would fail
  MOVE          a Remove in one nested stack paired with an Add of the same resource in
                another: `make refactor` moves it without replacing it
  DATA-LOSS     Remove or replacement of a stateful type (or of a nested stack that
                holds one) whose PolicyAction deletes it
  RECOVERABLE   the same, when CloudFormation takes a final snapshot first
  ORPHAN        the same, when CloudFormation keeps it in the account, unmanaged
  SECURITY      a change to IAM, security groups, or key and bucket/queue/topic policies
  INTERRUPTION  replacement or removal of a stateless resource (or an action
                CloudFormation decides only while it runs)
  NORMAL        everything else (imports and drift resets included)
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from streamstack.deploy import retention
from streamstack.deploy.secrets import Secrets
from streamstack.errors import StreamstackError

STATEFUL_TYPES = frozenset(
    {
        "AWS::RDS::DBCluster",
        "AWS::RDS::DBInstance",
        "AWS::ElastiCache::ReplicationGroup",
        "AWS::ElastiCache::CacheCluster",
        "AWS::ElastiCache::ServerlessCache",
        "AWS::MemoryDB::Cluster",
        "AWS::S3::Bucket",
        "AWS::DynamoDB::Table",
        "AWS::DynamoDB::GlobalTable",
        "AWS::EFS::FileSystem",
        "AWS::FSx::FileSystem",
        "AWS::KMS::Key",
        "AWS::Logs::LogGroup",
        "AWS::SecretsManager::Secret",
        "AWS::ECR::Repository",
        "AWS::Backup::BackupVault",
        "AWS::OpenSearchService::Domain",
        "AWS::EC2::Volume",
        "AWS::Kinesis::Stream",
    }
)
NESTED_STACK = "AWS::CloudFormation::Stack"
SECURITY_TYPES = frozenset(
    {
        "AWS::EC2::SecurityGroup",
        "AWS::EC2::SecurityGroupIngress",
        "AWS::EC2::SecurityGroupEgress",
        "AWS::S3::BucketPolicy",
        "AWS::SQS::QueuePolicy",
        "AWS::SNS::TopicPolicy",
        "AWS::Lambda::Permission",
        "AWS::EC2::NetworkAclEntry",
        "AWS::SecretsManager::ResourcePolicy",
        "AWS::EC2::NetworkAcl",
    }
)
REPLACING = ("True", "Conditional")
RISKS = (
    "INVALID",
    "MOVE",
    "DATA-LOSS",
    "RECOVERABLE",
    "ORPHAN",
    "SECURITY",
    "INTERRUPTION",
    "NORMAL",
)
# Rows a plan may execute only with --allow-data-loss (stack policies deny them too).
BLOCKING = ("MOVE", "DATA-LOSS", "RECOVERABLE", "ORPHAN")
# Actions that change nothing in the account (drift-aware change sets, imports).
NOTES = {
    "Import": "imports an existing resource into the stack; nothing is created",
    "SyncWithActual": "resets the drift status to what the resource is; nothing changes",
    "Dynamic": "CloudFormation decides the action only while it runs (it may replace it)",
}


def changed_properties(change: dict) -> list[str]:
    """Property names (or attributes such as Tags) the change touches, in order."""
    names: list[str] = []
    for detail in change.get("Details", []):
        target = detail.get("Target", {})
        name = target.get("Name") if target.get("Attribute") == "Properties" else None
        name = name or target.get("Attribute")
        if name and name not in names:
            names.append(name)
    return names


def destructive(change: dict) -> bool:
    """The change may remove or replace the resource."""
    action = change.get("Action", "")
    return (
        action in ("Remove", "Dynamic")
        or (action == "Modify" and change.get("Replacement") in REPLACING)
        or change.get("PolicyAction") in retention.REPLACES
    )


def is_stateful(change: dict, holds_stateful: bool | None = None) -> bool:
    rtype = change.get("ResourceType", "")
    return rtype in STATEFUL_TYPES or (rtype == NESTED_STACK and holds_stateful is not False)


def classify(change: dict, holds_stateful: bool | None = None) -> str:
    """Risk label of one ResourceChange (the API's shape).

    holds_stateful: for a nested stack, whether its template has a stateful resource;
    None (unknown) counts as yes, so a removed tier is never waved through.
    """
    rtype = change.get("ResourceType", "")
    action = change.get("Action", "")
    if action in ("Import", "SyncWithActual"):  # the resource itself does not change
        return "NORMAL"
    if destructive(change) and is_stateful(change, holds_stateful):
        return retention.label(change.get("PolicyAction"))
    if rtype.startswith("AWS::IAM::") or rtype in SECURITY_TYPES:
        return "SECURITY"
    if (
        rtype == "AWS::KMS::Key"
        and action == "Modify"
        and ("KeyPolicy" in changed_properties(change) or not change.get("Details"))
    ):
        return "SECURITY"
    if destructive(change):
        return "INTERRUPTION"
    return "NORMAL"


@dataclass
class Row:
    stack: str  # "root" or "root/StorageStack"
    action: str
    logical_id: str
    resource_type: str
    replacement: str  # True, Conditional, False, or "" (Add/Remove)
    properties: list[str]
    risk: str
    likely_false: bool = False
    note: str = ""
    values: list[dict] = field(default_factory=list)  # before/after where the API gives them
    physical_id: str = ""
    policy_action: str = ""  # what CloudFormation does with the old resource (PolicyAction)
    consequence: str = ""  # what happens to the resource and its data, spelled out
    drift: list[dict] = field(default_factory=list)  # drifted properties and their fate
    move: dict = field(default_factory=dict)  # a MOVE's other half


def stack_label(path: tuple[str, ...]) -> str:
    return "/".join(("root",) + path)


def make_rows(
    changes,
    stateful_stacks: dict[str, bool | None] | None = None,
    secrets: Secrets | None = None,
    region: str = "",
) -> list[Row]:
    """Rows from changeset.Change items; stateful_stacks maps a nested stack's logical id
    (at its own level) to whether it holds stateful resources; secrets hides values."""
    secrets = secrets or Secrets()
    rows = []
    for change in changes:
        res = change.resource
        holds = None
        if res.get("ResourceType") == NESTED_STACK and stateful_stacks is not None:
            holds = stateful_stacks.get(res["LogicalResourceId"])
        stack = stack_label(change.path)
        risk = classify(res, holds)
        rows.append(
            Row(
                stack=stack,
                action=res.get("Action", ""),
                logical_id=res["LogicalResourceId"],
                resource_type=res.get("ResourceType", ""),
                replacement=res.get("Replacement", "") if res.get("Action") == "Modify" else "",
                properties=changed_properties(res),
                risk=risk,
                note=NOTES.get(res.get("Action", ""), ""),
                values=values_of(res, stack, secrets),
                physical_id=res.get("PhysicalResourceId", ""),
                policy_action=res.get("PolicyAction", ""),
                consequence=(
                    retention.consequence(
                        resource_type=res.get("ResourceType", ""),
                        action=res.get("Action", ""),
                        policy_action=res.get("PolicyAction"),
                        physical_id=res.get("PhysicalResourceId", ""),
                        region=region,
                        nested=res.get("ResourceType") == NESTED_STACK,
                    )
                    if risk in BLOCKING
                    else ""
                ),
            )
        )
    return rows


def values_of(resource: dict, stack: str, secrets: Secrets) -> list[dict]:
    """Each changed property's value before and after, secrets hidden. BeforeValueFrom
    ACTUAL_STATE (a drift-aware change set) means the before value is what the resource
    is now, not what the last deploy set."""
    found = []
    for detail in resource.get("Details", []):
        target = detail.get("Target", {})
        if "BeforeValue" not in target and "AfterValue" not in target:
            continue
        name = target.get("Name") or target.get("Attribute")
        path = target.get("Path") or (
            f"/Properties/{name}" if target.get("Attribute") == "Properties" else ""
        )

        def hide(value, path=path):
            return secrets.mask(
                stack, resource["LogicalResourceId"], resource.get("ResourceType", ""), path, value
            )

        value = {
            "property": name,
            "path": path,
            "before": hide(target.get("BeforeValue")),
            "after": hide(target.get("AfterValue")),
        }
        if target.get("BeforeValueFrom"):
            value["before_from"] = target["BeforeValueFrom"]
        if target.get("AttributeChangeType"):
            value["change"] = target["AttributeChangeType"]
        drift = target.get("Drift") or {}
        if "ActualValue" in drift or "PreviousValue" in drift:
            value["drift"] = {
                "actual": hide(drift.get("ActualValue")),
                "previous": hide(drift.get("PreviousValue")),
            }
        found.append(value)
    return found


def mark_false_replacements(rows: list[Row], changes, wiring: dict[str, dict[str, str]]) -> None:
    """Mark a Conditional replacement whose every recreating cause is a parameter fed by
    an upstream tier's output, when that upstream tier has no change in this plan: the
    output cannot change, so CloudFormation will not replace the resource.

    wiring: tier logical id -> {parameter: upstream tier logical id} (from the root).
    """
    touched = {c.path[0] for c in changes if c.path} | {
        c.resource["LogicalResourceId"]
        for c in changes
        if not c.path
        and c.resource.get("ResourceType") == NESTED_STACK
        and _has_static_cause(c.resource)
    }
    for row, change in zip(rows, changes, strict=True):
        res = change.resource
        if len(change.path) != 1 or res.get("Replacement") != "Conditional":
            continue
        feeds = wiring.get(change.path[0], {})
        causes = [
            d
            for d in res.get("Details", [])
            if d.get("Target", {}).get("RequiresRecreation", "Never") != "Never"
        ]
        if not causes:
            continue
        upstream = set()
        for detail in causes:
            entity = detail.get("CausingEntity", "")
            if (
                detail.get("ChangeSource") != "ParameterReference"
                or detail.get("Evaluation") != "Dynamic"
                or entity not in feeds
            ):
                break
            upstream.add(feeds[entity])
        else:
            if not upstream & touched:
                row.likely_false = True
                row.note = (
                    "likely false: only from unchanged "
                    + ", ".join(sorted(upstream))
                    + " output(s)"
                )


def _has_static_cause(resource: dict) -> bool:
    return any(d.get("Evaluation") == "Static" for d in resource.get("Details", []))


def wiring_of(root_template: dict) -> dict[str, dict[str, str]]:
    """tier logical id -> {parameter: upstream tier} from Fn::GetAtt X.Outputs.P."""
    result: dict[str, dict[str, str]] = {}
    for logical, res in root_template.get("Resources", {}).items():
        if res.get("Type") != NESTED_STACK:
            continue
        for param, value in res.get("Properties", {}).get("Parameters", {}).items():
            getatt = value.get("Fn::GetAtt") if isinstance(value, dict) else None
            if getatt and str(getatt[1]).startswith("Outputs."):
                result.setdefault(logical, {})[param] = getatt[0]
    return result


def nested_templates(root_template: dict, templates_by_sha: dict[str, dict]):
    """(nested stack logical id, its built template) for the tiers the build has."""
    for logical, res in root_template.get("Resources", {}).items():
        if res.get("Type") != NESTED_STACK:
            continue
        match = re.search(r"([0-9a-f]{64})\.json", json.dumps(res["Properties"]["TemplateURL"]))
        template = templates_by_sha.get(match.group(1)) if match else None
        if template is not None:
            yield logical, template


def stateful_stacks(root_template: dict, templates_by_sha: dict[str, dict]) -> dict[str, bool]:
    """Nested stack logical id -> whether its (built) template holds a stateful type."""
    return {
        logical: any(
            r.get("Type") in STATEFUL_TYPES for r in template.get("Resources", {}).values()
        )
        for logical, template in nested_templates(root_template, templates_by_sha)
    }


# Template Metadata of resources a service changes at run time (ECS moves the weights of
# the listener rules of a blue/green release); templates/load_balancer.py sets it.
TRAFFIC_KEY = "streamstack:TrafficManagedBy"


def mark_managed_traffic(
    rows: list[Row], root_template: dict, templates_by_sha: dict[str, dict]
) -> None:
    """An update of a resource whose live settings a service moves (ECS's blue/green
    weights) writes the template's settings back: at least INTERRUPTION, with the why."""
    managed: dict[str, set[str]] = {}
    for logical, template in nested_templates(root_template, templates_by_sha):
        for child, resource in template.get("Resources", {}).items():
            if TRAFFIC_KEY in (resource.get("Metadata") or {}):
                managed.setdefault(stack_label((logical,)), set()).add(child)
    for row in rows:
        if row.action == "Modify" and row.logical_id in managed.get(row.stack, ()):
            if row.risk == "NORMAL":
                row.risk = "INTERRUPTION"
            text = (
                "ECS moves this rule's weights in blue/green releases; the update sets them "
                "back to the template's (blue 100): execute when blue serves "
                "(docs/runbooks/roll-back-a-release.md)"
            )
            row.note = f"{row.note}; {text}" if row.note else text


def summary(rows: list[Row]) -> dict[str, int]:
    counts = Counter(row.risk for row in rows)
    return {risk: counts.get(risk, 0) for risk in RISKS}


def blocking(rows: list[Row]) -> list[Row]:
    """Rows that stop the plan unless --allow-data-loss: a stateful resource removed or
    replaced (whatever CloudFormation keeps of it) and moves."""
    return [row for row in rows if row.risk in BLOCKING and not row.likely_false]


def blocked_summary(rows: list[Row]) -> str:
    """ "1 DATA-LOSS, 1 ORPHAN": the blocking rows by label."""
    counts = Counter(row.risk for row in blocking(rows))
    return ", ".join(f"{counts[risk]} {risk}" for risk in BLOCKING if counts.get(risk))


def invalid(rows: list[Row]) -> list[Row]:
    return [row for row in rows if row.risk == "INVALID"]


def apply_validation(rows: list[Row], results) -> None:
    """Pre-deployment validation results (validation.Result) into the rows: a WARN is a
    note on the row of the resource it concerns, a FAIL an INVALID row of its own."""
    for result in results:
        if result.mode == "WARN":
            row = next(
                (r for r in rows if r.stack == result.stack and r.logical_id == result.logical_id),
                None,
            )
            text = f"validation warning: {result.text()}"
            if row is not None:
                row.note = f"{row.note}; {text}" if row.note else text
                continue
            rows.append(
                Row(
                    result.stack,
                    "-",
                    result.logical_id or "-",
                    result.resource_type,
                    "",
                    [],
                    "NORMAL",
                    note=text,
                )
            )
        else:
            rows.append(
                Row(
                    result.stack,
                    "-",
                    result.logical_id or "-",
                    result.resource_type,
                    "",
                    [result.path] if result.path else [],
                    "INVALID",
                    note=f"fails validation: {result.text()}",
                )
            )


# -- the plan file ---------------------------------------------------------------------
PLAN_VERSION = 3
STACK, STACKSET = "stack", "stackset"
KINDS = {STACK: "a stack", STACKSET: "a StackSet"}
# What `make execute` reads from a plan file, per kind, beyond the common fields.
REQUIRED = {
    STACK: {
        "stack_name": str,
        "change_set_arn": str,
        "change_set_name": str,
        "stack_id": str,
        "change_set_type": str,
        "stack_last_updated": (str, type(None)),
        "deployed_templates": list,
        "template_hashes": dict,
        "parameters": dict,
        "risk": dict,
        "rows": list,
    },
    STACKSET: {
        "stack_set": str,
        "template_url": str,
        "artifact_bucket": str,
        "parameters": dict,
        "tags": dict,
        "current_fingerprint": str,
        "delete_removed_stacks": bool,
    },
}


@dataclass
class PlanFile:
    """build/plans/<env>.json: what `make deploy` planned and `make execute` runs, for an
    environment of either kind. `details` holds what the kind needs (a stack's change set
    and rows, a stack set's per-instance plan); the rest is common."""

    kind: str  # STACK or STACKSET
    environment: str
    region: str
    blocked: bool  # DATA-LOSS without --allow-data-loss: never executed
    allow_data_loss: bool
    details: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            **self.details,
            "version": PLAN_VERSION,
            "kind": self.kind,
            "environment": self.environment,
            "region": self.region,
            "blocked": self.blocked,
            "allow_data_loss": self.allow_data_loss,
        }

    @classmethod
    def from_json(cls, data, *, env: str, kind: str, path: Path | str = "the plan") -> PlanFile:
        """A plan read back, checked: the version, environment and kind this command
        needs, and every field execute reads. Each problem says to plan again."""
        again = f"run `make deploy ENV={env}` to plan again"
        if not isinstance(data, dict):
            raise StreamstackError(f"{path} is not a plan written by `make deploy`: {again}")
        common = {
            "version": int,
            "environment": str,
            "kind": str,
            "region": str,
            "blocked": bool,
            "allow_data_loss": bool,
        }
        for key, expected in common.items():
            if not isinstance(data.get(key), expected):
                raise StreamstackError(
                    f"{path} is not a plan written by `make deploy` ({key} "
                    f"is missing or malformed): {again}"
                )
        if data["version"] != PLAN_VERSION:
            raise StreamstackError(f"{path} was written by another version of deploy.py: {again}")
        if data["environment"] != env:
            raise StreamstackError(
                f"{path} is a plan for {data['environment']}, not {env}: {again}"
            )
        if data["kind"] != kind:
            raise StreamstackError(
                f"{path} is a plan for {KINDS.get(data['kind'], 'another')} "
                f"environment, but {env} is {KINDS[kind]} environment: "
                f"{again}"
            )
        for key, expected in REQUIRED[kind].items():
            if not isinstance(data.get(key), expected):
                raise StreamstackError(
                    f"{path} is not a plan written by `make deploy` ({key} "
                    f"is missing or malformed): {again}"
                )
        details = {k: v for k, v in data.items() if k not in common}
        return cls(
            kind=data["kind"],
            environment=data["environment"],
            region=data["region"],
            blocked=data["blocked"],
            allow_data_loss=data["allow_data_loss"],
            details=details,
        )


def plan_path(plans_dir: Path, env: str) -> Path:
    return plans_dir / f"{env}.json"


def write(plans_dir: Path, plan: PlanFile, markdown: str) -> Path:
    """The plan file and its Markdown twin (the pull-request comment)."""
    plans_dir.mkdir(parents=True, exist_ok=True)
    path = plan_path(plans_dir, plan.environment)
    path.write_text(json.dumps(plan.to_json(), indent=1, sort_keys=True, default=str) + "\n")
    path.with_suffix(".md").write_text(markdown)
    return path


def read(plans_dir: Path, env: str, kind: str) -> PlanFile:
    path = plan_path(plans_dir, env)
    if not path.is_file():
        raise StreamstackError(
            f"there is no plan for {env} ({path}): run `make deploy ENV={env}` to plan again"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise StreamstackError(
            f"{path} is not valid JSON ({exc.msg}, line {exc.lineno}): "
            f"run `make deploy ENV={env}` to plan again"
        ) from None
    return PlanFile.from_json(data, env=env, kind=kind, path=path)


def discard(plans_dir: Path, env: str) -> None:
    """Remove the environment's plan and its Markdown twin (nothing left to execute)."""
    path = plan_path(plans_dir, env)
    for stale in (path, path.with_suffix(".md")):
        stale.unlink(missing_ok=True)


def rows_as_dicts(rows: list[Row]) -> list[dict]:
    return [asdict(row) for row in rows]
