"""deploy-role: the identity every deploy of an account and region runs as.

- the CloudFormation execution role every deploy passes as RoleARN. Its policies are
  derived at build time from the resource types of the other templates
  (streamstack/identity) and handed to this template as data: it may create, change
  and pass only the platform's workload roles, each with the workload permissions
  boundary created here, and can never change itself, its policies or the boundary;
- GitHub Actions OIDC roles: plan (the main branch), pull request (plans into a prefix
  of its own; its change sets can never be executed) and deploy (the protected GitHub
  environment executes reviewed change sets);
- for the application repositories params list (GitHubApplicationRepositories), the
  image push role (push to exactly the bootstrap's ECR repositories of this environment),
  and the plan and deploy roles trust them too, but only for jobs of the platform's own
  image-delivery workflow on its branch (the job_workflow_ref claim).

`make bootstrap` deploys it right after the bootstrap stack, from the artifact bucket.
deploy.py reads ExecutionRoleArn and WorkloadBoundaryPolicy.
"""

from __future__ import annotations

from awacs import cloudformation as cfn_actions
from awacs import cloudwatch as cw_actions
from awacs import ec2 as ec2_actions
from awacs import ecr as ecr_actions
from awacs import iam as iam_actions
from awacs import kms as kms_actions
from awacs import s3 as s3_actions
from awacs import secretsmanager as sm_actions
from awacs import ssm as ssm_actions
from awacs import sts as sts_actions
from awacs.aws import Allow, Condition, Policy, Principal, Statement, StringEquals, StringLike
from troposphere import And, Equals, GetAtt, If, Join, Not, Ref, Split, Sub, iam

from templates.base import DEPLOY_PATH, Tier, arn
from templates.parts import third_party
from templates.parts.deploy import (
    ECR_REPOSITORIES,
    IMAGE_DELIVERY_WORKFLOW,
    PULL_REQUEST_PREFIX,
    TEMPLATES_PREFIX,
    DeployIdentity,
    deploy_permissions,
)
from templates.parts.iam import policy_dict, policy_document, service_trust

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
EXECUTION_PATH = DEPLOY_PATH + "execution/"
BOUNDARY_NAME = "workload-boundary-${Environment}-${AWS::Region}"

PLAN_ACTIONS = [
    cfn_actions.CreateChangeSet,
    cfn_actions.DescribeChangeSet,
    cfn_actions.DeleteChangeSet,
    cfn_actions.ListChangeSets,
    cfn_actions.DescribeStacks,
    cfn_actions.DescribeStackEvents,
    cfn_actions.DescribeStackResources,
    cfn_actions.ListStackResources,
    cfn_actions.GetTemplate,
    cfn_actions.GetTemplateSummary,
    cfn_actions.DetectStackDrift,
    cfn_actions.DescribeStackResourceDrifts,
    cfn_actions.Action("DescribeEvents"),
]
EXECUTE_ACTIONS = [
    cfn_actions.ExecuteChangeSet,
    cfn_actions.SetStackPolicy,
    cfn_actions.UpdateTerminationProtection,
]


# What deploys keep in the artifact bucket for the next ones (streamstack/deploy/history.py):
# each plan and timeline, and the durations this environment's executions measured.
PLANS_PREFIX = "plans/${Environment}/"
DURATIONS = PLANS_PREFIX + "durations.json"

# What pushing an image to a repository takes (and reading its scan), besides the
# account-wide GetAuthorizationToken.
PUSH_ACTIONS = [
    ecr_actions.BatchCheckLayerAvailability,
    ecr_actions.InitiateLayerUpload,
    ecr_actions.UploadLayerPart,
    ecr_actions.CompleteLayerUpload,
    ecr_actions.PutImage,
    ecr_actions.BatchGetImage,
    ecr_actions.DescribeImages,
    ecr_actions.DescribeImageScanFindings,
]

# Nested stacks are named <root>-<logical id>-<random>, and every tier's logical id ends
# in Stack: the pattern takes them and leaves the root's bootstrap and edge stacks out.
NESTED_STACKS = "${PlatformStackName}-*Stack-*"


def stack_arns() -> list[Sub]:
    """The platform's root stack and its nested stacks."""
    return [
        arn("cloudformation", "stack/${PlatformStackName}/*"),
        arn("cloudformation", f"stack/{NESTED_STACKS}/*"),
    ]


