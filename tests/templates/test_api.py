"""api tier: HTTP API routes, authorization, throttling, access logs, a stage per
environment, the table toggle, and the function's least privilege; plus a snapshot."""

import json

import pytest

from templates.api import ACCESS_LOG_FORMAT, ROUTES
from templates.parts.functions import source
from tests.cfn import evaluate, statements
from tests.conftest import assert_snapshot


@pytest.fixture(scope="module")
def template(rendered):
    return rendered["api"]


@pytest.fixture(scope="module")
def api(template, env):
    return evaluate(template, env, {"VideosTableName": "videos-table"})


def test_snapshot(rendered_text):
    assert_snapshot("api", rendered_text["api"])


@pytest.mark.parametrize("overrides", [{"MetadataApi": "disabled"}, {"VideosTableName": ""}])
def test_off_when_disabled_or_without_the_table(template, env, overrides):
    off = evaluate(template, env, {"VideosTableName": "videos-table", **overrides})
    assert off.resources == {}
    assert all(o["Value"] == "" for o in off.outputs.values())


def test_three_routes_proxied_to_the_function(api):
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in api.of_type("AWS::ApiGatewayV2::Route").values()
    }
    assert (
        set(routes) == {"GET /videos", "GET /videos/{id}", "POST /videos"} == set(ROUTES.values())
    )
    assert all(
        r["Target"] == {"Fn::Join": ["/", ["integrations", {"Ref": "MetadataIntegration"}]]}
        for r in routes.values()
    )
    integration = api.props("MetadataIntegration")
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["PayloadFormatVersion"] == "2.0"
    assert integration["IntegrationUri"] == {"Fn::GetAtt": ["MetadataFunction", "Arn"]}
    assert api.props("MetadataHttpApi")["ProtocolType"] == "HTTP"


def test_writes_always_signed_reads_signed_by_default(template, api, env):
    auth = {
        r["Properties"]["RouteKey"]: r["Properties"]["AuthorizationType"]
        for r in api.of_type("AWS::ApiGatewayV2::Route").values()
    }
    assert auth == {
        "GET /videos": "AWS_IAM",
        "GET /videos/{id}": "AWS_IAM",
        "POST /videos": "AWS_IAM",
    }
    public = evaluate(
        template, env, {"VideosTableName": "t", "MetadataApiReadAuthorization": "NONE"}
    )
    auth = {
        r["Properties"]["RouteKey"]: r["Properties"]["AuthorizationType"]
        for r in public.of_type("AWS::ApiGatewayV2::Route").values()
    }
    assert auth["POST /videos"] == "AWS_IAM" and auth["GET /videos"] == "NONE"


def test_stage_per_environment_with_throttling_and_access_logs(api, env):
    stage = api.props("MetadataApiStage")
    assert stage["StageName"] == env
    assert stage["AutoDeploy"] is True
    route = stage["DefaultRouteSettings"]
    rate, burst = ("20", "40") if env == "dev" else ("500", "1000")
    assert (route["ThrottlingRateLimit"], route["ThrottlingBurstLimit"]) == (rate, burst)
    assert route["DetailedMetricsEnabled"] is True
    logs = stage["AccessLogSettings"]
    assert logs["DestinationArn"] == {"Fn::GetAtt": ["MetadataApiAccessLogGroup", "Arn"]}
    assert json.loads(logs["Format"])["requestId"] == "$context.requestId"
    assert logs["Format"] == ACCESS_LOG_FORMAT
    group = api.resources["MetadataApiAccessLogGroup"]
    assert group["Properties"]["RetentionInDays"] == ("1" if env == "dev" else "90")
    assert group["Properties"]["KmsKeyId"] == "<from:StorageKeyArn>"
    assert group["DeletionPolicy"] == ("Delete" if env == "dev" else "Retain")


def test_function_inline_traced_and_reserved(api, env):
    fn = api.props("MetadataFunction")
    assert fn["Code"]["ZipFile"] == source("metadata_api")
    assert fn["TracingConfig"] == {"Mode": "Active"}
    assert fn["ReservedConcurrentExecutions"] == ("5" if env == "dev" else "100")
    assert fn["Environment"]["Variables"] == {"TABLE_NAME": "videos-table"}
    # Synchronous (API Gateway): a DLQ would never receive anything; the skip says why.
    skips = {s["id"] for s in api.resources["MetadataFunction"]["Metadata"]["checkov"]["skip"]}
    assert "CKV_AWS_116" in skips
    permission = api.props("MetadataFunctionInvokeFromApi")
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert "${MetadataHttpApi}/${Environment}/*" in permission["SourceArn"]["Fn::Sub"]


def test_function_role_touches_only_the_videos_table(api):
    st = statements(api.props("MetadataFunctionRole")["Policies"][0]["PolicyDocument"])
    table = st["VideosTable"]
    assert sorted(table["Action"]) == [
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:Scan",
    ]
    assert table["Resource"] == [
        "<from:VideosTableArn>",
        {"Fn::Join": ["", ["<from:VideosTableArn>", "/index/by-owner"]]},
    ]
    key = st["TableKeyThroughDynamoDb"]
    assert key["Resource"] == ["<from:DataKeyArn>"]
    assert "kms:ViaService" in key["Condition"]["StringEquals"]
    assert [sid for sid, s in st.items() if "*" in s["Resource"]] == ["Tracing"]


def test_outputs(template, api, env):
    assert set(template["Outputs"]) == {"MetadataApiId", "MetadataApiUrl", "MetadataApiStageName"}
    url = api.outputs["MetadataApiUrl"]["Value"]["Fn::Sub"]
    assert url.startswith("https://${MetadataHttpApi}.execute-api.") and url.endswith(
        "/${Environment}"
    )
