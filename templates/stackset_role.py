"""stackset-role: the StackSet execution role of one target account, with the same derived
policy as the CloudFormation execution role (and the bootstrap's resources a target gets),
plus the workload boundary of the account's StackSet instances.

Self-managed StackSets need the execution role before any stack set reaches the account,
so a person with that account's credentials deploys this template once (the command
`make bootstrap` prints), and again when the derived policy changes (the digest output
tells). The role trusts only the administrator account's StackSet administration role
(aws:PrincipalArn). A second role lets the administrator account preview changes in the
target (change sets that are never executed) and read this stack; it can change nothing.
"""

from __future__ import annotations

from awacs import cloudformation as cfn_actions
from awacs import kms as kms_actions
from awacs import s3 as s3_actions
from awacs import sts as sts_actions
from awacs.aws import Allow, ArnEquals, Condition, Policy, Principal, Statement, StringEquals
from troposphere import GetAtt, Ref, Select, Split, Sub, iam

from templates.base import DEPLOY_PATH, Tier
from templates.parts.deploy import DeployIdentity, deploy_permissions

BOUNDARY_NAME = "workload-boundary-${Environment}-stackset"
PREVIEW_ROLE = "stackset-preview-${Environment}"


def boundary_policy_name(environment: str) -> str:
    """The WorkloadBoundaryPolicy value StackSet instances of `environment` get."""
    return DEPLOY_PATH.strip("/") + "/" + BOUNDARY_NAME.replace("${Environment}", environment)


def preview_role_name(environment: str) -> str:
    """Path and name of the preview role (for sts:AssumeRole from the administrator)."""
    return DEPLOY_PATH.strip("/") + "/" + PREVIEW_ROLE.replace("${Environment}", environment)


def central_s3_service() -> Sub:
    """S3 of the central artifact bucket's region (the region of its key)."""
    return Sub(
        "s3.${KeyRegion}.amazonaws.com", KeyRegion=Select(3, Split(":", Ref("ArtifactKeyArn")))
    )


def instance_stack_arns(region: str = "*") -> list[Sub]:
    """The stacks StackSets creates for this environment (and their nested stacks)."""
    return [
        Sub(
            f"arn:${{AWS::Partition}}:cloudformation:{region}:${{AWS::AccountId}}:"
            "stack/StackSet-${StackSetName}-*/*"
        )
    ]


