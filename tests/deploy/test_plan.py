"""Risk labels, likely-false replacements, rendering and the plan file."""

from __future__ import annotations

import json

import pytest

from streamstack.deploy import plans as plan
from streamstack.deploy import report
from streamstack.deploy.changeset import Change
from streamstack.errors import StreamstackError


def rc(rtype, action="Modify", replacement="False", details=()):
    return {
        "ResourceType": rtype,
        "Action": action,
        "Replacement": replacement,
        "LogicalResourceId": "X",
        "Details": list(details),
    }


@pytest.mark.parametrize(
    "change,holds,label",
    [
        (rc("AWS::RDS::DBCluster", replacement="True"), None, "DATA-LOSS"),
        (rc("AWS::ElastiCache::ReplicationGroup", replacement="Conditional"), None, "DATA-LOSS"),
        (rc("AWS::S3::Bucket", action="Remove"), None, "DATA-LOSS"),
        (rc("AWS::DynamoDB::Table", replacement="False"), None, "NORMAL"),
        (rc("AWS::Logs::LogGroup", action="Add"), None, "NORMAL"),
        (rc("AWS::CloudFormation::Stack", action="Remove"), None, "DATA-LOSS"),
        (rc("AWS::CloudFormation::Stack", action="Remove"), True, "DATA-LOSS"),
        (rc("AWS::CloudFormation::Stack", action="Remove"), False, "INTERRUPTION"),
        (rc("AWS::IAM::Role"), None, "SECURITY"),
        (rc("AWS::EC2::SecurityGroupIngress", action="Add"), None, "SECURITY"),
        (rc("AWS::S3::BucketPolicy"), None, "SECURITY"),
        (
            rc(
                "AWS::KMS::Key",
                details=[{"Target": {"Attribute": "Properties", "Name": "KeyPolicy"}}],
            ),
            None,
            "SECURITY",
        ),
        (
            rc(
                "AWS::KMS::Key",
                details=[{"Target": {"Attribute": "Properties", "Name": "Description"}}],
            ),
            None,
            "NORMAL",
        ),
        (rc("AWS::KMS::Key", replacement="True"), None, "DATA-LOSS"),
        (rc("AWS::EC2::NatGateway", replacement="True"), None, "INTERRUPTION"),
        (rc("AWS::EC2::Route", action="Remove"), None, "INTERRUPTION"),
        (rc("AWS::EC2::Subnet", replacement="False"), None, "NORMAL"),
    ],
)
def test_classify(change, holds, label):
    assert plan.classify(change, holds) == label


def test_changed_properties_keeps_order_and_attributes():
    change = rc(
        "AWS::S3::Bucket",
        details=[
            {"Target": {"Attribute": "Properties", "Name": "BucketName"}},
            {"Target": {"Attribute": "Tags"}},
            {"Target": {"Attribute": "Properties", "Name": "BucketName"}},
        ],
    )
    assert plan.changed_properties(change) == ["BucketName", "Tags"]


ROOT = {
    "Resources": {
        "NetworkStack": {
            "Type": "AWS::CloudFormation::Stack",
            "Properties": {
                "TemplateURL": {
                    "Fn::Join": [
                        "",
                        [{"Ref": "ArtifactBaseUrl"}, "/templates/" + "1" * 64 + ".json"],
                    ]
                },
                "Parameters": {},
            },
        },
        "DataStack": {
            "Type": "AWS::CloudFormation::Stack",
            "Properties": {
                "TemplateURL": {
                    "Fn::Join": [
                        "",
                        [{"Ref": "ArtifactBaseUrl"}, "/templates/" + "2" * 64 + ".json"],
                    ]
                },
                "Parameters": {
                    "SubnetId": {"Fn::GetAtt": ["NetworkStack", "Outputs.SubnetId"]},
                    "Size": {"Ref": "Size"},
                },
            },
        },
    }
}


def conditional_db(entity, source="ParameterReference", evaluation="Dynamic"):
    return Change(
        ("DataStack",),
        {
            "ResourceType": "AWS::RDS::DBCluster",
            "Action": "Modify",
            "Replacement": "Conditional",
            "LogicalResourceId": "Cluster",
            "Details": [
                {
                    "Target": {
                        "Attribute": "Properties",
                        "Name": "DBSubnetGroupName",
                        "RequiresRecreation": "Always",
                    },
                    "Evaluation": evaluation,
                    "ChangeSource": source,
                    "CausingEntity": entity,
                }
            ],
        },
    )


def test_wiring_and_stateful_stacks_come_from_the_root():
    assert plan.wiring_of(ROOT) == {"DataStack": {"SubnetId": "NetworkStack"}}
    templates = {
        "1" * 64: {"Resources": {"V": {"Type": "AWS::EC2::VPC"}}},
        "2" * 64: {"Resources": {"C": {"Type": "AWS::RDS::DBCluster"}}},
    }
    assert plan.stateful_stacks(ROOT, templates) == {"NetworkStack": False, "DataStack": True}


