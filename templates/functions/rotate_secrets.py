"""Rotate generated secrets (Secrets Manager's four steps), then roll the ECS services.

App secret (JSON): each key of APP_SECRET_KEYS gets a new value, the old one stays as
<KEY>_PREVIOUS. Redis AUTH token: ElastiCache accepts the new token beside the old one
(strategy ROTATE) until the next rotation.
"""
import json
import os
import time

import boto3

PENDING, CURRENT = "AWSPENDING", "AWSCURRENT"
_clients = {}


def client(service):
    if service not in _clients:
        _clients[service] = boto3.client(service)
    return _clients[service]


def sm():
    return client("secretsmanager")


def handler(event, context):
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    env = os.environ
    kinds = {env["APP_SECRET_ARN"]: "app", env["REDIS_SECRET_ARN"]: "redis"}
    if arn not in kinds:
        raise ValueError(f"{arn}: not rotated here")
    meta = sm().describe_secret(SecretId=arn)
    if not meta.get("RotationEnabled"):
        raise ValueError(f"{arn}: rotation is off")
    stages = meta.get("VersionIdsToStages", {})
    if token not in stages:
        raise ValueError(f"{arn}: no version {token}")
    if CURRENT in stages[token]:
        return  # rotated already
    if PENDING not in stages[token]:
        raise ValueError(f"{arn}: {token} is not pending")
    STEPS[step](arn, token, kinds[arn], stages, context)


def pending(arn, token):
    return sm().get_secret_value(
        SecretId=arn, VersionId=token, VersionStage=PENDING)["SecretString"]


def keys():
    return os.environ["APP_SECRET_KEYS"].split(",")


def new_value():
    return sm().get_random_password(
        PasswordLength=64, ExcludePunctuation=True)["RandomPassword"]


def create(arn, token, kind, stages, context):
    try:
        pending(arn, token)
        return  # retried
    except sm().exceptions.ResourceNotFoundException:
        pass
    if kind == "redis":
        value = new_value()
    else:
        now = sm().get_secret_value(SecretId=arn, VersionStage=CURRENT)
        current = json.loads(now["SecretString"])
        fresh = dict(current)
        for key in keys():
            fresh[f"{key}_PREVIOUS"] = current[key]
            fresh[key] = new_value()
        value = json.dumps(fresh, sort_keys=True)
    sm().put_secret_value(SecretId=arn, ClientRequestToken=token, SecretString=value,
                          VersionStages=[PENDING])


def wait_available(context):
    group = os.environ["REPLICATION_GROUP"]
    while 1:
        found = client("elasticache").describe_replication_groups(ReplicationGroupId=group)
        status = found["ReplicationGroups"][0]["Status"]
        if status == "available":
            return
        if context.get_remaining_time_in_millis() < 30000:
            raise TimeoutError(f"{group} is still {status}")
        time.sleep(15)


def set_secret(arn, token, kind, stages, context):
    if kind != "redis":
        return  # held by Secrets Manager only
    wait_available(context)
    client("elasticache").modify_replication_group(
        ReplicationGroupId=os.environ["REPLICATION_GROUP"], AuthToken=pending(arn, token),
        AuthTokenUpdateStrategy="ROTATE", ApplyImmediately=True)
    wait_available(context)


def test_secret(arn, token, kind, stages, context):
    value = pending(arn, token)
    if kind == "redis":
        return wait_available(context)
    missing = [k for k in keys() if not json.loads(value).get(k)]
    if missing:
        raise ValueError(f"pending value lacks {missing}")


def finish(arn, token, kind, stages, context):
    current = next(v for v, s in stages.items() if CURRENT in s)
    sm().update_secret_version_stage(
        SecretId=arn, VersionStage=CURRENT, MoveToVersionId=token, RemoveFromVersionId=current)
    for service in os.environ["SERVICES"].split(","):
        client("ecs").update_service(cluster=os.environ["CLUSTER"], service=service,
                                     forceNewDeployment=True)


STEPS = {"createSecret": create, "setSecret": set_secret, "testSecret": test_secret,
         "finishSecret": finish}
