"""Render every template to deterministic JSON text: tiers, then the root that nests
them (it embeds each tier's content hash), then the stand-alone stacks. The deploy
roles' templates (deploy-role, stackset-role) come last: their policies are derived from
the resource types and roles of everything rendered before them."""
from __future__ import annotations

import hashlib
import json

from streamstack.errors import BuildError
from streamstack.identity import derive
from streamstack.identity.check import STACKSET_TARGET_BOOTSTRAP
from streamstack.identity.evaluate import Resolved
from templates import STANDALONE, TIERS
from templates.deploy_role import DeployRoleTier
from templates.root import Child, render_root
from templates.stackset_role import StackSetRoleTier



def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def render_all() -> dict[str, str]:
    """name -> template JSON text, in dependency order (children before root)."""
    rendered: dict[str, str] = {}
    children = []
    for tier in TIERS:
        text = _render(tier)
        rendered[tier.name] = text
        children.append(Child(tier.name, json.loads(text), sha256(text)))
    try:
        rendered["root"] = render_root(children)
    except ValueError as exc:
        raise BuildError(f"root: the tiers do not fit together: {exc}") from None
    for standalone in STANDALONE:
        rendered[standalone.name] = _render(standalone)
    # What the execution role deploys: the nested tree, and the edge stack.
    tree = {name: json.loads(text) for name, text in rendered.items() if name != "bootstrap"}
    workloads = {child.name: child.template for child in children}
    rendered["deploy-role"] = _render(DeployRoleTier, _identity(
        "deploy-role", tree, workloads, derive.execution_scope()))
    target = Resolved(json.loads(rendered["bootstrap"]), STACKSET_TARGET_BOOTSTRAP)
    stackset_tree = {**{c.name: c.template for c in children},
                     "root": tree["root"],
                     "bootstrap (StackSet target)": {"Resources": target.resources()}}
    rendered["stackset-role"] = _render(StackSetRoleTier, _identity(
        "stackset-role", stackset_tree, workloads, derive.stackset_scope()))
    return rendered


def _identity(name: str, deployed: dict, workloads: dict, scope):
    try:
        return derive.identity(deployed, workloads, scope)
    except (ValueError, KeyError) as exc:
        raise BuildError(f"{name}: the deploy identity cannot be derived: {exc}") from None


def _render(tier, *args) -> str:
    try:
        return tier(*args).to_json()
    except (ValueError, TypeError, KeyError) as exc:
        raise BuildError(f"{tier.name}: the template does not render: {exc}") from None
