"""Deep preview: resource-level changes of a stack set update, per target instance.

For each instance the plan updates, assume the stack set's preview role in the target
account (templates/stackset_role.py: it may create change sets on the instance stacks
and read templates, nothing else; the execution role trusts only the administration
role), create a change set (IncludeNestedStacks) on that instance's stack
with the new template and the instance's parameters, read every change (nested
change sets included), label each with the deploy plan's risk classifier, and delete
the change set. It is never executed. An instance whose role cannot be assumed is
reported as skipped, with the reason; the preview does not fail because of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import boto3
from botocore.exceptions import ClientError

from streamstack.deploy import changeset
from streamstack.deploy.plans import changed_properties
from streamstack.stacksets.operations import Waiter


def assumed_clients(
    session: boto3.session.Session, role_name: str, session_name: str = "streamstack-deep-preview"
) -> Callable[[str, str], object]:
    """client(account, region) -> a CloudFormation client acting as role_name (a path and
    name) in that account."""
    sts = session.client("sts")
    cache: dict[str, dict] = {}

    def client(account: str, region: str):
        if account not in cache:
            cache[account] = sts.assume_role(
                RoleArn=f"arn:aws:iam::{account}:role/{role_name}",
                RoleSessionName=session_name,
                DurationSeconds=900,
            )["Credentials"]
        creds = cache[account]
        return boto3.session.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=region,
        ).client("cloudformation")

    return client


def preview_instance(
    cfn,
    stack_id: str,
    *,
    template_url: str,
    parameters: dict[str, str],
    classify: Callable[[dict], str],
    waiter: Waiter | None = None,
) -> dict:
    """Change set on one instance's stack; returns {"summary", "changes"}; cleans up.

    Created here without tags (the instance's come from its stack set) and with AWS's
    error left to preview_all; the deploy flow's changeset module waits for and walks it."""
    waiter = waiter or Waiter(first=2.0, cap=10.0)
    created = cfn.create_change_set(
        StackName=stack_id,
        ChangeSetType="UPDATE",
        ChangeSetName="streamstack-preview-" + time.strftime("%Y%m%d%H%M%S", time.gmtime()),
        TemplateURL=template_url,
        Capabilities=changeset.CAPABILITIES,
        IncludeNestedStacks=True,
        Parameters=[
            {"ParameterKey": k, "ParameterValue": v} for k, v in sorted(parameters.items())
        ],
        Description="streamstack deep preview of a stack set update; never executed",
    )
    change_set_id = created["Id"]
    try:
        described = changeset.wait(cfn, change_set_id, waiter.first, waiter.sleep)
        if changeset.is_empty(described):
            return {"summary": "no resource changes", "changes": []}
        if described["Status"] == "FAILED":
            return {
                "summary": f"change set failed: {described.get('StatusReason', '')}",
                "changes": [],
            }
        changes = [
            {
                "stack": "/".join(change.path),
                "action": change.resource.get("Action", ""),
                "logical_id": change.resource.get("LogicalResourceId", ""),
                "type": change.resource.get("ResourceType", ""),
                "replacement": change.resource.get("Replacement", "") or "n/a",
                "properties": changed_properties(change.resource),
                "risk": classify(change.resource),
            }
            for change in changeset.walk(cfn, change_set_id)
        ]
        return {"summary": f"{len(changes)} resource change(s)", "changes": changes}
    finally:
        cfn.delete_change_set(ChangeSetName=change_set_id)


def preview_all(
    targets: list[tuple[str, str, str, dict[str, str]]],
    *,
    clients: Callable[[str, str], object],
    template_url: str,
    classify: Callable[[dict], str],
    waiter: Waiter | None = None,
    out: Callable[[str], None] = print,
) -> dict[str, dict]:
    """targets: (account, region, stack_id, parameters); key of the result: account/region."""
    result = {}
    for account, region, stack_id, parameters in targets:
        where = f"{account}/{region}"
        try:
            cfn = clients(account, region)
            result[where] = preview_instance(
                cfn,
                stack_id,
                template_url=template_url,
                parameters=parameters,
                classify=classify,
                waiter=waiter,
            )
        except ClientError as exc:
            error = exc.response["Error"]
            result[where] = {
                "summary": f"skipped: {error['Code']}: {error.get('Message', '')}",
                "changes": [],
            }
        out(f"deep preview {where}: {result[where]['summary']}")
    return result
