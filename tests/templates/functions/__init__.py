"""Tests of the inline Lambda handlers in templates/functions."""

import boto3
from botocore.stub import Stubber


def stub_client(monkeypatch, module, service: str) -> Stubber:
    """Give the handler module a botocore-stubbed client of `service` (its `_client`, or
    its entry in `_clients` for a handler that calls several services)."""
    client = boto3.client(
        service,
        region_name="us-west-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    if hasattr(module, "_clients"):
        monkeypatch.setitem(module._clients, service, client)
    else:
        monkeypatch.setattr(module, "_client", client)
    return Stubber(client)
