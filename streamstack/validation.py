"""Validation primitives: problems collected one line each, the patterns and value
checks every part of a params file shares, and parameter values checked against
CloudFormation Parameter declarations.

A leaf: params.py, deploy/settings.py and stacksets/config.py import this module, and
it imports nothing of theirs (only the error type and the region table).
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamstack import PARAMS_DIR
from streamstack.errors import ParamsError
from templates.parts.images import is_image_parameter, pinning_problem, platform_repositories
from templates.parts.regions import AZ_COUNTS, AZS, SUPPORTED_REGIONS, TYPICAL_AZ_COUNT

ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
TAG_KEY = re.compile(r"^(?!aws:)[\w .:/=+@-]{1,128}$")
TAG_VALUE = re.compile(r"^[\w .:/=+@-]{0,256}$")

# Parameter types whose values are AWS ids: a pattern catches typos before AWS does.
AWS_ID_PATTERNS = {
    "AWS::EC2::VPC::Id": r"^vpc-[0-9a-f]{8,17}$",
    "AWS::EC2::Subnet::Id": r"^subnet-[0-9a-f]{8,17}$",
    "AWS::EC2::SecurityGroup::Id": r"^sg-[0-9a-f]{8,17}$",
    "AWS::EC2::Image::Id": r"^ami-[0-9a-f]{8,17}$",
    "AWS::EC2::KeyPair::KeyName": r"^.{1,255}$",
    "AWS::Route53::HostedZone::Id": r"^Z[0-9A-Z]{1,32}$",
}
# Environments whose parameters may not weaken what the platform promises its viewers:
# no clear text to the origin, no uploads from any site, no image a tag can change.
PROTECTED_ENVIRONMENTS = ("staging", "prod")

__all__ = [
    "ENV_NAME",
    "STACK_NAME",
    "ACCOUNT_ID",
    "TAG_KEY",
    "TAG_VALUE",
    "AWS_ID_PATTERNS",
    "SUPPORTED_REGIONS",
    "Problems",
    "ParameterContext",
    "display",
    "yaml_type",
    "parameter_map",
    "validate_parameters",
    "check_value",
    "check_network",
    "check_protected",
    "PROTECTED_ENVIRONMENTS",
    "region_problem",
    "usable_regions",
    "az_count",
]


# -- regions ---------------------------------------------------------------------------
# A region must be one the templates know (the ELB log-delivery accounts of the storage
# tier) and must offer every account as many Availability Zones as the network tier
# spreads over (Fn::GetAZs lists only the zones the account can use).
def az_count(region: str) -> int:
    """The fewest Availability Zones an account sees in a supported region."""
    return AZ_COUNTS.get(region, TYPICAL_AZ_COUNT)


def usable_regions() -> tuple[str, ...]:
    """Supported regions with enough Availability Zones for the network tier."""
    return tuple(r for r in SUPPORTED_REGIONS if az_count(r) >= len(AZS))


def region_problem(region) -> str | None:
    """One line saying why an environment cannot deploy to region, or None."""
    if region not in SUPPORTED_REGIONS:
        return f"{region!r} is not a supported region; allowed: {', '.join(usable_regions())}"
    if az_count(region) < len(AZS):
        return (
            f"{region} offers only {az_count(region)} Availability Zones to most accounts "
            f"and the network tier spreads over {len(AZS)} (its subnets select the "
            f"third zone of Fn::GetAZs); choose another region, e.g. us-west-2"
        )
    return None


class Problems:
    """Collects one (key, message) per problem in one file; raises them together as
    `<file>: <key>: <message>` lines."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.items: list[tuple[str, str]] = []

    def add(self, key: str, message: str) -> None:
        self.items.append((key, message))

    def __len__(self) -> int:
        return len(self.items)

    @property
    def lines(self) -> list[str]:
        return [f"{self.where}: {key}: {message}" for key, message in self.items]

    def raise_if_any(self) -> None:
        if self.items:
            lines = self.lines
            raise ParamsError(lines[0], lines=lines)


@dataclass(frozen=True)
class ParameterContext:
    """What a section's parameter values (StackSet overrides) are checked against: the
    environment's own validated `parameters:`, and the root template's declarations and
    deploy-time names."""

    values: dict[str, str]
    declarations: dict[str, dict]
    deploy_time: frozenset[str]


def display(path: Path) -> str:
    """A params file's path as users see it: relative to the checkout when inside it."""
    try:
        return str(path.relative_to(PARAMS_DIR.parent))
    except ValueError:
        return str(path)


