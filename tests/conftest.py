"""Shared fixtures: every template rendered once per session, and snapshots."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

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


@pytest.fixture(scope="module", params=["dev", "prod"])
def env(request) -> str:
    """Tier tests run once with dev's parameter values and once with prod's."""
    return request.param


def assert_snapshot(name: str, text: str) -> None:
    """Compare with tests/snapshots/<name>.json; UPDATE_SNAPSHOTS=1 rewrites it."""
    path = SNAPSHOTS / f"{name}.json"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or not path.exists():
        if os.environ.get("CI") and not path.exists():
            pytest.fail(f"snapshot {path} is missing; run UPDATE_SNAPSHOTS=1 make test and commit it")
        path.write_text(text)
        return
    assert path.read_text() == text, (
        f"{name} template changed; review the diff, then UPDATE_SNAPSHOTS=1 make test")
