"""Profiles: documented parameter values merged over an environment's params.

A profile lives in params/profiles/<name>.yaml, beside the environments but not one of
them (environments are params/*.yaml). Today there is one, `local` (LOCAL=1, deploy.py
--local): what LocalStack needs to run the real templates. Each entry is a parameter of
the root template with the value and the reason:

    parameters:
      NatLayout:
        value: none
        why: LocalStack has no AWS::EC2::EIP provider, so a NAT gateway cannot be created

Values are validated against the built root like a params file (`make build` checks
every profile); a reason is required. Merging returns the changes, so deploy can print
what the profile changed and why.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import yaml

from streamstack import PARAMS_DIR
from streamstack.errors import ParamsError
from streamstack.validation import (
    Problems,
    check_network,
    check_value,
    display,
    validate_parameters,
)
from templates.base import DEPLOY_TIME_KEY

PROFILES = "profiles"
LOCAL = "local"


@dataclass(frozen=True)
class Profile:
    name: str
    path: Path
    values: dict[str, str]  # parameter -> value, as CloudFormation strings
    reasons: dict[str, str]  # parameter -> why


@dataclass(frozen=True)
class Change:
    parameter: str
    before: str | None  # the environment's value; None: the template default
    after: str
    why: str

    def line(self, defaults: dict) -> str:
        """`  Name: before -> after  # why`, the template default marked as such."""
        before = self.before or "(empty)"
        if self.before is None:
            default = defaults.get(self.parameter, "")
            before = f"{default} (default)" if default else "(empty default)"
        return f"  {self.parameter}: {before} -> {self.after or '(empty)'}  # {self.why}"


def profile_path(name: str, params_dir: Path = PARAMS_DIR) -> Path:
    return params_dir / PROFILES / f"{name}.yaml"


def known_profiles(params_dir: Path = PARAMS_DIR) -> list[str]:
    return sorted(p.stem for p in (params_dir / PROFILES).glob("*.yaml"))


def load(
    name: str, template_parameters: dict, deploy_time: set[str], params_dir: Path = PARAMS_DIR
) -> Profile:
    """Load and validate params/profiles/<name>.yaml against the root's parameters."""
    path = profile_path(name, params_dir)
    problems = Problems(display(path))
    if not path.is_file():
        raise ParamsError(
            f"{display(path)} does not exist: the {name} profile "
            "lists the parameter values it changes, each with a reason"
        )
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ParamsError(f"{display(path)}: is not valid YAML ({exc}); fix the syntax") from None
    if (
        not isinstance(data, dict)
        or set(data) != {"parameters"}
        or not isinstance(data["parameters"], dict)
    ):
        raise ParamsError(
            f"{display(path)}: must hold one mapping, parameters: "
            "{Name: {value: ..., why: ...}}"
        )
    raw, reasons = {}, {}
    for name_, entry in data["parameters"].items():
        key = f"parameters.{name_}"
        if not isinstance(entry, dict) or set(entry) != {"value", "why"}:
            problems.add(
                key, "must be a mapping with value and why (the reason this profile changes it)"
            )
            continue
        why = entry["why"]
        if not isinstance(why, str) or len(why.strip()) < 15:
            problems.add(f"{key}.why", "must say in a sentence why the profile changes it")
            continue
        raw[name_], reasons[name_] = entry["value"], why.strip()
    values = validate_parameters(
        raw, template_parameters, deploy_time, problems, "parameters", require_all=False
    )
    problems.raise_if_any()
    return Profile(name=name, path=path, values=values, reasons=reasons)


def validate_all(root: dict, params_dir: Path = PARAMS_DIR) -> list[str]:
    """Every profile against the rendered root (`make build`); one line per problem."""
    problems = []
    for name in known_profiles(params_dir):
        try:
            load(
                name,
                root.get("Parameters", {}),
                set(root.get("Metadata", {}).get(DEPLOY_TIME_KEY, [])),
                params_dir,
            )
        except ParamsError as exc:
            problems.extend(exc.lines)
    return problems


def merge(
    env_params,
    profile: Profile,
    template_parameters: dict,
    extra: dict[str, tuple[str, str]] | None = None,
):
    """The environment's params with the profile (and extra values: name -> (value, why))
    merged over them, and the changes. The merged values are validated together (the
    network check, for one, looks at several parameters)."""
    entries = {n: (v, profile.reasons[n]) for n, v in profile.values.items()}
    entries.update(extra or {})
    merged = {**env_params.parameters, **{n: v for n, (v, _) in entries.items()}}
    problems = Problems(display(profile.path))
    check_network(merged, template_parameters, problems, "parameters")
    problems.raise_if_any()
    changes = [
        Change(n, env_params.parameters.get(n), v, why)
        for n, (v, why) in sorted(entries.items())
        if env_params.parameters.get(n, _default(template_parameters, n)) != v
    ]
    return dataclasses.replace(env_params, parameters=merged), changes


def _default(template_parameters: dict, name: str) -> str | None:
    default = template_parameters.get(name, {}).get("Default")
    if default is None:
        return None
    return check_value(default, template_parameters[name], Problems("."), name)


def defaults(template_parameters: dict) -> dict[str, str]:
    return {n: str(spec.get("Default", "")) for n, spec in template_parameters.items()}
