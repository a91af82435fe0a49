"""The `standby:` section of params/<env>.yaml: the region the platform recovers into.

    standby:
      region: us-east-1          # the standby stack's region (make standby)
      parameters:                # the standby template's own parameters
        StandbyApplication: enabled
        StandbyApiTasks: 2

With it, the platform replicates its media and static buckets there, copies its backups
there outside dev, replicates the secrets the standby application reads, and (with
AuroraGlobalDatabase) keeps a secondary cluster there; with StandbyApplication,
api.<domain> fails over to the standby's ALB. Names the root declares too (Environment,
DomainName, AppPort, ...) come from `parameters:` and are passed on by deploy.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streamstack.validation import ParameterContext, Problems, parameter_map, region_problem

KEYS = ("region", "parameters")
# Standby template parameters deploy.py sets itself (from the platform's region and the
# root stack's outputs); params files never set them.
SET_BY_DEPLOY = (
    "PrimaryRegion",
    "DistributionArn",
    "GlobalClusterIdentifier",
    "DatabaseEngineVersion",
    "HostedZoneId",
    "OriginVerifySecretArn",
    "DbAppUsername",
    "DbName",
    "AppSecretArn",
    "CloudFrontPrefixListId",
    "WorkloadBoundaryPolicy",
)


@dataclass(frozen=True)
class StandbySettings:
    region: str
    parameters: dict[str, str] = field(default_factory=dict)

    @property
    def application(self) -> bool:
        return self.parameters.get("StandbyApplication") == "enabled"


def validate_section(
    value: Any, problems: Problems, key: str, context: ParameterContext | None = None
) -> StandbySettings | None:
    """SECTIONS validator for `standby:`; one line per problem (the region against the
    environment's own and the parameters against the built standby template are checked
    by params.parse)."""
    if not isinstance(value, dict):
        problems.add(key, "must be a mapping with region (and parameters)")
        return None
    for name in value:
        if name not in KEYS:
            problems.add(f"{key}.{name}", f"unknown setting; allowed: {', '.join(KEYS)}")
    region = value.get("region")
    if not isinstance(region, str) or not region:
        problems.add(f"{key}.region", "is missing: the region the standby stack lives in")
        return None
    problem = region_problem(region)
    if problem:
        problems.add(f"{key}.region", problem)
        return None
    parameters = parameter_map(value.get("parameters", {}), problems, f"{key}.parameters")
    return StandbySettings(region, parameters)


def check_environment(
    region: str, parameters: dict[str, str], sections: dict, problems: Problems
) -> None:
    """What the standby section means for the rest of the file."""
    standby = sections.get("standby")
    if standby is not None and standby.region == region:
        problems.add(
            "standby.region",
            f"is {region}, the platform's own region: a standby must survive the loss of "
            "that region; choose another",
        )
    if standby is not None and "stackset" in sections:
        problems.add(
            "standby",
            "a StackSet environment deploys its instances to several regions already; a "
            "standby stack is for an environment that is one stack tree",
        )
    global_database = parameters.get("AuroraGlobalDatabase") == "enabled"
    if global_database and parameters.get("Environment") != "prod":
        problems.add(
            "parameters.AuroraGlobalDatabase",
            "is enabled outside prod: a global database doubles the database's cost, so only "
            "prod has one; elsewhere the standby region restores from the copied backups "
            "(set it to disabled)",
        )
    elif global_database and standby is None:
        problems.add(
            "parameters.AuroraGlobalDatabase",
            "is enabled, but a global database needs a standby region for its secondary: "
            "add standby: {region: ...} or set it to disabled",
        )


def settings_of(params) -> StandbySettings | None:
    return params.sections.get("standby")
