"""Render every template to deterministic JSON text: tiers, then the root that nests
them (it embeds each tier's content hash), then the stand-alone stacks."""
from __future__ import annotations

import hashlib
import json

from streamstack.errors import BuildError
from templates import STANDALONE, TIERS
from templates.root import Child, render_root


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
    return rendered


def _render(tier) -> str:
    try:
        return tier().to_json()
    except (ValueError, TypeError, KeyError) as exc:
        raise BuildError(f"{tier.name}: the template does not render: {exc}") from None
