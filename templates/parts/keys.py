"""Customer-managed KMS keys: rotation on, a deletion window of 7 days in dev and 30
elsewhere, kept outside dev, and a key policy that keeps the account root in control
(IAM policies apply, nobody is locked out) before it grants the services that use it.
Grants are for AWS services only: a grant outlives the policy that allowed it and is
invisible in the key policy, so nobody may create one for a principal of their own
(services such as RDS, ElastiCache or EFS create theirs with kms:GrantIsForAWSResource)."""

from __future__ import annotations

from awacs import kms as kms_actions
from awacs.aws import Allow, ArnLike, Bool, Condition, Deny, Principal, Statement
from troposphere import Ref, Sub, kms

from templates.base import account_root
from templates.parts.iam import policy_document


def account_root_statement(sid: str = "AccountRootFullAccess") -> Statement:
    return Statement(
        Sid=sid,
        Effect=Allow,
        Principal=Principal("AWS", account_root()),
        Action=[kms_actions.Action("*")],
        Resource=["*"],
    )


def grants_for_aws_services_only() -> Statement:
    return Statement(
        Sid="GrantsForAwsServicesOnly",
        Effect=Deny,
        Principal=Principal("AWS", "*"),
        Action=[kms_actions.CreateGrant],
        Resource=["*"],
        Condition=Condition(Bool("kms:GrantIsForAWSResource", "false")),
    )


def logs_use_statement(log_groups) -> Statement:
    """CloudWatch Logs of this region may encrypt and decrypt with the key for the log
    groups whose ARNs match `log_groups` (the encryption context names the group)."""
    return Statement(
        Sid="CloudWatchLogsUse",
        Effect=Allow,
        Principal=Principal("Service", Sub("logs.${AWS::Region}.amazonaws.com")),
        Action=[
            kms_actions.Encrypt,
            kms_actions.Decrypt,
            kms_actions.ReEncryptFrom,
            kms_actions.ReEncryptTo,
            kms_actions.GenerateDataKey,
            kms_actions.DescribeKey,
        ],
        Resource=["*"],
        Condition=Condition(ArnLike("kms:EncryptionContext:aws:logs:arn", log_groups)),
    )


def customer_key(
    tier,
    logical: str,
    purpose: str,
    description: str,
    statements=(),
    *,
    root_sid: str = "AccountRootFullAccess",
    alias: bool = True,
) -> kms.Key:
    """Key `logical` (tags kms-<purpose>-<env>) whose policy is the account-root statement
    and `statements` (which may be Fn::If); with `alias`, alias/<purpose>-<env> as
    `<logical>Alias`. `description` may use ${Environment}."""
    key = tier.add(
        tier.stateful(
            kms.Key(
                logical,
                Description=Sub(description),
                EnableKeyRotation=True,
                KeyPolicy=policy_document(
                    account_root_statement(root_sid), *statements, grants_for_aws_services_only()
                ),
                PendingWindowInDays=tier.if_dev(7, 30),
                Tags=tier.tags("kms", purpose),
            )
        )
    )
    if alias:
        tier.add(
            kms.Alias(
                f"{logical}Alias",
                AliasName=Sub(f"alias/{purpose}-${{Environment}}"),
                TargetKeyId=Ref(logical),
            )
        )
    return key
