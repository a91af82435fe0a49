"""Small, shared stack queries: describe (None when absent), outputs, the nested tree."""

from __future__ import annotations

from botocore.exceptions import ClientError

from streamstack.deploy.aws import error_code, error_message

NESTED_TYPE = "AWS::CloudFormation::Stack"


def describe(cfn, name: str) -> dict | None:
    """The stack (by name or id), or None when it does not exist."""
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if error_code(exc) == "ValidationError" and "does not exist" in error_message(exc):
            return None
        raise
    return stacks[0] if stacks else None


def outputs(stack: dict) -> dict[str, str]:
    return {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}


def parameters(stack: dict) -> dict[str, str]:
    """The stack's current parameter values (a NoEcho one reads as ****)."""
    return {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}


def resources(cfn, stack: str) -> list[dict]:
    """Every resource summary of one stack (paginated)."""
    pages = cfn.get_paginator("list_stack_resources").paginate(StackName=stack)
    return [r for page in pages for r in page["StackResourceSummaries"]]


def tree(cfn, stack_id: str, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    """(path of logical ids, stack id) for the stack and every nested stack, depth first."""
    found = [(path, stack_id)]
    for res in resources(cfn, stack_id):
        physical = res.get("PhysicalResourceId", "")
        if res["ResourceType"] == NESTED_TYPE and physical.startswith("arn:"):
            found += tree(cfn, physical, path + (res["LogicalResourceId"],))
    return found


def in_progress(status: str) -> bool:
    return status.endswith("_IN_PROGRESS")
