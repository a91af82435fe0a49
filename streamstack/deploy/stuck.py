"""Stacks that cannot take a new change set until someone acts, checked before every
plan and repaired by `make doctor`:

ROLLBACK_COMPLETE       a failed first create: delete it (confirmation or --yes), never in
                        a protected environment
REVIEW_IN_PROGRESS      created by a change set that is gone: delete the empty stack
UPDATE_ROLLBACK_FAILED  continue the rollback, skipping the resources that cannot roll back
                        (listed first; confirmation or --yes)
CREATE_FAILED,          an operation that failed with rollback disabled: RollbackStack
UPDATE_FAILED           (what failed is listed first; confirmation or --yes), keeping nothing
                        the operation created (RetainExceptOnCreate)
DELETE_FAILED           a deletion that could not delete everything: what would be left
                        behind is listed, then, never in a protected environment, the stack
                        is deleted with DeletionMode FORCE_DELETE_STACK (confirmation or --yes)
*_IN_PROGRESS           another operation runs: wait (--wait) or refuse with the reason
"""

from __future__ import annotations

from streamstack.deploy import stacks
from streamstack.deploy.exits import Refused
from streamstack.deploy.stacks import in_progress

UNRECOVERABLE = ("ROLLBACK_FAILED", "IMPORT_ROLLBACK_FAILED")
ROLLED_BACK_BY_HAND = ("CREATE_FAILED", "UPDATE_FAILED")


def skip_candidates(cfn, stack_id: str, prefix: str = "") -> list[str]:
    """Resources in UPDATE_FAILED, named as ContinueUpdateRollback's ResourcesToSkip wants:
    the logical id, prefixed by the nested stack's logical id inside nested stacks
    (StorageStack.FileSystem)."""
    found = []
    for res in stacks.resources(cfn, stack_id):
        physical = res.get("PhysicalResourceId", "")
        if res["ResourceType"] == stacks.NESTED_TYPE and physical.startswith("arn:"):
            found += skip_candidates(cfn, physical, f"{prefix}{res['LogicalResourceId']}.")
        elif res["ResourceStatus"] == "UPDATE_FAILED":
            found.append(prefix + res["LogicalResourceId"])
    return found


def failed_resources(cfn, stack_id: str, status: str, prefix: str = "") -> list[str]:
    """Resources of the tree in `status` (DELETE_FAILED, ...), nested ones too, as
    "Logical (type, physical id): reason" lines."""
    found = []
    for res in stacks.resources(cfn, stack_id):
        physical = res.get("PhysicalResourceId", "")
        if res["ResourceType"] == stacks.NESTED_TYPE and physical.startswith("arn:"):
            found += failed_resources(cfn, physical, status, f"{prefix}{res['LogicalResourceId']}.")
        elif res["ResourceStatus"] == status:
            reason = res.get("ResourceStatusReason") or "no reason given"
            found.append(
                f"{prefix}{res['LogicalResourceId']} ({res['ResourceType']}, "
                f"{physical or 'no physical id'}): {reason}"
            )
    return found


