"""What a reviewer reads: risk labels from CloudFormation's PolicyAction and its other
actions, values before and after with secrets hidden, a move's both halves, drift,
and the expected duration; the text and Markdown plans are snapshots (UPDATE_SNAPSHOTS=1
rewrites them; review the diff)."""

from __future__ import annotations

import json

import pytest

from streamstack.deploy import moves, plans, report, retention, review
from streamstack.deploy.changeset import Change
from streamstack.deploy.drift import Drifted, Outcome, annotate
from streamstack.deploy.durations import Durations
from streamstack.deploy.secrets import HIDDEN, Secrets
from tests.conftest import assert_snapshot
from tests.deploy.conftest import built_tree

REGION = "us-west-2"
ACCOUNT = "123456789012"


def nested_arn(name: str) -> str:
    return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/streamstack-prod-{name}-1A2B/0f0f"


def rc(logical, rtype, action="Modify", replacement=None, policy=None, physical="", details=()):
    found = {
        "LogicalResourceId": logical,
        "ResourceType": rtype,
        "Action": action,
        "Details": list(details),
    }
    if replacement is not None:
        found["Replacement"] = replacement
    if policy:
        found["PolicyAction"] = policy
    if physical:
        found["PhysicalResourceId"] = physical
    return found


def value(name, before, after, recreation="Never", path=None, **extra):
    target = {
        "Attribute": "Properties",
        "Name": name,
        "RequiresRecreation": recreation,
        "BeforeValue": before,
        "AfterValue": after,
        **extra,
    }
    if path:
        target["Path"] = path
    return {"Target": target, "Evaluation": "Static", "ChangeSource": "DirectModification"}


@pytest.mark.parametrize(
    "action,replacement,policy,label",
    [
        ("Remove", None, "Delete", "DATA-LOSS"),
        ("Remove", None, "Retain", "ORPHAN"),
        ("Remove", None, "Snapshot", "RECOVERABLE"),
        ("Modify", "True", "ReplaceAndDelete", "DATA-LOSS"),
        ("Modify", "True", "ReplaceAndRetain", "ORPHAN"),
        ("Modify", "Conditional", "ReplaceAndSnapshot", "RECOVERABLE"),
        ("Remove", None, None, "DATA-LOSS"),  # no PolicyAction: assume it is deleted
        ("Dynamic", None, None, "DATA-LOSS"),  # may be replaced: nothing says it is kept
        ("Dynamic", None, "Retain", "ORPHAN"),
        ("Modify", "False", None, "NORMAL"),
        ("Import", None, None, "NORMAL"),
        ("SyncWithActual", None, None, "NORMAL"),
    ],
)
def test_stateful_labels_follow_the_policy_action(action, replacement, policy, label):
    change = rc("DbCluster", "AWS::RDS::DBCluster", action, replacement, policy)
    assert plans.classify(change) == label


@pytest.mark.parametrize(
    "action,label",
    [("Dynamic", "INTERRUPTION"), ("Import", "NORMAL"), ("SyncWithActual", "NORMAL")],
)
def test_other_actions_of_stateless_resources(action, label):
    assert plans.classify(rc("Service", "AWS::ECS::Service", action)) == label


def test_each_consequence_says_where_the_data_is():
    kept = retention.consequence(
        resource_type="AWS::S3::Bucket",
        action="Remove",
        policy_action="Retain",
        physical_id="s3-uploads-prod",
    )
    assert "kept in the account" in kept and "same BucketName collides" in kept
    generated = retention.consequence(
        resource_type="AWS::KMS::Key", action="Remove", policy_action="Retain", physical_id="k"
    )
    assert "delete it by hand" in generated and "collides" not in generated
    snapshot = retention.consequence(
        resource_type="AWS::RDS::DBCluster",
        action="Modify",
        policy_action="ReplaceAndSnapshot",
        physical_id="aurora-prod",
        region=REGION,
    )
    assert snapshot.startswith("the replacement starts empty")
    assert "final DB cluster snapshot (RDS, Snapshots) in us-west-2, named after aurora-prod" in (
        snapshot
    )
    assert retention.consequence(
        resource_type="AWS::DynamoDB::Table", action="Remove", policy_action="Delete"
    ) == ("the AWS::DynamoDB::Table is deleted with its data")


# -- a prod plan, rendered ---------------------------------------------------------------------
SECRET_TOKEN = "tok-7c1f2e9a4b5d6e8f"
SECRET_HEADER = "hdr-0a9b8c7d6e5f4a3b"


