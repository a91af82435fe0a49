"""End to end over HTTP against LocalStack: bootstrap, plan (CREATE) + execute, plan
again ("no changes"), change a parameter (the plan shows the Modify) + execute, destroy.

deploy.py runs as a subprocess, exactly as `make deploy ENV=dev LOCAL=1` runs it.
LocalStack is started if it is not answering, and stopped again if this test started it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from streamstack import ROOT
from streamstack.deploy import local
from streamstack.deploy.commands import empty_bucket
from fixture_tiers import build_fixture as build_fixture_dir

pytestmark = pytest.mark.e2e
REGION = "us-west-2"


@pytest.fixture(scope="module")
def endpoint():
    started = local.start(out=lambda *a: None)
    yield local.ENDPOINT
    if started:
        local.stop(out=lambda *a: None)


def aws_client(service: str):
    return boto3.client(service, endpoint_url=local.ENDPOINT, region_name=REGION,
                        aws_access_key_id="test", aws_secret_access_key="test")


PARAMS = """\
stack_name: {name}
region: us-west-2
tags: {{Project: streamstack-e2e}}
parameters:
  Environment: dev
  Greeting: {greeting}
deploy:
  execute: review
  protected: false
  allow_destroy: true
  keep_change_sets: 2
  bootstrap_stack: {name}-bootstrap
"""


class Deploy:
    def __init__(self, tmp: Path, name: str) -> None:
        self.tmp, self.name = tmp, name
        self.build_dir = tmp / "build"
        self.params_dir = tmp / "params"
        self.params_dir.mkdir()
        build_fixture_dir(self.build_dir)
        self.set_greeting("hello")

    def set_greeting(self, greeting: str) -> None:
        (self.params_dir / "dev.yaml").write_text(PARAMS.format(name=self.name,
                                                                greeting=greeting))

    def __call__(self, command: str, *extra: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") or k == "AWS_ENDPOINT_URL"}
        return subprocess.run(
            [sys.executable, str(ROOT / "deploy.py"), command, "dev", "--local", "--no-build",
             "--build-dir", str(self.build_dir), "--params-dir", str(self.params_dir),
             "--poll-seconds", "0.5", *extra],
            env=env, capture_output=True, text=True, timeout=300)


def test_bootstrap_plan_execute_replan_change_destroy(endpoint, tmp_path):
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    deploy = Deploy(tmp_path, name)
    cfn = aws_client("cloudformation")
    try:
        # 1. bootstrap
        result = deploy("bootstrap")
        assert result.returncode == 0, result.stdout + result.stderr
        boot = cfn.describe_stacks(StackName=f"{name}-bootstrap")["Stacks"][0]
        assert boot["StackStatus"] == "CREATE_COMPLETE"
        role = cfn.describe_stacks(StackName=f"{name}-bootstrap-role")["Stacks"][0]
        assert role["StackStatus"] == "CREATE_COMPLETE"
        outputs = {o["OutputKey"]: o["OutputValue"] for o in role["Outputs"]}
        assert outputs["ExecutionRoleArn"].startswith("arn:aws:iam::")
        assert ":role/streamstack-deploy/execution/" in outputs["ExecutionRoleArn"]

        # 2. plan (CREATE): nothing executed, a plan file, then execute it
        result = deploy("deploy")
        assert result.returncode == 0, result.stdout + result.stderr
        # The deploy-role template went up with the bootstrap; the rest now, each verified.
        assert "uploaded 4, already present and verified 1" in result.stdout
        assert "CREATE" in result.stdout and "AlphaStack" in result.stdout
        plan = json.loads((deploy.build_dir / "plans" / "dev.json").read_text())
        assert plan["change_set_type"] == "CREATE"
        assert {r["logical_id"] for r in plan["rows"]} >= {"AlphaStack", "BetaStack"}
        assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == \
            "REVIEW_IN_PROGRESS"
        result = deploy("execute")
        assert result.returncode == 0, result.stdout + result.stderr
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        root_outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        assert set(root_outputs) >= {"DemoBucketName", "GreetingParameterName",
                                     "BucketNoteParameterName"}
        ssm = aws_client("ssm")
        note = ssm.get_parameter(Name=root_outputs["BucketNoteParameterName"])["Parameter"]
        assert note["Value"] == f"bucket {root_outputs['DemoBucketName']}"
        # an executed plan cannot be executed twice
        again = deploy("execute")
        assert again.returncode == 1 and "there is no plan for dev" in again.stderr

        # 3. plan again: no changes, the empty change set is deleted, nothing uploaded
        result = deploy("deploy")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "no changes" in result.stdout
        assert "uploaded 0, already present and verified 5" in result.stdout
        sets = cfn.list_change_sets(StackName=name)["Summaries"]
        assert all(s["Status"] != "FAILED" for s in sets)

        # 4. change a parameter: the plan shows the modification; execute it
        deploy.set_greeting("bonjour")
        result = deploy("deploy")
        assert result.returncode == 0, result.stdout + result.stderr
        plan = json.loads((deploy.build_dir / "plans" / "dev.json").read_text())
        assert plan["change_set_type"] == "UPDATE"
        assert plan["parameters"]["Greeting"] == "bonjour"
        assert any(r["action"] == "Modify" and r["logical_id"] == "AlphaStack"
                   for r in plan["rows"]), plan["rows"]
        assert "Modify" in (deploy.build_dir / "plans" / "dev.md").read_text()
        result = deploy("execute")
        assert result.returncode == 0, result.stdout + result.stderr
        # LocalStack 2026.3.0 updates the root's parameters but does not pass them on to
        # an existing nested stack, so the root is where the new value can be seen.
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        assert stack["StackStatus"] == "UPDATE_COMPLETE"
        assert {p["ParameterKey"]: p["ParameterValue"]
                for p in stack["Parameters"]}["Greeting"] == "bonjour"
        status = deploy("status", "--no-drift")
        assert status.returncode == 0 and "UPDATE_COMPLETE" in status.stdout

        # 5. destroy: every object version goes, then the tree
        s3 = aws_client("s3")
        bucket = root_outputs["DemoBucketName"]
        for body in (b"one", b"two"):
            s3.put_object(Bucket=bucket, Key="video.m3u8", Body=body)
        refused = deploy("destroy")
        assert refused.returncode == 4 and "--yes" in refused.stderr
        result = deploy("destroy", "--yes")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "2 object versions" in result.stdout
        with pytest.raises(ClientError):
            s3.head_bucket(Bucket=bucket)
        assert not [s for s in cfn.list_stacks(StackStatusFilter=["CREATE_COMPLETE",
                                                                  "UPDATE_COMPLETE"])
                    ["StackSummaries"] if s["StackName"] == name]
    finally:
        _cleanup(cfn, name)


def _cleanup(cfn, name: str) -> None:
    """Remove what the test left (the bootstrap stays otherwise: destroy keeps it)."""
    for stack_name in (name, f"{name}-bootstrap-role", f"{name}-bootstrap"):
        try:
            stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        except ClientError:
            continue
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        if "ArtifactBucketName" in outputs:
            empty_bucket(aws_client("s3"), outputs["ArtifactBucketName"])
        cfn.delete_stack(StackName=stack_name)
        cfn.get_waiter("stack_delete_complete").wait(
            StackName=stack_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
