"""The secret rotation function's inline code against botocore-stubbed Secrets Manager,
ElastiCache and ECS clients: every request is checked against the service models, and
each of Secrets Manager's four steps does exactly its part."""

import json

import pytest

from templates.compute import SERVICES
from templates.functions import rotate_secrets
from tests.templates.functions import stub_client

ACCOUNT = "123456789012"
APP = f"arn:aws:secretsmanager:us-west-2:{ACCOUNT}:secret:secret-app-prod-AbCdEf"
REDIS = f"arn:aws:secretsmanager:us-west-2:{ACCOUNT}:secret:secret-redis-auth-prod-GhIjKl"
GROUP = "streamstack-prod-cache-1a2b3c"
TOKEN = "0d9b1c4e-1111-2222-3333-444455556666"
CURRENT = "7f3e2a10-aaaa-bbbb-cccc-ddddeeeeffff"
NAMES = [spec.name.lower() for spec in SERVICES]


class Context:
    def __init__(self, remaining_ms=600_000):
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self):
        return self.remaining_ms


@pytest.fixture
def stubs(monkeypatch):
    monkeypatch.setenv("APP_SECRET_ARN", APP)
    monkeypatch.setenv("APP_SECRET_KEYS", "SECRET_KEY,JWT_SECRET")
    monkeypatch.setenv("REDIS_SECRET_ARN", REDIS)
    monkeypatch.setenv("REPLICATION_GROUP", GROUP)
    monkeypatch.setenv("CLUSTER", "streamstack-prod-cluster")
    monkeypatch.setenv("SERVICES", ",".join(NAMES))
    monkeypatch.setattr(rotate_secrets, "_clients", {})
    monkeypatch.setattr(rotate_secrets.time, "sleep", lambda seconds: None)
    found = {}
    for service in ("secretsmanager", "elasticache", "ecs"):
        stubber = stub_client(monkeypatch, rotate_secrets, service)
        stubber.activate()
        found[service] = stubber
    yield found
    for stubber in found.values():
        stubber.assert_no_pending_responses()


def described(stubs, arn, stages=None, enabled=True):
    stubs["secretsmanager"].add_response(
        "describe_secret",
        {
            "ARN": arn,
            "RotationEnabled": enabled,
            "VersionIdsToStages": stages or {TOKEN: ["AWSPENDING"], CURRENT: ["AWSCURRENT"]},
        },
        {"SecretId": arn},
    )


def pending_missing(stubs, arn):
    stubs["secretsmanager"].add_client_error(
        "get_secret_value",
        "ResourceNotFoundException",
        "Secrets Manager can't find the specified secret value for staging label: AWSPENDING",
        expected_params={"SecretId": arn, "VersionId": TOKEN, "VersionStage": "AWSPENDING"},
    )


def pending_value(stubs, arn, value):
    stubs["secretsmanager"].add_response(
        "get_secret_value",
        {"ARN": arn, "SecretString": value, "VersionId": TOKEN},
        {"SecretId": arn, "VersionId": TOKEN, "VersionStage": "AWSPENDING"},
    )


def random_password(stubs, value):
    stubs["secretsmanager"].add_response(
        "get_random_password",
        {"RandomPassword": value},
        {"PasswordLength": 64, "ExcludePunctuation": True},
    )


def group_status(stubs, status):
    stubs["elasticache"].add_response(
        "describe_replication_groups",
        {"ReplicationGroups": [{"ReplicationGroupId": GROUP, "Status": status}]},
        {"ReplicationGroupId": GROUP},
    )


def event(arn, step):
    return {"SecretId": arn, "ClientRequestToken": TOKEN, "Step": step}


def test_create_keeps_each_replaced_app_value_as_previous(stubs):
    described(stubs, APP)
    pending_missing(stubs, APP)
    stubs["secretsmanager"].add_response(
        "get_secret_value",
        {
            "ARN": APP,
            "SecretString": json.dumps(
                {"SECRET_KEY": "old-key", "JWT_SECRET": "old-jwt", "JWT_SECRET_PREVIOUS": "x"}
            ),
        },
        {"SecretId": APP, "VersionStage": "AWSCURRENT"},
    )
    random_password(stubs, "new-key")
    random_password(stubs, "new-jwt")
    stubs["secretsmanager"].add_response(
        "put_secret_value",
        {"ARN": APP},
        {
            "SecretId": APP,
            "ClientRequestToken": TOKEN,
            "SecretString": json.dumps(
                {
                    "JWT_SECRET": "new-jwt",
                    "JWT_SECRET_PREVIOUS": "old-jwt",
                    "SECRET_KEY": "new-key",
                    "SECRET_KEY_PREVIOUS": "old-key",
                },
                sort_keys=True,
            ),
            "VersionStages": ["AWSPENDING"],
        },
    )
    rotate_secrets.handler(event(APP, "createSecret"), Context())


