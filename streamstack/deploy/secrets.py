"""Values a plan never shows. Before and after values (and drifted values) come from
CloudFormation; before one reaches the terminal, the plan files or a pull-request
comment it is checked here and becomes "(hidden)" when it is, or may hold, a secret:

- a dynamic reference ({{resolve:...}}) in the value, or at that place in the
  resource's template (CloudFormation may show the value it resolved to);
- a property the provider schema lists as write-only (passwords, tokens, secret
  strings: the provider never returns them);
- a NoEcho parameter: a property that refers to one, a nested stack parameter that is
  one, or any value that contains a NoEcho parameter's value.

A value that holds secrets in part (a JSON structure) keeps its other parts when they
can be told apart; whenever the structure is unclear the whole value is hidden.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from streamstack.identity import awsdata

HIDDEN = "(hidden)"
DYNAMIC = "{{resolve:"
NESTED_STACK = "AWS::CloudFormation::Stack"
# Shorter values are not looked for inside others (a NoEcho "true" would hide too much).
MIN_SECRET_LENGTH = 6


def noecho(template: dict) -> frozenset[str]:
    return frozenset(
        name
        for name, spec in template.get("Parameters", {}).items()
        if str(spec.get("NoEcho", "")).lower() == "true"
    )


@dataclass
class Secrets:
    """What the plan of one tree must hide. templates: stack label ("root",
    "root/DataStack") -> the template the change set deploys there; values: the
    parameter values the plan passes (NoEcho ones are looked for in every value)."""

    templates: dict[str, dict] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        root = self.templates.get("root", {})
        self.secret_values = {
            v for k, v in self.values.items() if k in noecho(root) and len(v) >= MIN_SECRET_LENGTH
        }

    def parameters(self, values: dict[str, str]) -> dict[str, str]:
        """The root's parameter values with the NoEcho ones hidden."""
        hidden = noecho(self.templates.get("root", {}))
        return {k: (HIDDEN if k in hidden else v) for k, v in values.items()}

    def mask(
        self, stack: str, logical: str, resource_type: str, path: str, value: str | None
    ) -> str | None:
        """value (as CloudFormation gives it: a string, often JSON) at the property path
        (/Properties/Name/... or Name/...) of a resource: itself, HIDDEN, or JSON with
        its secret parts hidden."""
        if value is None:
            return None
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        if DYNAMIC in text or any(s in text for s in self.secret_values):
            return HIDDEN
        parts = _segments(path)
        if not parts:
            return HIDDEN if text else text
        write_only = _write_only(resource_type)
        if any(_is_prefix(wo, parts) for wo in write_only):  # a write-only property, or in one
            return HIDDEN
        inner = [wo[len(parts) :] for wo in write_only if _is_prefix(parts, wo)]
        node = self._template_node(stack, logical, resource_type, parts)
        if not inner and not _holds_secret(node):
            return text
        try:
            parsed = json.loads(text)
        except ValueError:
            return HIDDEN
        masked = _mask(parsed, node, inner)
        return HIDDEN if masked is HIDDEN else json.dumps(masked, sort_keys=True)

    def _template_node(self, stack: str, logical: str, resource_type: str, parts: list[str]):
        """The template's value at that place, with every reference to a NoEcho
        parameter (and a nested stack's NoEcho parameters) marked as a secret."""
        template = self.templates.get(stack, {})
        node = template.get("Resources", {}).get(logical, {}).get("Properties", {})
        node = _mark(node, noecho(template))
        if resource_type == NESTED_STACK and isinstance(node, dict):
            child = noecho(self.templates.get(f"{stack}/{logical}", {}))
            given = node.get("Parameters")
            if isinstance(given, dict) and child:
                node = {
                    **node,
                    "Parameters": {k: (SECRET if k in child else v) for k, v in given.items()},
                }
        for part in parts:
            node = _child(node, part)
        return node


