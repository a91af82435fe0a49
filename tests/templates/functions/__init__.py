"""Tests of the inline Lambda handlers in templates/functions."""

import boto3
from botocore.stub import Stubber


def stub_client(monkeypatch, module, service: str) -> Stubber:
    """Give the handler module a botocore-stubbed client of `service` (its `_client`)."""
    client = boto3.client(
        service,
        region_name="us-west-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    monkeypatch.setattr(module, "_client", client)
    return Stubber(client)
