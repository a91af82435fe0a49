"""backup: AWS Backup for everything that holds data: a vault encrypted with a key of its
own, one plan per environment, a selection by tag, copies to the standby region and
restore tests.

What is backed up is decided by a tag, not by wiring: every tier that creates a table,
cluster, file system or bucket with data tags it (templates/parts/backups.py) and the
selection takes every resource of those types with the tag streamstack:backup = the
environment. So this tier reads nothing from the data and storage tiers and is created
beside them.

    daily    every environment, kept BackupDailyRetentionDays
    weekly   outside dev, kept BackupWeeklyRetentionDays
    monthly  outside dev, kept BackupMonthlyRetentionDays

Outside dev, when the standby stack's vault is known (StandbyBackupVaultArn, passed by
deploy.py), every recovery point is copied there with the same retention. Vault lock
(BackupVaultLock) keeps recovery points from being deleted or shortened: governance
until someone with the right IAM permission lifts it, compliance for good once
BackupVaultLockGraceDays have passed. Outside dev, restore tests restore the latest
recovery point of the Aurora cluster, the videos table and the file system on a
schedule and delete what they restored after the validation window; the observability
tier alarms when a backup, copy or restore job fails.
"""

from __future__ import annotations

from awacs import backup as backup_actions
from awacs import cloudwatch as cloudwatch_actions
from awacs import dynamodb as ddb_actions
from awacs import elasticfilesystem as efs_actions
from awacs import events as events_actions
from awacs import kms as kms_actions
from awacs import rds as rds_actions
from awacs import s3 as s3_actions
from awacs import tag as tag_actions
from awacs.aws import Allow, Bool, Condition, Statement, StringLike
from troposphere import And, GetAtt, Ref, Sub, backup
from troposphere import Condition as IsTrue

from templates.base import AWS_NO_VALUE, Equals, If, Not, Tier
from templates.parts.backups import (
    BACKED_UP_TYPES,
    BACKUP_TAG,
    RESTORE_TESTED,
    SCHEDULES,
    backup_vault,
    retention_parameters,
)
from templates.parts.iam import service_role
from templates.parts.keys import customer_key
from templates.parts.standby import standby_parameter

# Services that use the platform's keys on the backup role's behalf.
KEY_SERVICES = ("rds", "dynamodb", "elasticfilesystem", "s3", "backup")


