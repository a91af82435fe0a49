"""Resource shapes several tiers build the same way: generated secrets, encrypted log
groups and workload roles. Each takes the tier, so names, tags and retention policies
follow it."""
from __future__ import annotations

from troposphere import Output, Sub, iam, logs, secretsmanager

from templates.base import DEPLOY_PATH, WORKLOAD_BOUNDARY_ARN, WORKLOAD_PATH


def generated_secret(tier, logical: str, purpose: str, description: str, key_arn,
                     length: int = 64, retain: bool = True, **generate) -> secretsmanager.Secret:
    """A secret whose value Secrets Manager generates (letters and digits only, safe in
    headers, AUTH tokens and JSON), encrypted with key_arn. `generate` adds
    GenerateStringKey/SecretStringTemplate for a JSON secret. Never a parameter."""
    secret = secretsmanager.Secret(
        logical, Description=Sub(f"{description} (streamstack ${{Environment}})"),
        KmsKeyId=key_arn,
        GenerateSecretString=secretsmanager.GenerateSecretString(
            PasswordLength=length, ExcludePunctuation=True, **generate),
        Tags=tier.tags("secret", purpose))
    return tier.add(tier.stateful(secret) if retain else secret)


def log_group(tier, logical: str, purpose: str, retention, key_arn, **kwargs) -> logs.LogGroup:
    """A log group encrypted with key_arn, kept outside dev (it holds data)."""
    return tier.add(tier.stateful(logs.LogGroup(
        logical, RetentionInDays=retention, KmsKeyId=key_arn,
        Tags=tier.tags("logs", purpose), **kwargs)))


def workload_role(tier, role: iam.Role) -> iam.Role:
    """A role of the platform's workloads: under the workload path, with the workload
    permissions boundary. The execution role may create, change and pass only such
    roles, so a role without them fails to deploy."""
    tier.shared_parameter("WorkloadBoundaryPolicy")
    role.Path = Sub(WORKLOAD_PATH)
    role.PermissionsBoundary = Sub(WORKLOAD_BOUNDARY_ARN)
    return role


def workload_instance_profile(profile: iam.InstanceProfile) -> iam.InstanceProfile:
    """An instance profile under the workload path (where the execution role may create
    instance profiles)."""
    profile.Path = Sub(WORKLOAD_PATH)
    return profile


def deploy_permissions(tier, identity, boundary_name: str, who: str) -> list[str]:
    """The derived half of a deploy role's template (deploy-role, stackset-role): the
    workload boundary `boundary_name` and the managed policies holding the derived
    statements, all under the deploy path. Returns the policies' logical ids."""
    boundary = tier.add(iam.ManagedPolicy(
        "WorkloadBoundary", Path=DEPLOY_PATH, ManagedPolicyName=Sub(boundary_name),
        Description="Permissions boundary of every role the platform creates: at most what "
                    "its workloads use (derived from their policies)",
        PolicyDocument={"Version": "2012-10-17", "Statement": identity.boundary}))
    reason = ("A permissions boundary grants nothing: it caps every platform role at the "
              "actions the platform's own role policies use (derived from them); those "
              "policies scope the resources, and make build proves the boundary covers them.")
    tier.suppress(boundary, checkov={"CKV_AWS_108": reason, "CKV_AWS_109": reason,
                                     "CKV_AWS_111": reason})
    logicals = []
    for index, statements in enumerate(identity.policies, start=1):
        logical = f"DeployPermissions{index}"
        logicals.append(logical)
        policy = tier.add(iam.ManagedPolicy(
            logical, Path=DEPLOY_PATH,
            Description=f"What {who} may do for streamstack ({index} of "
                        f"{len(identity.policies)}; derived from the templates' resource "
                        "types)",
            PolicyDocument={"Version": "2012-10-17", "Statement": statements}))
        if any(s.get("Resource") == ["*"] and s["Effect"] == "Allow" for s in statements):
            tier.suppress(policy, checkov={"CKV_AWS_111": (
                "Holds the handler actions IAM authorizes only on * (no resource-level "
                "permissions: kms:CreateKey, ec2:CreateVpc, ...), derived from the provider "
                "schemas; every other action is scoped to this account or the platform's "
                "names, and make build proves each.")})
    tier.template.add_output(Output(
        "WorkloadBoundaryPolicy", Value=Sub(DEPLOY_PATH.strip("/") + "/" + boundary_name),
        Description="Path and name of the permissions boundary every platform role carries "
                    "(the tiers' WorkloadBoundaryPolicy)"))
    tier.template.add_output(Output(
        "DeployPermissionsDigest", Value=identity.digest,
        Description="Digest of the derived policy and boundary"))
    return logicals
