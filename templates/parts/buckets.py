"""What every bucket policy starts with, in whichever tier writes the policy."""

from __future__ import annotations

from awacs import s3 as s3_actions
from awacs.aws import (
    Allow,
    Bool,
    Condition,
    Deny,
    Principal,
    Statement,
    StringNotEqualsIfExists,
)
from troposphere import GetAtt, Join, Sub

from templates.base import account_root


def bucket_name(purpose: str) -> Sub:
    """The platform's bucket names, s3-<purpose>-<env>-<account>-<region>: unique across the
    accounts and regions of a StackSet, and known to tiers that cannot wait for the
    storage tier (the storage key's policy names the buckets CloudFront reads)."""
    return Sub(f"s3-{purpose}-${{Environment}}-${{AWS::AccountId}}-${{AWS::Region}}")


def secure_bucket_statements(bucket, encryption: str, key_arn=None) -> list[Statement]:
    """`bucket` is the bucket's logical id in this template, or an expression of its ARN
    (a policy written by another tier).

    Keeps the account root able to manage the policy; denies plain HTTP and uploads that
    ask for another encryption (or, with key_arn, another KMS key). Uploads without an
    encryption header get the bucket default, so log deliveries work.
    """
    bucket_arn = GetAtt(bucket, "Arn") if isinstance(bucket, str) else bucket
    objects = Join("", [bucket_arn, "/*"])
    statements = [
        Statement(
            Sid="AccountRootManagesPolicy",
            Effect=Allow,
            Principal=Principal("AWS", account_root()),
            Action=[
                s3_actions.GetBucketPolicy,
                s3_actions.PutBucketPolicy,
                s3_actions.DeleteBucketPolicy,
            ],
            Resource=[bucket_arn],
        ),
        Statement(
            Sid="DenyInsecureTransport",
            Effect=Deny,
            Principal=Principal("*"),
            Action=[s3_actions.Action("*")],
            Resource=[bucket_arn, objects],
            Condition=Condition(Bool("aws:SecureTransport", False)),
        ),
        Statement(
            Sid="DenyWrongEncryption",
            Effect=Deny,
            Principal=Principal("*"),
            Action=[s3_actions.PutObject],
            Resource=[objects],
            Condition=Condition(
                StringNotEqualsIfExists("s3:x-amz-server-side-encryption", encryption)
            ),
        ),
    ]
    if key_arn is not None:
        statements.append(
            Statement(
                Sid="DenyOtherKmsKeys",
                Effect=Deny,
                Principal=Principal("*"),
                Action=[s3_actions.PutObject],
                Resource=[objects],
                Condition=Condition(
                    StringNotEqualsIfExists(
                        "s3:x-amz-server-side-encryption-aws-kms-key-id", key_arn
                    )
                ),
            )
        )
    return statements