class BackupTier(Tier):
    name = "backup"
    description = "AWS Backup vault, plans per environment, tag selection, copies, restore tests"

    def build(self) -> None:
        self.inputs()
        self.retention_parameters()
        self.vault()
        self.role()
        self.plan()
        self.restore_tests()

    # -- inputs ----------------------------------------------------------------------
    def inputs(self) -> None:
        self.data_key = self.wired(
            "DataKeyArn",
            "security",
            Description="Data KMS key (security tier): Aurora, DynamoDB and secrets, which "
            "the backup role reads and restores through those services.",
        )
        self.storage_key = self.wired(
            "StorageKeyArn",
            "security",
            Description="Storage KMS key (security tier): buckets and EFS.",
        )
        self.standby_vault = standby_parameter(self, "StandbyBackupVaultArn")
        self.standby_key = standby_parameter(self, "StandbyKeyArn")
        self.condition("HasStandbyVault", Not(Equals(self.standby_vault, "")))
        self.condition("HasStandbyKey", Not(Equals(self.standby_key, "")))
        self.condition("CopyToStandby", And(Not(IsTrue(self.is_dev())), IsTrue("HasStandbyVault")))

    def retention_parameters(self) -> None:
        retention_parameters(self)

    # -- vault -------------------------------------------------------------------------
    def vault(self) -> None:
        customer_key(
            self,
            "BackupKey",
            "backup",
            "streamstack backup key (${Environment}): the backup vault's recovery points",
        )
        backup_vault(self, "BackupVault", GetAtt("BackupKey", "Arn"))
        self.output("BackupVaultName", Ref("BackupVault"), "Name of the backup vault")
        self.output(
            "BackupVaultArn", GetAtt("BackupVault", "BackupVaultArn"), "ARN of the backup vault"
        )
        self.output("BackupKeyArn", GetAtt("BackupKey", "Arn"), "KMS key of the backup vault")

    # -- role --------------------------------------------------------------------------
    def role(self) -> None:
        """The role AWS Backup assumes to back up, copy and restore: AWS's managed backup
        and restore policies reduced to the four types the platform backs up, in this
        account."""
        account = "${AWS::Partition}:%s:*:${AWS::AccountId}:%s"
        platform_buckets = Sub("arn:${AWS::Partition}:s3:::s3-*-${Environment}-${AWS::AccountId}-*")
        keys = [
            self.data_key,
            self.storage_key,
            GetAtt("BackupKey", "Arn"),
            If("HasStandbyKey", self.standby_key, Ref(AWS_NO_VALUE)),
        ]
        statements = [
            Statement(
                Sid="AuroraSnapshots",
                Effect=Allow,
                Action=[
                    rds_actions.AddTagsToResource,
                    rds_actions.ListTagsForResource,
                    rds_actions.DescribeDBClusters,
                    rds_actions.DescribeDBClusterSnapshots,
                    rds_actions.DescribeDBClusterAutomatedBackups,
                    rds_actions.DescribeDBInstances,
                    rds_actions.CreateDBClusterSnapshot,
                    rds_actions.CopyDBClusterSnapshot,
                    rds_actions.DeleteDBClusterSnapshot,
                    rds_actions.ModifyDBClusterSnapshotAttribute,
                    rds_actions.RestoreDBClusterFromSnapshot,
                    rds_actions.RestoreDBClusterToPointInTime,
                    rds_actions.CreateDBInstance,
                ],
                Resource=[Sub("arn:" + account % ("rds", "*"))],
            ),
            Statement(
                Sid="DynamoDbBackups",
                Effect=Allow,
                Action=[
                    ddb_actions.DescribeTable,
                    ddb_actions.CreateBackup,
                    ddb_actions.DescribeBackup,
                    ddb_actions.DeleteBackup,
                    ddb_actions.ListTagsOfResource,
                    ddb_actions.StartAwsBackupJob,
                    ddb_actions.RestoreTableFromAwsBackup,
                    ddb_actions.RestoreTableFromBackup,
                    ddb_actions.Scan,
                    ddb_actions.Query,
                    ddb_actions.GetItem,
                    ddb_actions.PutItem,
                    ddb_actions.UpdateItem,
                    ddb_actions.DeleteItem,
                    ddb_actions.BatchWriteItem,
                ],
                Resource=[Sub("arn:" + account % ("dynamodb", "table/*"))],
            ),
            Statement(
                Sid="EfsBackups",
                Effect=Allow,
                Action=[
                    efs_actions.Backup,
                    efs_actions.DescribeTags,
                    efs_actions.Restore,
                    efs_actions.CreateFileSystem,
                    efs_actions.DescribeFileSystems,
                ],
                Resource=[Sub("arn:" + account % ("elasticfilesystem", "file-system/*"))],
            ),
            Statement(
                Sid="PlatformBuckets",
                Effect=Allow,
                Action=[
                    s3_actions.GetInventoryConfiguration,
                    s3_actions.PutInventoryConfiguration,
                    s3_actions.ListBucketVersions,
                    s3_actions.ListBucket,
                    s3_actions.GetBucketVersioning,
                    s3_actions.GetBucketNotification,
                    s3_actions.PutBucketNotification,
                    s3_actions.GetBucketLocation,
                    s3_actions.GetBucketTagging,
                    s3_actions.GetBucketAcl,
                ],
                Resource=[platform_buckets],
            ),
            Statement(
                Sid="PlatformObjects",
                Effect=Allow,
                Action=[
                    s3_actions.GetObject,
                    s3_actions.GetObjectVersion,
                    s3_actions.GetObjectAcl,
                    s3_actions.GetObjectVersionAcl,
                    s3_actions.GetObjectTagging,
                    s3_actions.GetObjectVersionTagging,
                    s3_actions.PutObject,
                    s3_actions.PutObjectTagging,
                    s3_actions.ListMultipartUploadParts,
                ],
                Resource=[
                    Sub("arn:${AWS::Partition}:s3:::s3-*-${Environment}-${AWS::AccountId}-*/*")
                ],
            ),
            # S3 backups follow changes through EventBridge rules AWS Backup manages.
            Statement(
                Sid="BackupManagedRules",
                Effect=Allow,
                Action=[
                    events_actions.DescribeRule,
                    events_actions.EnableRule,
                    events_actions.DisableRule,
                    events_actions.PutRule,
                    events_actions.DeleteRule,
                    events_actions.PutTargets,
                    events_actions.RemoveTargets,
                    events_actions.ListTargetsByRule,
                ],
                Resource=[Sub("arn:" + account % ("events", "rule/AwsBackupManagedRule*"))],
            ),
            Statement(
                Sid="VaultsAndRecoveryPoints",
                Effect=Allow,
                Action=[
                    backup_actions.DescribeBackupVault,
                    backup_actions.CopyIntoBackupVault,
                    backup_actions.TagResource,
                ],
                Resource=[
                    Sub("arn:" + account % ("backup", "backup-vault:*")),
                    Sub("arn:" + account % ("backup", "recovery-point:*")),
                ],
            ),
            Statement(
                Sid="KeysThroughTheirServices",
                Effect=Allow,
                Action=[
                    kms_actions.Decrypt,
                    kms_actions.Encrypt,
                    kms_actions.GenerateDataKey,
                    kms_actions.GenerateDataKeyWithoutPlaintext,
                    kms_actions.ReEncryptFrom,
                    kms_actions.ReEncryptTo,
                    kms_actions.DescribeKey,
                ],
                Resource=keys,
                Condition=Condition(
                    StringLike(
                        "kms:ViaService",
                        [f"{service}.*.amazonaws.com" for service in KEY_SERVICES],
                    )
                ),
            ),
            Statement(
                Sid="GrantsForAwsResources",
                Effect=Allow,
                Action=[kms_actions.CreateGrant],
                Resource=keys,
                Condition=Condition(Bool("kms:GrantIsForAWSResource", "true")),
            ),
            Statement(
                Sid="NoResourceLevelPermissions",
                Effect=Allow,
                Action=[
                    tag_actions.GetResources,
                    events_actions.ListRules,
                    cloudwatch_actions.GetMetricData,
                    backup_actions.CopyFromBackupVault,
                    s3_actions.ListAllMyBuckets,
                ],
                Resource=["*"],
            ),
        ]
        role = service_role(
            self,
            "BackupRole",
            "backup.amazonaws.com",
            "backup",
            statements,
            policy_name="backup-and-restore",
            # AWS Backup assumes the role it was passed by the selection and the restore
            # tests; a passed role cannot be used from another account.
            source_account=False,
        )
        self.suppress(
            role,
            checkov={
                "CKV_AWS_111": "The * statement holds actions without resource-level "
                "permissions (tag:GetResources, events:ListRules, cloudwatch:GetMetricData, "
                "backup:CopyFromBackupVault, s3:ListAllMyBuckets); every write is scoped to "
                "this account's clusters, tables, file systems, platform buckets and keys.",
                "CKV_AWS_108": "S3 reads are limited to the platform's own buckets of this "
                "environment (s3-*-<env>-<account>-*), which AWS Backup must read to back "
                "them up.",
            },
        )
        self.output("BackupRoleArn", GetAtt("BackupRole", "Arn"), "Role AWS Backup assumes")

    # -- plan --------------------------------------------------------------------------
    def _rule(self, rule: str) -> backup.BackupRuleResourceType:
        cron, retention = SCHEDULES[rule]
        lifecycle = backup.LifecycleResourceType(DeleteAfterDays=Ref(retention))
        return backup.BackupRuleResourceType(
            RuleName=rule,
            TargetBackupVault=Ref("BackupVault"),
            ScheduleExpression=cron,
            StartWindowMinutes=60,
            # Aurora snapshots of a large cluster and S3 backups can take hours.
            CompletionWindowMinutes=720,
            Lifecycle=lifecycle,
            RecoveryPointTags={"Name": Sub(f"recovery-point-{rule}-${{Environment}}")},
            CopyActions=If(
                "CopyToStandby",
                [
                    backup.CopyActionResourceType(
                        DestinationBackupVaultArn=self.standby_vault,
                        Lifecycle=backup.LifecycleResourceType(DeleteAfterDays=Ref(retention)),
                    )
                ],
                Ref(AWS_NO_VALUE),
            ),
        )

    def plan(self) -> None:
        outside_dev = [
            If(self.is_dev(), Ref(AWS_NO_VALUE), self._rule(r)) for r in ("weekly", "monthly")
        ]
        self.add(
            backup.BackupPlan(
                "BackupPlan",
                BackupPlan=backup.BackupPlanResourceType(
                    BackupPlanName=self.physical_name("plan", "backups"),
                    BackupPlanRule=[self._rule("daily"), *outside_dev],
                ),
                BackupPlanTags={"Name": self.physical_name("plan", "backups")},
            )
        )
        self.add(
            backup.BackupSelection(
                "TaggedResources",
                BackupPlanId=Ref("BackupPlan"),
                BackupSelection=backup.BackupSelectionResourceType(
                    SelectionName=Sub("tagged-${Environment}"),
                    IamRoleArn=GetAtt("BackupRole", "Arn"),
                    Resources=[Sub(pattern) for pattern in BACKED_UP_TYPES.values()],
                    Conditions=backup.Conditions(
                        StringEquals=[
                            backup.ConditionParameter(
                                ConditionKey=f"aws:ResourceTag/{BACKUP_TAG}",
                                ConditionValue=self.environment,
                            )
                        ]
                    ),
                ),
            )
        )
        self.output("BackupPlanId", Ref("BackupPlan"), "ID of the backup plan")

    # -- restore tests -------------------------------------------------------------------
    def restore_tests(self) -> None:
        schedule = self.parameter(
            "RestoreTestSchedule",
            "Backup",
            Type="String",
            Default="cron(0 7 ? * MON *)",
            AllowedPattern=r"^(cron|rate)\(.+\)$",
            Description="When restore tests run (outside dev): each restores the latest "
            "recovery point of the Aurora cluster, the videos table and the file system, "
            "and deletes what it restored after the validation window.",
        )
        outside_dev = self.condition("RestoreTests", Not(IsTrue(self.is_dev())))
        name = Sub("restore_tests_${Environment}")
        self.add(
            backup.RestoreTestingPlan(
                "RestoreTestingPlan",
                Condition=outside_dev,
                RestoreTestingPlanName=name,
                ScheduleExpression=schedule,
                StartWindowHours=4,
                RecoveryPointSelection=backup.RestoreTestingRecoveryPointSelection(
                    Algorithm="LATEST_WITHIN_WINDOW",
                    IncludeVaults=[GetAtt("BackupVault", "BackupVaultArn")],
                    RecoveryPointTypes=["SNAPSHOT"],
                    SelectionWindowDays=7,
                ),
                Tags=self.tags("restore-tests", "backups"),
            )
        )
        for protected in RESTORE_TESTED.values():
            self.add(
                backup.RestoreTestingSelection(
                    f"RestoreTest{protected}",
                    Condition=outside_dev,
                    DependsOn="RestoreTestingPlan",
                    RestoreTestingPlanName=name,
                    RestoreTestingSelectionName=Sub(f"{protected.lower()}_${{Environment}}"),
                    ProtectedResourceType=protected,
                    ProtectedResourceArns=["*"],
                    ProtectedResourceConditions=backup.ProtectedResourceConditions(
                        StringEquals=[
                            backup.KeyValue(
                                Key=f"aws:ResourceTag/{BACKUP_TAG}", Value=self.environment
                            )
                        ]
                    ),
                    IamRoleArn=GetAtt("BackupRole", "Arn"),
                    # Restored resources are checked available, then deleted.
                    ValidationWindowHours=1,
                )
            )
        self.output(
            "RestoreTestingPlanName",
            If(outside_dev, name, ""),
            'Restore testing plan ("" in dev, which runs none)',
        )
