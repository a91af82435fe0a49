"""api: the video metadata API (toggle MetadataApi).

API Gateway HTTP API with GET /videos, GET /videos/{id} and POST /videos, proxied to an
inline Python Lambda that reads and writes the DynamoDB videos table (data tier). One
stage per environment (named after it) with JSON access logs and throttling.

The API exists only when MetadataApi is enabled AND the data tier has a videos table
(VideosTableName is "" when its toggle is off), so turning the table off never leaves
an API pointing at nothing.

Writes (POST) always require SigV4 (AWS_IAM): callers are the platform's own services.
Reads are AWS_IAM by default; MetadataApiReadAuthorization=NONE makes them public.
"""

from __future__ import annotations

import json

from awacs import dynamodb as ddb_actions
from awacs import kms as kms_actions
from awacs.aws import Allow, Statement, StringEquals
from awacs.aws import Condition as PolicyCondition
from troposphere import (
    And,
    Condition,
    Equals,
    GetAtt,
    If,
    Join,
    Not,
    Ref,
    Sub,
    apigatewayv2,
    awslambda,
    logs,
)

from templates.base import Tier
from templates.parts.functions import python_function

ROUTES = {
    "ListVideos": "GET /videos",
    "GetVideo": "GET /videos/{id}",
    "CreateVideo": "POST /videos",
}
VIDEOS_INDEX = "by-owner"  # the data tier's GSI (owner_id, created_at)

# $context variables of HTTP API access logs, one JSON object per request.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "caller": "$context.identity.caller",
        "requestTime": "$context.requestTime",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "latency": "$context.responseLatency",
        "integrationLatency": "$context.integrationLatency",
        "integrationError": "$context.integrationErrorMessage",
    },
    sort_keys=True,
)


