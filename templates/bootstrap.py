"""bootstrap: what every deploy into an account and region stands on.

- the artifact bucket (versioned, KMS, TLS-only, lifecycle) holding the content-addressed
  templates, readable by the accounts a StackSet targets;
- the CloudFormation execution role every deploy passes as RoleARN;
- ECR repositories (scan on push, immutable tags, lifecycle);
- the GitHub Actions OIDC provider and a deploy role scoped to one repository and branch;
- the StackSet administration and execution roles (self-managed permissions), each
  behind a toggle, so a StackSet environment rolls this same template out to its
  target accounts.

deploy.py reads the outputs (ArtifactBucketName, ArtifactBaseUrl, ExecutionRoleArn).
"""
from __future__ import annotations

import fnmatch
import functools
import importlib.resources
import json

from awacs import cloudformation as cfn_actions
from awacs import ec2 as ec2_actions
from awacs import iam as iam_actions
from awacs import kms as kms_actions
from awacs import s3 as s3_actions
from awacs import sts as sts_actions
from awacs import cloudwatch as cw_actions
from awacs.aws import (
    Action, Allow, Bool, Condition, Deny, Policy, Principal, Statement, StringEquals,
    StringLike,
)
from troposphere import And, GetAtt, Join, Not, Ref, Sub, ecr, iam, s3

from templates.base import AWS_NO_VALUE, Equals, If, Tier, arn
from templates.parts.iam import policy_dict, policy_document, service_trust
from templates.parts.keys import customer_key

ECR_REPOSITORIES = {  # logical prefix -> purpose
    "Api": "api", "Web": "web", "Worker": "worker",
}
STACKSET_ADMIN_ROLE = "AWSCloudFormationStackSetAdministrationRole"
STACKSET_EXECUTION_ROLE = "AWSCloudFormationStackSetExecutionRole"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"

# What CloudFormation may do on the platform's behalf, per service: the verbs its
# resource handlers use. Every statement is scoped to this account (and region where
# the ARN has one); IAM is limited to the names CloudFormation generates for
# streamstack stacks, so the role cannot touch anyone else's roles.
SERVICE_VERBS = ["Create*", "Delete*", "Update*", "Modify*", "Put*", "Describe*", "Get*",
                 "List*", "Tag*", "Untag*", "Associate*", "Disassociate*", "Attach*",
                 "Detach*", "Enable*", "Disable*", "Authorize*", "Revoke*", "Replace*",
                 "Allocate*", "Release*", "Add*", "Remove*", "Set*", "Register*",
                 "Deregister*", "Start*", "Stop*", "Run*", "Terminate*", "Request*",
                 "Change*", "Subscribe", "Unsubscribe", "GET", "POST", "PUT", "PATCH",
                 "DELETE"]
REGIONAL_SERVICES = ["ec2", "elasticfilesystem", "logs", "kms", "rds", "elasticache",
                     "dynamodb", "secretsmanager", "sqs", "sns", "events", "ecs",
                     "elasticloadbalancing", "autoscaling", "application-autoscaling",
                     "cloudwatch", "mediaconvert", "apigateway", "acm", "wafv2", "ssm", "ecr"]
GLOBAL_SERVICES = ["cloudfront", "route53"]
SERVICES_PER_POLICY = 6
IAM_VERBS = ["CreatePolicy", "DeletePolicy", "GetPolicy", "CreatePolicyVersion",
             "DeletePolicyVersion", "ListPolicyVersions", "TagPolicy", "UntagPolicy",
             "CreateRole", "DeleteRole", "GetRole", "UpdateRole", "TagRole", "UntagRole",
             "PutRolePolicy", "DeleteRolePolicy", "GetRolePolicy", "AttachRolePolicy",
             "DetachRolePolicy", "UpdateAssumeRolePolicy", "ListRolePolicies",
             "ListAttachedRolePolicies", "CreateInstanceProfile", "DeleteInstanceProfile",
             "GetInstanceProfile", "AddRoleToInstanceProfile", "RemoveRoleFromInstanceProfile",
             "CreateServiceLinkedRole", "PassRole"]


