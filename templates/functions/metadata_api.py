"""Video metadata API behind API Gateway (HTTP API, payload 2.0) on the videos table.

GET /videos[?owner=&limit=&next=]  GET /videos/{id}  POST /videos {title, owner_id}
A new video gets an id, status "uploading", and the key prefix to upload to.
"""
import base64
import datetime
import json
import os
import re
import uuid

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_ser, _de = TypeSerializer(), TypeDeserializer()
_client = None


def client():
    global _client
    if _client is None:
        _client = boto3.client("dynamodb")
    return _client


def reply(status, body):
    return {"statusCode": status, "headers": {"content-type": "application/json"},
            "body": json.dumps(body, default=str)}


def item(raw):
    return {k: _de.deserialize(v) for k, v in raw.items()}


def list_videos(query):
    table = os.environ["TABLE_NAME"]
    try:
        limit = min(max(int(query.get("limit", 25)), 1), 100)
        start = json.loads(base64.urlsafe_b64decode(query["next"])) if "next" in query else None
    except (ValueError, TypeError):
        return reply(400, {"message": "limit must be a number and next a token we returned"})
    args = {"TableName": table, "Limit": limit}
    if start:
        args["ExclusiveStartKey"] = start
    if query.get("owner"):
        page = client().query(IndexName="by-owner", ScanIndexForward=False,
                              KeyConditionExpression="owner_id = :o",
                              ExpressionAttributeValues={":o": {"S": query["owner"]}}, **args)
    else:
        page = client().scan(**args)
    body = {"videos": [item(i) for i in page["Items"]]}
    if page.get("LastEvaluatedKey"):
        body["next"] = base64.urlsafe_b64encode(
            json.dumps(page["LastEvaluatedKey"]).encode()).decode()
    return reply(200, body)


def get_video(video_id):
    if not ID.match(video_id):
        return reply(400, {"message": "invalid video id"})
    found = client().get_item(TableName=os.environ["TABLE_NAME"],
                              Key={"video_id": {"S": video_id}}).get("Item")
    return reply(200, item(found)) if found else reply(404, {"message": "no such video"})


def create_video(body):
    try:
        data = json.loads(body or "")
        title, owner = str(data["title"]).strip(), str(data["owner_id"]).strip()
    except (ValueError, TypeError, KeyError):
        return reply(400, {"message": "body must be JSON with title and owner_id"})
    if not title or len(title) > 500 or not ID.match(owner):
        return reply(400, {"message": "title must be 1-500 characters, owner_id an id"})
    video = {"video_id": uuid.uuid4().hex, "owner_id": owner, "title": title,
             "status": "uploading",
             "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat()}
    client().put_item(TableName=os.environ["TABLE_NAME"],
                      Item={k: _ser.serialize(v) for k, v in video.items()},
                      ConditionExpression="attribute_not_exists(video_id)")
    video["upload_prefix"] = f"uploads/{video['video_id']}/"
    return reply(201, video)


def handler(event, context):
    route = event.get("routeKey")
    if route == "GET /videos":
        return list_videos(event.get("queryStringParameters") or {})
    if route == "GET /videos/{id}":
        return get_video(event["pathParameters"]["id"])
    if route == "POST /videos":
        body = event.get("body")
        if body and event.get("isBase64Encoded"):
            body = base64.b64decode(body).decode()
        return create_video(body)
    return reply(404, {"message": "no such route"})
