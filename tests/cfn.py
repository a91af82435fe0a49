"""Evaluate a rendered template under one environment's parameter values, so tests can
assert what CloudFormation would create in dev and in prod: conditions are decided,
resources whose condition is false are dropped, Fn::If picks its branch, Ref to a
parameter becomes its value and AWS::NoValue properties disappear. Everything else
(Ref to resources, GetAtt, Sub, Join) stays symbolic.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from streamstack import PARAMS_DIR
from streamstack.identity.evaluate import Resolved

NO_VALUE = object()


def env_values(
    env: str, template: dict, params_dir: Path = PARAMS_DIR, overrides: dict | None = None
) -> dict:
    """Parameter values a tier (or the root) gets in env: params file, then defaults.

    Parameters fed by another tier's output are given as "<from:Name>" placeholders;
    an AWS::Region override decides region-dependent conditions (default us-west-2).
    """
    data = yaml.safe_load((params_dir / f"{env}.yaml").read_text())
    given = {k: _text(v) for k, v in data.get("parameters", {}).items()}
    given.update(overrides or {})
    values = {}
    for name, spec in template.get("Parameters", {}).items():
        if name in given:
            values[name] = given[name]
        elif "Default" in spec:
            values[name] = _text(spec["Default"])
        else:
            values[name] = f"<from:{name}>"
    if "AWS::Region" in (overrides or {}):
        values["AWS::Region"] = overrides["AWS::Region"]
    return values


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


class Evaluated:
    """A template as CloudFormation would see it for one set of parameter values."""

    def __init__(self, template: dict, values: dict) -> None:
        self.values = values
        self.raw = template
        # Conditions are decided as the deploy identity's proofs decide them.
        decided = Resolved(template, values, region=values.get("AWS::Region", "us-west-2"))
        self.conditions = {name: decided.condition(name) for name in template.get("Conditions", {})}
        self.resources = {
            logical: self._resolve(resource)
            for logical, resource in template.get("Resources", {}).items()
            if self.conditions.get(resource.get("Condition"), True)
        }
        self.outputs = {
            name: self._resolve(output)
            for name, output in template.get("Outputs", {}).items()
            if self.conditions.get(output.get("Condition"), True)
        }

    # -- queries -----------------------------------------------------------------
    def of_type(self, rtype: str) -> dict[str, dict]:
        return {k: v for k, v in self.resources.items() if v["Type"] == rtype}

    def props(self, logical: str) -> dict:
        return self.resources[logical].get("Properties", {})

    # -- evaluation ----------------------------------------------------------------
    def _condition(self, name: str) -> bool:
        return self.conditions[name]

    def _resolve(self, node):
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                name, yes, no = node["Fn::If"]
                return self._resolve(yes if self._condition(name) else no)
            if set(node) == {"Ref"}:
                if node["Ref"] == "AWS::NoValue":
                    return NO_VALUE
                if node["Ref"] in self.values:
                    return self.values[node["Ref"]]
            out = {}
            for key, value in node.items():
                if key == "Condition" and isinstance(value, str):
                    continue
                resolved = self._resolve(value)
                if resolved is not NO_VALUE:
                    out[key] = resolved
            return out
        if isinstance(node, list):
            return [r for r in (self._resolve(v) for v in node) if r is not NO_VALUE]
        return node


def evaluate(template: dict, env: str, overrides: dict | None = None) -> Evaluated:
    return Evaluated(template, env_values(env, template, overrides=overrides))


def statements(policy_document: dict) -> dict[str, dict]:
    """Policy statements by Sid (statements without one are keyed by position)."""
    return {s.get("Sid", str(i)): s for i, s in enumerate(policy_document["Statement"])}


def mappings(node):
    """Every mapping in a template fragment, depth first (the node itself included)."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from mappings(value)
    elif isinstance(node, list):
        for value in node:
            yield from mappings(value)


def dumps(node) -> str:
    return json.dumps(node, sort_keys=True)
