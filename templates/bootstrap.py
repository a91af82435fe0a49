"""bootstrap: what every deploy into an account and region stands on, deployed inline
(it creates the bucket every other template is uploaded to).

- the artifact bucket (versioned, KMS, TLS-only, lifecycle) holding the content-addressed
  templates; it refuses to overwrite a template, and StackSet target accounts may read
  them;
- ECR repositories (scan on push, immutable tags, lifecycle) and the key of both;
- the StackSet administration role (self-managed permissions), behind a toggle.

The CloudFormation execution role, its workload boundary and the CI roles follow in the
deploy-role stack (templates/deploy_role.py), which `make bootstrap` deploys next from
this bucket: its derived policy is too large to pass inline. A StackSet target
(DirectDeploys disabled) gets only the ECR repositories and their key: the stack set's
execution role deploys there (templates/stackset_role.py).

deploy.py reads the outputs (ArtifactBucketName, ArtifactBaseUrl, ArtifactKeyArn).
"""

from __future__ import annotations

import json

from awacs import kms as kms_actions
from awacs import s3 as s3_actions
from awacs import sts as sts_actions
from awacs.aws import (
    Allow,
    Bool,
    Condition,
    Deny,
    Null,
    Policy,
    Principal,
    Statement,
    StringEquals,
)
from troposphere import GetAtt, Join, Not, Ref, Sub, ecr, iam, s3

from templates.base import AWS_NO_VALUE, Equals, If, Tier
from templates.parts.buckets import private_bucket
from templates.parts.deploy import ECR_REPOSITORIES, PULL_REQUEST_PREFIX, TEMPLATES_PREFIX
from templates.parts.iam import policy_dict, policy_document, service_trust
from templates.parts.keys import customer_key

STACKSET_ADMIN_ROLE = "AWSCloudFormationStackSetAdministrationRole"
STACKSET_EXECUTION_ROLE = "AWSCloudFormationStackSetExecutionRole"


def _only_with_readers(statement: Statement) -> If:
    """A statement present only when TemplateReaderAccountIds is not empty."""
    return If("HasTemplateReaders", policy_dict(statement), Ref(AWS_NO_VALUE))


