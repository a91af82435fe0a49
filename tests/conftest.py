"""Shared fixtures: every template rendered once per session, a build in a temporary
directory (no test reads the checkout's build/), the environments tier tests run
under, and snapshots."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from streamstack import build
from streamstack.render import render

SNAPSHOTS = Path(__file__).parent / "snapshots"


@pytest.fixture(scope="session")
def rendering():
    return render()


@pytest.fixture(scope="session")
def rendered_text(rendering) -> dict[str, str]:
    return rendering.texts


@pytest.fixture(scope="session")
def children(rendering):
    """The nested tiers as the root sees them (templates and wiring declarations)."""
    return rendering.children


@pytest.fixture(scope="session")
def rendered(rendered_text) -> dict[str, dict]:
    return {name: json.loads(text) for name, text in rendered_text.items()}


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Path:
    """The real templates built into a temporary directory (no lint or scan: the build
    tests cover those)."""
    build_dir = tmp_path_factory.mktemp("build")
    build.run(build_dir=build_dir, lint=False, scan=False, log=lambda *a: None)
    return build_dir


@pytest.fixture(scope="module", params=["dev", "prod"])
def env(request) -> str:
    """Tier tests run once with dev's parameter values and once with prod's."""
    return request.param


def assert_snapshot(name: str, text: str, suffix: str = ".json") -> None:
    """Compare with tests/snapshots/<name><suffix>; UPDATE_SNAPSHOTS=1 (re)writes it. A
    missing snapshot fails: a new template is reviewed and committed like a change."""
    path = SNAPSHOTS / f"{name}{suffix}"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(text)
        return
    if not path.exists():
        pytest.fail(
            f"snapshot {path} is missing: run UPDATE_SNAPSHOTS=1 make test, review it and commit it"
        )
    assert path.read_text() == text, (
        f"{name} changed; review the diff, then UPDATE_SNAPSHOTS=1 make test"
    )
