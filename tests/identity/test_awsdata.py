"""AWS's permission data as the derivation reads it: the operation names botocore
knows, kept in the build's cache, spell actions as botocore does."""

from __future__ import annotations

import importlib.metadata

import pytest

from streamstack.identity import awsdata


@pytest.fixture
def remembered(tmp_path):
    awsdata.remember_operations(tmp_path)
    yield tmp_path / f"botocore-{importlib.metadata.version('botocore')}-operations.json"
    awsdata.remember_operations(None)


def a_new_process(directory, monkeypatch):
    """What this process looked up is forgotten, and botocore refuses to be asked."""
    awsdata._operations.cache_clear()
    awsdata.remember_operations(directory)

    def no_botocore(service):
        raise AssertionError(f"botocore asked for {service}")

    monkeypatch.setattr(awsdata, "_operation_names", no_botocore)


def test_operation_names_are_read_back_from_the_cache_as_botocore_spells_them(
    remembered, monkeypatch
):
    awsdata._operations.cache_clear()
    from_botocore = awsdata.expand("ec2:Describe*")
    assert "ec2:DescribeVpcs" in from_botocore and "ec2" in remembered.read_text()
    a_new_process(remembered.parent, monkeypatch)
    assert awsdata.expand("ec2:Describe*") == from_botocore
    assert awsdata.spelled("ec2", "createvpc") == "CreateVpc"


def test_an_unreadable_cache_is_asked_of_botocore_again(remembered, monkeypatch):
    remembered.write_text("not json")
    awsdata._operations.cache_clear()
    awsdata.remember_operations(remembered.parent)
    assert awsdata.spelled("sqs", "sendmessage") == "SendMessage"
    a_new_process(remembered.parent, monkeypatch)
    assert awsdata.spelled("sqs", "sendmessage") == "SendMessage"