def test_conditional_from_an_unchanged_upstream_is_likely_false_and_does_not_block():
    changes = [
        Change(
            (),
            {
                "ResourceType": "AWS::CloudFormation::Stack",
                "Action": "Modify",
                "LogicalResourceId": "DataStack",
                "Replacement": "False",
                "Details": [],
            },
        ),
        conditional_db("SubnetId"),
    ]
    rows = plan.make_rows(changes)
    plan.mark_false_replacements(rows, changes, plan.wiring_of(ROOT))
    assert rows[1].risk == "DATA-LOSS" and rows[1].likely_false
    assert "NetworkStack" in rows[1].note
    assert plan.blocking(rows) == []


@pytest.mark.parametrize(
    "changes",
    [
        # the upstream tier changes too: its output may change
        [
            Change(
                (),
                {
                    "ResourceType": "AWS::CloudFormation::Stack",
                    "Action": "Modify",
                    "LogicalResourceId": "NetworkStack",
                    "Replacement": "False",
                    "Details": [{"Evaluation": "Static", "Target": {"Attribute": "Properties"}}],
                },
            ),
            conditional_db("SubnetId"),
        ],
        # a root parameter, not an upstream output
        [conditional_db("Size")],
        # a direct edit of the template
        [conditional_db("DBSubnetGroupName", source="DirectModification", evaluation="Static")],
    ],
)
def test_other_conditionals_still_block(changes):
    rows = plan.make_rows(changes)
    plan.mark_false_replacements(rows, changes, plan.wiring_of(ROOT))
    assert [r.logical_id for r in plan.blocking(rows)] == ["Cluster"]


def test_render_groups_by_stack_and_markdown_flags_a_block():
    changes = [
        Change((), rc("AWS::CloudFormation::Stack") | {"LogicalResourceId": "DataStack"}),
        conditional_db("Size"),
    ]
    rows = plan.make_rows(changes)
    text = report.render_text(rows)
    assert text[0] == "root:" and "root/DataStack:" in text
    assert any("DATA-LOSS" in line and "replace=Conditional" in line for line in text)
    document = {
        "environment": "prod",
        "stack_name": "s",
        "change_set_name": "deploy-1",
        "change_set_type": "UPDATE",
        "build_hash": "b" * 64,
        "commit": "c" * 40,
        "risk": plan.summary(rows),
        "blocked": True,
        "console_url": "https://x",
        "rows": plan.rows_as_dicts(rows),
    }
    markdown = report.render_markdown(document)
    assert "**Blocked:**" in markdown and "| root/DataStack | DATA-LOSS | Modify |" in markdown


@pytest.mark.parametrize(
    "content,message",
    [
        (None, "there is no plan for prod"),
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "is not a plan written by `make deploy`"),
        ('{"version": 1}', "environment is missing or malformed"),
    ],
)
def test_malformed_plan_files_say_plan_again(tmp_path, content, message):
    if content is not None:
        (tmp_path / "prod.json").write_text(content)
    with pytest.raises(StreamstackError, match=message) as raised:
        plan.read(tmp_path, "prod", plan.STACK)
    assert "make deploy ENV=prod" in str(raised.value)


def test_plan_for_another_environment_is_refused(tmp_path):
    document = {
        key: kind() if isinstance(kind, type) else kind[0]()
        for key, kind in plan.REQUIRED[plan.STACK].items()
    }
    document.update(
        version=plan.PLAN_VERSION,
        environment="staging",
        kind=plan.STACK,
        region="us-west-2",
        blocked=False,
        allow_data_loss=False,
    )
    (tmp_path / "prod.json").write_text(json.dumps(document))
    with pytest.raises(StreamstackError, match="plan for staging, not prod"):
        plan.read(tmp_path, "prod", plan.STACK)


def test_stack_policy_denies_replace_and_delete_of_stateful_types_except_allowed_rows():
    from streamstack.deploy import safety

    allow, deny = safety.stack_policy()["Statement"]
    assert allow == {"Effect": "Allow", "Principal": "*", "Action": "Update:*", "Resource": "*"}
    assert deny["Action"] == ["Update:Replace", "Update:Delete"] and deny["Resource"] == "*"
    kept = deny["Condition"]["StringEquals"]["ResourceType"]
    assert {"AWS::RDS::DBCluster", "AWS::S3::Bucket", "AWS::CloudFormation::Stack"} <= set(kept)
    exempt = safety.stack_policy(["MediaBucket"])["Statement"][1]
    assert exempt["NotResource"] == ["LogicalResourceId/MediaBucket"]
    assert "Resource" not in exempt
