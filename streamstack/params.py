"""params/<env>.yaml: loading and strict validation.

A params file holds, per environment, the root template's parameter values and the
settings around them (stack name, region, account, tags; later sections: deploy
behaviour, StackSet targets). Validation is complete before anything talks to AWS:
every problem is reported on its own line naming the file, the key, what is wrong
and what is allowed.

    stack_name: streamstack-dev       # CloudFormation stack name
    region: us-west-2                 # where the root stack lives
    account_id: "123456789012"        # optional: deploy refuses other accounts
    tags: {Project: video-streaming}  # stack-level tags, inherited by every resource
    parameters: {Environment: dev, NatLayout: single, ...}
"""
from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from streamstack import BUILD_DIR, PARAMS_DIR
from streamstack.deploy import settings as deploy_settings
from streamstack.errors import ParamsError
from streamstack.regions import region_problem
from templates.base import DEPLOY_TIME_KEY, ENVIRONMENTS
from templates.storage import SUPPORTED_REGIONS

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


@dataclass(frozen=True)
class EnvParams:
    """A validated params file."""

    environment: str
    path: Path
    stack_name: str
    region: str
    account_id: str | None
    tags: dict[str, str]
    parameters: dict[str, str]          # CloudFormation parameter values, as strings
    sections: dict[str, Any] = field(default_factory=dict)  # validated extra sections

    def cfn_parameters(self, extra: dict[str, str] | None = None) -> list[dict]:
        """ParameterKey/ParameterValue pairs for CreateChangeSet."""
        values = {**self.parameters, **(extra or {})}
        return [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(values.items())]


