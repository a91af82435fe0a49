"""Shared fixtures of the deploy tests."""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path

import boto3
from botocore.stub import Stubber

from streamstack import params as params_mod
from streamstack.deploy.context import Context

REGION = "us-west-2"
EDGE = "us-east-1"  # the edge stack's region


def write_params(params_dir: Path, env: str, text: str) -> Path:
    params_dir.mkdir(parents=True, exist_ok=True)
    path = params_dir / f"{env}.yaml"
    path.write_text(text)
    return path


class Recorder:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, *parts) -> None:
        self.lines.append(" ".join(str(p) for p in parts))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def make_context(
    built: Path, params_dir: Path, env: str = "prod", **flags
) -> tuple[Context, dict[str, Stubber]]:
    """A Context whose AWS clients are botocore Stubbers, and the stubbers by service
    ("cloudformation-us-east-1" for the edge stack's region)."""
    params = params_mod.load(env, params_dir=params_dir, build_dir=built)
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    args = argparse.Namespace(
        **{
            "yes": False,
            "allow_data_loss": False,
            "wait": False,
            "pull_request": False,
            "no_drift": False,
            **flags,
        }
    )
    ctx = Context(
        params=params,
        session=session,
        manifest=json.loads((built / "manifest.json").read_text()),
        build_dir=built,
        args=args,
        out=Recorder(),
        poll_seconds=0.0,
        sleep=lambda s: None,
        interactive=False,
        plans_dir=params_dir / "plans",
    )
    stubs = {}
    for service, region in [
        (s, REGION) for s in ("cloudformation", "s3", "sts", "ec2", "cloudwatch", "secretsmanager")
    ] + [("cloudformation", EDGE)]:
        client = session.client(service, region_name=region)
        key = service if region == REGION else f"{service}-{region}"
        stubs[key] = Stubber(client)
        stubs[key].activate()
        ctx.clients[(service, region)] = client
    return ctx, stubs


@contextlib.contextmanager
def stubbed(service: str, region: str = REGION):
    """(client, Stubber) for one service; every stubbed response must have been used."""
    client = boto3.client(
        service, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def built_tree(built: Path) -> dict[str, dict]:
    """Stack label ("root", "root/DataStack") -> the template the build gives it."""
    from streamstack.deploy import review

    manifest = json.loads((built / "manifest.json").read_text())
    return review.templates_by_stack(*review.built(built, manifest))
