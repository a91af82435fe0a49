"""The transcode function's inline code, run against a botocore-stubbed MediaConvert
client: the request it sends is validated against the service model, so the job
template's settings (from templates/media.py) are checked against it too."""

import copy

import pytest

from templates.functions import transcode
from templates.media import job_settings
from tests.templates.functions import stub_client

KEY_ARN = "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE_ARN = "arn:aws:iam::123456789012:role/media-MediaConvertRole-ABC"
EVENT_ID = "c9888434-815d-c6f4-9fc2-4dd7bdeccaaf"


def event(key, bucket="s3-uploads-dev-123456789012-us-west-2"):
    return {
        "version": "0",
        "id": EVENT_ID,
        "detail-type": "Object Created",
        "source": "aws.s3",
        "detail": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1024}},
    }


@pytest.fixture
def stub(monkeypatch):
    monkeypatch.setenv("JOB_TEMPLATE", "HlsJobTemplate-XYZ")
    monkeypatch.setenv("MEDIA_BUCKET", "s3-media-dev-123456789012-us-west-2")
    monkeypatch.setenv("MEDIACONVERT_ROLE_ARN", ROLE_ARN)
    monkeypatch.setenv("APPLICATION", "streamstack-dev-streamstack-dev")
    with stub_client(monkeypatch, transcode, "mediaconvert") as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    "key, expected",
    [
        ("uploads/abc123/My Movie (final).mov", "abc123"),
        ("uploads/intro-2024_v2.mp4", "intro-2024_v2"),
        ("uploads/noext", "noext"),
    ],
)
def test_video_id(key, expected):
    assert transcode.video_id(key) == expected


@pytest.mark.parametrize(
    "key",
    [
        "media/abc/x.mp4",
        "uploads/../etc/x.mp4",
        "uploads/a b.mp4",
        "uploads/.mp4",
        "uploads//x.mp4",
    ],
)
def test_video_id_rejects_keys_it_cannot_place(key):
    with pytest.raises(ValueError):
        transcode.video_id(key)


def test_submits_a_job_from_the_template_into_media_id(stub):
    settings = job_settings(KEY_ARN)
    stub.add_response(
        "get_job_template",
        {"JobTemplate": {"Name": "HlsJobTemplate-XYZ", "Settings": copy.deepcopy(settings)}},
        {"Name": "HlsJobTemplate-XYZ"},
    )
    expected_groups = copy.deepcopy(settings["OutputGroups"])
    media = "s3://s3-media-dev-123456789012-us-west-2/media/abc123/"
    expected_groups[0]["OutputGroupSettings"]["HlsGroupSettings"]["Destination"] = media + "hls/"
    expected_groups[1]["OutputGroupSettings"]["FileGroupSettings"]["Destination"] = (
        media + "thumbnails/"
    )
    key = "uploads/abc123/movie.mov"
    stub.add_response(
        "create_job",
        {"Job": {"Id": "1515368087458-qnoxtd", "Role": ROLE_ARN, "Settings": {}}},
        {
            "JobTemplate": "HlsJobTemplate-XYZ",
            "Role": ROLE_ARN,
            "ClientRequestToken": EVENT_ID,
            "Settings": {
                "Inputs": [
                    {
                        **settings["Inputs"][0],
                        "FileInput": "s3://s3-uploads-dev-123456789012-us-west-2/" + key,
                    }
                ],
                "OutputGroups": expected_groups,
            },
            "UserMetadata": {
                "application": "streamstack-dev-streamstack-dev",
                "videoId": "abc123",
                "sourceKey": key,
            },
        },
    )
    result = transcode.handler(event(key), None)
    assert result == {"videoId": "abc123", "jobId": "1515368087458-qnoxtd"}


def test_unplaceable_upload_fails_before_calling_mediaconvert(stub):
    """It raises, so the event ends in the dead-letter queue (and its alarm) after retries."""
    with pytest.raises(ValueError, match="video id"):
        transcode.handler(event("uploads/bad id.mov"), None)


def test_mediaconvert_errors_propagate_for_retry(stub):
    stub.add_client_error("get_job_template", "TooManyRequestsException", http_status_code=429)
    with pytest.raises(Exception, match="TooManyRequests"):
        transcode.handler(event("uploads/abc.mov"), None)