def prod_changes() -> list[Change]:
    storage, data, cdn, compute = (
        ("StorageStack",),
        ("DataStack",),
        ("CdnStack",),
        ("ComputeStack",),
    )
    distribution_before = {
        "Enabled": True,
        "PriceClass": "PriceClass_100",
        "Origins": [
            {
                "Id": "alb",
                "DomainName": "api.video.example.com",
                "OriginCustomHeaders": [
                    {"HeaderName": "X-Origin-Verify", "HeaderValue": SECRET_HEADER}
                ],
            }
        ],
    }
    distribution_after = {**distribution_before, "PriceClass": "PriceClass_All"}
    root = [
        Change(
            (),
            rc(name, "AWS::CloudFormation::Stack", physical=nested_arn(name), replacement="False")
            | {"ChangeSetId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/n-{name}/1"},
        )
        for name in ("StorageStack", "DataStack", "CdnStack", "ComputeStack")
    ]
    return root + [
        Change(
            storage,
            rc(
                "MediaBucket",
                "AWS::S3::Bucket",
                replacement="False",
                physical="s3-media-prod-123456789012-us-west-2",
                details=[
                    value(
                        "LifecycleConfiguration",
                        json.dumps({"Rules": [{"Id": "archive", "Status": "Enabled", "Days": 90}]}),
                        json.dumps({"Rules": [{"Id": "archive", "Status": "Enabled", "Days": 30}]}),
                    )
                ],
            ),
        ),
        Change(
            storage,
            rc(
                "UploadsBucket",
                "AWS::S3::Bucket",
                "Remove",
                policy="Retain",
                physical="s3-uploads-prod-123456789012-us-west-2",
            ),
        ),
        Change(
            storage,
            rc("FileSystem", "AWS::EFS::FileSystem", "Remove", policy="Retain", physical="fs-0c1"),
        ),
        Change(data, rc("FileSystem", "AWS::EFS::FileSystem", "Add")),
        Change(
            data,
            rc(
                "CacheReplicationGroup",
                "AWS::ElastiCache::ReplicationGroup",
                replacement="True",
                policy="ReplaceAndSnapshot",
                physical="cache-redis-prod",
                details=[
                    value("CacheNodeType", "cache.r7g.large", "cache.r7g.xlarge", "Always"),
                    value("AuthToken", SECRET_TOKEN, SECRET_TOKEN + "x", "Never"),
                ],
            ),
        ),
        Change(
            data,
            rc(
                "VideosTable",
                "AWS::DynamoDB::Table",
                replacement="True",
                policy="ReplaceAndDelete",
                physical="ddb-videos-prod",
                details=[
                    value(
                        "KeySchema",
                        json.dumps([{"AttributeName": "videoId", "KeyType": "HASH"}]),
                        json.dumps([{"AttributeName": "id", "KeyType": "HASH"}]),
                        "Always",
                    )
                ],
            ),
        ),
        Change(
            cdn,
            rc(
                "Distribution",
                "AWS::CloudFront::Distribution",
                replacement="False",
                physical="E2QWRUHAPOMQZL",
                details=[
                    value(
                        "DistributionConfig",
                        json.dumps(distribution_before, sort_keys=True),
                        json.dumps(distribution_after, sort_keys=True),
                    )
                ],
            ),
        ),
        Change(
            compute,
            rc(
                "ApiService",
                "AWS::ECS::Service",
                replacement="False",
                physical="arn:aws:ecs:us-west-2:123456789012:service/ecs-prod/api",
                details=[value("DesiredCount", "2", "3")],
            ),
        ),
        Change(
            compute,
            rc(
                "TaskRole",
                "AWS::IAM::Role",
                replacement="False",
                details=[
                    value(
                        "ManagedPolicyArns",
                        '["arn:aws:iam::123456789012:policy/streamstack/api-read"]',
                        '["arn:aws:iam::123456789012:policy/streamstack/api-read",'
                        '"arn:aws:iam::123456789012:policy/streamstack/api-write"]',
                    )
                ],
            ),
        ),
    ]


@pytest.fixture(scope="module")
def prod_plan(built):
    templates = built_tree(built)
    root = templates["root"]
    secrets = Secrets(templates, {"Environment": "prod"})
    changes = prod_changes()
    stateful = plans.stateful_stacks(root, review.built(built, manifest_of(built))[1])
    rows = plans.make_rows(changes, stateful, secrets, REGION)
    move = moves.Move(
        resource_type="AWS::EFS::FileSystem",
        source="root/StorageStack",
        source_logical="FileSystem",
        source_stack_id=nested_arn("StorageStack"),
        destination="root/DataStack",
        destination_logical="FileSystem",
        destination_stack_id=nested_arn("DataStack"),
        physical_id="fs-0c1",
        how="identical properties",
    )
    moves.mark(rows, [move], "prod")
    outcome = Outcome(
        drifted=[
            Drifted(
                "root/ComputeStack",
                "ApiService",
                "AWS::ECS::Service",
                "MODIFIED",
                (
                    {
                        "PropertyPath": "/DesiredCount",
                        "ExpectedValue": "2",
                        "ActualValue": "6",
                        "DifferenceType": "NOT_EQUAL",
                    },
                ),
            ),
            Drifted(
                "root/ComputeStack",
                "WorkerService",
                "AWS::ECS::Service",
                "MODIFIED",
                ({"PropertyPath": "/DesiredCount", "ExpectedValue": "1", "ActualValue": "4"},),
            ),
        ],
        checked=["root/ComputeStack"],
    )
    notes = annotate(rows, outcome, secrets, "prod")
    measured = Durations(
        {"AWS::ElastiCache::ReplicationGroup": {"create": [840.0, 910.0, 870.0]}}, "prod"
    )
    estimate = review.estimate(changes, templates, {"Environment": "prod"}, measured)
    document = {
        "environment": "prod",
        "stack_name": "streamstack-prod",
        "change_set_name": "deploy-20261204T091500Z",
        "change_set_type": "UPDATE",
        "build_hash": "3f9c2d41b7a8" + "0" * 52,
        "commit": "8e1d0c7b6a5f" + "0" * 28,
        "risk": plans.summary(rows),
        "blocked": bool(plans.blocking(rows)),
        "console_url": "https://us-west-2.console.aws.amazon.com/cloudformation/home",
        "rows": plans.rows_as_dicts(rows),
        "duration": estimate.to_json(),
        "notes": notes,
    }
    return rows, document


