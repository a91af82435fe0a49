"""The local engine: LocalStack started with every service the templates use and its
fixes, the hosted zone prepared for the local profile, and the report of what LocalStack
really created."""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import pytest

from streamstack import ROOT
from streamstack.deploy import aws, commands, local, local_profile, local_report, localstack_fixes
from streamstack.errors import StreamstackError
from tests.deploy.conftest import stubbed

# CloudFormation namespace -> the LocalStack service that emulates it.
EMULATED = {
    "ApiGateway": "apigateway",
    "CertificateManager": "acm",
    "CloudFormation": "cloudformation",
    "CloudWatch": "cloudwatch",
    "DynamoDB": "dynamodb",
    "EC2": "ec2",
    "ECR": "ecr",
    "Events": "events",
    "IAM": "iam",
    "KMS": "kms",
    "Lambda": "lambda",
    "Logs": "logs",
    "Route53": "route53",
    "S3": "s3",
    "Scheduler": "scheduler",
    "SecretsManager": "secretsmanager",
    "SNS": "sns",
    "SQS": "sqs",
    "SSM": "ssm",
}
# Namespaces LocalStack's community edition has no service or resource provider for:
# their resources are skipped (reported CREATE_COMPLETE, nothing created).
NOT_EMULATED = {
    "ApiGatewayV2",
    "ApplicationAutoScaling",
    "AutoScaling",
    "Budgets",
    "CE",
    "CloudFront",
    "ECS",
    "EFS",
    "ElastiCache",
    "ElasticLoadBalancingV2",
    "MediaConvert",
    "RDS",
    "WAFv2",
}
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_every_service_the_templates_use_is_started(rendered):
    namespaces = {
        r["Type"].split("::")[1] for t in rendered.values() for r in t.get("Resources", {}).values()
    }
    assert namespaces - set(EMULATED) - NOT_EMULATED == set(), "classify the new namespace"
    started = set(local.SERVICES.split(","))
    assert {EMULATED[n] for n in namespaces if n in EMULATED} - started == set()
    assert "sts" in started  # the account check


def test_localstack_starts_through_its_fixes_at_the_pinned_version():
    makefile = (ROOT / "Makefile").read_text()
    (pinned,) = re.findall(r"localstack-core\[runtime\]==([0-9.]+)", makefile)
    assert pinned == localstack_fixes.PINNED
    assert local.FIXES == ROOT / "streamstack" / "deploy" / "localstack_fixes.py"
    # The fixes file runs in LocalStack's venv: nothing of streamstack, no third party.
    imports = re.findall(r"^\s*(?:from|import) ([\w.]+)", local.FIXES.read_text(), re.M)
    assert {i.split(".")[0] for i in imports} <= {
        "__future__",
        "re",
        "sys",
        "dataclasses",
        "typing",
        "importlib",
        "localstack",
    }


@pytest.fixture
def route53():
    with stubbed("route53", "us-east-1") as found:
        yield found


def zone(zone_id, name="dev.example.com."):
    return {
        "Id": f"/hostedzone/{zone_id}",
        "Name": name,
        "CallerReference": "r",
        "Config": {"PrivateZone": False},
    }


def test_the_hosted_zone_is_reused_or_created(route53):
    client, stub = route53
    listing = {"IsTruncated": False, "MaxItems": "1", "HostedZones": [zone("ZEXISTING1")]}
    stub.add_response(
        "list_hosted_zones_by_name", listing, {"DNSName": "dev.example.com.", "MaxItems": "1"}
    )
    assert local_profile.hosted_zone(client, "dev.example.com") == "ZEXISTING1"

    other = {"IsTruncated": False, "MaxItems": "1", "HostedZones": [zone("ZOTHER", "example.org.")]}
    stub.add_response(
        "list_hosted_zones_by_name", other, {"DNSName": "dev.example.com.", "MaxItems": "1"}
    )
    stub.add_response(
        "create_hosted_zone",
        {
            "HostedZone": zone("ZNEW123"),
            "Location": "https://route53/zone",
            "ChangeInfo": {"Id": "c", "Status": "INSYNC", "SubmittedAt": T0},
            "DelegationSet": {"NameServers": ["ns1"]},
        },
    )
    assert local_profile.hosted_zone(client, "dev.example.com") == "ZNEW123"


