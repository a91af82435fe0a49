"""Protections for protected environments: stack policies that deny Replace and Delete
of stateful resources (root and nested stacks), termination protection on the root,
rollback triggers on the platform-health composite alarm once it exists, and no
CloudFront distribution without its WAF web ACL."""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from streamstack.deploy import aws, stacks
from streamstack.deploy.exits import Refused
from streamstack.deploy.plans import NESTED_STACK, STATEFUL_TYPES


def stack_policy(allowed: list[str] = ()) -> dict:
    """Allow every update except Replace/Delete of stateful types (and nested stacks).

    allowed: logical ids a reviewed plan with --allow-data-loss may replace or remove.
    """
    kept = sorted(STATEFUL_TYPES | {NESTED_STACK})
    deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": ["Update:Replace", "Update:Delete"],
        "Condition": {"StringEquals": {"ResourceType": kept}},
    }
    if allowed:
        deny["NotResource"] = [f"LogicalResourceId/{logical}" for logical in sorted(allowed)]
    else:
        deny["Resource"] = "*"
    return {
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "Update:*", "Resource": "*"},
            deny,
        ]
    }


def protect(
    cfn,
    stack_id: str,
    out,
    allowed_by_stack: dict[str, list[str]] | None = None,
    tree: list | None = None,
) -> int:
    """Set the stack policy on the root and every nested stack (tree: stacks.tree of the
    root, when the caller has it), and termination protection on the root. Returns the
    number of stacks given a policy."""
    if aws.is_local():  # LocalStack has no SetStackPolicy and enforces no protection
        out(
            "not protected: LocalStack emulates neither stack policies nor termination "
            "protection (on AWS this environment gets both)"
        )
        return 0
    allowed_by_stack = allowed_by_stack or {}
    tree = tree or stacks.tree(cfn, stack_id)
    for path, nested_id in tree:
        policy = stack_policy(allowed_by_stack.get("/".join(("root",) + path), []))
        cfn.set_stack_policy(StackName=nested_id, StackPolicyBody=json.dumps(policy))
    cfn.update_termination_protection(EnableTerminationProtection=True, StackName=stack_id)
    out(
        f"protected: stack policy on {len(tree)} stack(s) denies Replace/Delete of stateful "
        "resources; termination protection is on"
    )
    return len(tree)


def rollback_configuration(cloudwatch, alarm_name: str, minutes: int) -> dict | None:
    """A rollback trigger on the composite health alarm, or None while it does not exist."""
    try:
        found = cloudwatch.describe_alarms(
            AlarmNames=[alarm_name], AlarmTypes=["CompositeAlarm", "MetricAlarm"]
        )
    except ClientError:
        return None
    for kind, key in (
        ("AWS::CloudWatch::CompositeAlarm", "CompositeAlarms"),
        ("AWS::CloudWatch::Alarm", "MetricAlarms"),
    ):
        for alarm in found.get(key, []):
            return {
                "RollbackTriggers": [{"Arn": alarm["AlarmArn"], "Type": kind}],
                "MonitoringTimeInMinutes": minutes,
            }
    return None


def require_web_acl(env: str, protected: bool, without: list[str], fix: str) -> None:
    """Refuse the plan of a protected environment in which a CloudFront distribution
    would serve viewers without a WAF web ACL; `without` names where (the stack, or
    StackSet targets), `fix` what gives them one."""
    if protected and without:
        raise Refused(
            f"{env} is protected and CloudFront would serve it without a WAF web ACL "
            f"({', '.join(without)}): {fix}"
        )
