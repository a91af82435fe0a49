"""End to end over HTTP against LocalStack with the real templates and the local profile
(params/profiles/local.yaml): bootstrap, plan (CREATE) and execute to CREATE_COMPLETE,
plan again ("no changes"), change a parameter (planned, executed, and seen on the tier's
resource), destroy (every object version, then DELETE_COMPLETE).

deploy.py runs as a subprocess, exactly as `make deploy ENV=dev LOCAL=1` runs it, on a
copy of params/dev.yaml under its own stack name. LocalStack is started if it is not
answering (with the project's fixes), and stopped again if this test started it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError

from streamstack import PARAMS_DIR, ROOT
from streamstack.deploy import local, stacks
from streamstack.deploy.commands import empty_bucket
from templates import TIERS as TIER_CLASSES

pytestmark = pytest.mark.e2e
REGION = "us-west-2"
TIERS = len(TIER_CLASSES)  # nested stacks under the root


@pytest.fixture(scope="module")
def endpoint():
    started = local.start(out=lambda *a: None)
    yield local.ENDPOINT
    if started:
        local.stop(out=lambda *a: None)


def aws_client(service: str):
    return boto3.client(
        service,
        endpoint_url=local.ENDPOINT,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


class Deploy:
    """deploy.py on a copy of params/ whose dev environment has its own stack name."""

    def __init__(self, tmp: Path, built: Path, name: str) -> None:
        self.name, self.build_dir = name, built
        self.params_dir = tmp / "params"
        shutil.copytree(PARAMS_DIR / "profiles", self.params_dir / "profiles")
        self.dev = yaml.safe_load((PARAMS_DIR / "dev.yaml").read_text())
        self.dev["stack_name"] = name
        self.dev["deploy"]["execute"] = "review"  # plan and execute as separate steps
        self.write()

    def write(self, **parameters) -> None:
        self.dev["parameters"].update(parameters)
        (self.params_dir / "dev.yaml").write_text(yaml.safe_dump(self.dev))

    def __call__(self, command: str, *extra: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        return subprocess.run(
            [
                sys.executable,
                str(ROOT / "deploy.py"),
                command,
                "dev",
                "--local",
                "--no-build",
                "--build-dir",
                str(self.build_dir),
                "--params-dir",
                str(self.params_dir),
                "--poll-seconds",
                "0.5",
                *extra,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    return result.stdout


def refuse_shared_names(cfn) -> None:
    """The dev templates name their buckets and aliases by environment, so a dev tree
    someone deployed on this LocalStack would collide with the test's."""
    live = [
        s["StackName"]
        for s in cfn.list_stacks()["StackSummaries"]
        if s["StackStatus"] != "DELETE_COMPLETE"
        and not s.get("ParentId")
        and not s["StackName"].endswith(("-bootstrap", "-bootstrap-role"))
    ]
    for name in live:
        parameters = cfn.describe_stacks(StackName=name)["Stacks"][0].get("Parameters", [])
        if {"ParameterKey": "Environment", "ParameterValue": "dev"} in [
            {k: p[k] for k in ("ParameterKey", "ParameterValue")} for p in parameters
        ]:
            pytest.fail(
                f"LocalStack on {local.ENDPOINT} already holds the dev tree {name}, "
                f"whose names the test's would collide with: `make destroy ENV=dev "
                f"LOCAL=1 YES=1`, or `make local-stop` and let the test start one"
            )


