"""The standby stack (templates/standby.py) as deploy.py sees it: its name, the values it
takes from the platform's region, and what its outputs give the root's deploy-time
parameters. `commands.standby` deploys it; `commands.resolve_deploy_time` reads it.

Order on the first deploy of an environment with a standby region: `make standby`
(replicas, vault, key), then `make deploy` + `make execute` (replication, copies, the
global database, the secret replicas point at them), then `make standby` again (the
secondary cluster joins, the warm application reads the replicated secrets, the
failover record points at its ALB).
"""

from __future__ import annotations

from streamstack.deploy import aws, stacks, third_party_secrets
from streamstack.deploy.standby_settings import settings_of
from streamstack.errors import StreamstackError
from templates.parts import third_party

__all__ = ["settings_of"]

TEMPLATE = "standby"
# The services the warm standby runs (templates/standby.py).
STANDBY_SERVICES = ("Api", "Web")
# Root deploy-time parameter -> the standby stack's output of which it is the value.
ROOT_VALUES = {
    "StandbyKeyArn": "StandbyKeyArn",
    "StandbyBackupVaultArn": "StandbyBackupVaultArn",
    "StaticReplicaBucketDomainName": "StaticReplicaBucketDomainName",
}
# Every root deploy-time parameter this stack decides ("" or disabled without it).
ROOT_NAMES = ("StandbyRegion", "ApiFailover", *ROOT_VALUES)
# Standby parameter -> the root stack's output it comes from.
FROM_ROOT = {
    "DistributionArn": "DistributionArn",
    "GlobalClusterIdentifier": "DbGlobalClusterId",
    "DatabaseEngineVersion": "DbEngineVersion",
    "HostedZoneId": "HostedZoneId",
    "DbAppUsername": "DbAppUsername",
    "DbName": "DbName",
}
# Standby parameter -> the root output naming the secret whose replica it reads.
REPLICATED_SECRETS = {
    "OriginVerifySecretArn": "OriginVerifySecretArn",
    "AppSecretArn": "AppSecretArn",
}


def stack_name(params) -> str:
    return f"{params.stack_name}-standby"


def required(ctx):
    settings = settings_of(ctx.params)
    if settings is None:
        raise StreamstackError(
            f"{ctx.params.path.name} has no standby: section; add standby: {{region: <region>}} "
            "to give the platform a region to recover into"
        )
    return settings


def root_values(ctx) -> dict[str, str]:
    """The root's standby deploy-time values: empty without a standby region; refuses
    when the standby stack that the params name does not exist yet."""
    settings = settings_of(ctx.params)
    if settings is None:
        return {"StandbyRegion": "", "ApiFailover": "disabled", **dict.fromkeys(ROOT_VALUES, "")}
    name = stack_name(ctx.params)
    stack = stacks.describe(ctx.client("cloudformation", settings.region), name)
    outputs = stacks.outputs(stack) if stack else {}
    missing = [o for o in ROOT_VALUES.values() if not outputs.get(o)]
    if stack is None or missing:
        raise StreamstackError(
            f"the standby stack {name} in {settings.region} "
            + ("does not exist" if stack is None else f"has no output {', '.join(missing)}")
            + f": run `make standby ENV={ctx.env}` first (the replicas, vault and key this "
            "deploy points at)"
        )
    return {
        "StandbyRegion": settings.region,
        "ApiFailover": "enabled" if outputs.get("StandbyApplication") == "enabled" else "disabled",
        **{root: outputs[output] for root, output in ROOT_VALUES.items()},
    }


def replica_arn(arn: str, region: str) -> str:
    """A secret's ARN in another region: replicas keep the name and its suffix."""
    parts = arn.split(":")
    parts[3] = region
    return ":".join(parts)


def replicated(secretsmanager, arn: str, region: str) -> bool:
    """Whether the secret has an in-sync replica in region."""
    found = aws.describe_secret(secretsmanager, arn)
    if found is None:
        return False
    return any(
        r.get("Region") == region and r.get("Status") == "InSync"
        for r in found.get("ReplicationStatus", [])
    )


def values(ctx, declared: dict, boot_outputs: dict[str, str]) -> dict[str, str]:
    """The standby template's values: the params file's values of names it shares with the
    root, standby.parameters, and what deploy.py reads from the platform's region."""
    settings = required(ctx)
    result = {k: v for k, v in ctx.params.parameters.items() if k in declared}
    result.update(settings.parameters)
    result["PrimaryRegion"] = ctx.params.region
    result["WorkloadBoundaryPolicy"] = boot_outputs["WorkloadBoundaryPolicy"]
    found = aws.cloudfront_prefix_list_id(ctx.client("ec2", settings.region))
    if found:
        result["CloudFrontPrefixListId"] = found
    root = stacks.describe(ctx.client("cloudformation"), ctx.params.stack_name)
    outputs = stacks.outputs(root) if root else {}
    if root is None:
        ctx.out(
            f"the platform stack {ctx.params.stack_name} is not deployed yet: after its first "
            f"`make deploy ENV={ctx.env}` and `make execute`, run `make standby ENV={ctx.env}` "
            "again (the secondary cluster, secrets and failover record need its outputs)"
        )
    for name, output in FROM_ROOT.items():
        if outputs.get(output):
            result[name] = outputs[output]
    secrets = ctx.client("secretsmanager")
    for name, output in REPLICATED_SECRETS.items():
        arn = outputs.get(output)
        if arn and replicated(secrets, arn, settings.region):
            result[name] = replica_arn(arn, settings.region)
    result.update(third_party_values(ctx, root, settings.region))
    return {k: v for k, v in result.items() if k in declared}


def third_party_values(ctx, root: dict | None, region: str) -> dict[str, str]:
    """The slots as the root stack has them; a standby service gets a secret where the
    platform injects it into the same service and this region's replica is in sync."""
    deployed = stacks.parameters(root) if root else {}
    environment = ctx.params.parameters.get("Environment", ctx.env)
    secrets = ctx.client("secretsmanager")
    found = {}
    for slot in range(1, third_party.SLOTS + 1):
        name = deployed.get(third_party.name_parameter(slot), "")
        found[third_party.name_parameter(slot)] = name
        injected = [
            service
            for service in STANDBY_SERVICES
            if deployed.get(third_party.injection_parameter(slot, service)) == "enabled"
        ]
        in_sync = bool(name and injected) and replicated(
            secrets, third_party_secrets.secret_name(environment, name), region
        )
        for service in STANDBY_SERVICES:
            enabled = in_sync and service in injected
            found[third_party.injection_parameter(slot, service)] = (
                "enabled" if enabled else "disabled"
            )
        if name and injected and not in_sync:
            ctx.out(
                f"secret {name}: its replica in {region} is not in sync yet; the standby "
                f"{', '.join(injected)} get it on the next `make standby ENV={ctx.env}`"
            )
    return found