def settle(ctx, cfn, stack: dict | None) -> dict | None:
    """Bring the stack to a state that can take a change set, or refuse with the next step.

    Deletions and skipped rollbacks need --yes (or a person typing yes). Returns the stack
    afterwards (None when it was deleted).
    """
    if stack is None:
        return None
    name, status = stack["StackName"], stack["StackStatus"]
    env = ctx.env
    if in_progress(status) and status != "REVIEW_IN_PROGRESS":
        if not ctx.flag("wait"):
            raise Refused(
                f"{name} is {status}: another operation is running. Wait for it "
                f"(`make status ENV={env}`), or rerun with --wait"
            )
        ctx.out(f"{name} is {status}; waiting for it to finish")
        while in_progress(stack["StackStatus"]):
            ctx.sleep(ctx.poll_seconds)
            stack = stacks.describe(cfn, stack["StackId"])
        return settle(ctx, cfn, stack)

    if status == "REVIEW_IN_PROGRESS":
        if has_change_sets(cfn, stack["StackId"]):
            return stack
        ctx.out(
            f"{name} is REVIEW_IN_PROGRESS with no change set (a plan that was deleted): "
            "deleting the empty stack"
        )
        cfn.delete_stack(StackName=stack["StackId"])
        return _wait_gone(ctx, cfn, stack)

    if status == "ROLLBACK_COMPLETE":
        if ctx.settings.protected:
            raise Refused(
                f"{name} is ROLLBACK_COMPLETE (its first create failed) and {env} is "
                "protected, so deploy.py will not delete it: check what it retained, "
                "then delete it in the console and plan again"
            )
        if not ctx.confirm(f"{name} is ROLLBACK_COMPLETE (its first create failed). Delete it"):
            raise Refused(
                f"{name} is ROLLBACK_COMPLETE (its first create failed) and must be "
                f"deleted before a new plan: rerun with --yes, or `make doctor "
                f"ENV={env}`"
            )
        ctx.out(f"deleting {name} (ROLLBACK_COMPLETE)")
        cfn.delete_stack(StackName=stack["StackId"], **_role(ctx))
        return _wait_gone(ctx, cfn, stack)

    if status == "UPDATE_ROLLBACK_FAILED":
        skipped = skip_candidates(cfn, stack["StackId"])
        listing = ", ".join(skipped) or "none"
        ctx.out(f"{name} is UPDATE_ROLLBACK_FAILED; continuing the rollback would skip: {listing}")
        if not ctx.confirm("Continue the rollback, skipping those resources"):
            raise Refused(
                f"{name} is UPDATE_ROLLBACK_FAILED: rerun with --yes (or `make doctor "
                f"ENV={env} YES=1`) to continue the rollback skipping {listing}; "
                "skipped resources keep their current state"
            )
        kwargs = {"ResourcesToSkip": skipped} if skipped else {}
        cfn.continue_update_rollback(StackName=stack["StackId"], **_role(ctx), **kwargs)
        return _wait_settled(ctx, cfn, stack)

    if status in ROLLED_BACK_BY_HAND:
        failed = failed_resources(cfn, stack["StackId"], status)
        listing = "; ".join(failed) or "none found"
        ctx.out(f"{name} is {status} with rollback disabled; what failed: {listing}")
        if not ctx.confirm("Roll it back to its last stable state (RollbackStack)"):
            raise Refused(
                f"{name} is {status} (rollback was disabled): rerun with --yes (or `make "
                f"doctor ENV={env} YES=1`) to roll it back; what this operation created goes"
            )
        cfn.rollback_stack(StackName=stack["StackId"], RetainExceptOnCreate=True, **_role(ctx))
        return settle(ctx, cfn, _wait_settled(ctx, cfn, stack))

    if status == "DELETE_FAILED":
        left = failed_resources(cfn, stack["StackId"], "DELETE_FAILED")
        listing = "; ".join(left) or "none listed"
        if ctx.settings.protected:
            raise Refused(
                f"{name} is DELETE_FAILED and {env} is protected, so deploy.py will not "
                f"force its deletion; it could not delete: {listing}. Delete or keep those "
                "resources yourself, then delete the stack in the console"
            )
        ctx.out(
            f"{name} is DELETE_FAILED; forcing its deletion leaves these behind in the "
            f"account, outside any stack: {listing}"
        )
        if not ctx.confirm("Delete the stack and leave those resources behind"):
            raise Refused(
                f"{name} is DELETE_FAILED: rerun with --yes (or `make doctor ENV={env} "
                f"YES=1`) to delete it with FORCE_DELETE_STACK, leaving behind: {listing}"
            )
        cfn.delete_stack(
            StackName=stack["StackId"], DeletionMode="FORCE_DELETE_STACK", **_role(ctx)
        )
        return _wait_gone(ctx, cfn, stack)

    if status in UNRECOVERABLE:
        raise Refused(
            f"{name} is {status}: {stack.get('StackStatusReason') or 'no reason'}; "
            "deploy.py cannot repair this state, see the stack's events in the console"
        )
    return stack


def _wait_settled(ctx, cfn, stack: dict) -> dict | None:
    """The stack once its operation is over (None when that deleted it)."""
    current = stacks.describe(cfn, stack["StackId"])
    while current and in_progress(current["StackStatus"]):
        ctx.sleep(ctx.poll_seconds)
        current = stacks.describe(cfn, stack["StackId"])
    ctx.out(f"{stack['StackName']} is {current['StackStatus'] if current else 'DELETE_COMPLETE'}")
    return current


def has_change_sets(cfn, stack_id: str) -> bool:
    return bool(cfn.list_change_sets(StackName=stack_id).get("Summaries"))


def _role(ctx) -> dict:
    role = getattr(ctx, "execution_role_arn", None)
    return {"RoleARN": role} if role else {}


def _wait_gone(ctx, cfn, stack: dict) -> None:
    current = stacks.describe(cfn, stack["StackId"])
    while current and in_progress(current["StackStatus"]):
        ctx.sleep(ctx.poll_seconds)
        current = stacks.describe(cfn, stack["StackId"])
    if current and current["StackStatus"] != "DELETE_COMPLETE":
        raise Refused(
            f"{stack['StackName']} could not be deleted ({current['StackStatus']}: "
            f"{current.get('StackStatusReason') or 'no reason'})"
        )
    ctx.out(f"deleted {stack['StackName']}")
    return None
