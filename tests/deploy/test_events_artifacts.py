"""Root causes from event lists, and the content-addressed upload (HEAD first)."""
from __future__ import annotations

import datetime as dt
import io

import boto3
import pytest
from botocore.stub import Stubber

from streamstack.deploy import artifacts, events
from streamstack.errors import StreamstackError

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def ev(logical, status, seconds, reason=None, rtype="AWS::EC2::Subnet", stack="s-Network"):
    found = {"StackName": stack, "LogicalResourceId": logical, "ResourceType": rtype,
             "ResourceStatus": status, "Timestamp": T0 + dt.timedelta(seconds=seconds)}
    if reason:
        found["ResourceStatusReason"] = reason
    return found


def test_root_cause_skips_cancellations_and_nested_summaries():
    found = events.root_cause([
        ev("Subnet2", "CREATE_FAILED", 3, "Resource creation cancelled"),
        ev("NetworkStack", "CREATE_FAILED", 5, "Embedded stack arn:x was not successfully "
                                               "created", "AWS::CloudFormation::Stack", "s"),
        ev("Subnet1", "CREATE_FAILED", 4, "The CIDR '10.0.1.0/24' conflicts"),
        ev("Vpc", "CREATE_COMPLETE", 1),
    ])
    assert found["LogicalResourceId"] == "Subnet1"
    assert events.describe_cause(found).startswith("s-Network/Subnet1 (AWS::EC2::Subnet) "
                                                   "CREATE_FAILED: The CIDR")


def test_root_cause_is_none_without_failures_and_falls_back_to_the_first_failure():
    assert events.root_cause([ev("Vpc", "CREATE_COMPLETE", 1)]) is None
    only = ev("Subnet2", "CREATE_FAILED", 3, "Resource creation cancelled")
    assert events.root_cause([only]) is only


def test_progress_lines_count_finished_resources():
    progress = events.Progress(lambda line: lines.append(line), total=2, stream=io.StringIO())
    lines: list[str] = []
    progress.show([ev("Vpc", "CREATE_IN_PROGRESS", 1), ev("Vpc", "CREATE_COMPLETE", 2),
                   ev("s-Network", "CREATE_COMPLETE", 3, rtype="AWS::CloudFormation::Stack")])
    assert [line.split()[1] for line in lines] == ["[0/2]", "[1/2]", "[1/2]"]
    assert not progress.tty and "\r" not in "".join(lines)


def test_upload_heads_first_and_uploads_only_what_is_missing(tmp_path):
    (tmp_path / "templates").mkdir()
    manifest = {"templates": {}}
    for name, sha in (("root", "1" * 64), ("network", "2" * 64)):
        (tmp_path / "templates" / f"{name}.json").write_text("{}\n")
        manifest["templates"][name] = {"file": f"templates/{name}.json",
                                       "key": f"templates/{sha}.json", "sha256": sha}
    s3 = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="a",
                      aws_secret_access_key="b")
    with Stubber(s3) as stub:
        stub.add_response("head_object", {}, {"Bucket": "b", "Key": f"templates/{'2' * 64}.json"})
        stub.add_client_error("head_object", "404", "Not Found", 404,
                              expected_params={"Bucket": "b",
                                               "Key": f"templates/{'1' * 64}.json"})
        stub.add_response("put_object", {}, {"Bucket": "b", "Key": f"templates/{'1' * 64}.json",
                                             "Body": b"{}\n", "ContentType": "application/json"})
        result = artifacts.upload_templates(s3, "b", manifest, tmp_path)
        stub.assert_no_pending_responses()
    assert (result.uploaded, result.skipped) == (1, 1)
    assert result.base_url == "https://b.s3.eu-west-1.amazonaws.com"
    assert artifacts.template_url(result.base_url, manifest, "root") == \
        f"https://b.s3.eu-west-1.amazonaws.com/templates/{'1' * 64}.json"


def test_a_missing_artifact_bucket_is_one_error_naming_the_fix(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "root.json").write_text("{}\n")
    key = f"templates/{'1' * 64}.json"
    manifest = {"templates": {"root": {"file": "templates/root.json", "key": key}}}
    s3 = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="a",
                      aws_secret_access_key="b")
    with Stubber(s3) as stub:
        # S3 answers a HEAD in a missing bucket with a bare 404, like a missing key.
        stub.add_client_error("head_object", "404", "Not Found", 404,
                              expected_params={"Bucket": "gone", "Key": key})
        stub.add_client_error("put_object", "NoSuchBucket",
                              "The specified bucket does not exist", 404)
        with pytest.raises(StreamstackError) as err:
            artifacts.upload_templates(s3, "gone", manifest, tmp_path)
        stub.assert_no_pending_responses()
    assert str(err.value).startswith("the artifact bucket gone does not exist")
    assert "run `make bootstrap` again" in str(err.value)
