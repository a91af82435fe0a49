"""The GitHub workflows, checked by actionlint (a real workflow linter, from PyPI) and
for the properties the deploy flow relies on."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from streamstack import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def actionlint() -> str:
    found = Path(sys.executable).parent / "actionlint"
    return (
        str(found)
        if found.exists()
        else shutil.which("actionlint")
        or pytest.fail("actionlint is not installed: `make test` installs it with the test extras")
    )


def lint(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [actionlint(), "-no-color", *map(str, paths)], capture_output=True, text=True, timeout=60
    )


def test_workflows_pass_actionlint():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert [f.name for f in files] == ["image-delivery.yml", "main.yml", "pull-request.yml"]
    result = lint(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_does_catch_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ github.evnt.number }}\n"
    )
    result = lint(broken)
    assert result.returncode != 0 and "evnt" in result.stdout


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def steps_text(job: dict) -> str:
    return "\n".join(str(step) for step in job["steps"])


def test_pull_requests_plan_staging_apart_with_their_own_role_and_comment():
    jobs = load("pull-request.yml")["jobs"]
    plan = jobs["staging-plan"]
    assert plan["needs"] == "test"
    assert plan["permissions"]["id-token"] == "write"
    text = steps_text(plan)
    # The pull-request role (pull-requests/ prefix, pr-* change sets), never the plan
    # role of the branch, whose uploads deploys from main use.
    assert "STAGING_PULL_REQUEST_ROLE_ARN" in text and "PLAN_ROLE" not in text
    # deploy.py itself: make would turn every exit code into 2.
    assert "deploy.py deploy staging --pull-request --detailed-exitcode" in text
    assert "gh pr comment" in text and "build/plans/staging.md" in text
    assert "make execute" not in text
    gate = next(step for step in plan["steps"] if str(step.get("name", "")).startswith("fail"))
    assert gate["if"] == (
        "steps.plan.outputs.exit-code != '0' && steps.plan.outputs.exit-code != '2'"
    )


def test_main_plans_prod_then_executes_it_behind_the_environment():
    workflow = load("main.yml")
    assert workflow["permissions"] == {"contents": "read"}
    jobs = workflow["jobs"]
    plan = steps_text(jobs["prod-plan"])
    assert "PROD_PLAN_ROLE_ARN" in plan
    assert "deploy.py deploy prod --detailed-exitcode" in plan and '2) echo "planned=true"' in plan
    execute = jobs["prod-execute"]
    assert execute["environment"] == "prod" and execute["needs"] == "prod-plan"
    text = steps_text(execute)
    assert "PROD_DEPLOY_ROLE_ARN" in text and "make execute ENV=prod" in text
    assert "make deploy" not in text and "deploy.py deploy" not in text
    assert "build/plans/prod.timeline.md" in text
    assert workflow["concurrency"]["cancel-in-progress"] is False


def test_pull_requests_comment_the_cost_estimate_with_the_plan():
    text = steps_text(load("pull-request.yml")["jobs"]["staging-plan"])
    assert "make cost ENV=staging" in text and "build/cost/staging.md" in text


def test_image_delivery_is_reusable_and_scans_before_it_plans():
    workflow = load("image-delivery.yml")
    call = workflow[True]["workflow_call"]  # YAML reads the key `on` as True
    assert {"environment", "service", "push-role-arn", "plan-role-arn", "deploy-role-arn"} <= set(
        call["inputs"]
    )
    jobs = workflow["jobs"]
    image = steps_text(jobs["image"])
    assert "PUSH_ROLE" not in image and "inputs.push-role-arn" in image
    assert "$GITHUB_SHA" in image and "docker push" in image
    assert "aws ecr wait image-scan-complete" in image and "describe-image-scan-findings" in image
    assert jobs["image"]["outputs"]["image"] == "${{ steps.push.outputs.image }}"
    # The plan carries the digest; executing is gated by the GitHub environment and runs
    # exactly the reviewed plan (nothing is re-planned there).
    plan = steps_text(jobs["plan"])
    assert "inputs.plan-role-arn" in plan
    assert '--images "$IMAGE" --detailed-exitcode' in plan and '2) echo "planned=true"' in plan
    assert "needs.image.outputs.image" in plan
    execute = jobs["execute"]
    assert execute["environment"] == "${{ inputs.environment }}"
    assert execute["needs"] == "plan"
    text = steps_text(execute)
    assert "inputs.deploy-role-arn" in text and 'make execute ENV="$ENVIRONMENT"' in text
    assert "make deploy" not in text
    assert jobs["deploy-at-once"]["environment"] == "${{ inputs.environment }}"
    assert workflow["permissions"] == {"contents": "read"}


def test_the_trust_names_this_workflow_file():
    from templates.parts.deploy import IMAGE_DELIVERY_WORKFLOW

    assert (ROOT / IMAGE_DELIVERY_WORKFLOW).is_file()
