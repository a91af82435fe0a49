"""Shared fixtures of the StackSet tests: the rendered root's parameters, params files
written to a temporary params dir, deploy.py's Context with its output captured, and
sessions whose clients are Stubbers."""

from __future__ import annotations

import argparse
import json

import pytest
import yaml

from streamstack import params as params_mod
from streamstack.deploy.context import Context
from streamstack.render import render_all
from templates.base import DEPLOY_TIME_KEY


@pytest.fixture(scope="session")
def root_template() -> dict:
    return json.loads(render_all()["root"])


@pytest.fixture()
def parse_params(tmp_path, root_template):
    """parse_params(data, env="prod-global") -> EnvParams, via params.parse."""

    def parse(data: dict, env: str = "prod-global"):
        path = tmp_path / f"{env}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return params_mod.parse(
            path, env, root_template["Parameters"], set(root_template["Metadata"][DEPLOY_TIME_KEY])
        )

    return parse


def make_context(env_params, session, manifest, build_dir, **flags) -> Context:
    """deploy.py's Context; what the command prints is kept in ctx.lines."""
    args = argparse.Namespace(
        **{
            "yes": False,
            "allow_data_loss": False,
            "prune": False,
            "deep_preview": False,
            "local": False,
            **flags,
        }
    )
    lines: list[str] = []
    ctx = Context(
        env_params, session, manifest, build_dir, args, out=lines.append, interactive=False
    )
    ctx.lines = lines
    return ctx


class StubSession:
    """A boto3-session stand-in whose clients are botocore Stubbers (one per service and
    region, created on first use), so commands run unchanged against validated stubs."""

    def __init__(self, region: str = "us-west-2") -> None:
        self.region = region
        self.clients: dict = {}
        self.stubbers: dict = {}

    def client(self, service: str, region_name: str | None = None, config=None):
        import boto3
        from botocore.stub import Stubber

        key = (service, region_name or self.region)
        if key not in self.clients:
            client = boto3.client(
                service,
                region_name=key[1],
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            self.clients[key] = client
            self.stubbers[key] = Stubber(client)
            self.stubbers[key].activate()
        return self.clients[key]

    def stub(self, service: str, region: str | None = None):
        self.client(service, region)
        return self.stubbers[(service, region or self.region)]

    def assert_done(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


def stub_state(
    session,
    bucket: str = "artifacts",
    key: str = "stacksets/x/overrides.json",
    body: bytes | None = None,
    save: bool = True,
    region: str | None = None,
):
    """The overrides state file (state.py): absent (or `body`), then saved once."""
    import io

    from botocore.response import StreamingBody
    from botocore.stub import ANY

    s3 = session.stub("s3", region)
    if body is None:
        s3.add_client_error(
            "get_object",
            "NoSuchKey",
            "The specified key does not exist.",
            http_status_code=404,
            expected_params={"Bucket": bucket, "Key": key},
        )
    else:
        s3.add_response(
            "get_object",
            {"Body": StreamingBody(io.BytesIO(body), len(body))},
            {"Bucket": bucket, "Key": key},
        )
    if save:
        s3.add_response(
            "put_object",
            {},
            {"Bucket": bucket, "Key": key, "Body": ANY, "ContentType": "application/json"},
        )


@pytest.fixture()
def sequential_reads(monkeypatch):
    """Stubber answers in the order responses were queued: read instances one at a time."""
    from streamstack.stacksets import preview

    monkeypatch.setattr(preview, "DESCRIBE_THREADS", 1)
