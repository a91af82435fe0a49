"""IAM roles that AWS services assume for the platform, and policy documents.

Every role a tier creates is a workload role: one AWS service may assume it for this
account only (aws:SourceAccount guards against the confused deputy), with one inline
policy scoped to the ARNs the service needs, under the workload path and with the
workload permissions boundary. The execution role may create, change and pass only such
roles, so a role without them fails to deploy.
"""

from __future__ import annotations

from awacs import ecr as ecr_actions
from awacs import kms as kms_actions
from awacs import logs as logs_actions
from awacs.aws import Allow, Condition, Policy, Principal, Statement, StringEquals
from awacs.sts import AssumeRole
from troposphere import GetAtt, Ref, Sub, encode_to_dict, iam

from templates.base import WORKLOAD_BOUNDARY_ARN, WORKLOAD_PATH


def policy_dict(policy) -> dict:
    """An awacs Policy (or Statement) as a plain dict, for properties typed as dict."""
    return encode_to_dict(policy)


def policy_document(*statements) -> dict:
    """A policy document whose statements may be Fn::If (awacs' Policy only takes
    Statement objects)."""
    return {
        "Version": "2012-10-17",
        "Statement": [policy_dict(s) if isinstance(s, Statement) else s for s in statements],
    }


def secrets_key_statement(sid: str, key_arn, *actions) -> Statement:
    """kms:Decrypt (and `actions`) on the key of the platform's secrets, only as Secrets
    Manager uses it on the caller's behalf."""
    return Statement(
        Sid=sid,
        Effect=Allow,
        Action=[kms_actions.Decrypt, *actions],
        Resource=[key_arn],
        Condition=Condition(
            StringEquals("kms:ViaService", Sub("secretsmanager.${AWS::Region}.amazonaws.com"))
        ),
    )


def service_trust(service, source_account: bool = True) -> Policy:
    """AssumeRolePolicyDocument letting one AWS service assume a role for this account
    only (aws:SourceAccount), or, with source_account=False, for a service that assumes
    only roles it was passed and sends no source account."""
    guard = (
        {"Condition": Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId")))}
        if source_account
        else {}
    )
    return Policy(
        Version="2012-10-17",
        Statement=[
            Statement(
                Effect=Allow, Principal=Principal("Service", service), Action=[AssumeRole], **guard
            )
        ],
    )


def service_role(
    tier,
    logical: str,
    service: str,
    purpose: str,
    statements=(),
    *,
    policy_name: str | None = None,
    condition: str | None = None,
    source_account: bool = True,
    **properties,
) -> iam.Role:
    """Workload role `logical` that `service` assumes, tagged role-<purpose>-<env>, with
    one inline policy `policy_name` holding `statements` (Statement objects or Fn::If of
    them); no inline policy without statements. Added to the tier; returned for
    suppressions."""
    if statements:
        properties["Policies"] = [
            iam.Policy(
                PolicyName=policy_name or purpose, PolicyDocument=policy_document(*statements)
            )
        ]
    if condition:
        properties["Condition"] = condition
    tier.shared_parameter("WorkloadBoundaryPolicy")
    return tier.add(
        iam.Role(
            logical,
            AssumeRolePolicyDocument=service_trust(service, source_account),
            Path=Sub(WORKLOAD_PATH),
            PermissionsBoundary=Sub(WORKLOAD_BOUNDARY_ARN),
            Tags=tier.tags("role", purpose),
            **properties,
        )
    )


def instance_profile(
    tier, logical: str, role: str, condition: str | None = None
) -> iam.InstanceProfile:
    """An instance profile of workload role `role`, under the workload path (where the
    execution role may create instance profiles)."""
    extra = {"Condition": condition} if condition else {}
    return tier.add(
        iam.InstanceProfile(logical, Path=Sub(WORKLOAD_PATH), Roles=[Ref(role)], **extra)
    )


def task_execution_role(
    tier,
    service: str,
    purpose: str,
    secrets: list,
    repositories,
    *,
    policy_name: str = "start-tasks",
    condition: str | None = None,
) -> iam.Role:
    """<service>ExecutionRole: what ECS needs to start the service's tasks: `secrets`
    (the statements for the secrets its containers get), its log group <service>LogGroup,
    images from `repositories` (an ECR repository ARN pattern), and the ECR login."""
    role = service_role(
        tier,
        f"{service}ExecutionRole",
        "ecs-tasks.amazonaws.com",
        purpose,
        [
            *secrets,
            Statement(
                Sid="ContainerLogs",
                Effect=Allow,
                Action=[logs_actions.CreateLogStream, logs_actions.PutLogEvents],
                Resource=[GetAtt(f"{service}LogGroup", "Arn")],
            ),
            Statement(
                Sid="PullFromThisAccountsEcr",
                Effect=Allow,
                Action=[
                    ecr_actions.BatchCheckLayerAvailability,
                    ecr_actions.GetDownloadUrlForLayer,
                    ecr_actions.BatchGetImage,
                ],
                Resource=[repositories],
            ),
            Statement(
                Sid="EcrLogin",
                Effect=Allow,
                Action=[ecr_actions.GetAuthorizationToken],
                Resource=["*"],
            ),
        ],
        policy_name=policy_name,
        condition=condition,
    )
    tier.suppress(
        role,
        checkov={
            "CKV_AWS_111": "ecr:GetAuthorizationToken has no resource-level permissions; "
            "it must be granted on *."
        },
    )
    return role
