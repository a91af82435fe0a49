"""params/<env>.yaml: loading and strict validation.

A params file holds, per environment, the root template's parameter values and the
settings around them (stack name, region, account, tags, and the `deploy:`,
`stackset:` and `secrets:` sections). Validation is complete before anything talks to AWS:
every problem is reported on its own line naming the file, the key, what is wrong
and what is allowed.

    stack_name: streamstack-dev       # CloudFormation stack name
    region: us-west-2                 # where the root stack lives
    account_id: "123456789012"        # optional: deploy refuses other accounts
    tags: {Project: video-streaming}  # stack-level tags, inherited by every resource
    parameters: {Environment: dev, NatLayout: single, ...}
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from streamstack import BUILD_DIR, PARAMS_DIR
from streamstack.deploy import settings as deploy_settings
from streamstack.deploy import standby_settings, third_party_secrets
from streamstack.errors import ParamsError
from streamstack.stacksets import config as stackset_config
from streamstack.validation import (
    ACCOUNT_ID,
    ENV_NAME,
    STACK_NAME,
    TAG_KEY,
    TAG_VALUE,
    ParameterContext,
    Problems,
    display,
    region_problem,
    validate_parameters,
    yaml_type,
)
from templates.base import DEPLOY_TIME_KEY, ENVIRONMENTS


@dataclass(frozen=True)
class EnvParams:
    """A validated params file."""

    environment: str
    path: Path
    stack_name: str
    region: str
    account_id: str | None
    tags: dict[str, str]
    parameters: dict[str, str]  # CloudFormation parameter values, as strings
    sections: dict[str, Any] = field(default_factory=dict)  # validated extra sections

    def cfn_parameters(self, extra: dict[str, str] | None = None) -> list[dict]:
        """ParameterKey/ParameterValue pairs for CreateChangeSet."""
        values = {**self.parameters, **(extra or {})}
        return [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(values.items())]


# The settings of a params file besides its sections (SECTIONS below).
SETTINGS = ("stack_name", "region", "account_id", "tags", "parameters")

# -- sections beyond parameters ----------------------------------------------------
# name -> validator(value, problems, key, context) returning the parsed section.
SECTIONS: dict[str, Callable[[Any, Problems, str, ParameterContext], Any]] = {
    "deploy": deploy_settings.validate,
    "stackset": stackset_config.validate_section,
    "standby": standby_settings.validate_section,
    third_party_secrets.SECTION: third_party_secrets.validate,
}


def known_environments(params_dir: Path = PARAMS_DIR) -> list[str]:
    return sorted(p.stem for p in params_dir.glob("*.yaml"))


def params_path(env: str, params_dir: Path = PARAMS_DIR) -> Path:
    known = ", ".join(known_environments(params_dir)) or "none"
    if not ENV_NAME.match(env or ""):
        raise ParamsError(
            f"environment name {env!r} is not valid: use lower-case letters, "
            f"digits and dashes (known: {known})"
        )
    path = params_dir / f"{env}.yaml"
    if not path.is_file():
        raise ParamsError(
            f"unknown environment {env!r}: there is no {display(path)} "
            f"(known: {known}); copy one of them to create it"
        )
    return path


def root_parameters(build_dir: Path = BUILD_DIR) -> tuple[dict, set[str]]:
    """Parameters and deploy-time names of the built root template."""
    root = build_dir / "templates" / "root.json"
    if not root.is_file():
        raise ParamsError(f"{root} does not exist: run `make build` first")
    template = json.loads(root.read_text())
    return template.get("Parameters", {}), set(
        template.get("Metadata", {}).get(DEPLOY_TIME_KEY, [])
    )


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


def load(
    env: str,
    *,
    params_dir: Path = PARAMS_DIR,
    build_dir: Path = BUILD_DIR,
    template_parameters: dict | None = None,
    deploy_time: set[str] | None = None,
    standalone: dict[str, dict] | None = None,
) -> EnvParams:
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


def parse(
    path: Path,
    env: str,
    template_parameters: dict,
    deploy_time: set[str],
    standalone: dict[str, dict] | None = None,
) -> EnvParams:
    problems = Problems(display(path))
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "somewhere"
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ParamsError(
            f"{display(path)}: is not valid YAML ({where}: {reason}); fix the syntax"
        ) from None
    if data is None:
        raise ParamsError(
            f"{display(path)}: is empty; it needs at least stack_name, region "
            "and parameters (see params/dev.yaml)"
        )
    if not isinstance(data, dict):
        raise ParamsError(f"{display(path)}: must be a mapping of settings, not {yaml_type(data)}")

    allowed = {*SETTINGS, *SECTIONS}
    for key in data:
        if key not in allowed:
            problems.add(str(key), f"unknown setting; allowed: {', '.join(sorted(allowed))}")

    stack_name = _required_str(data, "stack_name", problems)
    if stack_name and not STACK_NAME.match(stack_name):
        problems.add(
            "stack_name",
            f"{stack_name!r} is not a valid stack name: start with a "
            "letter, then letters, digits and dashes, at most 128",
        )
    region = _required_str(data, "region", problems)
    if region and region_problem(region):
        problems.add("region", region_problem(region))
    account_id = data.get("account_id")
    if account_id is not None:
        if not isinstance(account_id, str) or not ACCOUNT_ID.match(account_id):
            problems.add(
                "account_id",
                f"{account_id!r} is not a 12-digit account id in quotes "
                '(e.g. "123456789012"); leave it out to allow any',
            )
            account_id = None
    tags = _tags(data.get("tags", {}), problems)

    raw_parameters = data.get("parameters")
    if raw_parameters is None:
        problems.add("parameters", "is missing; it holds the root template's parameter values")
        raw_parameters = {}
    elif not isinstance(raw_parameters, dict):
        problems.add(
            "parameters", f"must be a mapping of name: value, not {yaml_type(raw_parameters)}"
        )
        raw_parameters = {}
    parameters = validate_parameters(
        raw_parameters,
        template_parameters,
        deploy_time,
        problems,
        "parameters",
        region=region or None,
        account=account_id,
    )
    if env in ENVIRONMENTS and parameters.get("Environment") not in (None, env):
        problems.add(
            "parameters.Environment",
            f"is {parameters['Environment']!r} but this is the {env} params file; "
            f"set it to {env!r}",
        )

    context = ParameterContext(parameters, template_parameters, frozenset(deploy_time))
    sections = {}
    for name, validator in SECTIONS.items():
        if name in data:
            sections[name] = validator(data[name], problems, name, context)
    standby_settings.check_environment(region, parameters, sections, problems)
    if third_party_secrets.SECTION in data and "stackset" in data:
        problems.add(
            third_party_secrets.SECTION,
            "a StackSet environment cannot declare third-party secrets (each target "
            "account would need its own values); declare them in a stack environment",
        )
    _check_standalone_maps(data, standalone or {}, template_parameters, problems)
    problems.raise_if_any()
    return EnvParams(
        environment=env,
        path=path,
        stack_name=stack_name,
        region=region,
        account_id=account_id,
        tags=tags,
        parameters=parameters,
        sections=sections,
    )


# -- stand-alone templates' parameter maps ------------------------------------------------
# Where a params file sets parameters of a stand-alone template: (section, key) -> template.
# The stand-alone templates a params map's values go to.
STANDALONE_TEMPLATES = {
    "bootstrap": ("bootstrap", "deploy-role"),
    "edge": ("edge",),
    "standby": ("standby",),
}
STANDALONE_MAPS = {
    ("deploy", "bootstrap_parameters"): "bootstrap",
    ("deploy", "edge_parameters"): "edge",
    ("stackset", "bootstrap_parameters"): "bootstrap",
    ("standby", "parameters"): "standby",
}
# Edge parameters deploy.py sets itself from the root stack (commands.edge): the zone it
# created or uses, and the distribution the CloudFront alarm watches.
EDGE_RESOLVED = {"HostedZoneId", "DistributionId"}


def _check_standalone_maps(
    data: dict, standalone: dict[str, dict], root_parameters: dict, problems: Problems
) -> None:
    """deploy.bootstrap_parameters, deploy.edge_parameters, stackset.bootstrap_parameters:
    names, types and values against the built template they go to. An edge parameter
    the root declares too (Environment, DomainName, ...) comes from `parameters:`."""
    for (section, key), template in STANDALONE_MAPS.items():
        values = data.get(section, {}).get(key) if isinstance(data.get(section), dict) else None
        declared = standalone.get(template)
        if not isinstance(values, dict) or declared is None:
            continue  # a wrong shape is the section validator's line; no build, no check
        prefix = f"{section}.{key}"
        resolved = EDGE_RESOLVED if template == "edge" else set()
        if template == "standby":
            resolved = set(standby_settings.SET_BY_DEPLOY)
        if template in ("edge", "standby"):
            for name in sorted(set(values) & set(root_parameters) & set(declared)):
                problems.add(
                    f"{prefix}.{name}",
                    f"is shared with the root template: set parameters.{name} instead",
                )
            values = {k: v for k, v in values.items() if k not in root_parameters}
        validate_parameters(
            values, declared, resolved, problems, prefix, require_all=False, template=template
        )


# -- helpers ----------------------------------------------------------------------
def _required_str(data: dict, key: str, problems: Problems) -> str:
    value = data.get(key)
    if value is None:
        problems.add(key, "is missing")
        return ""
    if not isinstance(value, str):
        problems.add(key, f"must be a string, got {yaml_type(value)} {value!r}")
        return ""
    return value


def _tags(tags, problems: Problems) -> dict[str, str]:
    if not isinstance(tags, dict):
        problems.add("tags", f"must be a mapping of tag: value, not {yaml_type(tags)}")
        return {}
    if len(tags) > 50:
        problems.add("tags", f"has {len(tags)} tags; CloudFormation allows at most 50")
    result = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not TAG_KEY.match(key):
            problems.add(
                f"tags.{key}", "is not a valid tag key (1-128 characters, not starting with aws:)"
            )
        elif not isinstance(value, str) or not TAG_VALUE.match(value):
            problems.add(
                f"tags.{key}",
                f"must be a string of at most 256 characters, got {yaml_type(value)} {value!r}",
            )
        else:
            result[key] = value
    return result
