"""LOCAL=1: the environment's params with the local profile (params/profiles/local.yaml)
merged over them, and what LocalStack needs prepared before a plan.

LocalStack's Route 53 API works but it has no AWS::Route53::HostedZone resource
provider, so when the params want a new zone (a DomainName and no ExistingHostedZoneId)
the zone is created here through the API and passed as ExistingHostedZoneId, a real
option of the dns tier.
"""

from __future__ import annotations

import uuid

from streamstack import profiles
from streamstack.errors import StreamstackError

ZONE_REASON = (
    "LocalStack has no AWS::Route53::HostedZone provider: the zone is created "
    "through its Route 53 API instead"
)


def apply(ctx, template_parameters: dict, deploy_time: set[str], announce: bool) -> None:
    """Merge the local profile into ctx.params; with announce (a plan), prepare the hosted
    zone and print every change with its reason."""
    profile = profiles.load(
        profiles.LOCAL, template_parameters, deploy_time, ctx.params.path.parent
    )
    extra = {}
    merged = {**ctx.params.parameters, **profile.values}
    if announce and merged.get("DomainName") and not merged.get("ExistingHostedZoneId"):
        extra["ExistingHostedZoneId"] = (
            hosted_zone(ctx.client("route53"), merged["DomainName"]),
            ZONE_REASON,
        )
    ctx.params, changes = profiles.merge(ctx.params, profile, template_parameters, extra)
    if announce:
        shown = profiles.defaults(template_parameters)
        ctx.out(
            f"local profile ({profile.path.name}) changes {len(changes)} parameter(s) of {ctx.env}:"
            if changes
            else f"local profile: no changes to {ctx.env}"
        )
        for change in changes:
            ctx.out(change.line(shown))


def hosted_zone(route53, domain: str) -> str:
    """The id of LocalStack's public zone for domain, created when there is none."""
    name = domain.rstrip(".") + "."
    found = route53.list_hosted_zones_by_name(DNSName=name, MaxItems="1")["HostedZones"]
    if found and found[0]["Name"] == name:
        zone_id = found[0]["Id"]
    else:
        zone_id = route53.create_hosted_zone(
            Name=name,
            CallerReference=f"streamstack-local-{uuid.uuid4()}",
            HostedZoneConfig={"Comment": "streamstack local profile"},
        )["HostedZone"]["Id"]
    zone_id = zone_id.rsplit("/", 1)[-1]
    if not zone_id.startswith("Z"):
        raise StreamstackError(
            f"LocalStack gave the hosted zone for {domain} the id {zone_id}, "
            "which no AWS zone has (they start with Z): restart LocalStack "
            "with `make local-stop local` so its fixes apply"
        )
    return zone_id
