"""The deploy: section of params files."""

from __future__ import annotations

import pytest

from streamstack import params as params_mod
from streamstack.deploy.settings import DeploySettings, settings_of
from streamstack.errors import ParamsError
from tests.deploy.conftest import write_params

BASE = "stack_name: s\nregion: us-west-2\nparameters: {Environment: dev}\n"


def load(tmp_path, built, deploy: str):
    write_params(tmp_path, "dev", BASE + deploy)
    return params_mod.load("dev", params_dir=tmp_path, build_dir=built)


def test_defaults_are_the_safe_choice(tmp_path, built):
    settings = settings_of(load(tmp_path, built, ""))
    assert settings == DeploySettings()
    assert settings.protected and settings.execute == "review" and not settings.allow_destroy


def test_a_full_section(tmp_path, built):
    settings = settings_of(
        load(
            tmp_path,
            built,
            """\
deploy:
  execute: auto
  protected: false
  allow_destroy: true
  keep_change_sets: 7
  github: {repository: acme/streamstack, branch: release}
  bootstrap_parameters: {GitHubOidc: existing, EcrKeepImages: 20}
""",
        )
    )
    assert settings.execute == "auto" and settings.keep_change_sets == 7
    assert (settings.github_repository, settings.github_branch) == ("acme/streamstack", "release")
    assert settings.bootstrap_parameters == {"GitHubOidc": "existing", "EcrKeepImages": "20"}


def test_every_problem_is_reported_on_its_own_line(tmp_path, built):
    with pytest.raises(ParamsError) as raised:
        load(
            tmp_path,
            built,
            """\
deploy:
  execute: sometimes
  protected: "yes"
  keep_change_sets: 0
  github: {repository: not-a-repo}
  colour: blue
  bootstrap_parameters: {Environment: prod}
""",
        )
    text = "\n".join(raised.value.lines)
    for expected in (
        "deploy.execute: 'sometimes' is not allowed",
        "deploy.protected: must be true or false",
        "deploy.keep_change_sets: must be a whole number from 1 to 50",
        "deploy.github.repository: 'not-a-repo' is not owner/name",
        "deploy.colour: unknown setting",
        "deploy.bootstrap_parameters.Environment: is set by deploy.py",
    ):
        assert expected in text
    assert all(line.startswith(str(tmp_path)) for line in raised.value.lines)


@pytest.mark.parametrize(
    "deploy,message",
    [
        ("deploy: {allow_destroy: true}", "cannot be true in a protected environment"),
        ("deploy: {execute: auto}", "auto is not allowed in a protected environment"),
        ("deploy: [1]", "must be a mapping"),
    ],
)
def test_protected_environments_cannot_auto_execute_or_be_destroyed(
    tmp_path, built, deploy, message
):
    with pytest.raises(ParamsError, match=message):
        load(tmp_path, built, deploy)


def test_repository_params_files_are_valid(built):
    for env in params_mod.known_environments():
        settings = settings_of(params_mod.load(env, build_dir=built))
        assert settings.protected == (env != "dev")
