"""Submit a MediaConvert job for a video uploaded under uploads/.

EventBridge (S3 Object Created) invokes it asynchronously. The job template holds the
encoding ladder; this sets the input and writes everything to media/<id>/ in the media
bucket. <id> is uploads/<id>/<file> or uploads/<id>.<ext>. The event id is the job's
idempotency token, so a retried event never starts a second job.
"""
import os
import re

import boto3

PREFIX = "uploads/"
VIDEO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
FOLDERS = {"HLS_GROUP_SETTINGS": ("HlsGroupSettings", "hls/"),
           "FILE_GROUP_SETTINGS": ("FileGroupSettings", "thumbnails/")}
_client = None


def client():
    global _client
    if _client is None:
        _client = boto3.client("mediaconvert")
    return _client


def video_id(key):
    if not key.startswith(PREFIX):
        raise ValueError(f"{key!r} is not under {PREFIX}")
    rest = key[len(PREFIX):]
    vid = rest.split("/", 1)[0] if "/" in rest else rest.rsplit(".", 1)[0]
    if not VIDEO_ID.match(vid):
        raise ValueError(f"{key!r}: video id {vid!r} must match {VIDEO_ID.pattern}")
    return vid


def with_destinations(groups, base):
    for group in groups:
        settings = group["OutputGroupSettings"]
        field, folder = FOLDERS[settings["Type"]]
        settings.setdefault(field, {})["Destination"] = base + folder
    return groups


def handler(event, context):
    detail = event["detail"]
    bucket, key = detail["bucket"]["name"], detail["object"]["key"]
    vid = video_id(key)
    mc = client()
    template = mc.get_job_template(Name=os.environ["JOB_TEMPLATE"])["JobTemplate"]
    settings = template["Settings"]
    base = f"s3://{os.environ['MEDIA_BUCKET']}/media/{vid}/"
    job = mc.create_job(
        JobTemplate=template["Name"],
        Role=os.environ["MEDIACONVERT_ROLE_ARN"],
        ClientRequestToken=event["id"],
        Settings={
            "Inputs": [{**settings["Inputs"][0], "FileInput": f"s3://{bucket}/{key}"}],
            "OutputGroups": with_destinations(settings["OutputGroups"], base),
        },
        UserMetadata={"application": os.environ["APPLICATION"], "videoId": vid,
                      "sourceKey": key[:256]},
    )["Job"]
    print({"videoId": vid, "jobId": job["Id"], "destination": base})
    return {"videoId": vid, "jobId": job["Id"]}
