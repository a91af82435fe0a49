"""Each fix of streamstack/deploy/localstack_fixes.py: the bug shows with LocalStack's
function as shipped, and is gone with the fix (tests/deploy/localstack_fix_cases.py runs
both inside .venv-local, LocalStack's own Python)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from streamstack.deploy import local, localstack_fixes

CASES = Path(__file__).with_name("localstack_fix_cases.py")


@pytest.fixture(scope="module")
def results() -> dict:
    python = local.VENV / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python} is missing: `make test` installs LocalStack's venv")
    done = subprocess.run(
        [str(python), "-P", str(CASES)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def case(results, name):
    return results["cases"][name]["unfixed"], results["cases"][name]["fixed"]


def test_every_fix_has_a_case_and_names_what_it_corrects(results):
    assert results["fixes"] == [fix.name for fix in localstack_fixes.FIXES]
    assert set(results["cases"]) == set(results["fixes"])
    for fix in localstack_fixes.FIXES:
        module, function = fix.corrects.split(":")
        assert module.startswith(("localstack.", "moto.")) and "." in function, fix
        assert fix.bugs and all(len(bug) > 30 for bug in fix.bugs)


def test_empty_nested_output_stays_empty(results):
    unfixed, fixed = case(results, "empty-values")
    assert unfixed == "unknown"
    assert fixed == ""


def test_explicit_empty_parameter_and_lists_on_delete(results):
    unfixed, fixed = case(results, "parameter-values")
    assert unfixed["explicit_empty"] == "Z0DEFAULT"  # the Default, not ""
    assert unfixed["delete_with_list"].startswith("RuntimeError")  # Join over 'a,b'
    assert fixed == {"explicit_empty": "", "delete_with_list": "planned"}


def test_skipped_types_get_arn_shaped_ids_and_arns(results):
    for name in ("skipped-physical-ids", "skipped-arn-attributes"):
        unfixed, fixed = case(results, name)
        assert unfixed == "unknown"
        assert fixed.startswith("arn:aws:ecs:us-east-1:000000000000:cluster/")
        assert localstack_fixes.is_placeholder(fixed)


def test_delete_skips_what_was_never_created(results):
    unfixed, fixed = case(results, "delete-never-created")
    assert unfixed == "No deployed instances of resource 'First' were found"
    assert fixed == "deleted"


def test_nested_stack_update_passes_new_parameters(results):
    unfixed, fixed = case(results, "nested-stack-updates")
    assert unfixed == "NotImplementedError"  # the engine then reports the old state a success
    assert fixed == {
        "statuses": ["IN_PROGRESS", "SUCCESS"],
        "passed": [{"ParameterKey": "Retention", "ParameterValue": "7"}],
        "outputs": {"X": "new"},
    }


def test_hosted_zone_ids_start_with_z(results):
    unfixed, fixed = case(results, "hosted-zone-ids")
    assert set(unfixed) != {"Z"}
    assert fixed == ["Z"]


def test_placeholder_arns_name_service_kind_and_resource():
    arn = localstack_fixes.placeholder_arn(
        "AWS::RDS::DBCluster",
        "DatabaseCluster",
        "us-west-2",
        "000000000000",
        "MasterUserSecret.SecretArn",
    )
    assert arn == (
        "arn:aws:rds:us-west-2:000000000000:dbcluster/localstack-skipped/"
        "DatabaseCluster/MasterUserSecret.SecretArn"
    )
    assert not localstack_fixes.is_placeholder("arn:aws:rds:us-west-2:0:cluster:real")


def test_managed_policies_keep_their_path(results):
    unfixed, fixed = case(results, "managed-policy-path")
    assert unfixed == "arn:aws:iam::000000000000:policy/boundary"
    assert fixed == "arn:aws:iam::000000000000:policy/streamstack-deploy/boundary"
