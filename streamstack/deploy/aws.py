"""Sessions and clients: adaptive retries for throttling, AWS_ENDPOINT_URL honoured
(boto3 reads it itself), and the account check that runs before anything is created."""

from __future__ import annotations

import os
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)
from botocore.parsers import ResponseParserError

from streamstack.errors import StreamstackError

# STREAMSTACK_LOCAL_PORT moves the local endpoint (two checkouts on one machine).
LOCAL_PORT = int(os.environ.get("STREAMSTACK_LOCAL_PORT", "4566"))
LOCAL_ENDPOINT = f"http://127.0.0.1:{LOCAL_PORT}"
CLOUDFRONT_PREFIX_LIST = "com.amazonaws.global.cloudfront.origin-facing"
# What an AWS call can raise besides StreamstackError; as_error turns each into one line.
FAILURES = (ClientError, BotoCoreError, ResponseParserError)
RETRIES = Config(
    retries={"mode": "adaptive", "max_attempts": 10}, user_agent_extra="streamstack-deploy"
)


def use_local_endpoint() -> None:
    """--local / LOCAL=1: point every client at LocalStack, with its dummy credentials."""
    os.environ["AWS_ENDPOINT_URL"] = os.environ.get("STREAMSTACK_LOCAL_ENDPOINT", LOCAL_ENDPOINT)
    for name, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")):
        os.environ.setdefault(name, value)
    os.environ.pop("AWS_PROFILE", None)


def is_local() -> bool:
    return bool(os.environ.get("AWS_ENDPOINT_URL"))


def session(region: str) -> boto3.session.Session:
    return boto3.session.Session(region_name=region)


def client(sess: boto3.session.Session, service: str, region: str):
    return sess.client(service, region_name=region, config=RETRIES)


def caller_account(sts) -> str:
    try:
        return sts.get_caller_identity()["Account"]
    except NoCredentialsError as exc:
        raise as_error(exc) from None
    except (ClientError, BotoCoreError) as exc:
        raise StreamstackError(
            f"cannot identify the caller's account ({exc}); check your "
            "credentials and network, or AWS_ENDPOINT_URL"
        ) from None


def check_account(params, sts) -> str:
    """The caller's account; refuses when params pin another one."""
    account = caller_account(sts)
    if params.account_id and account != params.account_id:
        raise StreamstackError(
            f"these credentials are for account {account}, but {params.path.name} deploys to "
            f"account {params.account_id}: switch credentials (AWS_PROFILE) before deploying"
        )
    return account


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def error_message(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Message", str(exc))


def describe_secret(secretsmanager, secret_id: str) -> dict | None:
    """DescribeSecret of a name or ARN, or None when there is no such secret."""
    try:
        return secretsmanager.describe_secret(SecretId=secret_id)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise


def console_url(region: str, stack_id: str, change_set_id: str | None = None) -> str:
    base = f"https://{region}.console.aws.amazon.com/cloudformation/home?region={region}#/stacks"
    if change_set_id:
        return (
            f"{base}/changesets/changes?stackId={quote(stack_id, safe='')}"
            f"&changeSetId={quote(change_set_id, safe='')}"
        )
    return f"{base}/stackinfo?stackId={quote(stack_id, safe='')}"


def as_error(exc: Exception) -> StreamstackError:
    """One `error:` line for a failed AWS call: what failed and what to check."""
    if isinstance(exc, NoCredentialsError):
        return StreamstackError(
            "no AWS credentials found: log in (aws sso login, or set "
            "AWS_PROFILE), or try it locally with LOCAL=1"
        )
    if isinstance(exc, EndpointConnectionError):
        return StreamstackError(
            f"cannot reach {exc.kwargs.get('endpoint_url')}: check the "
            "network, or AWS_ENDPOINT_URL (`make local` for LOCAL=1)"
        )
    if isinstance(exc, ClientError):
        return StreamstackError(
            f"AWS refused {exc.operation_name}: {error_code(exc)}: {error_message(exc)}"
        )
    return StreamstackError(
        f"an AWS call failed: {exc}; check the credentials, the network, or AWS_ENDPOINT_URL"
    )


def cloudfront_prefix_list_id(ec2) -> str | None:
    """The CloudFront origin-facing managed prefix list of the client's region."""
    found = ec2.describe_managed_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": [CLOUDFRONT_PREFIX_LIST]}]
    )
    lists = found.get("PrefixLists", [])
    return lists[0]["PrefixListId"] if lists else None
