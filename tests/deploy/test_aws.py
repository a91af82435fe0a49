"""Clients: adaptive retries survive throttling; AWS_ENDPOINT_URL redirects them."""

from __future__ import annotations

import boto3
from botocore.awsrequest import AWSResponse

from streamstack.deploy import aws

THROTTLED = (
    b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
    b"<Message>Rate exceeded</Message></Error></ErrorResponse>"
)
OK = (
    b'<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">'
    b"<DescribeStacksResult><Stacks/></DescribeStacksResult></DescribeStacksResponse>"
)


class Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **kwargs):
        yield self.body


def test_throttling_is_retried_with_adaptive_mode(monkeypatch):
    """Responses are injected at before-send, below botocore's retry handler."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    session = boto3.session.Session(aws_access_key_id="a", aws_secret_access_key="b")
    cfn = aws.client(session, "cloudformation", "us-west-2")
    assert cfn.meta.config.retries["mode"] == "adaptive"
    sent = []

    def respond(request, **kwargs):
        sent.append(request.url)
        body = THROTTLED if len(sent) <= 2 else OK
        return AWSResponse(request.url, 400 if body is THROTTLED else 200, {}, Raw(body))

    cfn.meta.events.register("before-send.cloudformation.DescribeStacks", respond)
    assert cfn.describe_stacks()["Stacks"] == []
    assert len(sent) == 3


def test_endpoint_url_redirects_every_client(monkeypatch):
    # Registered first so that monkeypatch restores what use_local_endpoint changes.
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "placeholder")
        monkeypatch.delenv(name)
    aws.use_local_endpoint()
    assert aws.is_local()
    session = aws.session("us-west-2")
    for service in ("cloudformation", "s3", "sts"):
        assert aws.client(session, service, "us-west-2").meta.endpoint_url == aws.LOCAL_ENDPOINT


def test_console_url_quotes_the_arns():
    url = aws.console_url(
        "eu-west-1",
        "arn:aws:cloudformation:eu-west-1:1:stack/s/i",
        "arn:aws:cloudformation:eu-west-1:1:changeSet/c/i",
    )
    assert url.startswith("https://eu-west-1.console.aws.amazon.com/cloudformation/home?")
    assert "stackId=arn%3Aaws%3Acloudformation%3Aeu-west-1%3A1%3Astack%2Fs%2Fi" in url
    assert "changeSetId=arn%3A" in url