def yaml_type(value) -> str:
    """What YAML made of a value, in words ("a number", "a list")."""
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
        type(None): "nothing",
    }.get(type(value), type(value).__name__)


def parameter_map(value: Any, problems: Problems, key: str) -> dict[str, str]:
    """A mapping of template parameter name to a string or number, as strings; one line
    per bad entry. Their values are checked against the template they go to by
    validate_parameters."""
    if not isinstance(value, dict):
        problems.add(key, f"must be a mapping of parameter: value, not {yaml_type(value)}")
        return {}
    result = {}
    for name, item in value.items():
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            problems.add(
                f"{key}.{name}", f"must be a string or number, got {yaml_type(item)} {item!r}"
            )
        else:
            result[str(name)] = str(item)
    return result


def validate_parameters(
    values: dict,
    template_parameters: dict,
    deploy_time: set[str],
    problems: Problems,
    prefix: str,
    require_all: bool = True,
    template: str = "root",
    region: str | None = None,
    account: str | None = None,
) -> dict[str, str]:
    """Check values against CloudFormation Parameter declarations; return them as strings.

    require_all=False validates a partial set (e.g. StackSet overrides). region and
    account (the environment's) are where its own ECR images must be.
    """
    result: dict[str, str] = {}
    for name, value in values.items():
        key = f"{prefix}.{name}"
        spec = template_parameters.get(name)
        if spec is None:
            close = _close_names(str(name), template_parameters)
            problems.add(
                key,
                f"is not a parameter of the {template} template"
                + (
                    f"; did you mean {close}?"
                    if close
                    else f"; see `make build` output build/templates/{template}.json"
                ),
            )
            continue
        if name in deploy_time:
            problems.add(key, "is resolved by deploy.py at deploy time; remove it from the file")
            continue
        text = check_value(value, spec, problems, key)
        if text is not None:
            result[name] = text
    if require_all:
        for name, spec in template_parameters.items():
            if name not in values and "Default" not in spec and name not in deploy_time:
                problems.add(f"{prefix}.{name}", f"is required (no default): {_allowed_text(spec)}")
    check_network(result, template_parameters, problems, prefix)
    check_protected(result, template_parameters, problems, prefix, region, account)
    return result


def check_value(value, spec: dict, problems: Problems, key: str) -> str | None:
    ptype = spec["Type"]
    allowed = [str(v) for v in spec.get("AllowedValues", [])]
    if ptype == "Number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.add(key, f"must be a number, got {yaml_type(value)} {value!r}")
            return None
        text = _number_text(value)
        if "MinValue" in spec and value < float(spec["MinValue"]):
            problems.add(key, f"{text} is below the minimum {spec['MinValue']}")
        if "MaxValue" in spec and value > float(spec["MaxValue"]):
            problems.add(key, f"{text} is above the maximum {spec['MaxValue']}")
        if allowed and text not in allowed:
            problems.add(key, f"{text} is not allowed; allowed: {', '.join(allowed)}")
        return text
    if ptype.startswith(("List<", "CommaDelimitedList")):
        if isinstance(value, str):
            items = [v.strip() for v in value.split(",")] if value else []
        elif isinstance(value, list) and all(
            isinstance(v, (str, int)) and not isinstance(v, bool) for v in value
        ):
            items = [str(v) for v in value]
        else:
            problems.add(
                key,
                f"must be a list of strings (or one comma-separated string), "
                f"got {yaml_type(value)}",
            )
            return None
        inner = ptype[5:-1] if ptype.startswith("List<") else "String"
        for i, item in enumerate(items):
            _check_string(item, {**spec, "Type": inner}, problems, f"{key}[{i}]")
        return ",".join(items)
    if isinstance(value, bool) and set(allowed) == {"true", "false"}:
        value = "true" if value else "false"
    if not isinstance(value, str):
        hint = " (quote it)" if isinstance(value, (int, float, bool)) else ""
        problems.add(key, f"must be a string{hint}, got {yaml_type(value)} {value!r}")
        return None
    _check_string(value, spec, problems, key)
    return value


