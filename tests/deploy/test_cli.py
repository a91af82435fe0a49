"""deploy.py's command line: bad input fails with one clear line before any AWS call,
and StackSet environments are handed to the StackSet commands."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys

import pytest

from streamstack import ROOT
from streamstack import params as params_mod
from streamstack.deploy import cli, local
from streamstack.errors import StreamstackError
from tests.deploy.conftest import write_params

DEV = "stack_name: s\nregion: us-west-2\nparameters: {Environment: dev}\n"


def run(built, params_dir, *argv):
    return cli.main(
        [*argv, "--no-build", "--build-dir", str(built), "--params-dir", str(params_dir)]
    )


def test_unknown_environment_names_the_known_ones(built, tmp_path):
    write_params(tmp_path, "dev", DEV)
    with pytest.raises(StreamstackError, match=r"unknown environment 'qa'.*known: dev"):
        run(built, tmp_path, "deploy", "qa")


def test_missing_environment_asks_for_env(built, tmp_path):
    write_params(tmp_path, "dev", DEV)
    with pytest.raises(StreamstackError, match=r"which environment\? give ENV"):
        run(built, tmp_path, "deploy")


def test_env_and_option_must_agree(built, tmp_path):
    write_params(tmp_path, "dev", DEV)
    with pytest.raises(StreamstackError, match="disagree"):
        run(built, tmp_path, "status", "dev", "--env", "prod")


def test_missing_build_says_make_build(tmp_path):
    write_params(tmp_path / "p", "dev", DEV)
    with pytest.raises(StreamstackError, match="run `make build`"):
        run(tmp_path / "nothing", tmp_path / "p", "status", "dev")


def test_drift_is_reserved_for_stacksets(built, tmp_path):
    write_params(tmp_path, "dev", DEV)
    with pytest.raises(StreamstackError, match="drift is for StackSet environments"):
        run(built, tmp_path, "drift", "dev")


@pytest.fixture
def stackset_section(monkeypatch):
    monkeypatch.setitem(
        params_mod.SECTIONS, "stackset", lambda value, problems, key, context: value
    )


def test_stackset_environments_go_to_the_stacksets_commands(
    built, tmp_path, monkeypatch, stackset_section
):
    write_params(tmp_path, "dev", DEV + "stackset: {regions: [us-west-2]}\n")
    seen = {}
    command = dataclasses.replace(
        cli.COMMANDS["deploy"], stackset=lambda ctx: seen.setdefault("plan", ctx) and 7
    )
    monkeypatch.setitem(cli.COMMANDS, "deploy", command)
    assert run(built, tmp_path, "deploy", "dev") == 7
    assert seen["plan"].params.sections["stackset"] == {"regions": ["us-west-2"]}


def test_deploy_py_prints_one_error_line_and_exit_code():
    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy.py"), "deploy", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown environment 'nope'")
    assert "Traceback" not in result.stderr


def test_build_is_stale_when_a_template_or_params_file_is_newer(tmp_path):
    build_dir, root = tmp_path / "build", tmp_path / "src"
    for folder in ("templates", "streamstack", "params", "build"):
        (tmp_path / ("build" if folder == "build" else f"src/{folder}")).mkdir(parents=True)
    assert cli.stale(build_dir, root)  # no manifest at all
    manifest = build_dir / "manifest.json"
    manifest.write_text("{}")
    for source in (root / "templates" / "tier.py", root / "params" / "dev.yaml"):
        source.write_text("")
        os.utime(source, (manifest.stat().st_mtime - 10,) * 2)
        assert not cli.stale(build_dir, root)
        os.utime(source, (manifest.stat().st_mtime + 10,) * 2)
        assert cli.stale(build_dir, root)
        os.utime(source, (manifest.stat().st_mtime - 10,) * 2)


def test_local_without_localstack_says_make_local(built, tmp_path, monkeypatch):
    write_params(tmp_path, "dev", DEV)
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "placeholder")  # restored after use_local_endpoint
    monkeypatch.setattr(cli.local, "answering", lambda timeout=1.0: False)
    # The endpoint is 127.0.0.1 on STREAMSTACK_LOCAL_PORT (4566 unless this checkout sets one).
    with pytest.raises(
        StreamstackError, match=re.escape(f"nothing answers on {local.ENDPOINT}") + ".*make local"
    ):
        run(built, tmp_path, "status", "dev", "--local")
