"""Render every template to deterministic JSON text: tiers, then the root that nests
them (it embeds each tier's content hash), then the stand-alone stacks."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from streamstack.errors import BuildError
from templates import STANDALONE, TIERS
from templates.root import Child, render_root


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Rendering:
    texts: dict[str, str]       # name -> template JSON text, children before the root
    children: list[Child]       # the nested tiers as the root sees them


def render() -> Rendering:
    texts: dict[str, str] = {}
    children = []
    for tier in TIERS:
        built, text = _build(tier)
        texts[tier.name] = text
        children.append(Child(tier.name, json.loads(text), sha256(text), dict(built.wiring)))
    try:
        texts["root"] = render_root(children)
    except ValueError as exc:
        raise BuildError(f"root: the tiers do not fit together: {exc}") from None
    for standalone in STANDALONE:
        texts[standalone.name] = _build(standalone)[1]
    return Rendering(texts, children)


def render_all() -> dict[str, str]:
    """name -> template JSON text, in dependency order (children before root)."""
    return render().texts


def _build(tier):
    """The tier instance and its template text."""
    try:
        built = tier()
        return built, built.to_json()
    except (ValueError, TypeError, KeyError) as exc:
        raise BuildError(f"{tier.name}: the template does not render: {exc}") from None
