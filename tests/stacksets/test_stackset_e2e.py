"""End-to-end over HTTP against moto's server (started here): plan, create, add
instances, keep then prune removed instances, refuse a moved stack set, destroy.

moto models stack sets, instances and operations (not nested stacks, drift, or a
FAILED instance), so the template is a small one; the rest is covered with Stubber."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import boto3
import pytest
import requests
import yaml
from moto.server import ThreadedMotoServer

from streamstack import params as params_mod
from streamstack.deploy.settings import DeploySettings
from streamstack.errors import StreamstackError
from streamstack.stacksets import commands
from streamstack.stacksets.operations import Waiter
from tests.stacksets.conftest import make_context

pytestmark = pytest.mark.e2e

TEMPLATE = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Parameters": {
        "Environment": {
            "Type": "String",
            "AllowedValues": ["dev", "staging", "prod"],
            "Default": "dev",
            "Description": "environment",
        },
        "VpcCidr": {"Type": "String", "Default": "10.0.0.0/16", "Description": "VPC CIDR"},
        "ArtifactBaseUrl": {"Type": "String", "Default": "", "Description": "set by deploy"},
    },
    "Resources": {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": {"Ref": "VpcCidr"}}}
    },
}
ADMIN = "123456789012"
A, B, C = "111111111111", "222222222222", "333333333333"
FAST = Waiter(first=0.01, cap=0.01, sleep=lambda _: None)


@pytest.fixture(scope="module")
def moto_url():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    # moto reads a TemplateURL host of 127.0.0.1 as a bucket named "127": use localhost
    yield f"http://localhost:{port}"
    server.stop()


@pytest.fixture()
def aws(moto_url, monkeypatch):
    requests.post(f"{moto_url}/moto-api/reset", timeout=10)
    for name, value in (
        ("AWS_ENDPOINT_URL", moto_url),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-west-2"),
    ):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)

    def publish(ctx):  # the artifact upload has its own tests; here: straight into moto's S3
        s3 = ctx.session.client("s3", region_name="us-west-2")
        if not s3.list_buckets()["Buckets"]:
            s3.create_bucket(
                Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
            )
        for entry in ctx.manifest["templates"].values():
            s3.put_object(
                Bucket="artifacts",
                Key=entry["key"],
                Body=(ctx.build_dir / entry["file"]).read_bytes(),
            )
        return "artifacts", f"{moto_url}/artifacts"

    monkeypatch.setattr(commands, "publish", publish)
    return boto3.session.Session(region_name="us-west-2")


@pytest.fixture()
def stackset_env(tmp_path, aws):
    """stackset_env(accounts, **flags) -> Context for a params file targeting those accounts."""
    build = tmp_path / "build"
    (build / "templates").mkdir(parents=True)
    text = json.dumps(TEMPLATE, indent=1, sort_keys=True) + "\n"
    (build / "templates" / "root.json").write_text(text)
    sha = hashlib.sha256(text.encode()).hexdigest()
    manifest = {
        "templates": {
            "root": {
                "file": "templates/root.json",
                "sha256": sha,
                "key": f"templates/{sha}.json",
                "parameters": sorted(TEMPLATE["Parameters"]),
                "deploy_time_parameters": ["ArtifactBaseUrl"],
                "kind": "root",
            }
        }
    }

    def make(accounts, **flags):
        path = tmp_path / "global.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "stack_name": "streamstack-e2e",
                    "region": "us-west-2",
                    "tags": {"Project": "video-streaming"},
                    "parameters": {"Environment": "prod"},
                    "stackset": {
                        "accounts": accounts,
                        "regions": ["us-east-1", "us-west-2"],
                        "overrides": {"regions": {"us-east-1": {"VpcCidr": "10.1.0.0/16"}}},
                        "preferences": {
                            "max_concurrent_percentage": 100,
                            "failure_tolerance_count": 0,
                        },
                    },
                }
            )
        )
        parsed = params_mod.parse(path, "global", TEMPLATE["Parameters"], {"ArtifactBaseUrl"})
        return make_context(parsed, aws, manifest, build, **flags)

    return make


def instances(session) -> dict[tuple[str, str], dict]:
    cfn = session.client("cloudformation")
    found = {}
    for summary in cfn.list_stack_instances(StackSetName="streamstack-e2e")["Summaries"]:
        detail = cfn.describe_stack_instance(
            StackSetName="streamstack-e2e",
            StackInstanceAccount=summary["Account"],
            StackInstanceRegion=summary["Region"],
        )["StackInstance"]
        found[(summary["Account"], summary["Region"])] = {
            p["ParameterKey"]: p["ParameterValue"] for p in detail.get("ParameterOverrides", [])
        }
    return found


def vpc_cidrs(session, account: str, region: str) -> list[str]:
    """The VPCs an instance created in its target account (through an assumed role)."""
    creds = session.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/AWSCloudFormationStackSetExecutionRole",
        RoleSessionName="e2e-check",
    )["Credentials"]
    ec2 = boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    ).client("ec2")
    return sorted(v["CidrBlock"] for v in ec2.describe_vpcs()["Vpcs"] if not v["IsDefault"])


def test_create_add_remove_and_destroy(stackset_env, aws, moto_url):
    ctx = stackset_env([A, B])
    assert commands.plan(ctx, waiter=FAST) == 0
    plan = json.loads((ctx.build_dir / "plans" / "global.json").read_text())
    assert plan["kind"] == "stackset" and not plan["exists"]
    assert [g["regions"] for g in plan["creates"]] == [["us-east-1"], ["us-west-2"]]  # canary
    assert "stack set streamstack-e2e: create" in ctx.lines
    assert (ctx.build_dir / "plans" / "global.md").read_text().startswith("### StackSet plan")

    assert commands.execute(ctx, waiter=FAST) == 0
    assert instances(aws) == {
        (A, "us-east-1"): {"VpcCidr": "10.1.0.0/16"},
        (A, "us-west-2"): {},
        (B, "us-east-1"): {"VpcCidr": "10.1.0.0/16"},
        (B, "us-west-2"): {},
    }
    stack_set = aws.client("cloudformation").describe_stack_set(StackSetName="streamstack-e2e")[
        "StackSet"
    ]
    assert (
        stack_set["AdministrationRoleARN"]
        == f"arn:aws:iam::{ADMIN}:role/AWSCloudFormationStackSetAdministrationRole"
    )
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack_set["Parameters"]} == {
        "Environment": "prod",
        "ArtifactBaseUrl": f"{moto_url}/artifacts",
    }
    assert any("CREATE SUCCEEDED: 2/2 instances succeeded" in line for line in ctx.lines)
    # each instance's stack really ran in its account and region, with its overrides
    assert vpc_cidrs(aws, B, "us-east-1") == ["10.1.0.0/16"]
    assert vpc_cidrs(aws, B, "us-west-2") == ["10.0.0.0/16"]

    ctx = stackset_env([A, B])
    assert commands.plan(ctx, waiter=FAST) == 0
    assert "stack set streamstack-e2e: no changes" in ctx.lines
    assert commands.execute(ctx, waiter=FAST) == 0

    ctx = stackset_env([A, B, C])  # add an account
    commands.plan(ctx, waiter=FAST)
    assert any(line.startswith("  add") and C in line for line in ctx.lines), ctx.lines
    assert commands.execute(ctx, waiter=FAST) == 0
    assert len(instances(aws)) == 6

    ctx = stackset_env([A])  # B and C leave the targets
    commands.plan(ctx, waiter=FAST)
    assert any("remove (skipped without --prune)" in line for line in ctx.lines), ctx.lines
    assert commands.execute(ctx, waiter=FAST) == 0
    assert len(instances(aws)) == 6, "without --prune nothing is removed"
    assert any("4 instance(s) no longer targeted are kept" in line for line in ctx.lines)

    commands.plan(stackset_env([A], prune=True), waiter=FAST)
    ctx = stackset_env([A], prune=True, allow_data_loss=True)  # not reviewed as DATA-LOSS
    sent = []
    aws.events.register(
        "provide-client-params.cloudformation.DeleteStackInstances",
        lambda params, **_: sent.append(params["RetainStacks"]),
    )
    assert commands.execute(ctx, waiter=FAST) == 0
    assert sent == [True], "one call for 2 accounts x 2 regions, stacks kept"
    assert "removed instances keep their stacks" in ctx.lines[0]
    assert any("DELETE SUCCEEDED: 4/4" in line for line in ctx.lines)
    assert set(instances(aws)) == {(A, "us-east-1"), (A, "us-west-2")}

    ctx = stackset_env([A])
    ctx.params = dataclasses.replace(
        ctx.params,
        sections={
            **ctx.params.sections,
            "deploy": DeploySettings(allow_destroy=True, protected=False),
        },
    )
    assert commands.destroy(ctx, waiter=FAST) == 0
    assert commands.plan(stackset_env([A]), waiter=FAST) == 0  # gone: the plan creates it again
    assert not json.loads((ctx.build_dir / "plans" / "global.json").read_text())["exists"]


def test_execute_refuses_a_stack_set_that_moved_since_the_plan(stackset_env, aws):
    ctx = stackset_env([A])
    commands.plan(ctx, waiter=FAST)
    commands.execute(ctx, waiter=FAST)
    ctx = stackset_env([A, B])
    commands.plan(ctx, waiter=FAST)
    aws.client("cloudformation").create_stack_instances(  # someone else, meanwhile
        StackSetName="streamstack-e2e", Accounts=[C], Regions=["us-west-2"]
    )
    with pytest.raises(StreamstackError, match="changed since the plan") as refused:
        commands.execute(ctx, waiter=FAST)
    assert refused.value.exit_code == commands.EXIT_REFUSED
    assert (B, "us-west-2") not in instances(aws)


def test_destroy_is_refused_where_params_do_not_allow_it(stackset_env):
    with pytest.raises(StreamstackError, match="does not allow destroy"):
        commands.destroy(stackset_env([A]), waiter=FAST)


def test_deep_preview_reaches_each_target_through_the_preview_role(stackset_env, aws):
    """Over HTTP: the target's preview role (it may create change sets, never execute
    them; the execution role trusts only the administration role) is assumed per target
    account and a change set is asked for
    on each updated instance's stack. moto's ListStackInstances hands out StackIds that
    its own stacks do not answer to, so here each instance is reported as skipped with
    AWS's reason (and the plan goes on); the change set itself is Stubber-tested."""
    ctx = stackset_env([A])
    commands.plan(ctx, waiter=FAST)
    commands.execute(ctx, waiter=FAST)
    template = json.loads((ctx.build_dir / "templates" / "root.json").read_text())
    template["Resources"]["Vpc"]["Properties"]["EnableDnsSupport"] = True
    text = json.dumps(template, indent=1, sort_keys=True) + "\n"
    (ctx.build_dir / "templates" / "root.json").write_text(text)
    sha = hashlib.sha256(text.encode()).hexdigest()
    ctx = stackset_env([A], deep_preview=True)
    ctx.manifest["templates"]["root"].update(sha256=sha, key=f"templates/{sha}.json")
    assigned = []
    aws.events.register(
        "provide-client-params.sts.AssumeRole",
        lambda params, **_: assigned.append(params["RoleArn"]),
    )
    assert commands.plan(ctx, waiter=FAST) == 0
    assert assigned == [f"arn:aws:iam::{A}:role/streamstack-deploy/stackset-preview-prod"]
    for region in ("us-east-1", "us-west-2"):
        line = next(text for text in ctx.lines if text.startswith(f"deep preview {A}/{region}: "))
        assert (
            "skipped: ValidationError: Stack with id arn:aws:cloudformation:"
            f"{region}:{A}:stack/" in line
        )
    written = json.loads((ctx.build_dir / "plans" / "global.json").read_text())
    assert set(written["deep_preview"]) == {f"{A}/us-east-1", f"{A}/us-west-2"}


def test_deploy_py_routes_every_stackset_command_here():
    from streamstack.deploy import cli

    routed = {name: c.stackset for name, c in cli.COMMANDS.items() if c.stackset}
    for command, function in routed.items():
        assert callable(function) and function.__module__ == commands.__name__, command
    assert routed["destroy"] is commands.destroy