def manifest_of(built) -> dict:
    return json.loads((built / "manifest.json").read_text())


def test_labels_values_and_secrets_of_the_prod_plan(prod_plan):
    rows, document = prod_plan
    by = {(r.stack, r.logical_id): r for r in rows}
    assert by[("root/StorageStack", "UploadsBucket")].risk == "ORPHAN"
    assert by[("root/DataStack", "CacheReplicationGroup")].risk == "RECOVERABLE"
    assert by[("root/DataStack", "VideosTable")].risk == "DATA-LOSS"
    assert by[("root/StorageStack", "FileSystem")].risk == "MOVE"
    assert by[("root/DataStack", "FileSystem")].risk == "MOVE"
    assert by[("root/ComputeStack", "TaskRole")].risk == "SECURITY"
    assert by[("root/ComputeStack", "ApiService")].risk == "NORMAL"
    cache = {v["property"]: v for v in by[("root/DataStack", "CacheReplicationGroup")].values}
    assert cache["AuthToken"]["before"] == cache["AuthToken"]["after"] == HIDDEN  # write-only
    assert cache["CacheNodeType"]["after"] == "cache.r7g.xlarge"
    config = by[("root/CdnStack", "Distribution")].values[0]
    # The origin header's value is a dynamic reference in the cdn template, under a
    # condition: the whole header list is hidden, the rest of the origin is shown.
    origin = json.loads(config["before"])["Origins"][0]
    assert origin["OriginCustomHeaders"] == HIDDEN
    assert origin["Id"] == "alb"
    assert json.loads(config["after"])["PriceClass"] == "PriceClass_All"
    drift = by[("root/ComputeStack", "ApiService")].drift[0]
    assert (drift["actual"], drift["expected"]) == ("6", "2")
    assert drift["outcome"] == "this deploy sets it to 3"
    assert document["notes"] == [
        "drift in root/ComputeStack that this deploy does not touch: WorkerService "
        "(DesiredCount); `make deploy ENV=prod REVERT_DRIFT=1` restores the template's values"
    ]
    everything = json.dumps(document) + "\n".join(report.render_text(rows))
    everything += report.render_markdown(document)
    assert SECRET_TOKEN not in everything and SECRET_HEADER not in everything


def test_the_estimate_uses_measured_durations_and_follows_the_wiring(prod_plan):
    _, document = prod_plan
    estimate = document["duration"]
    # The replacement cache (measured 870 s median) is the longest wait.
    assert estimate["slowest"][0]["logical_id"] == "CacheReplicationGroup"
    assert estimate["slowest"][0]["seconds"] == 870
    assert [step["stack"] for step in estimate["path"]][-1] in ("DataStack", "ComputeStack")
    assert estimate["cleanup_seconds"] > 0  # the old cache and table go in the cleanup
    assert "1 resource type measured by prod's own deploys" in estimate["source"]


def test_text_plan_snapshot(prod_plan):
    rows, document = prod_plan
    lines = report.render_text(rows) + report.duration_text(document["duration"])
    assert_snapshot("plan-prod", "\n".join(lines) + "\n", suffix=".txt")


def test_markdown_plan_snapshot(prod_plan):
    _, document = prod_plan
    assert_snapshot("plan-prod", report.render_markdown(document), suffix=".md")


def test_long_values_are_shortened_and_whole_in_the_plan_json(prod_plan):
    rows, document = prod_plan
    config = next(r for r in document["rows"] if r["logical_id"] == "Distribution")["values"][0]
    assert len(config["before"]) > report.TEXT_LIMIT  # the plan JSON has it whole
    # A structured value shows the places that differ, each shortened.
    shown = [line.strip() for line in report.render_text(rows) if "DistributionConfig" in line]
    assert shown[1:] == ["DistributionConfig/PriceClass: PriceClass_100 -> PriceClass_All"]
    long = {"property": "Description", "before": "a" * 200, "after": "b" * 200}
    (line,) = report.value_lines(long, report.TEXT_LIMIT)
    assert report.ELLIPSIS in line and len(line) < 2 * report.TEXT_LIMIT + 20


def test_the_plan_in_the_docs_is_this_one(prod_plan):
    """docs/deploy.md shows the text snapshot as deploy.py prints it."""
    from streamstack import ROOT

    docs = (ROOT / "docs" / "deploy.md").read_text()
    rows, document = prod_plan
    for line in report.render_text(rows) + report.duration_text(document["duration"]):
        assert line in docs, line
