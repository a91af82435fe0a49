"""The build: deterministic bytes, manifest, quotas, and lint/scan that really fail."""

import json

import pytest
from troposphere import s3

from streamstack import build, quotas
from streamstack.errors import BuildError
from streamstack.lint import lint_templates
from streamstack.render import render_all, sha256
from streamstack.scan import scan_templates
from templates import DEPLOY_ROLES, STANDALONE, TIERS
from templates.base import Tier


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A full build (lint and scan included) into a fresh directory, then a second one."""
    first = tmp_path_factory.mktemp("build1")
    result = build.run(build_dir=first, log=lambda *_: None)
    again = build.run(build_dir=first, log=lambda *_: None)
    return first, result, again


def test_every_template_lints_and_scans_clean(built):
    _, result, _ = built
    names = (
        {t.name for t in TIERS}
        | {t.name for t in STANDALONE}
        | {t.name for t in DEPLOY_ROLES}
        | {"root"}
    )
    assert set(result.templates) == names
    assert result.linted == result.scanned == len(names)


def test_clean_templates_are_not_checked_twice(built):
    _, _, again = built
    assert again.linted == 0 and again.scanned == 0


def test_two_builds_are_byte_identical(built, tmp_path):
    first, _, _ = built
    second = tmp_path / "build2"
    build.run(build_dir=second, lint=False, scan=False, log=lambda *_: None)
    for path in sorted((first / "templates").glob("*.json")):
        assert (second / "templates" / path.name).read_bytes() == path.read_bytes(), path.name
    assert render_all() == render_all()


def test_manifest_describes_every_template(built):
    first, result, _ = built
    manifest = json.loads((first / "manifest.json").read_text())
    assert set(manifest["lint_regions"]) >= {"us-east-1", "us-west-2"}
    for entry in manifest["templates"].values():
        data = (first / entry["file"]).read_bytes()
        template = json.loads(data)
        assert entry["sha256"] == sha256(data.decode())
        assert entry["key"] == f"templates/{entry['sha256']}.json"
        assert entry["size"] == len(data)
        assert entry["resources"] == len(template["Resources"])
        assert entry["parameters"] == sorted(template.get("Parameters", {}))
        assert entry["outputs"] == sorted(template.get("Outputs", {}))
    assert manifest["templates"]["root"]["kind"] == "root"
    assert manifest["templates"]["network"]["kind"] == "tier"


def test_stale_templates_are_removed(built):
    first, _, _ = built
    stale = first / "templates" / "removed-tier.json"
    stale.write_text("{}")
    build.run(build_dir=first, lint=False, scan=False, log=lambda *_: None)
    assert not stale.exists()


def test_quotas():
    big = {
        "Resources": {f"R{i}": {"Type": "AWS::SNS::Topic"} for i in range(501)},
        "Parameters": {f"P{i}": {"Type": "String"} for i in range(201)},
    }
    findings = quotas.check("big", json.dumps(big))
    assert findings == [
        "big: 501 resources, over CloudFormation's limit of 500; split the tier",
        "big: 201 parameters, over CloudFormation's limit of 200; split the tier",
    ]
    assert quotas.check("small", json.dumps({"Resources": {}})) == []


def test_quota_failure_fails_the_build(monkeypatch, tmp_path):
    monkeypatch.setattr(quotas, "MAX_RESOURCES", 5)
    with pytest.raises(BuildError, match="over CloudFormation's limit of 5"):
        build.run(build_dir=tmp_path, lint=False, scan=False, log=lambda *_: None)


class _BadBucketTier(Tier):
    name = "bad"
    description = "a bucket without encryption or logging"

    def build(self):
        self.add(s3.Bucket("Plain"))


def test_lint_reports_errors_and_warnings(tmp_path):
    template = json.loads(_BadBucketTier().to_json())
    template["Resources"]["Plain"]["Properties"] = {"VersioningConfiguration": {"Status": "On"}}
    template["Conditions"] = {"Unused": {"Fn::Equals": ["a", "b"]}}
    # A GetAtt of an attribute the type lacks and a Ref to nothing: the rules that evolve
    # validators with their own keyword sets, and paths that descend into functions.
    template.setdefault("Outputs", {})["Odd"] = {"Value": {"Fn::GetAtt": ["Plain", "NoSuch"]}}
    template["Resources"]["Plain"]["Properties"]["BucketName"] = {"Ref": "Nowhere"}
    findings, linted = lint_templates(
        {"bad": json.dumps(template)}, ["us-east-1"], tmp_path, jobs=1
    )
    assert linted == 1
    rules = {line.split()[1] for line in findings["bad"]}
    assert {"E3030", "W8001"} <= rules, findings  # bad enum value; unused condition
    assert not any(tmp_path.iterdir())  # nothing cached for a failing template


def test_scan_reports_failures_and_reasonless_suppressions(tmp_path):
    clean_enough = _BadBucketTier().to_json()
    reasonless = json.loads(clean_enough)
    reasonless["Resources"]["Plain"]["Metadata"] = {
        "checkov": {"skip": [{"id": "CKV_AWS_18", "comment": ""}]}
    }
    findings, scanned = scan_templates(
        {"bad": clean_enough, "reasonless": json.dumps(reasonless)}, tmp_path
    )
    assert scanned == 2
    assert any("CKV_AWS_18" in line for line in findings["bad"])
    assert any(
        "CKV_AWS_18 is suppressed without a written reason" in line
        for line in findings["reasonless"]
    )


def test_suppressions_need_a_reason():
    with pytest.raises(ValueError, match="needs a written reason"):
        Tier.suppress(s3.Bucket("B"), checkov={"CKV_AWS_18": "because"})


def test_every_suppression_in_the_build_has_a_reason(rendered):
    for name, template in rendered.items():
        for logical, resource in template.get("Resources", {}).items():
            metadata = resource.get("Metadata", {})
            for skip in metadata.get("checkov", {}).get("skip", []):
                assert len(skip["comment"]) >= 15, (name, logical, skip)
            ignored = metadata.get("cfn-lint", {}).get("config", {}).get("ignore_checks", [])
            reasons = metadata.get("streamstack:LintReasons", {})
            assert set(ignored) == set(reasons), (name, logical)


def test_rendering_reuses_unchanged_tiers_and_renders_changed_ones(tmp_path, monkeypatch):
    from streamstack import render as rendering

    first = rendering.render(tmp_path)
    again = rendering.render(tmp_path)
    # The root and the deploy roles (derived from all the others) are always rendered.
    derived = {"root", "deploy-role", "stackset-role"}
    assert set(first.rendered) == set(first.texts) - derived and again.rendered == ()
    assert again.texts == first.texts == render_all()
    assert [c.wired for c in again.children] == [c.wired for c in first.children]
    # Another troposphere (or any package) renders everything again.
    monkeypatch.setattr(rendering.sys, "version", rendering.sys.version + " other")
    assert set(rendering.render(tmp_path).rendered) == set(first.rendered)


def test_nothing_is_redone_when_no_input_changed(built):
    first, result, again = built
    assert not result.up_to_date and again.up_to_date
    assert again.templates == result.templates
    # A template changed by hand in build/ is rebuilt, not trusted.
    path = first / "templates" / "dns.json"
    path.write_text(path.read_text().replace("Route 53", "Route 54"))
    rebuilt = build.run(build_dir=first, lint=False, scan=False, log=lambda *_: None)
    assert not rebuilt.up_to_date and path.read_text() == result.templates["dns"]


def test_a_build_without_checks_does_not_stand_for_one_with_them(tmp_path):
    unchecked = build.run(build_dir=tmp_path, lint=False, scan=False, log=lambda *_: None)
    assert not unchecked.up_to_date
    assert build.run(build_dir=tmp_path, lint=False, scan=False, log=lambda *_: None).up_to_date
    from streamstack import inputs

    assert not inputs.up_to_date(tmp_path, inputs.digest(build.PARAMS_DIR), lint=True, scan=False)


def test_the_faster_cfn_lint_finds_what_cfn_lint_finds(tmp_path):
    """The workers patch cfn-lint's evolve(); an unpatched Runner in this process must
    report the same findings for a template with errors."""
    from cfnlint.config import ConfigMixIn
    from cfnlint.decode.decode import decode_str
    from cfnlint.runner import Runner

    template = json.loads(_BadBucketTier().to_json())
    template["Resources"]["Plain"]["Properties"] = {"VersioningConfiguration": {"Status": "On"}}
    template["Conditions"] = {"Unused": {"Fn::Equals": ["a", "b"]}}
    # A GetAtt of an attribute the type lacks and a Ref to nothing: the rules that evolve
    # validators with their own keyword sets, and paths that descend into functions.
    template.setdefault("Outputs", {})["Odd"] = {"Value": {"Fn::GetAtt": ["Plain", "NoSuch"]}}
    template["Resources"]["Plain"]["Properties"]["BucketName"] = {"Ref": "Nowhere"}
    text = json.dumps(template)
    findings, _ = lint_templates({"bad": text}, ["us-east-1"], tmp_path, jobs=1)
    plain = Runner(ConfigMixIn(regions=["us-east-1"])).validate_template(decode_str(text)[0])
    assert sorted(findings["bad"]) == sorted(
        f"bad.json:{m.linenumber}:{m.columnnumber} {m.rule.id} {m.message}" for m in plain
    )


def test_the_checkov_runner_finds_what_the_checkov_command_finds(tmp_path):
    """The build runs checkov's CloudFormation runner through its API, with its jsonpath
    parsers built once; the `checkov` command must report the same failures."""
    import subprocess

    from streamstack.scan import SCAN_VENV, scan_view

    text = _BadBucketTier().to_json()
    findings, _ = scan_templates({"bad": text}, tmp_path / "cache")
    (tmp_path / "view").mkdir()
    (tmp_path / "view" / "bad.json").write_text(scan_view(text))
    command = subprocess.run(
        [
            str(SCAN_VENV / "bin" / "checkov"),
            "-d",
            str(tmp_path / "view"),
            "--framework",
            "cloudformation",
            "--skip-download",
            "-o",
            "json",
            "--compact",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(command.stdout)
    failed = [
        f"bad.json {c['resource']} {c['check_id']} {c['check_name']}"
        for c in report["results"]["failed_checks"]
    ]
    assert failed and sorted(findings["bad"]) == sorted(failed)