def ssm_parameter_arns(names: list[str]) -> list[Sub]:
    # AWS's public parameters (/aws/service/...) belong to no account.
    return [
        Sub(
            "arn:${AWS::Partition}:ssm:${AWS::Region}:"
            + ("" if name.startswith("/aws/") else "${AWS::AccountId}")
            + f":parameter{name}"
        )
        for name in names
    ]


class DeployRoleTier(Tier):
    name = "deploy-role"
    description = (
        "CloudFormation execution role (derived policy), workload permissions "
        "boundary, GitHub OIDC roles"
    )
    nested = False

    def __init__(self, identity: DeployIdentity | None = None) -> None:
        if identity is None:
            raise ValueError(
                "the execution role is derived from the other templates: render "
                "it with streamstack.render.render_all"
            )
        self.identity = identity
        super().__init__()

    def build(self) -> None:
        self.parameter(
            "PlatformStackName",
            "Deploys",
            "Root stack name",
            Type="String",
            AllowedPattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$",
            ConstraintDescription="a CloudFormation stack name",
            Description="The platform's root stack (params stack_name; deploy.py sets it). The "
            "execution role and the CI roles may act on this stack and the stacks "
            "named after it only.",
        )
        self.parameter(
            "BootstrapStackName",
            "Deploys",
            "Bootstrap stack name",
            Type="String",
            AllowedPattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$",
            ConstraintDescription="a CloudFormation stack name",
            Description="The bootstrap stack (deploy.py sets it); this stack is named after "
            "it with -role. The CI roles read both stacks' outputs.",
        )
        self.parameter(
            "ArtifactBucketName",
            "Deploys",
            "Artifact bucket",
            Type="String",
            AllowedPattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
            Description="The bootstrap stack's artifact bucket (deploy.py sets it).",
        )
        self.parameter(
            "ArtifactKeyArn",
            "Deploys",
            "Artifact key",
            Type="String",
            AllowedPattern=r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$",
            Description="ARN of the bootstrap stack's artifact key (deploy.py sets it).",
        )
        self.execution_role()
        self.github_roles()

    # -- CloudFormation execution role and the workload boundary ------------------------
    def execution_role(self) -> None:
        policies = deploy_permissions(self, self.identity, BOUNDARY_NAME, "CloudFormation")
        self.add(
            iam.Role(
                "ExecutionRole",
                Path=EXECUTION_PATH,
                AssumeRolePolicyDocument=service_trust("cloudformation.amazonaws.com"),
                Description="Role CloudFormation assumes for every streamstack deploy (RoleARN)",
                ManagedPolicyArns=[Ref(p) for p in policies],
                Tags=self.tags("role", "cfn-exec"),
            )
        )
        self.output(
            "ExecutionRoleArn",
            GetAtt("ExecutionRole", "Arn"),
            "ARN of the CloudFormation execution role every deploy passes as RoleARN",
        )

    # -- GitHub Actions ------------------------------------------------------------------
    def github_roles(self) -> None:
        repo = self.parameter(
            "GitHubRepository",
            "CI",
            "GitHub repository (owner/name)",
            Type="String",
            Default="",
            AllowedPattern=r"^([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)?$",
            ConstraintDescription="owner/name, e.g. example/streamstack, or empty",
            Description="Repository whose workflows may deploy; empty: no CI roles.",
        )
        # Referenced by name in the trust policies' Sub strings.
        self.parameter(
            "GitHubBranch",
            "CI",
            "Deploying branch",
            Type="String",
            Default="main",
            AllowedPattern=r"^[A-Za-z0-9_./-]+$",
            Description="Branch whose workflow runs may plan; pull requests plan with a role of "
            "their own; executing needs the GitHub environment of this stack.",
        )
        provider = self.parameter(
            "GitHubOidc",
            "CI",
            "GitHub OIDC provider",
            Type="String",
            AllowedValues=["create", "existing"],
            Default="create",
            Description="create: this stack creates the account's GitHub OIDC provider; "
            "existing: another stack (or a person) already did.",
        )
        applications = self.parameter(
            "GitHubApplicationRepositories",
            "CI",
            "Application repositories (owner/name, ...)",
            Type="CommaDelimitedList",
            Default="",
            AllowedPattern=r"^([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)?$",
            ConstraintDescription="owner/name entries, e.g. example/video-api",
            Description="Repositories whose workflows deliver images through the platform's "
            "image-delivery workflow (params deploy.github.applications); empty: no image "
            "push role.",
        )
        self.condition("HasGitHub", Not(Equals(repo, "")))
        self.condition(
            "HasApplications",
            And({"Condition": "HasGitHub"}, Not(Equals(Join("", applications), ""))),
        )
        # repo:<owner/name>:* for every application repository.
        self.application_subjects = Split(
            ",", Join("", ["repo:", Join(":*,repo:", applications), ":*"])
        )
        self.image_workflow = Sub(
            "${GitHubRepository}/" + IMAGE_DELIVERY_WORKFLOW + "@refs/heads/${GitHubBranch}"
        )
        self.condition(
            "CreateOidcProvider", And(Equals(provider, "create"), {"Condition": "HasGitHub"})
        )
        self.add(
            iam.OIDCProvider(
                "GitHubOidcProvider",
                Condition="CreateOidcProvider",
                Url=f"https://{GITHUB_OIDC_HOST}",
                ClientIdList=["sts.amazonaws.com"],
                Tags=self.tags("oidc", "github"),
            )
        )
        self.provider_arn = If(
            "CreateOidcProvider",
            Ref("GitHubOidcProvider"),
            arn("iam", f"oidc-provider/{GITHUB_OIDC_HOST}", region=False),
        )
        # Planning on the branch writes templates/ and deploy-* change sets; a pull request
        # writes only under pull-requests/ and pr-* change sets, which no role can execute.
        # Executing needs the job's GitHub environment (its protection rules gate it).
        self._github_role(
            "GitHubPlanRole",
            "github-plan",
            "plans the branch: creates and reviews change sets",
            Sub("repo:${GitHubRepository}:ref:refs/heads/${GitHubBranch}"),
            PLAN_ACTIONS,
            TEMPLATES_PREFIX,
            "deploy-*",
            history=([PLANS_PREFIX + "*"], [PLANS_PREFIX + "*"]),
            application_claim=("ref", Sub("refs/heads/${GitHubBranch}")),
        )
        self._github_role(
            "GitHubPullRequestRole",
            "github-pull-request",
            "plans pull requests: change sets from their own template prefix, never executed",
            Sub("repo:${GitHubRepository}:pull_request"),
            PLAN_ACTIONS,
            PULL_REQUEST_PREFIX + TEMPLATES_PREFIX,
            "pr-*",
            history=([DURATIONS], [PULL_REQUEST_PREFIX + PLANS_PREFIX + "*"]),
        )
        self._github_role(
            "GitHubDeployRole",
            "github-deploy",
            "executes reviewed change sets",
            Sub("repo:${GitHubRepository}:environment:${Environment}"),
            PLAN_ACTIONS + EXECUTE_ACTIONS,
            TEMPLATES_PREFIX,
            "deploy-*",
            history=([PLANS_PREFIX + "*"], [PLANS_PREFIX + "*"]),
            application_claim=("environment", Ref("Environment")),
        )
        self.image_push_role()

    def _application_trust(self, claim=None) -> Statement:
        """Trust for jobs of the application repositories that run the platform's
        image-delivery workflow (and, with `claim`, carry that claim's value)."""
        equals = {
            f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com",
            f"{GITHUB_OIDC_HOST}:job_workflow_ref": self.image_workflow,
        }
        if claim:
            equals[f"{GITHUB_OIDC_HOST}:{claim[0]}"] = claim[1]
        conditions = [
            StringEquals(equals),
            StringLike(f"{GITHUB_OIDC_HOST}:sub", self.application_subjects),
        ]
        return Statement(
            Sid="ImageDeliveryWorkflow",
            Effect=Allow,
            Principal=Principal("Federated", self.provider_arn),
            Action=[sts_actions.AssumeRoleWithWebIdentity],
            Condition=Condition(conditions),
        )

    def image_push_role(self) -> None:
        """Pushes images to exactly this environment's ECR repositories, for the
        application repositories' runs of the image-delivery workflow."""
        repositories = [
            arn("ecr", f"repository/ecr-{purpose}-${{Environment}}")
            for purpose in ECR_REPOSITORIES.values()
        ]
        role = self.add(
            iam.Role(
                "GitHubImagePushRole",
                Condition="HasApplications",
                AssumeRolePolicyDocument=policy_document(self._application_trust()),
                Path=DEPLOY_PATH,
                Description="GitHub Actions pushes application images for streamstack",
                MaxSessionDuration=3600,
                Policies=[
                    iam.Policy(
                        PolicyName="github-image-push",
                        PolicyDocument=Policy(
                            Version="2012-10-17",
                            Statement=[
                                Statement(
                                    Sid="PushToThePlatformsRepositories",
                                    Effect=Allow,
                                    Action=PUSH_ACTIONS,
                                    Resource=repositories,
                                ),
                                Statement(
                                    Sid="EcrLogin",
                                    Effect=Allow,
                                    Action=[ecr_actions.GetAuthorizationToken],
                                    Resource=["*"],
                                ),
                            ],
                        ),
                    )
                ],
                Tags=self.tags("role", "github-image-push"),
            )
        )
        self.suppress(
            role,
            checkov={
                "CKV_AWS_111": "Only ecr:GetAuthorizationToken uses *: it has no resource-level "
                "permissions; every push is scoped to this environment's repositories."
            },
        )
        self.output(
            "GitHubImagePushRoleArn",
            If("HasApplications", GetAtt("GitHubImagePushRole", "Arn"), ""),
            "ARN of the role the image-delivery workflow assumes to push images (empty "
            "without application repositories)",
        )

    def _github_role(
        self,
        logical: str,
        purpose: str,
        what: str,
        subject,
        actions: list,
        prefix: str,
        change_sets: str,
        history: tuple[list[str], list[str]],
        application_claim: tuple | None = None,
    ) -> None:
        own = Statement(
            Effect=Allow,
            Principal=Principal("Federated", self.provider_arn),
            Action=[sts_actions.AssumeRoleWithWebIdentity],
            Condition=Condition(
                [
                    StringEquals(f"{GITHUB_OIDC_HOST}:aud", "sts.amazonaws.com"),
                    StringLike(f"{GITHUB_OIDC_HOST}:sub", [subject]),
                ]
            ),
        )
        trust = (
            policy_document(
                own,
                If(
                    "HasApplications",
                    policy_dict(self._application_trust(application_claim)),
                    Ref("AWS::NoValue"),
                ),
            )
            if application_claim
            else Policy(Version="2012-10-17", Statement=[own])
        )
        templates = Sub(f"arn:${{AWS::Partition}}:s3:::${{ArtifactBucketName}}/{prefix}*")
        template_urls = Sub(
            f"https://${{ArtifactBucketName}}.s3.${{AWS::Region}}.${{AWS::URLSuffix}}/{prefix}*"
        )
        create = [a for a in actions if a == cfn_actions.CreateChangeSet]
        others = [
            a
            for a in actions
            if a != cfn_actions.CreateChangeSet and a != cfn_actions.ExecuteChangeSet
        ]
        statements = [
            # Change sets only by this role's name prefix, from this role's templates.
            Statement(
                Sid="CreateChangeSets",
                Effect=Allow,
                Action=create,
                Resource=stack_arns(),
                Condition=Condition(
                    StringLike(
                        {
                            "cloudformation:ChangeSetName": change_sets,
                            "cloudformation:TemplateUrl": template_urls,
                        }
                    )
                ),
            ),
            # Some reads (DescribeChangeSet, DescribeEvents) are authorized against the
            # change set's ARN too: this role's, nested ones included (named after it).
            Statement(
                Sid="StreamstackStacks",
                Effect=Allow,
                Action=others,
                Resource=stack_arns() + [arn("cloudformation", f"changeSet/{change_sets}")],
            ),
            # The templates use AWS::LanguageExtensions: a change set runs the transform.
            Statement(
                Sid="RunTemplateTransforms",
                Effect=Allow,
                Action=create,
                Resource=[
                    Sub(
                        "arn:${AWS::Partition}:cloudformation:${AWS::Region}:aws:"
                        "transform/LanguageExtensions"
                    )
                ],
            ),
        ]
        if cfn_actions.ExecuteChangeSet in actions:
            statements.append(
                Statement(
                    Sid="ExecuteReviewedChangeSets",
                    Effect=Allow,
                    Action=[cfn_actions.ExecuteChangeSet],
                    Resource=stack_arns(),
                    Condition=Condition(StringLike("cloudformation:ChangeSetName", change_sets)),
                )
            )
        statements += [
            # deploy.py reads the bootstrap's outputs, the edge stack's in us-east-1 and
            # the standby stack's in the standby region (any region: params name it).
            Statement(
                Sid="ReadBootstrapEdgeAndStandby",
                Effect=Allow,
                Action=[cfn_actions.DescribeStacks],
                Resource=[
                    arn("cloudformation", "stack/${BootstrapStackName}/*"),
                    arn("cloudformation", "stack/${BootstrapStackName}-role/*"),
                    Sub(
                        "arn:${AWS::Partition}:cloudformation:us-east-1:"
                        "${AWS::AccountId}:stack/${PlatformStackName}-edge/*"
                    ),
                    Sub(
                        "arn:${AWS::Partition}:cloudformation:*:"
                        "${AWS::AccountId}:stack/${PlatformStackName}-standby/*"
                    ),
                ],
            ),
            Statement(
                Sid="DriftStatus",
                Effect=Allow,
                Action=[cfn_actions.DescribeStackDriftDetectionStatus],
                Resource=["*"],
            ),
            # CreateChangeSet with RoleARN passes the execution role.
            Statement(
                Sid="PassExecutionRole",
                Effect=Allow,
                Action=[iam_actions.PassRole],
                Resource=[GetAtt("ExecutionRole", "Arn")],
                Condition=Condition(
                    StringEquals("iam:PassedToService", "cloudformation.amazonaws.com")
                ),
            ),
            # Writes can only create a template (the bucket policy refuses overwrites);
            # deploy.py reads each back and checks its hash before using it.
            Statement(
                Sid="UploadTemplates",
                Effect=Allow,
                Action=[s3_actions.GetObject, s3_actions.PutObject],
                Resource=[templates],
            ),
            # Without ListBucket S3 answers a missing key with 403, not 404: an upload
            # could not tell a template to write from a refused read, nor a plan an
            # environment never measured from a denied read. It lists key names only.
            Statement(
                Sid="TellMissingKeys",
                Effect=Allow,
                Action=[s3_actions.ListBucket],
                Resource=[Sub("arn:${AWS::Partition}:s3:::${ArtifactBucketName}")],
            ),
            # Plans, timelines and measured durations (read: the estimate; write: the
            # plan or the execution's timeline); a pull request writes apart.
            *(
                Statement(
                    Sid=sid,
                    Effect=Allow,
                    Action=[action],
                    Resource=[
                        Sub(f"arn:${{AWS::Partition}}:s3:::${{ArtifactBucketName}}/{key}")
                        for key in keys
                    ],
                )
                for sid, action, keys in (
                    ("ReadDeployHistory", s3_actions.GetObject, history[0]),
                    ("WriteDeployHistory", s3_actions.PutObject, history[1]),
                )
            ),
            Statement(
                Sid="EncryptTemplates",
                Effect=Allow,
                Action=[kms_actions.GenerateDataKey, kms_actions.Decrypt],
                Resource=[Ref("ArtifactKeyArn")],
            ),
            Statement(
                Sid="DeployTimeLookups",
                Effect=Allow,
                Action=[ec2_actions.DescribeManagedPrefixLists, cw_actions.DescribeAlarms],
                Resource=["*"],
            ),
            # Whether a third-party secret has a value yet (its metadata, never the value).
            Statement(
                Sid="ThirdPartySecretStates",
                Effect=Allow,
                Action=[sm_actions.DescribeSecret],
                Resource=[arn("secretsmanager", f"secret:{third_party.SECRET_PREFIX}*")],
            ),
        ]
        if self.identity.ssm_parameters:
            statements.append(
                Statement(
                    Sid="ResolveSsmParameterTypes",
                    Effect=Allow,
                    Action=[ssm_actions.GetParameters],
                    Resource=ssm_parameter_arns(self.identity.ssm_parameters),
                )
            )
        role = self.add(
            iam.Role(
                logical,
                Condition="HasGitHub",
                AssumeRolePolicyDocument=trust,
                Path=DEPLOY_PATH,
                Description=f"GitHub Actions {what} for streamstack",
                MaxSessionDuration=3600,
                Policies=[
                    iam.Policy(
                        PolicyName=purpose,
                        PolicyDocument=Policy(Version="2012-10-17", Statement=statements),
                    )
                ],
                Tags=self.tags("role", purpose),
            )
        )
        self.suppress(
            role,
            checkov={
                "CKV_AWS_111": "Every write is scoped to the platform's stacks, change-set names "
                "and template prefix; only lookups without resource-level "
                "permissions use *."
            },
        )
        self.output(
            f"{logical}Arn",
            If("HasGitHub", GetAtt(logical, "Arn"), ""),
            f"ARN of the role GitHub Actions assumes when it {what.split(':')[0]} "
            "(empty without a repository)",
        )
