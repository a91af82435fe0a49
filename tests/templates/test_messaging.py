"""messaging tier: jobs queue + DLQ, TLS-only policy, event bus + archive."""

import pytest

from tests.cfn import evaluate, statements
from tests.conftest import assert_snapshot


@pytest.fixture(scope="module")
def msg(rendered, env):
    return evaluate(rendered["messaging"], env)


def test_snapshot(rendered_text):
    assert_snapshot("messaging", rendered_text["messaging"])


def test_jobs_queue_redrives_to_dlq_after_five_receives(msg):
    jobs = msg.props("JobsQueue")
    assert jobs["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    assert msg.props("JobsDeadLetterQueue")["MessageRetentionPeriod"] == 14 * 24 * 3600


@pytest.mark.parametrize("queue", ["JobsQueue", "JobsDeadLetterQueue"])
def test_queues_encrypted_with_storage_key_and_kept_outside_dev(msg, env, queue):
    assert msg.props(queue)["KmsMasterKeyId"] == "<from:StorageKeyArn>"
    assert msg.resources[queue]["DeletionPolicy"] == ("Delete" if env == "dev" else "Retain")


def test_queue_policy_denies_plain_transport_on_both_queues(msg):
    policy = msg.props("JobsQueuePolicy")
    assert policy["Queues"] == [{"Ref": "JobsQueue"}, {"Ref": "JobsDeadLetterQueue"}]
    st = statements(policy["PolicyDocument"])["DenyInsecureTransport"]
    assert st["Effect"] == "Deny" and st["Principal"] == "*"
    assert st["Condition"] == {"Bool": {"aws:SecureTransport": False}}
    assert len(st["Resource"]) == 2


def test_bus_and_archive(msg, env):
    bus = msg.props("EventBus")
    assert bus["Name"] == {"Fn::Sub": "bus-platform-${Environment}"}
    assert bus["KmsKeyIdentifier"] == "<from:StorageKeyArn>"
    archive = msg.props("EventArchive")
    assert archive["SourceArn"] == {"Fn::GetAtt": ["EventBus", "Arn"]}
    assert archive["RetentionDays"] == ("7" if env == "dev" else "365")


def test_contract_outputs(rendered):
    assert {
        "JobsQueueUrl",
        "JobsQueueArn",
        "JobsQueueName",
        "JobsDeadLetterQueueArn",
        "JobsDeadLetterQueueName",
        "EventBusName",
        "EventBusArn",
    } <= set(rendered["messaging"]["Outputs"])


def test_bus_failures_go_to_an_encrypted_dead_letter_queue(msg):
    assert msg.props("EventBus")["DeadLetterConfig"] == {
        "Arn": {"Fn::GetAtt": ["EventBusDeadLetterQueue", "Arn"]}
    }
    assert msg.props("EventBusDeadLetterQueue")["KmsMasterKeyId"] == "<from:StorageKeyArn>"
    policy = msg.props("EventBusDeadLetterQueuePolicy")
    st = statements(policy["PolicyDocument"])
    assert st["DenyInsecureTransport"]["Effect"] == "Deny"
    grant = st["EventBridgeDeliversFailures"]
    assert grant["Principal"] == {"Service": "events.amazonaws.com"}
    assert grant["Action"] == ["sqs:SendMessage"]
    assert grant["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["EventBus", "Arn"]}}
    }
