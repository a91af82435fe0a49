"""Profiles (params/profiles/*.yaml): documented values merged over an environment, never
mistaken for one, validated like a params file, each change with its reason."""

from __future__ import annotations

import shutil

import pytest
import yaml

from streamstack import PARAMS_DIR, build, profiles
from streamstack import params as params_mod
from streamstack.errors import ParamsError
from templates.base import DEPLOY_TIME_KEY


@pytest.fixture(scope="module")
def root_spec(rendered):
    root = rendered["root"]
    return root["Parameters"], set(root["Metadata"][DEPLOY_TIME_KEY])


@pytest.fixture
def params_dir(tmp_path):
    shutil.copytree(PARAMS_DIR, tmp_path / "params")
    return tmp_path / "params"


def write_profile(params_dir, entries) -> None:
    (params_dir / "profiles" / "local.yaml").write_text(yaml.safe_dump({"parameters": entries}))


def test_the_local_profile_is_real_options_each_with_a_reason(root_spec):
    profile = profiles.load("local", *root_spec)
    assert profile.values == {
        "NatLayout": "none",
        "InterfaceEndpoints": "enabled",
        "VideoMetadataTable": "disabled",
        "MetadataApi": "disabled",
        "MediaPipeline": "disabled",
        "SecretRotation": "disabled",
        "DatabaseUserSetup": "disabled",
    }
    assert set(profile.reasons) == set(profile.values)
    assert "AWS::EC2::EIP" in profile.reasons["NatLayout"]
    for function in ("MetadataApi", "SecretRotation", "DatabaseUserSetup"):
        assert "Docker" in profile.reasons[function]


def test_a_profile_is_not_an_environment():
    assert profiles.known_profiles() == ["local"]
    assert "local" not in params_mod.known_environments()
    with pytest.raises(ParamsError, match="unknown environment 'local'"):
        params_mod.params_path("local")


def test_merge_reports_each_change_with_before_after_and_why(root_spec):
    dev = params_mod.load("dev", template_parameters=root_spec[0], deploy_time=root_spec[1])
    profile = profiles.load("local", *root_spec)
    merged, changes = profiles.merge(
        dev, profile, root_spec[0], {"ExistingHostedZoneId": ("Z123", "prepared zone")}
    )
    assert merged.parameters["NatLayout"] == "none" and dev.parameters["NatLayout"] == "single"
    assert merged.parameters["FlowLogRetentionDays"] == dev.parameters["FlowLogRetentionDays"]
    by_name = {c.parameter: c for c in changes}
    assert set(by_name) == {
        "NatLayout",
        "InterfaceEndpoints",
        "VideoMetadataTable",
        "MetadataApi",
        "MediaPipeline",
        "SecretRotation",
        "DatabaseUserSetup",
        "ExistingHostedZoneId",
    }
    shown = profiles.defaults(root_spec[0])
    assert by_name["NatLayout"].line(shown) == (
        f"  NatLayout: single -> none  # {profile.reasons['NatLayout']}"
    )
    assert (
        by_name["MetadataApi"]
        .line(shown)
        .startswith("  MetadataApi: enabled (default) -> disabled  # ")
    )
    assert by_name["ExistingHostedZoneId"].line(shown) == (
        "  ExistingHostedZoneId: (empty default) -> Z123  # prepared zone"
    )


def test_a_value_the_environment_already_has_is_not_a_change(root_spec):
    dev = params_mod.load("dev", template_parameters=root_spec[0], deploy_time=root_spec[1])
    profile = profiles.Profile(
        "local",
        PARAMS_DIR / "profiles" / "local.yaml",
        {"NatLayout": "single"},
        {"NatLayout": "the same value"},
    )
    _, changes = profiles.merge(dev, profile, root_spec[0])
    assert changes == []


@pytest.mark.parametrize(
    "entries, words",
    [
        ({"NatLayout": "none"}, "parameters.NatLayout: must be a mapping with value and why"),
        (
            {"NatLayout": {"value": "none", "why": "ok"}},
            "parameters.NatLayout.why: must say in a sentence why",
        ),
        (
            {"NatLayot": {"value": "none", "why": "LocalStack cannot allocate addresses"}},
            "parameters.NatLayot: is not a parameter of the root template; did you mean NatLayout?",
        ),
        (
            {"NatLayout": {"value": "three", "why": "LocalStack cannot allocate addresses"}},
            "parameters.NatLayout: 'three' is not allowed; allowed: single, per-az, none",
        ),
        (
            {"ArtifactBaseUrl": {"value": "http://x", "why": "a deploy-time value, set by deploy"}},
            "parameters.ArtifactBaseUrl: is resolved by deploy.py at deploy time",
        ),
    ],
)
def test_a_bad_profile_is_one_line_naming_the_file(params_dir, root_spec, entries, words):
    write_profile(params_dir, entries)
    with pytest.raises(ParamsError) as err:
        profiles.load("local", *root_spec, params_dir=params_dir)
    (line,) = err.value.lines
    assert line.startswith(f"{params_dir}/profiles/local.yaml: ") and words in line, line


def test_merged_values_are_checked_together(params_dir, root_spec):
    """The profile may not leave the environment in a combination the templates refuse."""
    dev = (
        (params_dir / "dev.yaml")
        .read_text()
        .replace("NatLayout: single", "NatLayout: none")
        .replace("InterfaceEndpoints: disabled", "InterfaceEndpoints: enabled")
    )
    (params_dir / "dev.yaml").write_text(dev)
    write_profile(
        params_dir,
        {
            "InterfaceEndpoints": {
                "value": "disabled",
                "why": "a value that leaves the VPC without a way out",
            }
        },
    )
    env = params_mod.load(
        "dev", params_dir=params_dir, template_parameters=root_spec[0], deploy_time=root_spec[1]
    )
    profile = profiles.load("local", *root_spec, params_dir=params_dir)
    with pytest.raises(ParamsError, match="local.yaml: parameters.NatLayout: none leaves"):
        profiles.merge(env, profile, root_spec[0])


def test_the_build_validates_every_profile(params_dir, tmp_path):
    write_profile(params_dir, {"NatLayout": {"value": "three", "why": "a value that is wrong"}})
    with pytest.raises(ParamsError, match="profiles/local.yaml: parameters.NatLayout: 'three'"):
        build.run(
            build_dir=tmp_path / "build",
            params_dir=params_dir,
            lint=False,
            scan=False,
            log=lambda *a: None,
        )


def test_a_missing_profile_says_what_it_is(tmp_path, root_spec):
    with pytest.raises(
        ParamsError, match="profiles/local.yaml does not exist: the local profile lists"
    ):
        profiles.load("local", *root_spec, params_dir=tmp_path)