class BootstrapTier(Tier):
    name = "bootstrap"
    description = "artifact bucket, ECR repositories and their key, StackSet administration role"
    nested = False

    def build(self) -> None:
        self.direct = self.toggle(
            "DirectDeploys",
            "Deploys",
            "enabled",
            "enabled: deploy.py deploys this account and region with change sets from the "
            "artifact bucket created here. disabled: a StackSet target, deployed by the stack "
            "set's execution role from the central bucket; only the ECR repositories and "
            "their key.",
        )
        self.artifact_key()
        self.artifact_bucket()
        self.ecr_repositories()
        self.stackset_roles()

    # -- KMS key for artifacts -------------------------------------------------------
    def artifact_key(self) -> None:
        readers = self.parameter(
            "TemplateReaderAccountIds",
            "StackSets",
            "Accounts reading templates",
            Type="CommaDelimitedList",
            Default="",
            Description="Account ids (comma-separated) of the StackSet target accounts allowed "
            "to read templates from the artifact bucket; empty: none.",
        )
        self.readers = readers
        self.condition("HasTemplateReaders", Not(Equals(Join("", readers), "")))
        customer_key(
            self,
            "ArtifactKey",
            "artifacts",
            "streamstack artifacts (${Environment}): templates and container images",
            [
                _only_with_readers(
                    Statement(
                        Sid="TemplateReadersDecryptThroughS3",
                        Effect=Allow,
                        Principal=Principal("AWS", readers),
                        Action=[kms_actions.Decrypt, kms_actions.DescribeKey],
                        Resource=["*"],
                        Condition=Condition(
                            StringEquals("kms:ViaService", Sub("s3.${AWS::Region}.amazonaws.com"))
                        ),
                    )
                )
            ],
            root_sid="AccountAdministersKey",
            alias=False,
        )
        self.output(
            "ArtifactKeyArn",
            GetAtt("ArtifactKey", "Arn"),
            "ARN of the KMS key encrypting artifacts and images",
        )

    # -- artifact bucket -------------------------------------------------------------
    def artifact_bucket(self) -> None:
        days = self.parameter(
            "ArtifactRetentionDays",
            "Artifacts",
            "Artifact retention (days)",
            Type="Number",
            Default=180,
            MinValue=30,
            MaxValue=3650,
            Description="Days an uploaded template is kept. Deploys upload any template that is "
            "missing again, so expiry never breaks a deploy.",
        )
        bucket = self.add(
            self.stateful(
                s3.Bucket(
                    "ArtifactBucket",
                    Condition=self.direct,
                    **private_bucket(GetAtt("ArtifactKey", "Arn")),
                    LifecycleConfiguration=s3.LifecycleConfiguration(
                        Rules=[
                            s3.LifecycleRule(
                                Id="expire-old-artifacts",
                                Prefix="",
                                Status="Enabled",
                                ExpirationInDays=days,
                                NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(
                                    NoncurrentDays=7
                                ),
                                AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(
                                    DaysAfterInitiation=1
                                ),
                            )
                        ]
                    ),
                    Tags=self.tags("s3", "artifacts"),
                )
            )
        )
        self.suppress(
            bucket,
            checkov={
                "CKV_AWS_18": "Holds only content-addressed CloudFormation templates written by "
                "deploy.py; reads and writes are audited by CloudTrail, a second "
                "logging bucket would only log itself.",
            },
        )
        bucket_arn = GetAtt("ArtifactBucket", "Arn")
        objects = Join("", [bucket_arn, "/*"])
        immutable = [
            Join("", [bucket_arn, f"/{prefix}*"])
            for prefix in (TEMPLATES_PREFIX, PULL_REQUEST_PREFIX + TEMPLATES_PREFIX)
        ]
        statements = [
            Statement(
                Sid="DenyInsecureTransport",
                Effect=Deny,
                Principal=Principal("*"),
                Action=[s3_actions.Action("*")],
                Resource=[bucket_arn, objects],
                Condition=Condition(Bool("aws:SecureTransport", False)),
            ),
            # A template's key is the hash of its bytes: a write may create it, never
            # replace it (S3 conditional writes: If-None-Match: *).
            Statement(
                Sid="DenyOverwritingTemplates",
                Effect=Deny,
                Principal=Principal("*"),
                Action=[s3_actions.PutObject],
                Resource=immutable,
                Condition=Condition(Null("s3:if-none-match", "true")),
            ),
            _only_with_readers(
                Statement(
                    Sid="TemplateReadersGetTemplates",
                    Effect=Allow,
                    Principal=Principal("AWS", self.readers),
                    Action=[s3_actions.GetObject, s3_actions.GetObjectVersion],
                    Resource=[Join("", [bucket_arn, f"/{TEMPLATES_PREFIX}*"])],
                )
            ),
        ]
        self.add(
            s3.BucketPolicy(
                "ArtifactBucketPolicy",
                Condition=self.direct,
                Bucket=Ref("ArtifactBucket"),
                PolicyDocument=policy_document(*statements),
            )
        )
        self._direct_output(
            "ArtifactBucketName",
            Ref("ArtifactBucket"),
            "Name of the artifact bucket holding the content-addressed templates",
        )
        self._direct_output(
            "ArtifactBaseUrl",
            Sub("https://${ArtifactBucket}.s3.${AWS::Region}.${AWS::URLSuffix}"),
            "Base URL of the artifact bucket (the root's ArtifactBaseUrl)",
        )

    def _direct_output(self, name: str, value, description: str) -> None:
        self.output(name, If(self.direct, value, ""), description + " (empty in a StackSet target)")

    # -- ECR ---------------------------------------------------------------------------
    def ecr_repositories(self) -> None:
        keep = self.parameter(
            "EcrKeepImages",
            "Images",
            "Images kept per repository",
            Type="Number",
            Default=50,
            MinValue=5,
            MaxValue=1000,
            Description="Tagged images kept per repository; older ones expire.",
        )
        untagged = self.parameter(
            "EcrUntaggedDays",
            "Images",
            "Untagged image expiry (days)",
            Type="Number",
            Default=7,
            MinValue=1,
            MaxValue=365,
            Description="Days an untagged image (a failed or superseded push) is kept.",
        )
        lifecycle = Sub(
            json.dumps(
                {
                    "rules": [
                        {
                            "rulePriority": 1,
                            "description": "expire untagged images",
                            "selection": {
                                "tagStatus": "untagged",
                                "countType": "sinceImagePushed",
                                "countUnit": "days",
                                "countNumber": "${Untagged}",
                            },
                            "action": {"type": "expire"},
                        },
                        {
                            "rulePriority": 2,
                            "description": "keep the newest tagged images",
                            "selection": {
                                "tagStatus": "any",
                                "countType": "imageCountMoreThan",
                                "countNumber": "${Keep}",
                            },
                            "action": {"type": "expire"},
                        },
                    ]
                },
                sort_keys=True,
            )
            .replace('"${Untagged}"', "${Untagged}")
            .replace('"${Keep}"', "${Keep}"),
            Untagged=untagged,
            Keep=keep,
        )
        for logical, purpose in ECR_REPOSITORIES.items():
            self.add(
                self.stateful(
                    ecr.Repository(
                        f"{logical}Repository",
                        RepositoryName=self.physical_name("ecr", purpose),
                        ImageTagMutability="IMMUTABLE",
                        ImageScanningConfiguration=ecr.ImageScanningConfiguration(ScanOnPush=True),
                        EncryptionConfiguration=ecr.EncryptionConfiguration(
                            EncryptionType="KMS", KmsKey=GetAtt("ArtifactKey", "Arn")
                        ),
                        LifecyclePolicy=ecr.LifecyclePolicy(LifecyclePolicyText=lifecycle),
                        Tags=self.tags("ecr", purpose),
                    )
                )
            )
            self.output(
                f"{logical}RepositoryUri",
                GetAtt(f"{logical}Repository", "RepositoryUri"),
                f"URI of the {purpose} image repository",
            )

    # -- StackSets (self-managed permissions) ----------------------------------------------
    def stackset_roles(self) -> None:
        admin = self.toggle(
            "StackSetAdministration",
            "StackSets",
            "disabled",
            "enabled: create AWSCloudFormationStackSetAdministrationRole in this (the "
            "administrator) account. Target accounts get their execution role from the "
            "stackset-role template.",
        )
        self.add(
            iam.Role(
                "StackSetAdministrationRole",
                Condition=admin,
                RoleName=STACKSET_ADMIN_ROLE,
                Description="CloudFormation StackSets assumes this to reach target accounts",
                AssumeRolePolicyDocument=service_trust("cloudformation.amazonaws.com"),
                Policies=[
                    iam.Policy(
                        PolicyName="assume-execution-role",
                        PolicyDocument=Policy(
                            Version="2012-10-17",
                            Statement=[
                                Statement(
                                    Effect=Allow,
                                    Action=[sts_actions.AssumeRole],
                                    Resource=[
                                        Sub(
                                            "arn:${AWS::Partition}:iam::*:role/"
                                            f"{STACKSET_EXECUTION_ROLE}"
                                        )
                                    ],
                                )
                            ],
                        ),
                    )
                ],
                Tags=self.tags("role", "stackset-admin"),
            )
        )
        self.output(
            "StackSetAdministrationRoleArn",
            If(admin, GetAtt("StackSetAdministrationRole", "Arn"), ""),
            "ARN of the StackSet administration role (empty when disabled)",
        )