def test_a_zone_id_no_aws_zone_has_is_refused(route53):
    client, stub = route53
    listing = {"IsTruncated": False, "MaxItems": "1", "HostedZones": [zone("1ABC")]}
    stub.add_response(
        "list_hosted_zones_by_name", listing, {"DNSName": "dev.example.com.", "MaxItems": "1"}
    )
    with pytest.raises(
        StreamstackError, match="the id 1ABC, which no AWS zone has.*make local-stop local"
    ):
        local_profile.hosted_zone(client, "dev.example.com")


def resource(logical, rtype, reason=None, physical="p"):
    found = {
        "LogicalResourceId": logical,
        "ResourceType": rtype,
        "PhysicalResourceId": physical,
        "ResourceStatus": "CREATE_COMPLETE",
        "LastUpdatedTimestamp": T0,
    }
    if reason:
        found["ResourceStatusReason"] = reason
    return found


def skipped(logical, rtype):
    return resource(
        logical, rtype, f"Resource type {rtype} is not supported but was deployed as a fallback"
    )


def test_the_report_counts_created_and_skipped_types_per_tier():
    net_id, lb_id = "arn:aws:cloudformation:us-west-2:0:stack/n/1", "arn:aws:cloudformation:x/lb"
    with stubbed("cloudformation") as (client, stub):
        stub.add_response(
            "list_stack_resources",
            {
                "StackResourceSummaries": [
                    resource("NetworkStack", "AWS::CloudFormation::Stack", physical=net_id),
                    resource("LoadBalancerStack", "AWS::CloudFormation::Stack", physical=lb_id),
                ]
            },
            {"StackName": "root"},
        )
        stub.add_response(
            "list_stack_resources",
            {
                "StackResourceSummaries": [
                    resource("Vpc", "AWS::EC2::VPC"),
                    skipped("FlowLog", "AWS::EC2::FlowLog"),
                ]
            },
            {"StackName": net_id},
        )
        stub.add_response(
            "list_stack_resources",
            {
                "StackResourceSummaries": [
                    skipped("ApiTargetGroup", "AWS::ElasticLoadBalancingV2::TargetGroup"),
                    skipped("WebTargetGroup", "AWS::ElasticLoadBalancingV2::TargetGroup"),
                    resource("OriginVerifySecret", "AWS::SecretsManager::Secret"),
                ]
            },
            {"StackName": lb_id},
        )
        rows = local_report.count(
            client, "root", {"NetworkStack": "network", "LoadBalancerStack": "load-balancer"}
        )
    lines = local_report.render(rows)
    assert lines[2:5] == [
        "  load-balancer          1       2  AWS::ElasticLoadBalancingV2::TargetGroup x2",
        "  network                1       1  AWS::EC2::FlowLog",
        "  total                  2       3",
    ]
    assert "CREATE_COMPLETE but nothing exists" in lines[0]


def test_where_to_look_names_localstacks_log_or_the_console(monkeypatch):
    ctx = SimpleNamespace(params=SimpleNamespace(region="us-west-2"))
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert commands.where_to_look(ctx, "arn:stack").startswith(
        "see the stack's events in the console: https://us-west-2.console.aws.amazon.com/"
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", local.ENDPOINT)
    assert aws.is_local()
    assert commands.where_to_look(ctx, "arn:stack") == (
        f"LocalStack's log has the reason: {local.LOG_FILE}"
    )


def test_protection_is_skipped_with_a_note_on_localstack(monkeypatch):
    """LocalStack has no SetStackPolicy: a protected environment (prod) deploys locally,
    unprotected, and says so; on AWS protect() sets both (test_stubbed.py)."""
    from streamstack.deploy import safety

    monkeypatch.setenv("AWS_ENDPOINT_URL", local.ENDPOINT)
    lines = []
    with stubbed("cloudformation") as (client, _):  # no call may be made
        assert safety.protect(client, "arn:stack", lines.append) == 0
    assert lines == [
        "not protected: LocalStack emulates neither stack policies nor "
        "termination protection (on AWS this environment gets both)"
    ]
