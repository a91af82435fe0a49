"""make restore-test with botocore's Stubber (requests and responses validated against the
backup, rds, dynamodb and efs models): each type's newest completed recovery point is
restored with the inferred metadata under the backup role, followed to its end, and the
copy deleted; a missing recovery point or a failed job fails the command."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.stub import Stubber

from streamstack.deploy import exits, restore_test
from streamstack.errors import StreamstackError
from tests.deploy.conftest import REGION, make_context, write_params
from tests.deploy.test_stubbed import ACCOUNT, PROD, STACK, outputs_of, stack, stub_caller

VAULT = "vault-backups-prod"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/streamstack/prod/us-west-2/backup-role"
NOW = dt.datetime(2026, 12, 1, 5, 0, tzinfo=dt.UTC)
POINTS = {
    "Aurora": f"arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:aurora-1",
    "DynamoDB": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/ddb-videos-prod/backup/01",
    "EFS": f"arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:efs-1",
}
CREATED = {
    "Aurora": f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:restore-test-aurora-1",
    "DynamoDB": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/restore-test-videos",
    "EFS": f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/fs-0123456789abcdef0",
}


@pytest.fixture
def prod(built, tmp_path):
    write_params(tmp_path / "params", "prod", PROD)
    ctx, stubs = make_context(built, tmp_path / "params", yes=True)
    for service in ("backup", "rds", "dynamodb", "efs"):
        client = ctx.session.client(service, region_name=REGION)
        stubs[service] = Stubber(client)
        stubs[service].activate()
        ctx.clients[(service, REGION)] = client
    yield ctx, stubs
    for stub in stubs.values():
        stub.assert_no_pending_responses()


def stub_root(stubs, outputs=None):
    stub_caller(stubs)
    outputs = {"BackupVaultName": VAULT, "BackupRoleArn": ROLE} if outputs is None else outputs
    stubs["cloudformation"].add_response(
        "describe_stacks", {"Stacks": [stack(Outputs=outputs_of(outputs))]}, {"StackName": STACK}
    )


def stub_restore(stubs, resource_type, final="COMPLETED"):
    backup = stubs["backup"]
    older = NOW - dt.timedelta(days=1)
    backup.add_response(
        "list_recovery_points_by_backup_vault",
        {
            "RecoveryPoints": [
                {"RecoveryPointArn": "old", "Status": "COMPLETED", "CreationDate": older},
                {"RecoveryPointArn": "partial", "Status": "PARTIAL", "CreationDate": NOW},
                {
                    "RecoveryPointArn": POINTS[resource_type],
                    "Status": "COMPLETED",
                    "CreationDate": NOW - dt.timedelta(hours=1),
                },
            ]
        },
        {"BackupVaultName": VAULT, "ByResourceType": resource_type},
    )
    metadata = {"targetTableName": "restore-test-videos"} if resource_type == "DynamoDB" else {}
    backup.add_response(
        "get_restore_testing_inferred_metadata",
        {"InferredMetadata": metadata},
        {"BackupVaultName": VAULT, "RecoveryPointArn": POINTS[resource_type]},
    )
    backup.add_response(
        "start_restore_job",
        {"RestoreJobId": f"job-{resource_type}"},
        {
            "RecoveryPointArn": POINTS[resource_type],
            "IamRoleArn": ROLE,
            "ResourceType": resource_type,
            "Metadata": metadata,
            "CopySourceTagsToRestoredResource": False,
        },
    )
    for status in ("RUNNING", final):
        job = {"RestoreJobId": f"job-{resource_type}", "Status": status}
        if status == "COMPLETED":
            job["CreatedResourceArn"] = CREATED[resource_type]
        if status == "FAILED":
            job["StatusMessage"] = "Access denied to the KMS key"
        backup.add_response("describe_restore_job", job, {"RestoreJobId": f"job-{resource_type}"})


def stub_deletes(stubs):
    stubs["rds"].add_response(
        "delete_db_cluster",
        {},
        {"DBClusterIdentifier": "restore-test-aurora-1", "SkipFinalSnapshot": True},
    )
    stubs["dynamodb"].add_response("delete_table", {}, {"TableName": "restore-test-videos"})
    stubs["efs"].add_response("delete_file_system", {}, {"FileSystemId": "fs-0123456789abcdef0"})


def test_each_type_is_restored_from_its_newest_point_and_the_copy_deleted(prod):
    ctx, stubs = prod
    stub_root(stubs)
    for resource_type in restore_test.TYPES:
        stub_restore(stubs, resource_type)
    stub_deletes(stubs)
    assert restore_test.run(ctx) == 0
    for resource_type in restore_test.TYPES:
        assert f"ok {resource_type}: restored in" in ctx.out.text
        assert CREATED[resource_type] in ctx.out.text


def test_a_failed_restore_fails_the_test_with_its_reason(prod):
    ctx, stubs = prod
    stub_root(stubs)
    stub_restore(stubs, "Aurora", final="FAILED")
    stub_restore(stubs, "DynamoDB")
    stubs["backup"].add_response(
        "list_recovery_points_by_backup_vault",
        {"RecoveryPoints": []},
        {"BackupVaultName": VAULT, "ByResourceType": "EFS"},
    )
    stubs["dynamodb"].add_response("delete_table", {}, {"TableName": "restore-test-videos"})
    with pytest.raises(StreamstackError) as err:
        restore_test.run(ctx)
    message = str(err.value)
    assert message.startswith("2 of 3 restore tests failed")
    assert "restore job job-Aurora FAILED: Access denied to the KMS key" in message
    assert f"EFS: no completed recovery point in {VAULT} yet" in message


def test_without_the_backup_tier_nothing_starts(prod):
    ctx, stubs = prod
    stub_root(stubs, outputs={"VpcId": "vpc-0123456789abcdef0"})
    with pytest.raises(StreamstackError, match="has no BackupVaultName/BackupRoleArn outputs"):
        restore_test.run(ctx)


def test_it_asks_before_creating_copies(prod):
    ctx, stubs = prod
    ctx.args.yes = False
    stub_root(stubs)
    with pytest.raises(exits.Refused, match="make restore-test ENV=prod YES=1"):
        restore_test.run(ctx)