def test_create_makes_a_plain_redis_token(stubs):
    described(stubs, REDIS)
    pending_missing(stubs, REDIS)
    random_password(stubs, "t" * 64)
    stubs["secretsmanager"].add_response(
        "put_secret_value",
        {"ARN": REDIS},
        {
            "SecretId": REDIS,
            "ClientRequestToken": TOKEN,
            "SecretString": "t" * 64,
            "VersionStages": ["AWSPENDING"],
        },
    )
    rotate_secrets.handler(event(REDIS, "createSecret"), Context())


def test_a_retried_create_keeps_the_pending_value(stubs):
    described(stubs, APP)
    pending_value(stubs, APP, "{}")
    rotate_secrets.handler(event(APP, "createSecret"), Context())


def test_set_gives_the_replication_group_the_new_token_beside_the_old(stubs):
    described(stubs, REDIS)
    group_status(stubs, "modifying")  # a change in progress is waited for
    group_status(stubs, "available")
    pending_value(stubs, REDIS, "new-token-" + "n" * 20)
    stubs["elasticache"].add_response(
        "modify_replication_group",
        {"ReplicationGroup": {"ReplicationGroupId": GROUP}},
        {
            "ReplicationGroupId": GROUP,
            "AuthToken": "new-token-" + "n" * 20,
            "AuthTokenUpdateStrategy": "ROTATE",
            "ApplyImmediately": True,
        },
    )
    group_status(stubs, "available")
    rotate_secrets.handler(event(REDIS, "setSecret"), Context())


def test_set_changes_nothing_outside_secrets_manager_for_the_app_secret(stubs):
    described(stubs, APP)
    rotate_secrets.handler(event(APP, "setSecret"), Context())


def test_waiting_for_the_group_gives_up_before_the_function_times_out(stubs):
    described(stubs, REDIS)
    group_status(stubs, "modifying")
    with pytest.raises(TimeoutError, match=f"{GROUP} is still modifying"):
        rotate_secrets.handler(event(REDIS, "setSecret"), Context(remaining_ms=20_000))


def test_test_refuses_an_app_value_without_every_key(stubs):
    described(stubs, APP)
    pending_value(stubs, APP, json.dumps({"SECRET_KEY": "k"}))
    with pytest.raises(ValueError, match="JWT_SECRET"):
        rotate_secrets.handler(event(APP, "testSecret"), Context())


def test_finish_moves_current_then_rolls_every_service(stubs):
    described(stubs, APP)
    stubs["secretsmanager"].add_response(
        "update_secret_version_stage",
        {"ARN": APP},
        {
            "SecretId": APP,
            "VersionStage": "AWSCURRENT",
            "MoveToVersionId": TOKEN,
            "RemoveFromVersionId": CURRENT,
        },
    )
    for name in NAMES:
        stubs["ecs"].add_response(
            "update_service",
            {"service": {"serviceName": name}},
            {"cluster": "streamstack-prod-cluster", "service": name, "forceNewDeployment": True},
        )
    rotate_secrets.handler(event(APP, "finishSecret"), Context())


@pytest.mark.parametrize(
    "arn,stages,enabled,message",
    [
        (APP.replace("app", "other"), None, True, "not rotated here"),
        (APP, None, False, "rotation is off"),
        (APP, {CURRENT: ["AWSCURRENT"]}, True, "no version"),
        (APP, {TOKEN: ["AWSPREVIOUS"], CURRENT: ["AWSCURRENT"]}, True, "is not pending"),
    ],
)
def test_what_it_refuses(stubs, arn, stages, enabled, message):
    if arn in (APP, REDIS):
        described(stubs, arn, stages, enabled)
    with pytest.raises(ValueError, match=message):
        rotate_secrets.handler(event(arn, "createSecret"), Context())


def test_a_version_already_current_is_done(stubs):
    described(stubs, APP, {TOKEN: ["AWSCURRENT", "AWSPENDING"]})
    rotate_secrets.handler(event(APP, "finishSecret"), Context())


def test_every_call_it_makes_is_granted_to_its_role(rendered):
    """The role's statements name each action the handler calls."""
    source = rotate_secrets.__loader__.get_source(rotate_secrets.__name__)
    (policy,) = rendered["compute"]["Resources"]["SecretRotationFunctionRole"]["Properties"][
        "Policies"
    ]
    granted = {a for s in policy["PolicyDocument"]["Statement"] for a in s["Action"]}
    calls = {
        "secretsmanager:DescribeSecret": "describe_secret",
        "secretsmanager:GetSecretValue": "get_secret_value",
        "secretsmanager:PutSecretValue": "put_secret_value",
        "secretsmanager:UpdateSecretVersionStage": "update_secret_version_stage",
        "secretsmanager:GetRandomPassword": "get_random_password",
        "elasticache:DescribeReplicationGroups": "describe_replication_groups",
        "elasticache:ModifyReplicationGroup": "modify_replication_group",
        "ecs:UpdateService": "update_service",
    }
    for action, method in calls.items():
        assert method in source and action in granted, action
