"""Root causes from event lists, and the content-addressed upload: verified by S3's
checksums before use, created only where missing, never overwritten."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from streamstack.deploy import artifacts, events
from streamstack.errors import StreamstackError

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def ev(logical, status, seconds, reason=None, rtype="AWS::EC2::Subnet", stack="s-Network"):
    found = {
        "StackName": stack,
        "LogicalResourceId": logical,
        "ResourceType": rtype,
        "ResourceStatus": status,
        "Timestamp": T0 + dt.timedelta(seconds=seconds),
    }
    if reason:
        found["ResourceStatusReason"] = reason
    return found


def test_root_cause_skips_cancellations_and_nested_summaries():
    found = events.root_cause(
        [
            ev("Subnet2", "CREATE_FAILED", 3, "Resource creation cancelled"),
            ev(
                "NetworkStack",
                "CREATE_FAILED",
                5,
                "Embedded stack arn:x was not successfully created",
                "AWS::CloudFormation::Stack",
                "s",
            ),
            ev("Subnet1", "CREATE_FAILED", 4, "The CIDR '10.0.1.0/24' conflicts"),
            ev("Vpc", "CREATE_COMPLETE", 1),
        ]
    )
    assert found["LogicalResourceId"] == "Subnet1"
    assert events.describe_cause(found).startswith(
        "s-Network/Subnet1 (AWS::EC2::Subnet) CREATE_FAILED: The CIDR"
    )


def test_root_cause_is_none_without_failures_and_falls_back_to_the_first_failure():
    assert events.root_cause([ev("Vpc", "CREATE_COMPLETE", 1)]) is None
    only = ev("Subnet2", "CREATE_FAILED", 3, "Resource creation cancelled")
    assert events.root_cause([only]) is only


def test_progress_lines_count_finished_resources():
    progress = events.Progress(lambda line: lines.append(line), total=2, stream=io.StringIO())
    lines: list[str] = []
    progress.show(
        [
            ev("Vpc", "CREATE_IN_PROGRESS", 1),
            ev("Vpc", "CREATE_COMPLETE", 2),
            ev("s-Network", "CREATE_COMPLETE", 3, rtype="AWS::CloudFormation::Stack"),
        ]
    )
    assert [line.split()[1] for line in lines] == ["[0/2]", "[1/2]", "[1/2]"]
    assert not progress.tty and "\r" not in "".join(lines)


def built_templates(tmp_path, texts: dict[str, str]) -> dict:
    """A build directory holding `texts` (name -> template text) and its manifest."""
    (tmp_path / "templates").mkdir(exist_ok=True)
    manifest = {"templates": {}}
    for name, text in texts.items():
        (tmp_path / "templates" / f"{name}.json").write_text(text)
        sha = hashlib.sha256(text.encode()).hexdigest()
        manifest["templates"][name] = {
            "file": f"templates/{name}.json",
            "key": f"templates/{sha}.json",
            "sha256": sha,
        }
    return manifest


def s3_client():
    return boto3.client(
        "s3", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b"
    )


def head(key, bucket="b"):
    return {"Bucket": bucket, "Key": key, "ChecksumMode": "ENABLED"}


def sums(manifest, name):
    entry = manifest["templates"][name]
    return entry["key"], base64.b64encode(bytes.fromhex(entry["sha256"])).decode()


def test_upload_verifies_what_is_there_and_creates_only_what_is_missing(tmp_path):
    manifest = built_templates(tmp_path, {"root": '{"Resources": {}}\n', "network": "{}\n"})
    network_key, network_sum = sums(manifest, "network")
    root_key, root_sum = sums(manifest, "root")
    s3 = s3_client()
    with Stubber(s3) as stub:
        stub.add_response(
            "head_object",
            {"ChecksumSHA256": network_sum, "ChecksumType": "FULL_OBJECT"},
            head(network_key),
        )
        stub.add_client_error(
            "head_object", "404", "Not Found", 404, expected_params=head(root_key)
        )
        # If-None-Match: the bucket policy refuses any write that could replace a template;
        # the checksum makes S3 refuse bytes that are not the ones hashed here.
        stub.add_response(
            "put_object",
            {},
            {
                "Bucket": "b",
                "Key": root_key,
                "Body": b'{"Resources": {}}\n',
                "ContentType": "application/json",
                "IfNoneMatch": "*",
                "ChecksumAlgorithm": "SHA256",
                "ChecksumSHA256": root_sum,
            },
        )
        result = artifacts.upload_templates(s3, "b", manifest, tmp_path)
        stub.assert_no_pending_responses()
    assert (result.uploaded, result.skipped) == (1, 1)
    assert result.base_url == "https://b.s3.eu-west-1.amazonaws.com"
    assert (
        artifacts.template_url(result.base_url, manifest, "root")
        == f"https://b.s3.eu-west-1.amazonaws.com/{root_key}"
    )


def test_a_planted_template_is_refused_before_anything_uses_it(tmp_path):
    """Someone wrote other bytes under the key a build will reference: S3's checksum of
    what it holds does not match the key's hash, and nothing goes further."""
    manifest = built_templates(tmp_path, {"root": "{}\n"})
    key, _ = sums(manifest, "root")
    planted = base64.b64encode(hashlib.sha256(b'{"Resources": {"Evil": {}}}').digest()).decode()
    s3 = s3_client()
    with Stubber(s3) as stub:
        stub.add_response(
            "head_object", {"ChecksumSHA256": planted, "ChecksumType": "FULL_OBJECT"}, head(key)
        )
        with pytest.raises(StreamstackError) as err:
            artifacts.upload_templates(s3, "b", manifest, tmp_path)
        stub.assert_no_pending_responses()
    assert str(err.value).startswith(f"s3://b/{key} does not hash to its name")
    assert "nothing was deployed" in str(err.value) and "\n" not in str(err.value)