class StackSetRoleTier(Tier):
    name = "stackset-role"
    description = (
        "StackSet execution role of a target account (derived policy, trusted by "
        "the administration role only), its workload boundary, a preview role"
    )
    nested = False

    def __init__(self, identity: DeployIdentity | None = None) -> None:
        if identity is None:
            raise ValueError(
                "the StackSet execution role is derived from the other "
                "templates: render it with streamstack.render.render_all"
            )
        self.identity = identity
        super().__init__()

    def build(self) -> None:
        self.parameters()
        self.boundary_and_policies()
        self.execution_role()
        self.preview_role()

    def parameters(self) -> None:
        self.parameter(
            "StackSetName",
            "StackSet",
            "Stack set name",
            Type="String",
            AllowedPattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$",
            Description="The environment's stack set (its instance stacks are StackSet-<name>-*).",
        )
        self.parameter(
            "AdministratorAccountId",
            "StackSet",
            "Administrator account",
            Type="String",
            AllowedPattern=r"^[0-9]{12}$",
            ConstraintDescription="a 12-digit account id",
            Description="Account whose StackSet administration role deploys here.",
        )
        self.parameter(
            "AdministrationRoleName",
            "StackSet",
            "Administration role name",
            Type="String",
            Default="AWSCloudFormationStackSetAdministrationRole",
            AllowedPattern=r"^[\w+=,.@/-]{1,512}$",
            Description="Name of the administration role in the administrator account.",
        )
        self.parameter(
            "ExecutionRoleName",
            "StackSet",
            "Execution role name",
            Type="String",
            Default="AWSCloudFormationStackSetExecutionRole",
            AllowedPattern=r"^[\w+=,.@-]{1,64}$",
            Description="Name the stack set uses for the execution role in this account.",
        )
        self.parameter(
            "ArtifactBucketName",
            "StackSet",
            "Central artifact bucket",
            Type="String",
            AllowedPattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
            Description="The administrator account's artifact bucket (templates/ of it are "
            "readable by this account).",
        )
        self.parameter(
            "ArtifactKeyArn",
            "StackSet",
            "Central artifact key",
            Type="String",
            AllowedPattern=r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$",
            Description="ARN of the KMS key of the administrator account's artifact bucket.",
        )

    def boundary_and_policies(self) -> None:
        self.deploy_policies = deploy_permissions(
            self, self.identity, BOUNDARY_NAME, "the stack set"
        )

    def _trust(self, condition: Condition | None) -> Policy:
        return Policy(
            Version="2012-10-17",
            Statement=[
                Statement(
                    Effect=Allow,
                    Principal=Principal(
                        "AWS", Sub("arn:${AWS::Partition}:iam::${AdministratorAccountId}:root")
                    ),
                    Action=[sts_actions.AssumeRole],
                    **({"Condition": condition} if condition else {}),
                )
            ],
        )

    def execution_role(self) -> None:
        self.add(
            iam.Role(
                "StackSetExecutionRole",
                RoleName=Sub("${ExecutionRoleName}"),
                Description="The StackSet administration role deploys streamstack here",
                AssumeRolePolicyDocument=self._trust(
                    Condition(
                        ArnEquals(
                            "aws:PrincipalArn",
                            Sub(
                                "arn:${AWS::Partition}:iam::${AdministratorAccountId}:"
                                "role/${AdministrationRoleName}"
                            ),
                        )
                    )
                ),
                ManagedPolicyArns=[Ref(p) for p in self.deploy_policies],
                Tags=self.tags("role", "stackset-exec"),
            )
        )
        self.output(
            "ExecutionRoleArn",
            GetAtt("StackSetExecutionRole", "Arn"),
            "ARN of the StackSet execution role",
        )

    def preview_role(self) -> None:
        templates = Sub("arn:${AWS::Partition}:s3:::${ArtifactBucketName}/templates/*")
        self.add(
            iam.Role(
                "StackSetPreviewRole",
                RoleName=Sub(PREVIEW_ROLE),
                Path=DEPLOY_PATH,
                Description="Deep preview from the administrator account: change sets on the "
                "instance stacks, never executed; cannot change any resource",
                AssumeRolePolicyDocument=self._trust(None),
                Policies=[
                    iam.Policy(
                        PolicyName="preview",
                        PolicyDocument=Policy(
                            Version="2012-10-17",
                            Statement=[
                                Statement(
                                    Sid="PreviewChangeSets",
                                    Effect=Allow,
                                    Action=[
                                        cfn_actions.CreateChangeSet,
                                        cfn_actions.DescribeChangeSet,
                                        cfn_actions.DeleteChangeSet,
                                        cfn_actions.DescribeStacks,
                                    ],
                                    Resource=instance_stack_arns(),
                                ),
                                Statement(
                                    Sid="RunTemplateTransforms",
                                    Effect=Allow,
                                    Action=[cfn_actions.CreateChangeSet],
                                    Resource=[
                                        Sub(
                                            "arn:${AWS::Partition}:cloudformation:*:aws:"
                                            "transform/LanguageExtensions"
                                        )
                                    ],
                                ),
                                Statement(
                                    Sid="ReadThisStack",
                                    Effect=Allow,
                                    Action=[cfn_actions.DescribeStacks],
                                    Resource=[
                                        Sub(
                                            "arn:${AWS::Partition}:cloudformation:*:"
                                            "${AWS::AccountId}:stack/${AWS::StackName}/*"
                                        )
                                    ],
                                ),
                                Statement(
                                    Sid="ReadTemplates",
                                    Effect=Allow,
                                    Action=[s3_actions.GetObject],
                                    Resource=[templates],
                                ),
                                Statement(
                                    Sid="DecryptTemplates",
                                    Effect=Allow,
                                    Action=[kms_actions.Decrypt],
                                    Resource=[Sub("${ArtifactKeyArn}")],
                                    Condition=Condition(
                                        StringEquals("kms:ViaService", central_s3_service())
                                    ),
                                ),
                            ],
                        ),
                    )
                ],
                Tags=self.tags("role", "stackset-preview"),
            )
        )