# What a template place holding a secret is marked with (a dynamic reference's prefix).
SECRET = DYNAMIC + "noecho}}"
_MISSING = object()


def _mark(node, names: frozenset[str]):
    if not names:
        return node
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in names:
            return SECRET
        return {k: _mark(v, names) for k, v in node.items()}
    if isinstance(node, list):
        return [_mark(v, names) for v in node]
    return node


def _write_only(resource_type: str) -> list[list[str]]:
    try:
        return [p.split("/") for p in awsdata.write_only_properties(resource_type)]
    except KeyError:
        return []


def _segments(path: str) -> list[str]:
    parts = [p for p in (path or "").split("/") if p]
    return parts[1:] if parts and parts[0] == "Properties" else parts


def _is_prefix(prefix: list[str], parts: list[str]) -> bool:
    return len(prefix) <= len(parts) and all(
        p == "*" or q == "*" or p == q for p, q in zip(prefix, parts, strict=False)
    )


def _intrinsic(node) -> bool:
    return (
        isinstance(node, dict)
        and len(node) == 1
        and next(iter(node)).startswith(("Fn::", "Ref", "Condition"))
    )


def _child(node, part: str):
    """The template node below node; an intrinsic function stands for all that it may
    produce, so it is its own child."""
    if node is _MISSING or _intrinsic(node):
        return node
    if isinstance(node, dict):
        return node.get(part, _MISSING)
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    return _MISSING


IDENTITIES = ("Id", "Name", "Key", "HeaderName", "ParameterKey")


def _match(item, nodes: list):
    """The template item a value's list item comes from: the one of the same Id (or
    Name, Key, ...), either branch of an Fn::If included. Unknown when none matches
    and any item holds a secret (the value item is then hidden)."""
    candidates = []
    for node in nodes:
        if isinstance(node, dict) and set(node) == {"Fn::If"}:
            candidates += [b for b in node["Fn::If"][1:] if isinstance(b, dict)]
        else:
            candidates.append(node)
    if isinstance(item, dict):
        for key in IDENTITIES:
            if key in item:
                for candidate in candidates:
                    if isinstance(candidate, dict) and candidate.get(key) == item[key]:
                        return candidate
    return SECRET if any(_holds_secret(c) for c in candidates) else _MISSING


def _holds_secret(node) -> bool:
    if isinstance(node, str):
        return DYNAMIC in node
    if isinstance(node, dict):
        return any(_holds_secret(v) for v in node.values())
    if isinstance(node, list):
        return any(_holds_secret(v) for v in node)
    return False


def _mask(value, node, inner: list[list[str]]):
    """value with the places that hold secrets replaced by HIDDEN. inner: write-only
    paths below this place. HIDDEN when a secret's place cannot be told apart."""
    if [] in inner or (_intrinsic(node) and _holds_secret(node)) or isinstance(node, str):
        return HIDDEN if (inner or _holds_secret(node)) else value
    if isinstance(value, dict):
        if not (isinstance(node, dict) or node is _MISSING):
            return HIDDEN
        result = {}
        for key, item in value.items():
            below = [w[1:] for w in inner if w[0] in (key, "*")]
            child = _child(node, key)
            result[key] = _mask(item, child, below) if below or _holds_secret(child) else item
        return result
    if isinstance(value, list):
        if isinstance(node, list) and (
            len(node) != len(value) or any(_intrinsic(item) for item in node)
        ):
            # Items the template adds under a condition: match them by their name.
            return [
                _mask(item, _match(item, node), [w[1:] for w in inner if w[0] == "*"])
                for item in value
            ]
        if not (isinstance(node, list) or node is _MISSING):
            return HIDDEN
        result = []
        for index, item in enumerate(value):
            below = [w[1:] for w in inner if w[0] in (str(index), "*")]
            child = _child(node, str(index))
            result.append(_mask(item, child, below) if below or _holds_secret(child) else item)
        return result
    return HIDDEN if (inner or _holds_secret(node)) else value