def _check_string(value: str, spec: dict, problems: Problems, key: str) -> None:
    allowed = [str(v) for v in spec.get("AllowedValues", [])]
    if allowed and value not in allowed:
        problems.add(key, f"{value!r} is not allowed; allowed: {', '.join(allowed)}")
        return
    pattern = spec.get("AllowedPattern") or AWS_ID_PATTERNS.get(spec["Type"])
    if pattern and not re.fullmatch(pattern, value):
        what = spec.get("ConstraintDescription") or f"a value matching {pattern}"
        problems.add(key, f"{value!r} is not valid; expected {what}")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        problems.add(key, f"is {len(value)} characters, shorter than {spec['MinLength']}")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        problems.add(key, f"is {len(value)} characters, longer than {spec['MaxLength']}")


def check_network(values: dict, template_parameters: dict, problems: Problems, prefix: str) -> None:
    """Subnet CIDRs must sit inside the VPC CIDR and must not overlap; without NAT the
    app subnets need the interface endpoints."""

    def value(name):
        return values.get(name, template_parameters.get(name, {}).get("Default"))

    if (
        "NatLayout" in values
        and value("NatLayout") == "none"
        and value("InterfaceEndpoints") != "enabled"
    ):
        problems.add(
            f"{prefix}.NatLayout",
            "none leaves the app subnets no way to ECR, "
            "CloudWatch Logs or Secrets Manager: set "
            "InterfaceEndpoints: enabled too",
        )

    vpc_text = value("VpcCidr")
    subnet_names = [n for n in template_parameters if re.fullmatch(r"\w+Subnet\dCidr", n)]
    if not vpc_text or not subnet_names:
        return
    try:
        vpc = ipaddress.ip_network(vpc_text)
        subnets = {n: ipaddress.ip_network(value(n)) for n in subnet_names if value(n)}
    except ValueError as exc:  # pattern errors are already reported
        if "VpcCidr" in values or any(n in values for n in subnet_names):
            problems.add(
                f"{prefix}.VpcCidr",
                f"CIDRs are not valid networks ({exc}); use the network address, e.g. 10.0.0.0/16",
            )
        return
    seen: list[tuple[str, ipaddress.IPv4Network]] = []
    for name, net in sorted(subnets.items()):
        if not net.subnet_of(vpc):
            problems.add(
                f"{prefix}.{name}", f"{net} is outside VpcCidr {vpc}; choose a block inside it"
            )
        for other, other_net in seen:
            if net.overlaps(other_net):
                problems.add(
                    f"{prefix}.{name}",
                    f"{net} overlaps {other} ({other_net}); give each subnet its own block",
                )
        seen.append((name, net))


def check_protected(
    values: dict,
    template_parameters: dict,
    problems: Problems,
    prefix: str,
    region: str | None = None,
    account: str | None = None,
) -> None:
    """In staging and prod: an internal ALB (CloudFront reaches it as a VPC origin, never
    in clear text over the internet), named upload origins, images that cannot change.
    Only the values given are checked; the templates' defaults are the safe choice."""
    environment = values.get(
        "Environment", template_parameters.get("Environment", {}).get("Default")
    )
    if environment not in PROTECTED_ENVIRONMENTS:
        return
    if values.get("AlbScheme") == "internet-facing":
        problems.add(
            f"{prefix}.AlbScheme",
            f"internet-facing is not allowed in {environment}: the ALB would face the "
            "internet, and without a certificate CloudFront would send viewers' requests, "
            "cookies and Authorization headers to it in clear text; set AlbScheme: internal "
            "(CloudFront then reaches it as a VPC origin)",
        )
    if "*" in values.get("UploadCorsOrigins", "").split(","):
        problems.add(
            f"{prefix}.UploadCorsOrigins",
            f"* is not allowed in {environment}: a page on any site could upload with a "
            "viewer's presigned URL; name the origins, e.g. https://app.example.com (empty: "
            "no browser uploads)",
        )
    for name, image in sorted(values.items()):
        if not is_image_parameter(name) or name not in template_parameters:
            continue
        problem = pinning_problem(image, environment, region, account)
        if problem:
            repositories = ", ".join(sorted(platform_repositories(environment)))
            problems.add(
                f"{prefix}.{name}",
                f"{image!r} {problem}: pin it by digest (<image>@sha256:<64 hex digits>) or "
                f"push it to this environment's ECR repositories ({repositories}), whose "
                "tags are immutable",
            )


def _allowed_text(spec: dict) -> str:
    if spec.get("AllowedValues"):
        return "one of " + ", ".join(str(v) for v in spec["AllowedValues"])
    return f"a {spec['Type']} ({spec.get('Description', '').split('.')[0]})"


def _close_names(name: str, template_parameters: dict) -> str:
    return ", ".join(difflib.get_close_matches(name, list(template_parameters), n=2))


def _number_text(value) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
