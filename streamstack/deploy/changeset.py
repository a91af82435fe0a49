"""Change sets: create one for the whole nested tree, wait with backoff, walk every
nested change set (paginated, with property values), clean up old ones."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from botocore.exceptions import ClientError

from streamstack.deploy.aws import error_message
from streamstack.errors import StreamstackError

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
PREFIX = "deploy-"
# Pull-request plans: a prefix no role may execute (the deploy role runs deploy-* only).
PULL_REQUEST_PREFIX = "pr-"
PENDING = ("CREATE_PENDING", "CREATE_IN_PROGRESS")
# AWS's wording for an empty change set (LocalStack uses the same).
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
MAX_DELAY = 15.0


def new_name(now: dt.datetime | None = None, prefix: str = PREFIX) -> str:
    """deploy-<UTC timestamp> (pr-<...> for a pull request), unique to the second and
    sortable."""
    now = now or dt.datetime.now(dt.UTC)
    return prefix + now.strftime("%Y%m%dT%H%M%SZ")


def create(
    cfn,
    *,
    stack_name: str,
    name: str,
    change_set_type: str,
    parameters: list[dict],
    tags: dict[str, str],
    description: str,
    template_url: str | None = None,
    template_body: str | None = None,
    role_arn: str | None = None,
    nested: bool = True,
    rollback: dict | None = None,
    deployment_mode: str | None = None,
) -> dict:
    kwargs = dict(
        StackName=stack_name,
        ChangeSetName=name,
        ChangeSetType=change_set_type,
        Parameters=parameters,
        Capabilities=CAPABILITIES,
        Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
        Description=description[:1024],
        IncludeNestedStacks=nested,
    )
    if template_url:
        kwargs["TemplateURL"] = template_url
    else:
        kwargs["TemplateBody"] = template_body
    if role_arn:
        kwargs["RoleARN"] = role_arn
    if rollback:
        kwargs["RollbackConfiguration"] = rollback
    if deployment_mode:  # REVERT_DRIFT: a drift-aware change set (one stack, not nested)
        kwargs["DeploymentMode"] = deployment_mode
    try:
        return cfn.create_change_set(**kwargs)
    except ClientError as exc:
        raise StreamstackError(
            f"CloudFormation refused the change set for {stack_name}: {error_message(exc)}"
        ) from None


def wait(cfn, change_set_id: str, poll: float, sleep) -> dict:
    """Describe the change set until it leaves CREATE_PENDING/IN_PROGRESS (backoff)."""
    delay = poll
    while True:
        desc = cfn.describe_change_set(ChangeSetName=change_set_id)
        if desc["Status"] not in PENDING:
            return desc
        sleep(delay)
        delay = min(delay * 1.5, MAX_DELAY)


def is_empty(desc: dict) -> bool:
    reason = desc.get("StatusReason") or ""
    return desc["Status"] == "FAILED" and any(text in reason for text in NO_CHANGES)


@dataclass(frozen=True)
class Change:
    """One ResourceChange, located by the logical ids of the nested stacks above it."""

    path: tuple[str, ...]  # () for the root, ("StorageStack",) for a tier
    resource: dict  # the ResourceChange as the API returns it


def walk(cfn, change_set_id: str, path: tuple[str, ...] = ()) -> list[Change]:
    """Every resource change of the change set and its nested change sets."""
    changes: list[Change] = []
    token = None
    while True:
        kwargs = dict(ChangeSetName=change_set_id, IncludePropertyValues=True)
        if token:
            kwargs["NextToken"] = token
        page = cfn.describe_change_set(**kwargs)
        for item in page.get("Changes", []):
            resource = item.get("ResourceChange")
            if not resource:
                continue
            changes.append(Change(path, resource))
            nested_id = resource.get("ChangeSetId")
            if nested_id:
                changes += walk(cfn, nested_id, path + (resource["LogicalResourceId"],))
        token = page.get("NextToken")
        if not token:
            return changes


def list_ours(cfn, stack_name: str) -> list[dict]:
    pages = cfn.get_paginator("list_change_sets").paginate(StackName=stack_name)
    found = [
        s
        for page in pages
        for s in page["Summaries"]
        if s["ChangeSetName"].startswith((PREFIX, PULL_REQUEST_PREFIX))
    ]
    return sorted(found, key=lambda s: s["CreationTime"])


def prune(cfn, stack_name: str, keep: int, out) -> int:
    """Delete deploy-* and pr-* change sets beyond the newest `keep`; returns how many."""
    old = list_ours(cfn, stack_name)[:-keep] if keep else list_ours(cfn, stack_name)
    for summary in old:
        cfn.delete_change_set(ChangeSetName=summary["ChangeSetId"])
    if old:
        out(f"deleted {len(old)} old change set(s), kept the newest {keep}")
    return len(old)
