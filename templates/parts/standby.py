"""The standby stack's outputs as the tiers of the platform's region receive them: deploy.py
reads them from the standby stack (params `standby:`) and passes them as deploy-time
parameters, declared the same way by every tier that reads them; all are "" when the
environment has no standby region. No export crosses the regions."""

from __future__ import annotations

from troposphere import And, Sub
from troposphere import Condition as IsTrue

from templates.base import Equals, Not

KEY_ARN = r"arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+"

STANDBY_OUTPUTS = {
    "StandbyRegion": (
        r"^([a-z]{2}(-[a-z]+)+-[0-9])?$",
        "Region of the standby stack (params standby.region, set by deploy.py). Empty: no "
        "standby region.",
    ),
    "StandbyKeyArn": (
        rf"^({KEY_ARN})?$",
        "KMS key of the standby stack in the standby region (its output, passed by "
        "deploy.py): replicas, backup copies and secret replicas are encrypted with it.",
    ),
    "StandbyBackupVaultArn": (
        r"^(arn:aws[a-z-]*:backup:[a-z0-9-]+:[0-9]{12}:backup-vault:[A-Za-z0-9_.-]+)?$",
        "Backup vault of the standby stack (its output, passed by deploy.py): outside dev "
        "every recovery point is copied there.",
    ),
    "StaticReplicaBucketDomainName": (
        r"^([a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\.s3\.[a-z0-9-]+\.amazonaws\.com)?$",
        "Regional domain name of the static bucket's replica in the standby region (the "
        "standby stack's output, passed by deploy.py). Given: /static/* fails over to it.",
    ),
}


def standby_parameter(tier, name: str):
    """A parameter fed by the standby stack (deploy.py resolves it)."""
    pattern, description = STANDBY_OUTPUTS[name]
    return tier.from_other_stack(
        name, pattern, description, "empty, or the standby stack's output of that name"
    )


def has_standby(tier) -> str:
    """StandbyRegion and the condition HasStandby (it is not empty)."""
    region = standby_parameter(tier, "StandbyRegion")
    if "HasStandby" not in tier.template.conditions:
        tier.condition("HasStandby", Not(Equals(region, "")))
    return "HasStandby"


def replicates(tier) -> str:
    """The condition ReplicateToStandby: a standby region whose stack exists (its key is
    known), so replicas there can be written."""
    if "ReplicateToStandby" not in tier.template.conditions:
        key = standby_parameter(tier, "StandbyKeyArn")
        tier.condition("ReplicateToStandby", And(IsTrue(has_standby(tier)), Not(Equals(key, ""))))
    return "ReplicateToStandby"


# The name Route 53 answers with the primary ALB, or the standby's when the primary's
# health check fails: api.<domain> is an alias of it when the standby runs the
# application.
FAILOVER_HOST = "failover.api"
# Buckets replicated to the standby region: purpose -> the replica's purpose.
REPLICATED_BUCKETS = {"media": "media-replica", "static-assets": "static-replica"}


def replica_bucket_name(purpose: str, region: str = "${StandbyRegion}") -> str:
    """s3-<replica purpose>-<env>-<account>-<standby region>, as Fn::Sub text:
    deterministic, so the primary's replication rule names its destination without
    reading the standby stack (which names its own with region ${AWS::Region})."""
    return f"s3-{REPLICATED_BUCKETS[purpose]}-${{Environment}}-${{AWS::AccountId}}-{region}"


def replica_bucket_arn(purpose: str) -> Sub:
    return Sub("arn:${AWS::Partition}:s3:::" + replica_bucket_name(purpose))
