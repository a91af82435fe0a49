"""CloudFormation's pre-deployment validation of a change set, in the plan.

When CloudFormation creates a change set it validates what it can before anything runs
(a property value a resource will refuse, a name that is taken, a bucket that is not
empty on a Remove, ...). DescribeEvents with the change set's id returns the results,
for the root change set and for each nested one: ValidationFailureMode FAIL means the
execution would fail (a blocking plan row, exit 7); WARN is a note on the row of the
resource it concerns.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from streamstack.deploy.aws import error_code, error_message

FAIL, WARN = "FAIL", "WARN"
# What an endpoint without the API answers (LocalStack: InternalFailure).
UNAVAILABLE = ("InternalFailure", "NotImplemented", "InvalidAction", "UnknownOperation")


@dataclass(frozen=True)
class Result:
    stack: str  # "root" or "root/StorageStack"
    logical_id: str
    resource_type: str
    mode: str  # FAIL or WARN
    name: str  # the validation's name
    path: str  # where in the resource (a property path), may be empty
    reason: str

    def text(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"{self.name}{where}: {self.reason}"


@dataclass(frozen=True)
class Outcome:
    results: list[Result]
    note: str = ""  # why the results could not be read, with the fix


def change_set_ids(root_id: str, changes) -> list[tuple[str, str]]:
    """(stack label, change set id) of the root and of every nested change set."""
    ids = [("root", root_id)]
    for change in changes:
        nested = change.resource.get("ChangeSetId")
        if nested:
            ids.append(
                (
                    "/".join(("root",) + change.path + (change.resource["LogicalResourceId"],)),
                    nested,
                )
            )
    return ids


def read(cfn, ids: list[tuple[str, str]], env: str) -> Outcome:
    results: list[Result] = []
    for stack, change_set_id in ids:
        token = None
        while True:
            kwargs = {"ChangeSetName": change_set_id}
            if token:
                kwargs["NextToken"] = token
            try:
                page = cfn.describe_events(**kwargs)
            except ClientError as exc:
                if error_code(exc) in (
                    "AccessDenied",
                    "AccessDeniedException",
                    "UnauthorizedOperation",
                ):
                    return Outcome(
                        results,
                        "CloudFormation's pre-deployment validation "
                        "could not be read (cloudformation:DescribeEvents is "
                        f"denied: {error_message(exc)}); update the CI roles with "
                        f"`make bootstrap ENV={env}`, or review the validation "
                        "in the console",
                    )
                if error_code(exc) in UNAVAILABLE:
                    return Outcome(
                        results,
                        "this endpoint has no pre-deployment validation "
                        f"(DescribeEvents: {error_message(exc)}); AWS validates "
                        "when the change set is created there",
                    )
                raise
            for event in page.get("OperationEvents", []):
                result = _result(stack, event)
                if result is not None:
                    results.append(result)
            token = page.get("NextToken")
            if not token:
                break
    return Outcome(results)


def _result(stack: str, event: dict) -> Result | None:
    mode = event.get("ValidationFailureMode")
    if event.get("ValidationStatus") != "FAILED" or mode not in (FAIL, WARN):
        return None
    return Result(
        stack=stack,
        logical_id=event.get("LogicalResourceId", ""),
        resource_type=event.get("ResourceType", ""),
        mode=mode,
        name=event.get("ValidationName", "validation"),
        path=event.get("ValidationPath", ""),
        reason=event.get("ValidationStatusReason", "no reason given"),
    )
