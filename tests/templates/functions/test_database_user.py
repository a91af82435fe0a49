"""The database user function's inline code against a botocore-stubbed RDS Data API
client (requests checked against the service model), and the answer it sends to
CloudFormation's response URL whatever happens."""

import json
import re

import pytest

from templates.functions import database_user
from tests.templates.functions import stub_client

CLUSTER = "arn:aws:rds:us-west-2:123456789012:cluster:streamstack-prod-dbcluster-1a2b"
SECRET = "arn:aws:secretsmanager:us-west-2:123456789012:secret:rds!cluster-1a2b-AbCdEf"


class Context:
    log_stream_name = "2026/12/01/[$LATEST]abc"


def event(request="Create", engine="aurora-postgresql", username="app", **extra):
    return {
        "RequestType": request,
        "ResponseURL": "https://cloudformation-custom-resource-response.example/x?sig=1",
        "StackId": "arn:aws:cloudformation:us-west-2:123456789012:stack/streamstack-prod-Data/1",
        "RequestId": "5d478078-13e9-baf0-464a-7ef285ecc786",
        "LogicalResourceId": "AppDatabaseUser",
        "ResourceType": "AWS::CloudFormation::CustomResource",
        "ResourceProperties": {
            "ServiceToken": "arn:aws:lambda:us-west-2:123456789012:function:x",
            "ClusterArn": CLUSTER,
            "SecretArn": SECRET,
            "Database": "streaming",
            "Username": username,
            "Engine": engine,
        },
        **extra,
    }


@pytest.fixture
def answers(monkeypatch):
    """What the function PUTs to the response URL."""
    sent = []

    class Response:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def urlopen(request, timeout):
        assert request.method == "PUT" and timeout == 30
        sent.append(json.loads(request.data))
        return Response()

    monkeypatch.setattr(database_user.urllib.request, "urlopen", urlopen)
    return sent


@pytest.fixture
def stub(monkeypatch):
    with stub_client(monkeypatch, database_user, "rds-data") as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def expect(stub, statements):
    for sql in statements:
        stub.add_response(
            "execute_statement",
            {"numberOfRecordsUpdated": 0},
            {"resourceArn": CLUSTER, "secretArn": SECRET, "database": "streaming", "sql": sql},
        )


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_postgresql_gets_a_login_role_with_rds_iam_and_its_database(stub, answers, request_type):
    expect(
        stub,
        [
            "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app') "
            'THEN CREATE ROLE "app" LOGIN; END IF; END$$',
            'GRANT rds_iam TO "app"',
            'GRANT CONNECT, TEMPORARY ON DATABASE "streaming" TO "app"',
            'GRANT USAGE, CREATE ON SCHEMA public TO "app"',
        ],
    )
    extra = {"PhysicalResourceId": "dbuser-app"} if request_type == "Update" else {}
    database_user.handler(event(request_type, **extra), Context())
    (answer,) = answers
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == "dbuser-app"
    assert answer["LogicalResourceId"] == "AppDatabaseUser"


def test_mysql_gets_an_iam_user_that_must_use_tls_and_only_its_database(stub, answers):
    expect(
        stub,
        [
            "CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED WITH AWSAuthenticationPlugin "
            "AS 'RDS' REQUIRE SSL",
            "GRANT ALL PRIVILEGES ON `streaming`.* TO 'app'@'%'",
        ],
    )
    database_user.handler(event(engine="aurora-mysql"), Context())
    assert answers[0]["Status"] == "SUCCESS"


def test_delete_keeps_the_user(stub, answers):
    database_user.handler(event("Delete", PhysicalResourceId="dbuser-app"), Context())
    assert answers == [
        {
            "Status": "SUCCESS",
            "Reason": f"see log stream {Context.log_stream_name}",
            "PhysicalResourceId": "dbuser-app",
            "StackId": event()["StackId"],
            "RequestId": event()["RequestId"],
            "LogicalResourceId": "AppDatabaseUser",
        }
    ]


@pytest.mark.parametrize("username", ["App", "app'; DROP", "a" * 17])
def test_a_name_that_is_not_plain_sql_fails_without_a_statement(stub, answers, username):
    database_user.handler(event(username=username), Context())
    (answer,) = answers
    assert answer["Status"] == "FAILED" and "not a plain SQL name" in answer["Reason"]


def test_a_data_api_error_is_the_stacks_failure_reason(stub, answers):
    stub.add_client_error(
        "execute_statement", "BadRequestException", "HttpEndpoint is not enabled for cluster"
    )
    database_user.handler(event(), Context())
    (answer,) = answers
    assert answer["Status"] == "FAILED"
    assert "BadRequestException" in answer["Reason"] and "HttpEndpoint" in answer["Reason"]


def test_the_names_it_accepts_are_the_templates(rendered):
    parameters = rendered["data"]["Parameters"]
    assert parameters["DatabaseAppUsername"]["AllowedPattern"] == database_user.USER.pattern
    assert parameters["DatabaseName"]["AllowedPattern"] == database_user.DATABASE.pattern
    assert re.fullmatch(database_user.USER, parameters["DatabaseAppUsername"]["Default"])