@functools.cache
def _policy_data() -> dict:
    """IAM actions per service, from the policy data cfn-lint ships (read once)."""
    return json.loads((importlib.resources.files("cfnlint.data.AdditionalSpecs")
                       / "Policies.json").read_text())


def _known_actions(service: str) -> tuple[str, ...]:
    """The service's IAM actions (lower case)."""
    return tuple(_policy_data()[service]["Actions"])


PLAN_ACTIONS = [
    cfn_actions.CreateChangeSet, cfn_actions.DescribeChangeSet, cfn_actions.DeleteChangeSet,
    cfn_actions.ListChangeSets, cfn_actions.DescribeStacks, cfn_actions.DescribeStackEvents,
    cfn_actions.DescribeStackResources, cfn_actions.ListStackResources,
    cfn_actions.GetTemplate, cfn_actions.GetTemplateSummary, cfn_actions.DetectStackDrift,
    cfn_actions.DescribeStackResourceDrifts]
EXECUTE_ACTIONS = [cfn_actions.ExecuteChangeSet, cfn_actions.SetStackPolicy,
                   cfn_actions.UpdateTerminationProtection]


def _actions(service: str, verbs: list[str]) -> list[Action]:
    """service:verb for each verb (a wildcard like Create*) that names a real action."""
    known = _known_actions(service)
    return [Action(service, verb) for verb in verbs
            if any(fnmatch.fnmatchcase(action, verb.lower()) for action in known)]


def _only_with_readers(statement: Statement) -> If:
    """A statement present only when TemplateReaderAccountIds is not empty."""
    return If("HasTemplateReaders", policy_dict(statement), Ref(AWS_NO_VALUE))


