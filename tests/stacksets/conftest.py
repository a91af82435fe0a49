"""Shared fixtures of the StackSet tests: the rendered root's parameters, params files
written to a temporary params dir, and a stand-in of deploy.py's Context."""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import yaml

from streamstack import params as params_mod
from streamstack.render import render_all
from templates.base import DEPLOY_TIME_KEY


@pytest.fixture(scope="session")
def root_template() -> dict:
    return json.loads(render_all()["root"])


@pytest.fixture()
def parse_params(tmp_path, root_template):
    """parse_params(data, env="prod-global") -> EnvParams, via params.parse."""
    def parse(data: dict, env: str = "prod-global"):
        path = tmp_path / f"{env}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return params_mod.parse(path, env, root_template["Parameters"],
                                set(root_template["Metadata"][DEPLOY_TIME_KEY]))
    return parse


@dataclass
class Context:
    """Test stand-in for streamstack.deploy.context.Context (issue 5's contract)."""

    params: params_mod.EnvParams
    session: object
    manifest: dict
    build_dir: Path
    args: argparse.Namespace
    out: Callable[..., None] = print
    lines: list[str] = field(default_factory=list)


def make_context(env_params, session, manifest, build_dir, **flags) -> Context:
    args = argparse.Namespace(**{"yes": False, "allow_data_loss": False, "prune": False,
                                 "deep_preview": False, "local": False, **flags})
    ctx = Context(env_params, session, manifest, build_dir, args)
    ctx.out = ctx.lines.append
    return ctx
