"""Render every template to deterministic JSON text: tiers, then the root that nests
them (it embeds each tier's content hash), then the stand-alone stacks. The deploy
roles' templates (deploy-role, stackset-role) come last: their policies are derived from
the resource types and roles of everything rendered before them.

With a cache directory (the build's), a tier whose code did not change is not rendered
again. A tier module imports only templates.base and templates.parts
(tests/test_layout.py), so its template is decided by its own module, those two, the
handlers it embeds (templates/functions) and the installed troposphere and awacs: the
cache key is their hash. The directory also keeps botocore's operation names for the
deploy roles' derivation (awsdata.remember_operations).
"""

from __future__ import annotations

import hashlib
import json
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from streamstack.errors import BuildError
from streamstack.identity import awsdata, derive
from streamstack.identity.check import STACKSET_TARGET_BOOTSTRAP
from streamstack.identity.evaluate import Resolved
from templates import STANDALONE, TIERS
from templates.deploy_role import DeployRoleTier
from templates.root import Child, render_root
from templates.stackset_role import StackSetRoleTier

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# What every tier module may read besides its own file.
SHARED = ("base.py", "parts", "functions")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Rendering:
    texts: dict[str, str]  # name -> template JSON text, children before the root
    children: list[Child]  # the nested tiers as the root sees them
    rendered: tuple[str, ...] = ()  # the templates rendered now (not taken from the cache)


def render(cache_dir: Path | None = None) -> Rendering:
    if cache_dir is None:
        return _render(None)
    awsdata.remember_operations(cache_dir / "awsdata")
    try:
        return _render(_Cache(cache_dir))
    finally:
        awsdata.remember_operations(None)


def _render(cache: _Cache | None) -> Rendering:
    texts: dict[str, str] = {}
    children = []
    rendered = []
    for tier in TIERS:
        text, wiring = cache.get(tier) if cache else (None, None)
        if text is None:
            built, text = _build(tier)
            wiring = dict(built.wiring)
            rendered.append(tier.name)
            if cache:
                cache.put(tier, text, wiring)
        texts[tier.name] = text
        children.append(Child(tier.name, json.loads(text), sha256(text), wiring))
    try:
        texts["root"] = render_root(children)
    except ValueError as exc:
        raise BuildError(f"root: the tiers do not fit together: {exc}") from None
    for standalone in STANDALONE:
        text, _ = cache.get(standalone) if cache else (None, None)
        if text is None:
            text = _build(standalone)[1]
            rendered.append(standalone.name)
            if cache:
                cache.put(standalone, text, {})
        texts[standalone.name] = text
    # What the execution role deploys: the nested tree, and the edge stack.
    tree = {name: json.loads(text) for name, text in texts.items() if name != "bootstrap"}
    workloads = {child.name: child.template for child in children}
    texts["deploy-role"] = _build(
        DeployRoleTier, _identity("deploy-role", tree, workloads, derive.execution_scope())
    )[1]
    target = Resolved(json.loads(texts["bootstrap"]), STACKSET_TARGET_BOOTSTRAP)
    stackset_tree = {
        **workloads,
        "root": tree["root"],
        "bootstrap (StackSet target)": {"Resources": target.resources()},
    }
    texts["stackset-role"] = _build(
        StackSetRoleTier,
        _identity("stackset-role", stackset_tree, workloads, derive.stackset_scope()),
    )[1]
    return Rendering(texts, children, tuple(rendered))


def render_all() -> dict[str, str]:
    """name -> template JSON text, in dependency order (children before root)."""
    return render().texts


def _identity(name: str, deployed: dict, workloads: dict, scope):
    try:
        return derive.identity(deployed, workloads, scope)
    except (ValueError, KeyError) as exc:
        raise BuildError(f"{name}: the deploy identity cannot be derived: {exc}") from None


def _build(tier, *args):
    """The tier instance and its template text."""
    try:
        built = tier(*args)
        return built, built.to_json()
    except (ValueError, TypeError, KeyError) as exc:
        raise BuildError(f"{tier.name}: the template does not render: {exc}") from None


class _Cache:
    """Rendered tiers by the hash of what decides them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        shared = hashlib.sha256(sys.version.encode())
        site = Path(sysconfig.get_paths()["purelib"])
        shared.update("\n".join(sorted(p.name for p in site.glob("*.dist-info"))).encode())
        for name in SHARED:
            path = TEMPLATES / name
            for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
                shared.update(f"{file.relative_to(TEMPLATES)}\0".encode() + file.read_bytes())
        self.shared = shared.hexdigest()

    def _path(self, tier) -> Path:
        module = Path(sys.modules[tier.__module__].__file__)
        key = hashlib.sha256(
            f"{self.shared}\0{tier.__module__}.{tier.__qualname__}\0".encode() + module.read_bytes()
        ).hexdigest()
        return self.directory / f"{key}.json"

    def get(self, tier) -> tuple[str | None, dict | None]:
        try:
            entry = json.loads(self._path(tier).read_text())
        except (OSError, ValueError):
            return None, None
        return entry["text"], entry["wiring"]

    def put(self, tier, text: str, wiring: dict) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._path(tier).write_text(json.dumps({"text": text, "wiring": wiring}))