class _Problems:
    """Collects one line per problem; raises them together."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[str] = []

    def add(self, key: str, message: str) -> None:
        self.lines.append(f"{_display(self.path)}: {key}: {message}")

    def raise_if_any(self) -> None:
        if self.lines:
            raise ParamsError(self.lines[0], lines=self.lines)


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(PARAMS_DIR.parent))
    except ValueError:
        return str(path)


# -- sections beyond parameters ----------------------------------------------------
# name -> validator(value, problems, key) returning the parsed section. Later issues
# (deploy behaviour, StackSet targets) register theirs here.
SECTIONS: dict[str, Callable[[Any, _Problems, str], Any]] = {}
SECTIONS["deploy"] = deploy_settings.validate


def known_environments(params_dir: Path = PARAMS_DIR) -> list[str]:
    return sorted(p.stem for p in params_dir.glob("*.yaml"))


def params_path(env: str, params_dir: Path = PARAMS_DIR) -> Path:
    known = ", ".join(known_environments(params_dir)) or "none"
    if not ENV_NAME.match(env or ""):
        raise ParamsError(f"environment name {env!r} is not valid: use lower-case letters, "
                          f"digits and dashes (known: {known})")
    path = params_dir / f"{env}.yaml"
    if not path.is_file():
        raise ParamsError(f"unknown environment {env!r}: there is no {_display(path)} "
                          f"(known: {known}); copy one of them to create it")
    return path


def root_parameters(build_dir: Path = BUILD_DIR) -> tuple[dict, set[str]]:
    """Parameters and deploy-time names of the built root template."""
    root = build_dir / "templates" / "root.json"
    if not root.is_file():
        raise ParamsError(f"{root} does not exist: run `make build` first")
    template = json.loads(root.read_text())
    return template.get("Parameters", {}), set(template.get("Metadata", {}).get(DEPLOY_TIME_KEY, []))


def standalone_parameters(build_dir: Path = BUILD_DIR) -> dict[str, dict]:
    """Parameters of the built stand-alone templates (bootstrap, edge) that exist."""
    texts = {}
    for files in STANDALONE_TEMPLATES.values():
        for name in files:
            path = build_dir / "templates" / f"{name}.json"
            if path.is_file():
                texts[name] = path.read_text()
    return standalone_declared(texts)


def standalone_declared(texts: dict[str, str]) -> dict[str, dict]:
    """What each params map of STANDALONE_MAPS may set, from the templates' texts: the
    bootstrap map goes to the bootstrap and the deploy-role stacks."""
    found = {}
    for name, files in STANDALONE_TEMPLATES.items():
        declared = {}
        for file in files:
            if file in texts:
                declared.update(json.loads(texts[file]).get("Parameters", {}))
        if declared:
            found[name] = declared
    return found


def load(env: str, *, params_dir: Path = PARAMS_DIR, build_dir: Path = BUILD_DIR,
         template_parameters: dict | None = None, deploy_time: set[str] | None = None,
         standalone: dict[str, dict] | None = None) -> EnvParams:
    """Load and fully validate params/<env>.yaml against the root template's Parameters.

    template_parameters/deploy_time default to the built root (build/templates/root.json),
    standalone to the built bootstrap and edge templates.
    """
    path = params_path(env, params_dir)
    if template_parameters is None:
        template_parameters, deploy_time = root_parameters(build_dir)
    if standalone is None:
        standalone = standalone_parameters(build_dir)
    return parse(path, env, template_parameters, deploy_time or set(), standalone)


def parse(path: Path, env: str, template_parameters: dict, deploy_time: set[str],
          standalone: dict[str, dict] | None = None) -> EnvParams:
    problems = _Problems(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "somewhere"
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ParamsError(f"{_display(path)}: is not valid YAML ({where}: {reason}); "
                          "fix the syntax") from None
    if data is None:
        raise ParamsError(f"{_display(path)}: is empty; it needs at least stack_name, region "
                          "and parameters (see params/dev.yaml)")
    if not isinstance(data, dict):
        raise ParamsError(f"{_display(path)}: must be a mapping of settings, "
                          f"not {_yaml_type(data)}")

    allowed = {"stack_name", "region", "account_id", "tags", "parameters", *SECTIONS}
    for key in data:
        if key not in allowed:
            problems.add(str(key), f"unknown setting; allowed: {', '.join(sorted(allowed))}")

    stack_name = _required_str(data, "stack_name", problems)
    if stack_name and not STACK_NAME.match(stack_name):
        problems.add("stack_name", f"{stack_name!r} is not a valid stack name: start with a "
                                   "letter, then letters, digits and dashes, at most 128")
    region = _required_str(data, "region", problems)
    if region and region_problem(region):
        problems.add("region", region_problem(region))
    account_id = data.get("account_id")
    if account_id is not None:
        if not isinstance(account_id, str) or not ACCOUNT_ID.match(account_id):
            problems.add("account_id", f"{account_id!r} is not a 12-digit account id in quotes "
                                       "(e.g. \"123456789012\"); leave it out to allow any")
            account_id = None
    tags = _tags(data.get("tags", {}), problems)

    raw_parameters = data.get("parameters")
    if raw_parameters is None:
        problems.add("parameters", "is missing; it holds the root template's parameter values")
        raw_parameters = {}
    elif not isinstance(raw_parameters, dict):
        problems.add("parameters", f"must be a mapping of name: value, not "
                                   f"{_yaml_type(raw_parameters)}")
        raw_parameters = {}
    parameters = validate_parameters(raw_parameters, template_parameters, deploy_time,
                                     problems, "parameters")
    if env in ENVIRONMENTS and parameters.get("Environment") not in (None, env):
        problems.add("parameters.Environment",
                     f"is {parameters['Environment']!r} but this is the {env} params file; "
                     f"set it to {env!r}")

    # What section validators check against (StackSet parameter overrides).
    problems.parameters, problems.template_parameters = parameters, template_parameters
    problems.deploy_time = deploy_time
    sections = {}
    for name, validator in SECTIONS.items():
        if name in data:
            sections[name] = validator(data[name], problems, name)
    _check_standalone_maps(data, standalone or {}, template_parameters, problems)
    problems.raise_if_any()
    return EnvParams(environment=env, path=path, stack_name=stack_name, region=region,
                     account_id=account_id, tags=tags, parameters=parameters, sections=sections)


# -- stand-alone templates' parameter maps ------------------------------------------------
# Where a params file sets parameters of a stand-alone template: (section, key) -> template.
# The stand-alone templates a params map's values go to.
STANDALONE_TEMPLATES = {"bootstrap": ("bootstrap", "deploy-role"), "edge": ("edge",)}
STANDALONE_MAPS = {("deploy", "bootstrap_parameters"): "bootstrap",
                   ("deploy", "edge_parameters"): "edge",
                   ("stackset", "bootstrap_parameters"): "bootstrap"}
# Edge parameters deploy.py sets itself from the root stack (commands.edge): the zone it
# created or uses, and the distribution the CloudFront alarm watches.
EDGE_RESOLVED = {"HostedZoneId", "DistributionId"}


def _check_standalone_maps(data: dict, standalone: dict[str, dict], root_parameters: dict,
                           problems: _Problems) -> None:
    """deploy.bootstrap_parameters, deploy.edge_parameters, stackset.bootstrap_parameters:
    names, types and values against the built template they go to. An edge parameter
    the root declares too (Environment, DomainName, ...) comes from `parameters:`."""
    for (section, key), template in STANDALONE_MAPS.items():
        values = data.get(section, {}).get(key) if isinstance(data.get(section), dict) else None
        declared = standalone.get(template)
        if not isinstance(values, dict) or declared is None:
            continue   # a wrong shape is the section validator's line; no build, no check
        prefix = f"{section}.{key}"
        resolved = EDGE_RESOLVED if template == "edge" else set()
        if template == "edge":
            for name in sorted(set(values) & set(root_parameters) & set(declared)):
                problems.add(f"{prefix}.{name}", f"is shared with the root template: set "
                                                 f"parameters.{name} instead")
            values = {k: v for k, v in values.items() if k not in root_parameters}
        validate_parameters(values, declared, resolved, problems, prefix, require_all=False,
                            template=template)


# -- parameter values ------------------------------------------------------------
def validate_parameters(values: dict, template_parameters: dict, deploy_time: set[str],
                        problems: _Problems, prefix: str, require_all: bool = True,
                        template: str = "root") -> dict[str, str]:
    """Check values against CloudFormation Parameter declarations; return them as strings.

    require_all=False validates a partial set (e.g. StackSet overrides).
    """
    result: dict[str, str] = {}
    for name, value in values.items():
        key = f"{prefix}.{name}"
        spec = template_parameters.get(name)
        if spec is None:
            close = _close_names(str(name), template_parameters)
            problems.add(key, f"is not a parameter of the {template} template"
                              + (f"; did you mean {close}?" if close else
                                 f"; see `make build` output build/templates/{template}.json"))
            continue
        if name in deploy_time:
            problems.add(key, "is resolved by deploy.py at deploy time; remove it from the file")
            continue
        text = _check_value(value, spec, problems, key)
        if text is not None:
            result[name] = text
    if require_all:
        for name, spec in template_parameters.items():
            if name not in values and "Default" not in spec and name not in deploy_time:
                problems.add(f"{prefix}.{name}", f"is required (no default): "
                                                 f"{_allowed_text(spec)}")
    _check_network(result, template_parameters, problems, prefix)
    return result


def _check_value(value, spec: dict, problems: _Problems, key: str) -> str | None:
    ptype = spec["Type"]
    allowed = [str(v) for v in spec.get("AllowedValues", [])]
    if ptype == "Number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.add(key, f"must be a number, got {_yaml_type(value)} {value!r}")
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
        elif isinstance(value, list) and all(isinstance(v, (str, int)) and not isinstance(v, bool)
                                             for v in value):
            items = [str(v) for v in value]
        else:
            problems.add(key, f"must be a list of strings (or one comma-separated string), "
                              f"got {_yaml_type(value)}")
            return None
        inner = ptype[5:-1] if ptype.startswith("List<") else "String"
        for i, item in enumerate(items):
            _check_string(item, {**spec, "Type": inner}, problems, f"{key}[{i}]")
        return ",".join(items)
    if isinstance(value, bool) and set(allowed) == {"true", "false"}:
        value = "true" if value else "false"
    if not isinstance(value, str):
        hint = " (quote it)" if isinstance(value, (int, float, bool)) else ""
        problems.add(key, f"must be a string{hint}, got {_yaml_type(value)} {value!r}")
        return None
    _check_string(value, spec, problems, key)
    return value


def _check_string(value: str, spec: dict, problems: _Problems, key: str) -> None:
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


def _check_network(values: dict, template_parameters: dict, problems: _Problems,
                   prefix: str) -> None:
    """Subnet CIDRs must sit inside the VPC CIDR and must not overlap; without NAT the
    app subnets need the interface endpoints."""
    def value(name):
        return values.get(name, template_parameters.get(name, {}).get("Default"))

    if "NatLayout" in values and value("NatLayout") == "none" and \
            value("InterfaceEndpoints") != "enabled":
        problems.add(f"{prefix}.NatLayout", "none leaves the app subnets no way to ECR, "
                                            "CloudWatch Logs or Secrets Manager: set "
                                            "InterfaceEndpoints: enabled too")

    vpc_text = value("VpcCidr")
    subnet_names = [n for n in template_parameters if re.fullmatch(r"\w+Subnet\dCidr", n)]
    if not vpc_text or not subnet_names:
        return
    try:
        vpc = ipaddress.ip_network(vpc_text)
        subnets = {n: ipaddress.ip_network(value(n)) for n in subnet_names if value(n)}
    except ValueError as exc:  # pattern errors are already reported
        if "VpcCidr" in values or any(n in values for n in subnet_names):
            problems.add(f"{prefix}.VpcCidr", f"CIDRs are not valid networks ({exc}); "
                                               "use the network address, e.g. 10.0.0.0/16")
        return
    seen: list[tuple[str, ipaddress.IPv4Network]] = []
    for name, net in sorted(subnets.items()):
        if not net.subnet_of(vpc):
            problems.add(f"{prefix}.{name}", f"{net} is outside VpcCidr {vpc}; choose a block "
                                             "inside it")
        for other, other_net in seen:
            if net.overlaps(other_net):
                problems.add(f"{prefix}.{name}", f"{net} overlaps {other} ({other_net}); "
                                                 "give each subnet its own block")
        seen.append((name, net))


# -- helpers ----------------------------------------------------------------------
def _required_str(data: dict, key: str, problems: _Problems) -> str:
    value = data.get(key)
    if value is None:
        problems.add(key, "is missing")
        return ""
    if not isinstance(value, str):
        problems.add(key, f"must be a string, got {_yaml_type(value)} {value!r}")
        return ""
    return value


def _tags(tags, problems: _Problems) -> dict[str, str]:
    if not isinstance(tags, dict):
        problems.add("tags", f"must be a mapping of tag: value, not {_yaml_type(tags)}")
        return {}
    if len(tags) > 50:
        problems.add("tags", f"has {len(tags)} tags; CloudFormation allows at most 50")
    result = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not TAG_KEY.match(key):
            problems.add(f"tags.{key}", "is not a valid tag key (1-128 characters, not "
                                        "starting with aws:)")
        elif not isinstance(value, str) or not TAG_VALUE.match(value):
            problems.add(f"tags.{key}", f"must be a string of at most 256 characters, got "
                                        f"{_yaml_type(value)} {value!r}")
        else:
            result[key] = value
    return result


def _allowed_text(spec: dict) -> str:
    if spec.get("AllowedValues"):
        return "one of " + ", ".join(str(v) for v in spec["AllowedValues"])
    return f"a {spec['Type']} ({spec.get('Description', '').split('.')[0]})"


def _close_names(name: str, template_parameters: dict) -> str:
    import difflib
    return ", ".join(difflib.get_close_matches(name, list(template_parameters), n=2))


def _number_text(value) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _yaml_type(value) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "a mapping", type(None): "nothing"}.get(type(value),
                                                                           type(value).__name__)


from streamstack.stacksets.config import validate_section as _stackset  # noqa: E402
SECTIONS["stackset"] = _stackset