class BootstrapTier(Tier):
    name = "bootstrap"
    description = ("artifact bucket, CloudFormation execution role, ECR repositories, GitHub "
                   "OIDC deploy role, StackSet administration and execution roles")
    nested = False

    def build(self) -> None:
        self.artifact_key()
        self.artifact_bucket()
        self.execution_role()
        self.ecr_repositories()
        self.github_deploy_role()
        self.stackset_roles()

    # -- KMS key for artifacts -------------------------------------------------------
    def artifact_key(self) -> None:
        readers = self.parameter(
            "TemplateReaderAccountIds", "StackSets", "Accounts reading templates",
            Type="CommaDelimitedList", Default="",
            Description="Account ids (comma-separated) of the StackSet target accounts allowed "
                        "to read templates from the artifact bucket; empty: none.")
        self.readers = readers
        self.condition("HasTemplateReaders", Not(Equals(Join("", readers), "")))
        customer_key(self, "ArtifactKey", "artifacts",
                     "streamstack artifacts (${Environment}): templates and container images",
                     [_only_with_readers(Statement(
                         Sid="TemplateReadersDecryptThroughS3", Effect=Allow,
                         Principal=Principal("AWS", readers),
                         Action=[kms_actions.Decrypt, kms_actions.DescribeKey], Resource=["*"],
                         Condition=Condition(StringEquals(
                             "kms:ViaService", Sub("s3.${AWS::Region}.amazonaws.com")))))],
                     root_sid="AccountAdministersKey", alias=False)
        self.output("ArtifactKeyArn", GetAtt("ArtifactKey", "Arn"),
                    "ARN of the KMS key encrypting artifacts and images")

    # -- artifact bucket -------------------------------------------------------------
    def artifact_bucket(self) -> None:
        days = self.parameter(
            "ArtifactRetentionDays", "Artifacts", "Artifact retention (days)", Type="Number",
            Default=180, MinValue=30, MaxValue=3650,
            Description="Days an uploaded template is kept. Deploys upload any template that is "
                        "missing again, so expiry never breaks a deploy.")
        bucket = self.add(self.stateful(s3.Bucket(
            "ArtifactBucket",
            VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
            BucketEncryption=s3.BucketEncryption(ServerSideEncryptionConfiguration=[
                s3.ServerSideEncryptionRule(
                    ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(
                        SSEAlgorithm="aws:kms", KMSMasterKeyID=GetAtt("ArtifactKey", "Arn")),
                    BucketKeyEnabled=True)]),
            PublicAccessBlockConfiguration=s3.PublicAccessBlockConfiguration(
                BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True,
                RestrictPublicBuckets=True),
            OwnershipControls=s3.OwnershipControls(Rules=[
                s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]),
            LifecycleConfiguration=s3.LifecycleConfiguration(Rules=[s3.LifecycleRule(
                Id="expire-old-artifacts", Prefix="", Status="Enabled", ExpirationInDays=days,
                NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=7),
                AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(
                    DaysAfterInitiation=1))]),
            Tags=self.tags("s3", "artifacts"))))
        self.suppress(bucket, checkov={
            "CKV_AWS_18": "Holds only content-addressed CloudFormation templates written by "
                          "deploy.py; reads and writes are audited by CloudTrail, a second "
                          "logging bucket would only log itself.",
        })
        bucket_arn = GetAtt("ArtifactBucket", "Arn")
        objects = Join("", [bucket_arn, "/*"])
        statements = [
            Statement(Sid="DenyInsecureTransport", Effect=Deny, Principal=Principal("*"),
                      Action=[s3_actions.Action("*")], Resource=[bucket_arn, objects],
                      Condition=Condition(Bool("aws:SecureTransport", False))),
            _only_with_readers(Statement(
                Sid="TemplateReadersGetTemplates", Effect=Allow,
                Principal=Principal("AWS", self.readers),
                Action=[s3_actions.GetObject, s3_actions.GetObjectVersion],
                Resource=[Join("", [bucket_arn, "/templates/*"])])),
        ]
        self.add(s3.BucketPolicy("ArtifactBucketPolicy", Bucket=Ref("ArtifactBucket"),
                                 PolicyDocument=policy_document(*statements)))
        self.output("ArtifactBucketName", Ref("ArtifactBucket"),
                    "Name of the artifact bucket holding the content-addressed templates")
        self.output("ArtifactBaseUrl",
                    Sub("https://${ArtifactBucket}.s3.${AWS::Region}.${AWS::URLSuffix}"),
                    "Base URL of the artifact bucket (the root's ArtifactBaseUrl)")

    # -- CloudFormation execution role ------------------------------------------------
    @staticmethod
    def _service_statements(services: list[str]) -> list[Statement]:
        return [Statement(
            Sid=svc.replace("-", "").capitalize(), Effect=Allow,
            Action=_actions(svc, SERVICE_VERBS),
            Resource=[Sub("arn:${AWS::Partition}:%s:${AWS::Region}:${AWS::AccountId}:*" % svc)])
            for svc in services]

    def _deploy_permissions(self) -> list[Statement]:
        global_ = [Statement(
            Sid="GlobalServices", Effect=Allow,
            Action=[a for svc in GLOBAL_SERVICES for a in _actions(svc, SERVICE_VERBS)],
            Resource=[Sub("arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:*"),
                      Sub("arn:${AWS::Partition}:route53:::*")])]
        return global_ + [
            Statement(Sid="PlatformBuckets", Effect=Allow,
                      Action=_actions("s3", ["CreateBucket", "DeleteBucket", "PutBucket*",
                                             "GetBucket*", "DeleteBucketPolicy", "PutEncryption*",
                                             "GetEncryption*", "PutLifecycle*", "GetLifecycle*",
                                             "PutAccelerate*", "GetAccelerate*", "ListBucket"]),
                      Resource=[Sub("arn:${AWS::Partition}:s3:::s3-*-${Environment}-"
                                    "${AWS::AccountId}-${AWS::Region}")]),
            Statement(Sid="ReadTemplates", Effect=Allow,
                      Action=[s3_actions.GetObject, s3_actions.GetObjectVersion],
                      Resource=[Join("", [GetAtt("ArtifactBucket", "Arn"), "/templates/*"])]),
            Statement(Sid="DecryptTemplates", Effect=Allow,
                      Action=[kms_actions.Decrypt], Resource=[GetAtt("ArtifactKey", "Arn")]),
            Statement(Sid="StackRoles", Effect=Allow, Action=_actions("iam", IAM_VERBS),
                      Resource=[arn("iam", "role/streamstack-*", region=False),
                                arn("iam", "policy/streamstack-*", region=False),
                                arn("iam", "instance-profile/streamstack-*", region=False),
                                arn("iam", "role/aws-service-role/*", region=False)]),
            Statement(Sid="NestedStacks", Effect=Allow,
                      Action=_actions("cloudformation", SERVICE_VERBS),
                      Resource=[arn("cloudformation", "stack/streamstack-*")]),
        ]

    def execution_role(self) -> None:
        # A managed policy holds at most 6,144 characters: the regional services go into
        # a few policies of their own, shared with the StackSet execution role.
        self.deploy_policies = ["DeployPermissions"]
        self.add(iam.ManagedPolicy(
            "DeployPermissions",
            Description="What CloudFormation may create, change and delete for streamstack "
                        "(shared by the execution role and the StackSet execution role)",
            PolicyDocument=Policy(Version="2012-10-17", Statement=self._deploy_permissions())))
        for index in range(0, len(REGIONAL_SERVICES), SERVICES_PER_POLICY):
            services = REGIONAL_SERVICES[index:index + SERVICES_PER_POLICY]
            logical = f"DeployPermissions{index // SERVICES_PER_POLICY + 1}"
            self.deploy_policies.append(logical)
            self.add(iam.ManagedPolicy(
                logical, Description="streamstack deploys: " + ", ".join(services),
                PolicyDocument=Policy(Version="2012-10-17",
                                      Statement=self._service_statements(services))))
        self.add(iam.Role(
            "ExecutionRole", AssumeRolePolicyDocument=service_trust("cloudformation.amazonaws.com"),
            Description="Role CloudFormation assumes for every streamstack deploy (RoleARN)",
            ManagedPolicyArns=[Ref(p) for p in self.deploy_policies],
            Tags=self.tags("role", "cfn-exec")))
        self.output("ExecutionRoleArn", GetAtt("ExecutionRole", "Arn"),
                    "ARN of the CloudFormation execution role every deploy passes as RoleARN")

    # -- ECR ---------------------------------------------------------------------------
    def ecr_repositories(self) -> None:
        keep = self.parameter(
            "EcrKeepImages", "Images", "Images kept per repository", Type="Number", Default=50,
            MinValue=5, MaxValue=1000,
            Description="Tagged images kept per repository; older ones expire.")
        untagged = self.parameter(
            "EcrUntaggedDays", "Images", "Untagged image expiry (days)", Type="Number",
            Default=7, MinValue=1, MaxValue=365,
            Description="Days an untagged image (a failed or superseded push) is kept.")
        lifecycle = Sub(json.dumps({"rules": [
            {"rulePriority": 1, "description": "expire untagged images",
             "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                           "countUnit": "days", "countNumber": "${Untagged}"},
             "action": {"type": "expire"}},
            {"rulePriority": 2, "description": "keep the newest tagged images",
             "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
                           "countNumber": "${Keep}"},
             "action": {"type": "expire"}}]}, sort_keys=True).replace(
                '"${Untagged}"', "${Untagged}").replace('"${Keep}"', "${Keep}"),
            Untagged=untagged, Keep=keep)
        for logical, purpose in ECR_REPOSITORIES.items():
            self.add(self.stateful(ecr.Repository(
                f"{logical}Repository", RepositoryName=self.physical_name("ecr", purpose),
                ImageTagMutability="IMMUTABLE",
                ImageScanningConfiguration=ecr.ImageScanningConfiguration(ScanOnPush=True),
                EncryptionConfiguration=ecr.EncryptionConfiguration(
                    EncryptionType="KMS", KmsKey=GetAtt("ArtifactKey", "Arn")),
                LifecyclePolicy=ecr.LifecyclePolicy(LifecyclePolicyText=lifecycle),
                Tags=self.tags("ecr", purpose))))
            self.output(f"{logical}RepositoryUri", GetAtt(f"{logical}Repository", "RepositoryUri"),
                        f"URI of the {purpose} image repository")

    # -- GitHub Actions ------------------------------------------------------------------
    def github_deploy_role(self) -> None:
        repo = self.parameter(
            "GitHubRepository", "CI", "GitHub repository (owner/name)", Type="String",
            Default="", AllowedPattern=r"^([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)?$",
            ConstraintDescription="owner/name, e.g. example/streamstack, or empty",
            Description="Repository whose workflows may deploy; empty: no CI deploy role.")
        # Referenced by name in the trust policies' Sub strings.
        self.parameter(
            "GitHubBranch", "CI", "Deploying branch", Type="String", Default="main",
            AllowedPattern=r"^[A-Za-z0-9_./-]+$",
            Description="Branch whose workflow runs may plan (the repository's pull requests "
                        "may plan too); executing needs the GitHub environment of this stack.")
        provider = self.parameter(
            "GitHubOidc", "CI", "GitHub OIDC provider", Type="String",
            AllowedValues=["create", "existing"], Default="create",
            Description="create: this stack creates the account's GitHub OIDC provider; "
                        "existing: another stack (or a person) already did.")
        self.condition("HasGitHub", Not(Equals(repo, "")))
        self.condition("CreateOidcProvider", And(Equals(provider, "create"),
                                                  {"Condition": "HasGitHub"}))
        self.add(iam.OIDCProvider(
            "GitHubOidcProvider", Condition="CreateOidcProvider",
            Url=f"https://{GITHUB_OIDC_HOST}", ClientIdList=["sts.amazonaws.com"],
            Tags=self.tags("oidc", "github")))
        self.provider_arn = If("CreateOidcProvider", Ref("GitHubOidcProvider"),
                               arn("iam", f"oidc-provider/{GITHUB_OIDC_HOST}", region=False))
        # Planning runs on the branch and on pull requests and cannot change a stack;
        # executing needs the job's GitHub environment (its protection rules gate it).
        self._github_role(
            "GitHubPlanRole", "github-plan", "plans: creates and reviews change sets",
            [Sub("repo:${GitHubRepository}:ref:refs/heads/${GitHubBranch}"),
             Sub("repo:${GitHubRepository}:pull_request")], PLAN_ACTIONS)
        self._github_role(
            "GitHubDeployRole", "github-deploy", "executes reviewed change sets",
            [Sub("repo:${GitHubRepository}:environment:${Environment}")],
            PLAN_ACTIONS + EXECUTE_ACTIONS)

    def _github_role(self, logical: str, purpose: str, what: str, subjects: list,
                     actions: list) -> None:
        trust = Policy(Version="2012-10-17", Statement=[Statement(
            Effect=Allow, Principal=Principal("Federated", self.provider_arn),
            Action=[sts_actions.AssumeRoleWithWebIdentity],
            Condition=Condition([
                StringEquals(f"{GITHUB_OIDC_HOST}:aud", "sts.amazonaws.com"),
                StringLike(f"{GITHUB_OIDC_HOST}:sub", subjects)]))])
        permissions = Policy(Version="2012-10-17", Statement=[
            Statement(Sid="StreamstackStacks", Effect=Allow, Action=actions,
                      Resource=[arn("cloudformation", "stack/streamstack-*"),
                                arn("cloudformation", "changeSet/deploy-*")]),
            Statement(Sid="DriftStatus", Effect=Allow,
                      Action=[cfn_actions.DescribeStackDriftDetectionStatus],
                      Resource=["*"]),
            # CreateChangeSet with RoleARN passes the execution role.
            Statement(Sid="PassExecutionRole", Effect=Allow, Action=[iam_actions.PassRole],
                      Resource=[GetAtt("ExecutionRole", "Arn")],
                      Condition=Condition(StringEquals("iam:PassedToService",
                                                       "cloudformation.amazonaws.com"))),
            Statement(Sid="UploadTemplates", Effect=Allow,
                      Action=[s3_actions.GetObject, s3_actions.PutObject],
                      Resource=[Join("", [GetAtt("ArtifactBucket", "Arn"), "/templates/*"])]),
            Statement(Sid="EncryptTemplates", Effect=Allow,
                      Action=[kms_actions.GenerateDataKey, kms_actions.Decrypt],
                      Resource=[GetAtt("ArtifactKey", "Arn")]),
            Statement(Sid="DeployTimeLookups", Effect=Allow,
                      Action=[ec2_actions.DescribeManagedPrefixLists,
                              cw_actions.DescribeAlarms],
                      Resource=["*"]),
        ])
        self.add(iam.Role(
            logical, Condition="HasGitHub", AssumeRolePolicyDocument=trust,
            Description=f"GitHub Actions {what} for streamstack", MaxSessionDuration=3600,
            Policies=[iam.Policy(PolicyName=purpose, PolicyDocument=permissions)],
            Tags=self.tags("role", purpose)))
        self.output(f"{logical}Arn", If("HasGitHub", GetAtt(logical, "Arn"), ""),
                    f"ARN of the role GitHub Actions assumes when it {what.split(':')[0]} "
                    "(empty without a repository)")

    # -- StackSets (self-managed permissions) ----------------------------------------------
    def stackset_roles(self) -> None:
        admin = self.toggle(
            "StackSetAdministration", "StackSets", "disabled",
            "enabled: create AWSCloudFormationStackSetAdministrationRole in this (the "
            "administrator) account.")
        execution = self.toggle(
            "StackSetExecution", "StackSets", "disabled",
            "enabled: create AWSCloudFormationStackSetExecutionRole in this (a target) account, "
            "trusted by AdministratorAccountId.")
        admin_account = self.parameter(
            "AdministratorAccountId", "StackSets", "StackSet administrator account",
            Type="String", Default="", AllowedPattern=r"^([0-9]{12})?$",
            ConstraintDescription="a 12-digit account id, or empty",
            Description="Account whose StackSet administration role may assume the execution "
                        "role here; required when StackSetExecution is enabled.")
        self.condition("CreateStackSetExecutionRole", And(
            {"Condition": execution}, Not(Equals(admin_account, ""))))
        self.add(iam.Role(
            "StackSetAdministrationRole", Condition=admin, RoleName=STACKSET_ADMIN_ROLE,
            Description="CloudFormation StackSets assumes this to reach target accounts",
            AssumeRolePolicyDocument=service_trust("cloudformation.amazonaws.com"),
            Policies=[iam.Policy(PolicyName="assume-execution-role", PolicyDocument=Policy(
                Version="2012-10-17", Statement=[Statement(
                    Effect=Allow, Action=[sts_actions.AssumeRole],
                    Resource=[Sub("arn:${AWS::Partition}:iam::*:role/"
                                  f"{STACKSET_EXECUTION_ROLE}")])]))],
            Tags=self.tags("role", "stackset-admin")))
        self.add(iam.Role(
            "StackSetExecutionRole", Condition="CreateStackSetExecutionRole",
            RoleName=STACKSET_EXECUTION_ROLE,
            Description="The StackSet administrator account deploys streamstack here",
            AssumeRolePolicyDocument=Policy(Version="2012-10-17", Statement=[Statement(
                Effect=Allow,
                Principal=Principal("AWS", Sub("arn:${AWS::Partition}:iam::"
                                               "${AdministratorAccountId}:root")),
                Action=[sts_actions.AssumeRole])]),
            ManagedPolicyArns=[Ref(p) for p in self.deploy_policies],
            Tags=self.tags("role", "stackset-exec")))
        self.output("StackSetAdministrationRoleArn",
                    If(admin, GetAtt("StackSetAdministrationRole", "Arn"), ""),
                    "ARN of the StackSet administration role (empty when disabled)")
        self.output("StackSetExecutionRoleName",
                    If("CreateStackSetExecutionRole", STACKSET_EXECUTION_ROLE, ""),
                    "Name of the StackSet execution role (empty when disabled)")
