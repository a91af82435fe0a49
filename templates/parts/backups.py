"""What AWS Backup protects, as data the tiers and the backup tier share.

A resource that holds data is selected by a tag, never by name: the tier that creates it
adds `backup_tags` (the tag streamstack:backup = <environment>), and the backup tier's
selection takes every resource of the types below that carries the tag. A resource of one
of these types that must not be backed up says why (`no_backup`); tests/templates/
test_backup.py walks every template, so a new table, bucket or file system is either
tagged or excluded with a reason, never forgotten.
"""

from __future__ import annotations

from awacs import backup as backup_actions
from awacs.aws import Deny, Principal, Statement
from troposphere import Ref, Sub, Tags, backup

from templates.base import AWS_NO_VALUE, Equals, If, Not
from templates.parts.iam import policy_document

BACKUP_TAG = "streamstack:backup"
# rule -> (cron in UTC, retention parameter): daily everywhere, the others outside dev.
SCHEDULES = {
    "daily": ("cron(0 5 * * ? *)", "BackupDailyRetentionDays"),
    "weekly": ("cron(0 5 ? * SUN *)", "BackupWeeklyRetentionDays"),
    "monthly": ("cron(0 5 1 * ? *)", "BackupMonthlyRetentionDays"),
}
LOCK_MODES = ["none", "governance", "compliance"]
NO_BACKUP_KEY = "streamstack:NoBackup"

# Types AWS Backup protects that the platform holds data in -> the ARN pattern of the
# selection (any resource of the type in this account and region; the tag narrows it).
BACKED_UP_TYPES = {
    "AWS::RDS::DBCluster": "arn:${AWS::Partition}:rds:${AWS::Region}:${AWS::AccountId}:cluster:*",
    "AWS::DynamoDB::Table": (
        "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/*"
    ),
    "AWS::EFS::FileSystem": (
        "arn:${AWS::Partition}:elasticfilesystem:${AWS::Region}:${AWS::AccountId}:file-system/*"
    ),
    "AWS::S3::Bucket": "arn:${AWS::Partition}:s3:::*",
}
# Restore testing per protected type (AWS Backup's names); S3 is left out: a restore
# test of the media bucket would copy every video once a week.
RESTORE_TESTED = {
    "AWS::RDS::DBCluster": "Aurora",
    "AWS::DynamoDB::Table": "DynamoDB",
    "AWS::EFS::FileSystem": "EFS",
}


def backup_tags(tier, kind: str, purpose: str, **extra) -> Tags:
    """The resource's Name tag (and `extra`) plus the tag the backup selection matches."""
    return tier.tags(kind, purpose, **extra) + Tags({BACKUP_TAG: Sub("${Environment}")})


def no_backup(resource, reason: str):
    """Keep a resource of a backed-up type out of the backups, with the written reason."""
    if len(reason.strip()) < 15:
        raise ValueError(f"{resource.title}: leaving it out of the backups needs a reason")
    metadata = dict(getattr(resource, "Metadata", None) or {})
    metadata[NO_BACKUP_KEY] = reason
    resource.Metadata = metadata
    return resource


def retention_parameters(tier) -> None:
    """The retention parameter of each rule (the standby vault's lock reads them too)."""
    for rule, (default, low) in {"daily": (35, 1), "weekly": (90, 7), "monthly": (365, 30)}.items():
        tier.parameter(
            SCHEDULES[rule][1],
            "Backup",
            Type="Number",
            Default=default,
            MinValue=low,
            MaxValue=36500,
            Description=f"Days a {rule} recovery point (and its copy in the standby "
            "region) is kept"
            + (" (outside dev: dev takes daily backups only)." if rule != "daily" else "."),
        )


def backup_vault(tier, logical: str, key_arn):
    """The vault `logical` (vault-backups-<env>, kept outside dev) encrypted with key_arn,
    with the BackupVaultLock parameters, and outside dev an access policy that lets
    nobody delete or shorten a recovery point. Needs retention_parameters."""
    mode = tier.parameter(
        "BackupVaultLock",
        "Backup",
        Type="String",
        AllowedValues=LOCK_MODES,
        Default="none",
        Description="Vault lock. none: recovery points can be deleted by whoever IAM "
        "allows. governance: nobody can delete or shorten them unless IAM grants "
        "backup:DeleteBackupVaultLockConfiguration. compliance: nobody, not even the "
        "account root, once BackupVaultLockGraceDays have passed (irreversible).",
    )
    grace = tier.parameter(
        "BackupVaultLockGraceDays",
        "Backup",
        Type="Number",
        Default=3,
        MinValue=3,
        MaxValue=36500,
        Description="Compliance lock only: days after the lock is set during which it can "
        "still be removed; after that it is immutable.",
    )
    tier.condition("HasVaultLock", Not(Equals(mode, "none")))
    tier.condition("ComplianceLock", Equals(mode, "compliance"))
    daily, _, monthly = (Ref(parameter) for _, parameter in SCHEDULES.values())
    # Outside dev nobody deletes or shortens a recovery point by hand; lifecycle expiry
    # is AWS Backup's own and is not subject to this policy. In dev `make destroy`
    # deletes them to remove the vault.
    protect = Statement(
        Sid="DenyDeletingRecoveryPoints",
        Effect=Deny,
        Principal=Principal("AWS", "*"),
        Action=[backup_actions.DeleteRecoveryPoint, backup_actions.UpdateRecoveryPointLifecycle],
        Resource=["*"],
    )
    return tier.add(
        tier.stateful(
            backup.BackupVault(
                logical,
                BackupVaultName=tier.physical_name("vault", "backups"),
                EncryptionKeyArn=key_arn,
                AccessPolicy=If(tier.is_dev(), Ref(AWS_NO_VALUE), policy_document(protect)),
                LockConfiguration=If(
                    "HasVaultLock",
                    backup.LockConfigurationType(
                        MinRetentionDays=daily,
                        MaxRetentionDays=monthly,
                        ChangeableForDays=If("ComplianceLock", grace, Ref(AWS_NO_VALUE)),
                    ),
                    Ref(AWS_NO_VALUE),
                ),
                BackupVaultTags={"Name": tier.physical_name("vault", "backups")},
            )
        )
    )
