"""What AWS Backup protects, as data the tiers and the backup tier share.

A resource that holds data is selected by a tag, never by name: the tier that creates it
adds `backup_tags` (the tag streamstack:backup = <environment>), and the backup tier's
selection takes every resource of the types below that carries the tag. A resource of one
of these types that must not be backed up says why (`no_backup`); tests/templates/
test_backup.py walks every template, so a new table, bucket or file system is either
tagged or excluded with a reason, never forgotten.
"""

from __future__ import annotations

from troposphere import Sub, Tags

BACKUP_TAG = "streamstack:backup"
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
