"""An on-demand restore test (`make restore-test ENV=x`): what AWS Backup's restore testing
does on its weekly schedule, now, and with the time each restore took.

For each type the restore testing plan covers (Aurora, DynamoDB, EFS), the newest
completed recovery point in the platform's vault is restored beside the live resource,
with the minimal metadata AWS Backup infers for a restore test (secure defaults, a new
name) and the platform's backup role; each restore job is followed until it ends, and
the copy it created is deleted again. Nothing live is touched. It fails (one line per
type) when a type has no recovery point yet or its restore does not complete.
"""

from __future__ import annotations

import time

from streamstack.deploy import aws, stacks
from streamstack.deploy.exits import Refused
from streamstack.errors import StreamstackError

# AWS Backup's resource type names of what the restore testing plan selects.
TYPES = ("Aurora", "DynamoDB", "EFS")
ENDED = ("COMPLETED", "ABORTED", "FAILED")


def _platform(ctx) -> tuple[str, str]:
    """The vault and the backup role, from the root stack's outputs."""
    aws.check_account(ctx.params, ctx.client("sts"))
    root = stacks.describe(ctx.client("cloudformation"), ctx.params.stack_name)
    outputs = stacks.outputs(root) if root else {}
    vault, role = outputs.get("BackupVaultName"), outputs.get("BackupRoleArn")
    if not vault or not role:
        raise StreamstackError(
            f"{ctx.params.stack_name} has no BackupVaultName/BackupRoleArn outputs in "
            f"{ctx.params.region}: deploy it first (`make deploy ENV={ctx.env}`); its backup "
            "tier holds what a restore test restores"
        )
    return vault, role


def newest_recovery_point(backup, vault: str, resource_type: str) -> dict | None:
    """The newest COMPLETED recovery point of the type in the vault."""
    found: list[dict] = []
    kwargs = {"BackupVaultName": vault, "ByResourceType": resource_type}
    while True:
        page = backup.list_recovery_points_by_backup_vault(**kwargs)
        found += [p for p in page.get("RecoveryPoints", []) if p.get("Status") == "COMPLETED"]
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    return max(found, key=lambda p: p["CreationDate"], default=None)


def delete_copy(ctx, resource_type: str, arn: str) -> None:
    """Delete the resource a restore job created (never a live one: its ARN comes from
    the restore job)."""
    name = arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    if resource_type == "Aurora":
        ctx.client("rds").delete_db_cluster(DBClusterIdentifier=name, SkipFinalSnapshot=True)
    elif resource_type == "DynamoDB":
        ctx.client("dynamodb").delete_table(TableName=name)
    elif resource_type == "EFS":
        ctx.client("efs").delete_file_system(FileSystemId=name)


def restore(ctx, backup, vault: str, role: str, resource_type: str) -> str:
    """One type's restore test; returns its result line (starting with "ok" or "FAILED")."""
    point = newest_recovery_point(backup, vault, resource_type)
    if point is None:
        return f"FAILED {resource_type}: no completed recovery point in {vault} yet"
    metadata = backup.get_restore_testing_inferred_metadata(
        BackupVaultName=vault, RecoveryPointArn=point["RecoveryPointArn"]
    )["InferredMetadata"]
    started = time.monotonic()
    job_id = backup.start_restore_job(
        RecoveryPointArn=point["RecoveryPointArn"],
        IamRoleArn=role,
        ResourceType=resource_type,
        Metadata=metadata,
        CopySourceTagsToRestoredResource=False,
    )["RestoreJobId"]
    ctx.out(f"{resource_type}: restoring the recovery point of {point['CreationDate']} ({job_id})")
    job = backup.describe_restore_job(RestoreJobId=job_id)
    while job["Status"] not in ENDED:
        ctx.sleep(ctx.poll_seconds)
        job = backup.describe_restore_job(RestoreJobId=job_id)
    minutes = (time.monotonic() - started) / 60
    if job["Status"] != "COMPLETED":
        reason = job.get("StatusMessage") or "no reason given"
        return f"FAILED {resource_type}: restore job {job_id} {job['Status']}: {reason}"
    created = job.get("CreatedResourceArn", "")
    if created:
        delete_copy(ctx, resource_type, created)
    return (
        f"ok {resource_type}: restored in {minutes:.1f} min as {created or '(no resource)'}, "
        "then deleted"
    )


def run(ctx) -> int:
    vault, role = _platform(ctx)
    if not ctx.confirm(
        f"Restore the newest {', '.join(TYPES)} recovery points of {vault} beside the live "
        "resources (billed while they exist), then delete the copies"
    ):
        raise Refused(
            f"a restore test creates copies of {ctx.env}'s data for a while: rerun "
            f"`make restore-test ENV={ctx.env} YES=1` to start it"
        )
    backup = ctx.client("backup")
    results = [restore(ctx, backup, vault, role, t) for t in TYPES]
    for line in results:
        ctx.out(line)
    failed = [line for line in results if line.startswith("FAILED")]
    if failed:
        raise StreamstackError(
            f"{len(failed)} of {len(TYPES)} restore tests failed ({'; '.join(failed)}); "
            "docs/runbooks/restore-data.md restores by hand"
        )
    return 0
