"""What every bucket policy starts with, in whichever tier writes the policy, and what a
bucket that receives access logs adds (S3 server access logs, ALB logs in every
supported region)."""

from __future__ import annotations

from awacs import s3 as s3_actions
from awacs.aws import (
    Allow,
    Bool,
    Condition,
    Deny,
    Principal,
    Statement,
    StringEquals,
    StringNotEqualsIfExists,
)
from troposphere import FindInMap, GetAtt, Join, Or, Ref, Sub, s3

from templates.base import AWS_NO_VALUE, Equals, If, Not, account_root
from templates.parts.iam import policy_dict
from templates.parts.regions import (
    ELB_LOG_ACCOUNTS,
    LOG_DELIVERY_SERVICE_REGIONS,
    SUPPORTED_REGIONS,
)


def bucket_name(purpose: str) -> Sub:
    """The platform's bucket names, s3-<purpose>-<env>-<account>-<region>: unique across the
    accounts and regions of a StackSet, and known to tiers that cannot wait for the
    storage tier (the storage key's policy names the buckets CloudFront reads)."""
    return Sub(f"s3-{purpose}-${{Environment}}-${{AWS::AccountId}}-${{AWS::Region}}")


def private_bucket(key_arn=None) -> dict:
    """The properties every private bucket outside the storage tier starts with:
    versioning, default encryption (SSE-KMS with key_arn and a bucket key, or SSE-S3
    without one), all four public access blocks, and objects owned by the bucket."""
    by_default = (
        s3.ServerSideEncryptionByDefault(SSEAlgorithm="aws:kms", KMSMasterKeyID=key_arn)
        if key_arn is not None
        else s3.ServerSideEncryptionByDefault(SSEAlgorithm="AES256")
    )
    rule = {"BucketKeyEnabled": True} if key_arn is not None else {}
    return dict(
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        BucketEncryption=s3.BucketEncryption(
            ServerSideEncryptionConfiguration=[
                s3.ServerSideEncryptionRule(ServerSideEncryptionByDefault=by_default, **rule)
            ]
        ),
        PublicAccessBlockConfiguration=s3.PublicAccessBlockConfiguration(
            BlockPublicAcls=True,
            BlockPublicPolicy=True,
            IgnorePublicAcls=True,
            RestrictPublicBuckets=True,
        ),
        OwnershipControls=s3.OwnershipControls(
            Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]
        ),
    )


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


def log_delivery_statements(tier, logical: str) -> list:
    """What the bucket `logical` of `tier` adds to let S3 server access logs (this account)
    and ALB access logs (prefix alb/) in: the regional Elastic Load Balancing account
    where the region has one (mapping ElbLogDelivery, condition HasElbLogAccount), and
    the log-delivery service principal everywhere."""
    if "ElbLogDelivery" not in tier.template.mappings:
        # "" where ALB logs come from the log-delivery service principal only.
        tier.template.add_mapping(
            "ElbLogDelivery",
            {r: {"AccountId": ELB_LOG_ACCOUNTS.get(r, "")} for r in SUPPORTED_REGIONS},
        )
        # Fn::Or takes at most 10 conditions: the regions in groups of up to ten.
        regions = [Equals(Ref("AWS::Region"), r) for r in LOG_DELIVERY_SERVICE_REGIONS]
        groups = [Or(*regions[i : i + 10]) for i in range(0, len(regions), 10)]
        tier.condition("HasElbLogAccount", Not(groups[0] if len(groups) == 1 else Or(*groups)))
    objects = Join("", [GetAtt(logical, "Arn"), "/*"])
    alb_prefix = Join("", [GetAtt(logical, "Arn"), Sub("/alb/AWSLogs/${AWS::AccountId}/*")])
    same_account = Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId")))
    return [
        Statement(
            Sid="S3ServerAccessLogs",
            Effect=Allow,
            Principal=Principal("Service", "logging.s3.amazonaws.com"),
            Action=[s3_actions.PutObject],
            Resource=[objects],
            Condition=same_account,
        ),
        If(
            "HasElbLogAccount",
            policy_dict(
                Statement(
                    Sid="AlbLogsRegionalAccount",
                    Effect=Allow,
                    Principal=Principal(
                        "AWS",
                        Sub(
                            "arn:${AWS::Partition}:iam::${ElbAccount}:root",
                            ElbAccount=FindInMap("ElbLogDelivery", Ref("AWS::Region"), "AccountId"),
                        ),
                    ),
                    Action=[s3_actions.PutObject],
                    Resource=[alb_prefix],
                )
            ),
            Ref(AWS_NO_VALUE),
        ),
        Statement(
            Sid="AlbLogsDeliveryService",
            Effect=Allow,
            Principal=Principal("Service", "logdelivery.elasticloadbalancing.amazonaws.com"),
            Action=[s3_actions.PutObject],
            Resource=[alb_prefix],
        ),
    ]
