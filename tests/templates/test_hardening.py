"""What holds across the tiers, in dev, staging and prod with the conditions decided:
every customer key refuses grants except for AWS services, alarms and notifications
stay encrypted with a key whose policy lets CloudWatch alarms use it, and nothing the
tasks run with can read the database's master secret."""

from __future__ import annotations

import json

import pytest

from tests.cfn import evaluate, statements

ENVIRONMENTS = ["dev", "staging", "prod"]
# Where each template's topics are encrypted, and the key's policy.
TOPIC_KEYS = {"observability": ("security", "StorageKey"), "edge": ("edge", "EdgeLogKey")}
# The edge stack has its alarm topic when it watches a distribution of another region.
WITH_TOPICS = {"edge": {"DistributionId": "E2QWRUHAPOMQZL"}}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_key_allows_grants_for_aws_services_only(rendered, env):
    found = 0
    for template in rendered.values():
        for logical, key in evaluate(template, env).of_type("AWS::KMS::Key").items():
            deny = statements(key["Properties"]["KeyPolicy"])["GrantsForAwsServicesOnly"]
            assert deny["Effect"] == "Deny" and deny["Action"] == ["kms:CreateGrant"], logical
            assert deny["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "false"}}
            found += 1
    assert found >= 4  # data, storage, edge, bootstrap's artifact key


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_alarm_topics_stay_encrypted_with_a_key_alarms_may_use(rendered, env):
    for name, (key_template, key) in TOPIC_KEYS.items():
        topics = evaluate(rendered[name], env, WITH_TOPICS.get(name)).of_type("AWS::SNS::Topic")
        assert topics, name
        for logical, topic in topics.items():
            assert topic["Properties"]["KmsMasterKeyId"], (name, logical)
        policy = evaluate(rendered[key_template], env).props(key)["KeyPolicy"]
        alarms = statements(policy)["CloudWatchAlarmsUse"]
        assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        assert {"kms:Decrypt", "kms:GenerateDataKey"} <= set(alarms["Action"])
    for name, template in rendered.items():
        every = evaluate(template, env, WITH_TOPICS.get(name)).of_type("AWS::SNS::Topic")
        for logical, topic in every.items():
            assert topic["Properties"].get("KmsMasterKeyId"), (name, logical)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_only_the_database_user_function_reads_the_master_secret(rendered, env):
    readers = []
    for name, template in rendered.items():
        for logical, role in evaluate(template, env).of_type("AWS::IAM::Role").items():
            if "MasterUserSecret" in json.dumps(role["Properties"].get("Policies", [])):
                readers.append(f"{name}.{logical}")
    assert readers == ["data.DatabaseUserFunctionRole"]


def test_every_image_default_is_pinned_by_digest(rendered):
    """What staging and prod run when their params name no image: nothing a tag moves."""
    from templates.parts.images import DIGEST, is_image_parameter

    defaults = {
        name: spec["Default"]
        for name, spec in rendered["root"]["Parameters"].items()
        if is_image_parameter(name)
    }
    assert {"ApiImage", "WebImage", "WorkerImage", "TracingCollectorImage"} <= set(defaults)
    assert {n: i for n, i in defaults.items() if not DIGEST.match(i)} == {}
