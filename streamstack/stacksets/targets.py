"""Desired stack instances, their parameter overrides, and grouping into operations.

An instance is (target, region); the target is an account id, or an OU id for
service-managed stack sets. CreateStackInstances/UpdateStackInstances apply one set
of ParameterOverrides to every account x region they name, so instances are grouped
by identical overrides into account x region rectangles: with no per-instance values
the whole environment is one operation; with per-region values (a VPC CIDR, the
region's CloudFront prefix list) it is one operation per region, canary first.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamstack.stacksets.config import StackSetConfig

Overrides = tuple[tuple[str, str], ...]  # sorted (name, value) pairs, hashable


@dataclass(frozen=True, order=True)
class Instance:
    target: str  # account id, or OU id (service-managed)
    region: str

    def __str__(self) -> str:
        return f"{self.target}/{self.region}"


@dataclass(frozen=True)
class Group:
    """Targets x regions that share one set of overrides: one API call."""

    targets: tuple[str, ...]
    regions: tuple[str, ...]
    overrides: Overrides

    @property
    def size(self) -> int:
        return len(self.targets) * len(self.regions)

    def instances(self) -> list[Instance]:
        return [Instance(t, r) for r in self.regions for t in self.targets]

    def api_targets(self, config: StackSetConfig) -> dict:
        """Accounts (self-managed) or DeploymentTargets with OUs (service-managed)."""
        if config.self_managed:
            return {"Accounts": list(self.targets)}
        return {"DeploymentTargets": {"OrganizationalUnitIds": list(self.targets)}}

    def api_overrides(self) -> list[dict]:
        return [{"ParameterKey": k, "ParameterValue": v} for k, v in self.overrides]

    def to_json(self) -> dict:
        return {
            "targets": list(self.targets),
            "regions": list(self.regions),
            "overrides": dict(self.overrides),
        }

    @classmethod
    def from_json(cls, data: dict) -> Group:
        return cls(
            tuple(data["targets"]), tuple(data["regions"]), tuple(sorted(data["overrides"].items()))
        )


def freeze(overrides: dict[str, str]) -> Overrides:
    return tuple(sorted(overrides.items()))


def desired_instances(
    config: StackSetConfig, region_values: dict[str, dict[str, str]] | None = None
) -> dict[Instance, Overrides]:
    """Every targeted instance with its overrides: deploy-time region values (e.g. the
    region's CloudFront prefix list), then the params file's region and account values."""
    targets = config.accounts if config.self_managed else config.organizational_units
    result = {}
    for region in config.regions:
        for target in targets:
            account = target if config.self_managed else None
            result[Instance(target, region)] = freeze(
                {**(region_values or {}).get(region, {}), **config.overrides_for(account, region)}
            )
    return result


def group(instances: dict[Instance, Overrides], region_order: tuple[str, ...]) -> list[Group]:
    """Fewest account x region rectangles with identical overrides, canary region first."""
    position = {region: i for i, region in enumerate(region_order)}
    # region -> overrides -> targets
    per_region: dict[str, dict[Overrides, list[str]]] = {}
    for instance, overrides in sorted(instances.items()):
        per_region.setdefault(instance.region, {}).setdefault(overrides, []).append(instance.target)
    # (targets, overrides) -> regions: regions with the same rectangle share a call
    merged: dict[tuple[tuple[str, ...], Overrides], list[str]] = {}
    for region in sorted(per_region, key=lambda r: position.get(r, len(position))):
        for overrides, targets in per_region[region].items():
            merged.setdefault((tuple(targets), overrides), []).append(region)
    return [
        Group(targets, tuple(regions), overrides)
        for (targets, overrides), regions in merged.items()
    ]
