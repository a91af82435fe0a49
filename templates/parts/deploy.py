"""What the deploy identity's templates (deploy-role, stackset-role) and the bootstrap
share: the artifact bucket's key prefixes, the derived identity handed to a deploy-role
template as data, and the derived half of such a template (the workload boundary and
the managed policies of the derived statements)."""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import Output, Sub, iam

from templates.base import DEPLOY_PATH

# Key prefixes of the artifact bucket: deploys from the main branch read templates/;
# pull-request plans write and read pull-requests/templates/, which no deploy executes.
TEMPLATES_PREFIX = "templates/"
PULL_REQUEST_PREFIX = "pull-requests/"
# The bootstrap's ECR repositories, ecr-<purpose>-<environment>: logical prefix -> purpose.
# The deploy-role stack's image push role may push to exactly these.
ECR_REPOSITORIES = {
    "Api": "api",
    "Web": "web",
    "Worker": "worker",
}
# The platform's reusable workflow that builds, pushes and deploys an application's image.
IMAGE_DELIVERY_WORKFLOW = ".github/workflows/image-delivery.yml"


@dataclass(frozen=True)
class DeployIdentity:
    """The derived part of a deploy role's template (streamstack.identity computes it)."""

    policies: list[list[dict]]  # the role's managed policies' statements
    boundary: list[dict]  # the workload boundary's statements
    digest: str  # of both, so a deployed role can be told current
    ssm_parameters: list[str]  # SSM parameters CloudFormation resolves for the tiers


def deploy_permissions(tier, identity, boundary_name: str, who: str) -> list[str]:
    """The derived half of a deploy role's template (deploy-role, stackset-role): the
    workload boundary `boundary_name` and the managed policies holding the derived
    statements, all under the deploy path. Returns the policies' logical ids."""
    boundary = tier.add(
        iam.ManagedPolicy(
            "WorkloadBoundary",
            Path=DEPLOY_PATH,
            ManagedPolicyName=Sub(boundary_name),
            Description="Permissions boundary of every role the platform creates: at most what "
            "its workloads use (derived from their policies)",
            PolicyDocument={"Version": "2012-10-17", "Statement": identity.boundary},
        )
    )
    reason = (
        "A permissions boundary grants nothing: it caps every platform role at the "
        "actions the platform's own role policies use (derived from them); those "
        "policies scope the resources, and make build proves the boundary covers them."
    )
    tier.suppress(
        boundary,
        checkov={
            "CKV_AWS_108": reason,
            "CKV_AWS_109": reason,
            "CKV_AWS_111": reason,
            # rds-db:connect: the application's IAM sign-in to its database, which the task
            # role's own policy grants for that one database user.
            "CKV_AWS_107": reason,
        },
    )
    logicals = []
    for index, statements in enumerate(identity.policies, start=1):
        logical = f"DeployPermissions{index}"
        logicals.append(logical)
        policy = tier.add(
            iam.ManagedPolicy(
                logical,
                Path=DEPLOY_PATH,
                Description=f"What {who} may do for streamstack ({index} of "
                f"{len(identity.policies)}; derived from the templates' resource "
                "types)",
                PolicyDocument={"Version": "2012-10-17", "Statement": statements},
            )
        )
        if any(s.get("Resource") == ["*"] and s["Effect"] == "Allow" for s in statements):
            tier.suppress(
                policy,
                checkov={
                    "CKV_AWS_111": (
                        "Holds the handler actions IAM authorizes only on * (no resource-level "
                        "permissions: kms:CreateKey, ec2:CreateVpc, ...), derived from the "
                        "provider schemas; every other action is scoped to this account or the "
                        "platform's names, and make build proves each."
                    )
                },
            )
    tier.template.add_output(
        Output(
            "WorkloadBoundaryPolicy",
            Value=Sub(DEPLOY_PATH.strip("/") + "/" + boundary_name),
            Description="Path and name of the permissions boundary every platform role carries "
            "(the tiers' WorkloadBoundaryPolicy)",
        )
    )
    tier.template.add_output(
        Output(
            "DeployPermissionsDigest",
            Value=identity.digest,
            Description="Digest of the derived policy and boundary",
        )
    )
    return logicals