def test_an_object_written_without_a_checksum_is_read_back_and_hashed(tmp_path):
    manifest = built_templates(tmp_path, {"root": "{}\n"})
    key, _ = sums(manifest, "root")
    s3 = s3_client()
    with Stubber(s3) as stub:
        stub.add_response("head_object", {}, head(key))
        stub.add_response(
            "get_object",
            {"Body": StreamingBody(io.BytesIO(b"{}\n"), 3)},
            {"Bucket": "b", "Key": key},
        )
        result = artifacts.upload_templates(s3, "b", manifest, tmp_path)
        stub.add_response("head_object", {}, head(key))
        stub.add_response(
            "get_object",
            {"Body": StreamingBody(io.BytesIO(b"[]\n"), 3)},
            {"Bucket": "b", "Key": key},
        )
        with pytest.raises(StreamstackError, match="does not hash to its name"):
            artifacts.upload_templates(s3, "b", manifest, tmp_path)
        stub.assert_no_pending_responses()
    assert (result.uploaded, result.skipped) == (0, 1)


def test_a_write_that_loses_the_race_verifies_the_winner(tmp_path):
    manifest = built_templates(tmp_path, {"root": "{}\n"})
    key, checksum = sums(manifest, "root")
    s3 = s3_client()
    with Stubber(s3) as stub:
        stub.add_client_error("head_object", "404", "Not Found", 404, expected_params=head(key))
        stub.add_client_error(
            "put_object",
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
            412,
        )
        stub.add_response(
            "head_object", {"ChecksumSHA256": checksum, "ChecksumType": "FULL_OBJECT"}, head(key)
        )
        result = artifacts.upload_templates(s3, "b", manifest, tmp_path)
        stub.assert_no_pending_responses()
    assert (result.uploaded, result.skipped) == (0, 0)


def test_a_pull_request_writes_under_its_own_prefix(tmp_path):
    manifest = built_templates(tmp_path, {"root": "{}\n"})
    key, checksum = sums(manifest, "root")
    s3 = s3_client()
    with Stubber(s3) as stub:
        stub.add_response("head_object", {"ChecksumSHA256": checksum}, head("pull-requests/" + key))
        result = artifacts.upload_templates(
            s3, "b", manifest, tmp_path, prefix=artifacts.PULL_REQUEST_PREFIX
        )
        stub.assert_no_pending_responses()
    assert result.base_url == "https://b.s3.eu-west-1.amazonaws.com/pull-requests"


def test_a_template_changed_after_the_build_is_refused(tmp_path):
    manifest = built_templates(tmp_path, {"root": "{}\n"})
    (tmp_path / "templates" / "root.json").write_text("{ }\n")
    with pytest.raises(StreamstackError, match="does not match build/manifest.json"):
        artifacts.upload_templates(s3_client(), "b", manifest, tmp_path)


def test_a_missing_artifact_bucket_is_one_error_naming_the_fix(tmp_path):
    manifest = built_templates(tmp_path, {"root": "{}\n"})
    key, _ = sums(manifest, "root")
    s3 = s3_client()
    with Stubber(s3) as stub:
        # S3 answers a HEAD in a missing bucket with a bare 404, like a missing key.
        stub.add_client_error(
            "head_object", "404", "Not Found", 404, expected_params=head(key, "gone")
        )
        stub.add_client_error(
            "put_object", "NoSuchBucket", "The specified bucket does not exist", 404
        )
        with pytest.raises(StreamstackError) as err:
            artifacts.upload_templates(s3, "gone", manifest, tmp_path)
        stub.assert_no_pending_responses()
    assert str(err.value).startswith("the artifact bucket gone does not exist")
    assert "run `make bootstrap` again" in str(err.value)
