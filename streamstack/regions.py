"""Which regions an environment may deploy to, and why not when it may not.

A region must be one the templates know (the ELB log-delivery accounts in the storage
tier) and must offer every account as many Availability Zones as the network tier
spreads over (Fn::GetAZs lists only the zones the account can use).
"""
from __future__ import annotations

from templates.network import AZ_COUNTS, AZS, TYPICAL_AZ_COUNT
from templates.storage import SUPPORTED_REGIONS


def az_count(region: str) -> int:
    """The fewest Availability Zones an account sees in a supported region."""
    return AZ_COUNTS.get(region, TYPICAL_AZ_COUNT)


def usable_regions() -> tuple[str, ...]:
    """Supported regions with enough Availability Zones for the network tier."""
    return tuple(r for r in SUPPORTED_REGIONS if az_count(r) >= len(AZS))


def region_problem(region) -> str | None:
    """One line saying why an environment cannot deploy to region, or None."""
    if region not in SUPPORTED_REGIONS:
        return (f"{region!r} is not a supported region; allowed: "
                f"{', '.join(usable_regions())}")
    if az_count(region) < len(AZS):
        return (f"{region} offers only {az_count(region)} Availability Zones to most accounts "
                f"and the network tier spreads over {len(AZS)} (its subnets select the "
                f"third zone of Fn::GetAZs); choose another region, e.g. us-west-2")
    return None