class ApiTier(Tier):
    name = "api"
    description = "video metadata HTTP API (API Gateway + Lambda on the videos table)"

    def build(self) -> None:
        enabled = self.toggle(
            "MetadataApi",
            "API",
            "enabled",
            "enabled: an HTTP API for video metadata on the videos table (only when the data "
            "tier's table exists); disabled: no API.",
        )
        self.table_name = self.wired(
            "VideosTableName",
            "data",
            Type="String",
            Description='DynamoDB videos table (data tier); "" when the table is off.',
        )
        self.table_arn = self.wired(
            "VideosTableArn",
            "data",
            Type="String",
            Description="ARN of the videos table (data tier).",
        )
        self.data_key = self.wired(
            "DataKeyArn",
            "security",
            Type="String",
            Description="ARN of the data KMS key encrypting the table (security tier).",
        )
        self.storage_key = self.wired(
            "StorageKeyArn",
            "security",
            Type="String",
            Description="ARN of the storage KMS key encrypting the log groups (security tier).",
        )
        self.condition("HasVideosTable", Not(Equals(self.table_name, "")))
        self.on = self.condition(
            "MetadataApiOn", And(Condition(enabled), Condition("HasVideosTable"))
        )
        self.function()
        self.http_api()
        self.stage()

    # -- function ----------------------------------------------------------------
    def function(self) -> None:
        concurrency = self.parameter(
            "MetadataApiConcurrency",
            "API",
            "Metadata API function concurrency",
            Type="Number",
            Default=10,
            MinValue=1,
            MaxValue=1000,
            Description="Reserved concurrency of the metadata API function (also its ceiling; "
            "excess requests get 429 from API Gateway throttling first).",
        )
        table_arn = self.table_arn
        python_function(
            self,
            "MetadataFunction",
            "metadata_api",
            purpose="metadata-api",
            description="Video metadata API: list, get and create videos in the videos table",
            condition=self.on,
            key_arn=self.storage_key,
            calls="DynamoDB",
            no_dead_letter="Invoked synchronously by API Gateway, which returns the error to "
            "the caller; a dead-letter queue only applies to asynchronous invocations.",
            concurrency=concurrency,
            timeout=10,
            memory=256,
            environment={"TABLE_NAME": self.table_name},
            statements=[
                Statement(
                    Sid="VideosTable",
                    Effect=Allow,
                    Action=[
                        ddb_actions.GetItem,
                        ddb_actions.PutItem,
                        ddb_actions.Scan,
                        ddb_actions.Query,
                    ],
                    Resource=[table_arn, Join("", [table_arn, f"/index/{VIDEOS_INDEX}"])],
                ),
                Statement(
                    Sid="TableKeyThroughDynamoDb",
                    Effect=Allow,
                    Action=[
                        kms_actions.Decrypt,
                        kms_actions.GenerateDataKey,
                        kms_actions.DescribeKey,
                    ],
                    Resource=[self.data_key],
                    Condition=PolicyCondition(
                        StringEquals("kms:ViaService", Sub("dynamodb.${AWS::Region}.amazonaws.com"))
                    ),
                ),
            ],
        )

    # -- HTTP API ----------------------------------------------------------------
    def http_api(self) -> None:
        read_auth = self.parameter(
            "MetadataApiReadAuthorization",
            "API",
            "Metadata API read authorization",
            Type="String",
            AllowedValues=["AWS_IAM", "NONE"],
            Default="AWS_IAM",
            Description="AWS_IAM: GET routes need SigV4-signed requests (platform services); "
            "NONE: anyone may read video metadata. POST always needs AWS_IAM.",
        )
        self.add(
            apigatewayv2.Api(
                "MetadataHttpApi",
                Condition=self.on,
                ProtocolType="HTTP",
                Name=self.physical_name("api", "metadata"),
                Description="streamstack video metadata API",
                Tags={"Name": self.physical_name("api", "metadata")},
            )
        )
        self.add(
            apigatewayv2.Integration(
                "MetadataIntegration",
                Condition=self.on,
                ApiId=Ref("MetadataHttpApi"),
                IntegrationType="AWS_PROXY",
                IntegrationUri=GetAtt("MetadataFunction", "Arn"),
                PayloadFormatVersion="2.0",
                TimeoutInMillis=10000,
            )
        )
        for logical, key in ROUTES.items():
            self.add(
                apigatewayv2.Route(
                    f"{logical}Route",
                    Condition=self.on,
                    ApiId=Ref("MetadataHttpApi"),
                    RouteKey=key,
                    AuthorizationType="AWS_IAM" if key.startswith("POST") else read_auth,
                    Target=Join("/", ["integrations", Ref("MetadataIntegration")]),
                )
            )
        self.add(
            awslambda.Permission(
                "MetadataFunctionInvokeFromApi",
                Condition=self.on,
                FunctionName=GetAtt("MetadataFunction", "Arn"),
                Action="lambda:InvokeFunction",
                Principal="apigateway.amazonaws.com",
                SourceArn=Sub(
                    "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:"
                    "${MetadataHttpApi}/${Environment}/*"
                ),
            )
        )
        self.output(
            "MetadataApiId",
            If(self.on, Ref("MetadataHttpApi"), ""),
            'ID of the video metadata HTTP API ("" when off)',
        )

    def stage(self) -> None:
        rate = self.parameter(
            "MetadataApiRateLimit",
            "API",
            "Metadata API steady rate (req/s)",
            Type="Number",
            Default=100,
            MinValue=1,
            MaxValue=10000,
            Description="Steady-state requests per second the stage accepts before 429.",
        )
        burst = self.parameter(
            "MetadataApiBurstLimit",
            "API",
            "Metadata API burst",
            Type="Number",
            Default=200,
            MinValue=1,
            MaxValue=5000,
            Description="Requests the stage accepts in a burst above the steady rate.",
        )
        self.add(
            self.stateful(
                logs.LogGroup(
                    "MetadataApiAccessLogGroup",
                    Condition=self.on,
                    RetentionInDays=self.shared_parameter("LogRetentionDays"),
                    KmsKeyId=self.storage_key,
                    Tags=self.tags("logs", "metadata-api-access"),
                )
            )
        )
        self.add(
            apigatewayv2.Stage(
                "MetadataApiStage",
                Condition=self.on,
                ApiId=Ref("MetadataHttpApi"),
                StageName=Ref("Environment"),
                AutoDeploy=True,
                Description=Sub("${Environment} stage of the metadata API"),
                AccessLogSettings=apigatewayv2.AccessLogSettings(
                    DestinationArn=GetAtt("MetadataApiAccessLogGroup", "Arn"),
                    Format=ACCESS_LOG_FORMAT,
                ),
                DefaultRouteSettings=apigatewayv2.RouteSettings(
                    DetailedMetricsEnabled=True,
                    ThrottlingRateLimit=rate,
                    ThrottlingBurstLimit=burst,
                ),
                Tags={"Name": self.physical_name("stage", "metadata-api")},
            )
        )
        self.output(
            "MetadataApiUrl",
            If(
                self.on,
                Sub(
                    "https://${MetadataHttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"
                    "${Environment}"
                ),
                "",
            ),
            'Base URL of the metadata API stage, e.g. <url>/videos ("" when off)',
        )
        self.output(
            "MetadataApiStageName",
            If(self.on, Ref("MetadataApiStage"), ""),
            'Stage of the metadata API (the environment name; "" when off)',
        )
