"""The metadata API function's inline code (HTTP API payload 2.0) against a
botocore-stubbed DynamoDB client: routes, validation, pagination and creation."""

import base64
import json

import pytest
from botocore.stub import ANY

from templates.functions import metadata_api as api
from tests.templates.functions import stub_client

TABLE = "videos-dev"


@pytest.fixture
def stub(monkeypatch):
    monkeypatch.setenv("TABLE_NAME", TABLE)
    with stub_client(monkeypatch, api, "dynamodb") as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def call(route, **event):
    response = api.handler({"routeKey": route, **event}, None)
    return response["statusCode"], json.loads(response["body"])


VIDEO = {
    "video_id": {"S": "v1"},
    "owner_id": {"S": "u1"},
    "title": {"S": "Intro"},
    "created_at": {"S": "2026-11-22T04:00:00+00:00"},
    "duration": {"N": "12"},
}


def test_list_scans_a_page_and_returns_a_next_token(stub):
    last = {"video_id": {"S": "v1"}}
    stub.add_response(
        "scan", {"Items": [VIDEO], "LastEvaluatedKey": last}, {"TableName": TABLE, "Limit": 2}
    )
    status, body = call("GET /videos", queryStringParameters={"limit": "2"})
    assert status == 200
    assert body["videos"] == [
        {
            "video_id": "v1",
            "owner_id": "u1",
            "title": "Intro",
            "created_at": "2026-11-22T04:00:00+00:00",
            "duration": "12",
        }
    ]
    # The token we return resumes exactly where the page ended.
    stub.add_response(
        "scan", {"Items": []}, {"TableName": TABLE, "Limit": 25, "ExclusiveStartKey": last}
    )
    status, body = call("GET /videos", queryStringParameters={"next": body["next"]})
    assert status == 200 and body == {"videos": []}


def test_list_by_owner_queries_the_owner_index_newest_first(stub):
    stub.add_response(
        "query",
        {"Items": [VIDEO]},
        {
            "TableName": TABLE,
            "Limit": 100,
            "IndexName": "by-owner",
            "ScanIndexForward": False,
            "KeyConditionExpression": "owner_id = :o",
            "ExpressionAttributeValues": {":o": {"S": "u1"}},
        },
    )
    status, body = call("GET /videos", queryStringParameters={"owner": "u1", "limit": "1000"})
    assert status == 200 and len(body["videos"]) == 1 and "next" not in body


@pytest.mark.parametrize("query", [{"limit": "ten"}, {"next": "not-a-token"}])
def test_list_rejects_bad_paging(stub, query):
    status, body = call("GET /videos", queryStringParameters=query)
    assert status == 400


def test_get_found_and_missing(stub):
    stub.add_response(
        "get_item", {"Item": VIDEO}, {"TableName": TABLE, "Key": {"video_id": {"S": "v1"}}}
    )
    assert call("GET /videos/{id}", pathParameters={"id": "v1"})[0] == 200
    stub.add_response("get_item", {}, {"TableName": TABLE, "Key": {"video_id": {"S": "v2"}}})
    assert call("GET /videos/{id}", pathParameters={"id": "v2"}) == (
        404,
        {"message": "no such video"},
    )


def test_get_rejects_ids_before_touching_the_table(stub):
    assert call("GET /videos/{id}", pathParameters={"id": "a/b"})[0] == 400


def test_create_writes_once_and_says_where_to_upload(stub):
    stub.add_response(
        "put_item",
        {},
        {
            "TableName": TABLE,
            "ConditionExpression": "attribute_not_exists(video_id)",
            "Item": {
                "video_id": {"S": ANY},
                "owner_id": {"S": "u1"},
                "title": {"S": "Intro"},
                "status": {"S": "uploading"},
                "created_at": {"S": ANY},
            },
        },
    )
    status, body = call("POST /videos", body=json.dumps({"title": " Intro ", "owner_id": "u1"}))
    assert status == 201
    assert body["title"] == "Intro" and body["status"] == "uploading"
    assert body["upload_prefix"] == f"uploads/{body['video_id']}/"


def test_create_accepts_base64_bodies(stub):
    stub.add_response("put_item", {}, {"TableName": TABLE, "Item": ANY, "ConditionExpression": ANY})
    raw = base64.b64encode(json.dumps({"title": "T", "owner_id": "u1"}).encode()).decode()
    assert call("POST /videos", body=raw, isBase64Encoded=True)[0] == 201


@pytest.mark.parametrize(
    "body",
    [
        None,
        "not json",
        "[]",
        json.dumps({"title": "x"}),
        json.dumps({"title": "", "owner_id": "u1"}),
        json.dumps({"title": "x" * 501, "owner_id": "u1"}),
        json.dumps({"title": "x", "owner_id": "a b"}),
    ],
)
def test_create_rejects_bad_bodies(stub, body):
    assert call("POST /videos", body=body)[0] == 400


def test_unknown_route(stub):
    assert call("DELETE /videos/{id}", pathParameters={"id": "v1"})[0] == 404
