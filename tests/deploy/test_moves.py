"""Moves between nested stacks, on the built templates: a resource moved from one tier's
template to another's pairs its Remove with its Add (resolved as CloudFormation would:
the destination reads the upstream tier's output where the source read its own
parameter), and the refactor templates move exactly it, or say what stops them."""

from __future__ import annotations

import copy

import pytest

from streamstack.deploy import moves, plans
from streamstack.deploy.changeset import Change
from tests.deploy.conftest import built_tree

REGION, ACCOUNT = "us-west-2", "123456789012"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-0000-0000-0000-000000000000"


def arn(tier: str) -> str:
    return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/streamstack-prod-{tier}-X/1"


@pytest.fixture(scope="module")
def tree(built):
    return built_tree(built)


@pytest.fixture
def moved(tree):
    """The build after moving the EFS file system from storage to data verbatim."""
    templates = copy.deepcopy(tree)
    storage, data = templates["root/StorageStack"], templates["root/DataStack"]
    data["Resources"]["FileSystem"] = storage["Resources"].pop("FileSystem")
    return templates


def states(tree) -> dict[str, moves.StackState]:
    storage_params = {"Environment": "prod", "StorageKeyArn": KEY_ARN}
    return {
        arn("StorageStack"): moves.StackState(
            "streamstack-prod-StorageStack-X",
            storage_params,
            {"FileSystem": "fs-0123456789abcdef0", "MediaBucket": "s3-media-prod"},
            {"FileSystemId": "fs-0123456789abcdef0"},
        ),
        arn("DataStack"): moves.StackState(
            "streamstack-prod-DataStack-X", {"Environment": "prod"}, {}, {}
        ),
        arn("SecurityStack"): moves.StackState(
            "streamstack-prod-SecurityStack-X", {}, {}, {"StorageKeyArn": KEY_ARN}
        ),
    }


def plan_rows(extra=()):
    changes = [
        Change(
            (),
            {
                "LogicalResourceId": tier,
                "ResourceType": "AWS::CloudFormation::Stack",
                "Action": "Modify",
                "Replacement": "False",
                "PhysicalResourceId": arn(tier),
                "Details": [],
            },
        )
        for tier in ("StorageStack", "DataStack")
    ] + [
        Change(
            ("StorageStack",),
            {
                "LogicalResourceId": "FileSystem",
                "ResourceType": "AWS::EFS::FileSystem",
                "Action": "Remove",
                "PolicyAction": "Retain",
                "PhysicalResourceId": "fs-0123456789abcdef0",
            },
        ),
        Change(
            ("DataStack",),
            {
                "LogicalResourceId": "FileSystem",
                "ResourceType": "AWS::EFS::FileSystem",
                "Action": "Add",
            },
        ),
        *extra,
    ]
    return plans.make_rows(changes), changes


def pair(tree, built_templates, deployed=None, changes=None):
    rows, changes = (plans.make_rows(changes), changes) if changes else plan_rows()
    known = states(tree)
    deployed = deployed or {arn("StorageStack"): tree["root/StorageStack"]}
    found = moves.pair(
        rows,
        changes,
        deployed=lambda stack_id: deployed.get(stack_id, {}),
        state=lambda stack_id: known[stack_id],
        built=built_templates,
        root=built_templates["root"],
        root_values={"Environment": "prod"},
        region=REGION,
        account=ACCOUNT,
        nested_ids=lambda: {"root/SecurityStack": arn("SecurityStack")},
    )
    return rows, found


def test_a_resource_moved_between_tiers_is_one_move(tree, moved):
    rows, found = pair(tree, moved)
    (move,) = found
    assert (move.source, move.destination) == ("root/StorageStack", "root/DataStack")
    assert move.how == "identical properties"  # StorageKeyArn: its parameter, then an output
    moves.mark(rows, found, "prod")
    labelled = {(r.stack, r.logical_id): r for r in rows}
    remove = labelled[("root/StorageStack", "FileSystem")]
    assert remove.risk == "MOVE" and labelled[("root/DataStack", "FileSystem")].risk == "MOVE"
    assert "`make refactor ENV=prod`" in remove.move["advice"]
    assert plans.blocking(rows)  # never executed as a deletion and a creation by accident


def test_a_changed_resource_is_not_a_move(tree, moved):
    moved["root/DataStack"]["Resources"]["FileSystem"]["Properties"]["ThroughputMode"] = "bursting"
    _, found = pair(tree, moved)
    assert found == []  # EFS has no name of its own: its properties must match


def test_a_named_resource_moves_by_its_name_even_when_other_properties_change(tree):
    templates = copy.deepcopy(tree)
    bucket = copy.deepcopy(templates["root/StorageStack"]["Resources"]["MediaBucket"])
    assert "BucketName" in bucket["Properties"]
    deployed = {arn("StorageStack"): copy.deepcopy(tree["root/StorageStack"])}
    templates["root/StorageStack"]["Resources"].pop("MediaBucket")
    bucket["Properties"]["Tags"] = [{"Key": "moved", "Value": "yes"}]
    templates["root/DataStack"]["Resources"]["MediaBucket"] = bucket
    _, changes = plan_rows()
    for change in changes:
        if change.resource["LogicalResourceId"] == "FileSystem":
            change.resource["LogicalResourceId"] = "MediaBucket"
            change.resource["ResourceType"] = "AWS::S3::Bucket"
    _, found = pair(tree, templates, deployed, changes=changes)
    assert [m.how for m in found] == ["the same BucketName"]


def test_the_refactor_of_the_file_system_says_what_must_move_with_it(tree, moved):
    _, found = pair(tree, moved)
    deployed = {
        arn("StorageStack"): tree["root/StorageStack"],
        arn("DataStack"): tree["root/DataStack"],
    }
    with pytest.raises(moves.CannotRefactor) as refused:
        moves.refactor_templates(
            found,
            deployed,
            {arn("DataStack"): moved["root/DataStack"]},
            states(tree),
        )
    message = str(refused.value)
    assert "stays in root/StorageStack but refers to the moved FileSystem" in message
    assert "move it too" in message


def test_a_refactor_adds_no_parameter_to_the_destination(tree):
    source = {
        "Parameters": {"Environment": {"Type": "String"}, "TopicKey": {"Type": "String"}},
        "Resources": {
            "Topic": {
                "Type": "AWS::SNS::Topic",
                "Properties": {"KmsMasterKeyId": {"Ref": "TopicKey"}},
            }
        },
    }
    destination = {"Parameters": {"Environment": {"Type": "String"}}, "Resources": {}}
    move = moves.Move(
        "AWS::SNS::Topic", "root/A", "Topic", "a", "root/B", "Topic", "b", "arn:sns", "identical"
    )
    known = {
        "a": moves.StackState("A", {"Environment": "prod", "TopicKey": "k"}, {}, {}),
        "b": moves.StackState("B", {"Environment": "prod"}, {}, {}),
    }
    with pytest.raises(moves.CannotRefactor, match="uses TopicKey.*deploy root/B's new inputs"):
        moves.refactor_templates([move], {"a": source, "b": destination}, {}, known)