def test_real_tree_bootstrap_plan_execute_replan_change_destroy(endpoint, built, tmp_path):
    cfn = aws_client("cloudformation")
    refuse_shared_names(cfn)
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    deploy = Deploy(tmp_path, built, name)
    try:
        # 1. bootstrap
        ok(deploy("bootstrap"))
        boot = stacks.describe(cfn, f"{name}-bootstrap")
        assert boot["StackStatus"] == "CREATE_COMPLETE"
        role = stacks.describe(cfn, f"{name}-bootstrap-role")
        assert role["StackStatus"] == "CREATE_COMPLETE"
        assert ":role/streamstack-deploy/execution/" in stacks.outputs(role)["ExecutionRoleArn"]

        # 2. plan (CREATE): the profile's changes printed, nothing executed
        out = ok(deploy("deploy"))
        assert "local profile (local.yaml) changes 8 parameter(s) of dev:" in out
        assert "  NatLayout: single -> none  # LocalStack has no AWS::EC2::EIP provider" in out
        assert "  ExistingHostedZoneId: (empty default) -> Z" in out
        plan = json.loads((built / "plans" / "dev.json").read_text())
        assert plan["change_set_type"] == "CREATE"
        # the params file's third-party secrets: created empty, injected nowhere yet
        assert "secret PAYMENT_API_KEY: created empty by this deploy; Api, Worker get" in out
        assert plan["parameters"]["ThirdPartySecret1Name"] == "PAYMENT_API_KEY"
        assert plan["parameters"]["ThirdPartySecret1ForApi"] == "disabled"
        assert plan["parameters"]["NatLayout"] == "none"
        assert len({r["logical_id"] for r in plan["rows"]}) >= TIERS
        assert stacks.describe(cfn, name)["StackStatus"] == "REVIEW_IN_PROGRESS"
        # how long it will take, from the table (nothing measured yet), and the plan kept
        # in the artifact bucket
        assert "expected duration: about" in out and "no deploy of dev measured yet" in out
        assert plan["duration"]["path"][0]["stack"] == "NetworkStack"
        artifacts = stacks.outputs(boot)["ArtifactBucketName"]
        s3 = aws_client("s3")
        kept = f"plans/dev/{plan['change_set_name']}"
        assert s3.head_object(Bucket=artifacts, Key=f"{kept}.json")["ContentLength"] > 0
        assert s3.head_object(Bucket=artifacts, Key=f"{kept}.md")["ContentLength"] > 0

        # 3. execute: the whole real tree, then what LocalStack really did
        out = ok(deploy("execute"))
        root = stacks.describe(cfn, name)
        assert root["StackStatus"] == "CREATE_COMPLETE"
        tree = stacks.tree(cfn, root["StackId"])
        assert len(tree) == TIERS + 1
        assert {stacks.describe(cfn, i)["StackStatus"] for _, i in tree} == {"CREATE_COMPLETE"}
        assert "what LocalStack really did, per tier" in out
        report = {
            line.split()[0]: line.split()[1:]
            for line in out.splitlines()
            if line.startswith("  ") and len(line.split()) >= 3 and line.split()[1].isdigit()
        }
        assert int(report["network"][0]) > 30  # VPC, subnets, routes, ...
        assert report["network"][2:] == ["AWS::EC2::SecurityGroupIngress"]
        assert "AWS::RDS::DBCluster" in " ".join(report["data"][2:])
        nested = {path[-1]: i for path, i in tree[1:]}
        outputs = stacks.outputs(root)
        # An empty value (dev's OriginVerifySecretArn) comes without ParameterValue.
        fleet = {
            p["ParameterKey"]: p.get("ParameterValue", "")
            for p in cfn.describe_stacks(StackName=nested["FleetStack"])["Stacks"][0]["Parameters"]
        }
        assert fleet["FleetAmiId"].startswith("ami-")  # resolved once, at the root
        assert fleet["VpcId"] == outputs["VpcId"]  # wired from the network tier
        again = deploy("execute")
        assert again.returncode == 1 and "there is no plan for dev" in again.stderr
        mail = aws_client("secretsmanager").describe_secret(
            SecretId="third-party/dev/SMTP_CREDENTIALS"
        )
        assert not any("AWSCURRENT" in s for s in mail.get("VersionIdsToStages", {}).values())
        # the timeline next to the plan, the slowest printed, the durations measured
        timeline = (built / "plans" / "dev.timeline.md").read_text()
        assert "| NetworkStack |" in timeline and "(the plan expected about" in timeline
        assert "slowest: " in out
        measured = json.loads(
            s3.get_object(Bucket=artifacts, Key="plans/dev/durations.json")["Body"].read()
        )
        assert "create" in measured["types"]["AWS::EC2::VPC"]

        # 4. plan again: no changes, nothing uploaded (exit 0 with --detailed-exitcode)
        out = ok(deploy("deploy", "--detailed-exitcode"))
        assert "no changes" in out and "uploaded 0," in out
        assert "secret SMTP_CREDENTIALS: has no value yet; Worker get it" in out

        # 5. a parameter change: planned as a Modify of the messaging tier, executed, and
        # the jobs queue has the new visibility timeout
        deploy.write(JobsVisibilityTimeout=600)
        planned = deploy("deploy", "--detailed-exitcode")
        assert planned.returncode == 2, planned.stdout[-4000:] + planned.stderr  # changes
        # the estimate read what the first execution measured, and names the tier
        assert "could not read" not in planned.stdout
        assert "(critical path: MessagingStack " in planned.stdout
        plan = json.loads((built / "plans" / "dev.json").read_text())
        assert plan["change_set_type"] == "UPDATE"
        assert plan["parameters"]["JobsVisibilityTimeout"] == "600"
        assert [(r["action"], r["logical_id"]) for r in plan["rows"]] == [
            ("Modify", "MessagingStack")
        ], plan["rows"]
        ok(deploy("execute"))
        assert stacks.describe(cfn, name)["StackStatus"] == "UPDATE_COMPLETE"
        assert stacks.describe(cfn, nested["MessagingStack"])["StackStatus"] == "UPDATE_COMPLETE"
        queue = aws_client("sqs").get_queue_attributes(
            QueueUrl=outputs["JobsQueueUrl"], AttributeNames=["VisibilityTimeout"]
        )
        assert queue["Attributes"]["VisibilityTimeout"] == "600"

        # 6. destroy: every object version goes, then the tree
        bucket = outputs["MediaBucketName"]
        for body in (b"one", b"two"):
            s3.put_object(Bucket=bucket, Key="video.m3u8", Body=body)
        refused = deploy("destroy")
        assert refused.returncode == 4 and "--yes" in refused.stderr
        out = ok(deploy("destroy", "--yes"))
        assert f"emptied {bucket} (2 object versions)" in out
        assert out.rstrip().endswith(f"{name}: DELETE_COMPLETE")
        assert stacks.describe(cfn, name) is None
        with pytest.raises(ClientError):
            s3.head_bucket(Bucket=bucket)
    finally:
        _cleanup(cfn, name)


def _cleanup(cfn, name: str) -> None:
    """Remove what the test left (the bootstrap stays otherwise: destroy keeps it)."""
    for stack_name in (name, f"{name}-bootstrap-role", f"{name}-bootstrap"):
        stack = stacks.describe(cfn, stack_name)
        if stack is None:
            continue
        outputs = stacks.outputs(stack)
        if "ArtifactBucketName" in outputs:
            empty_bucket(aws_client("s3"), outputs["ArtifactBucketName"])
        cfn.delete_stack(StackName=stack_name)
        cfn.get_waiter("stack_delete_complete").wait(
            StackName=stack_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
