"""What the plan hides: NoEcho parameters (where a property refers to one, as a nested
stack's parameter, and their values anywhere), dynamic references (in the value or at
that place in the template) and the provider schemas' write-only properties; the rest
of a structured value stays readable."""

from __future__ import annotations

import json

import pytest

from streamstack.deploy.secrets import HIDDEN, Secrets

TEMPLATE = {
    "Parameters": {"Token": {"Type": "String", "NoEcho": "true"}, "Size": {"Type": "String"}},
    "Resources": {
        "Cache": {
            "Type": "AWS::ElastiCache::ReplicationGroup",
            "Properties": {"AuthToken": {"Ref": "Token"}, "CacheNodeType": {"Ref": "Size"}},
        },
        "Task": {
            "Type": "AWS::ECS::TaskDefinition",
            "Properties": {
                "ContainerDefinitions": [
                    {
                        "Name": "api",
                        "Image": "api:1",
                        "Environment": [
                            {"Name": "DB_PASSWORD", "Value": {"Ref": "Token"}},
                            {"Name": "MODE", "Value": "prod"},
                        ],
                    }
                ]
            },
        },
        "Child": {
            "Type": "AWS::CloudFormation::Stack",
            "Properties": {"Parameters": {"Password": {"Ref": "Size"}, "Plain": "x"}},
        },
    },
}
CHILD = {
    "Parameters": {"Password": {"Type": "String", "NoEcho": True}, "Plain": {"Type": "String"}}
}


@pytest.fixture
def secrets():
    return Secrets(
        {"root": TEMPLATE, "root/Child": CHILD}, {"Token": "tok-secret-123", "Size": "m"}
    )


def test_a_write_only_property_is_hidden_whatever_it_holds(secrets):
    assert secrets.mask(
        "root", "Cache", "AWS::ElastiCache::ReplicationGroup", "AuthToken", "x"
    ) == (HIDDEN)
    assert (
        secrets.mask(
            "root", "Cache", "AWS::ElastiCache::ReplicationGroup", "/Properties/CacheNodeType", "m"
        )
        == "m"
    )


def test_a_noecho_value_is_hidden_wherever_it_appears(secrets):
    assert secrets.mask("root", "X", "AWS::SNS::Topic", "DisplayName", "a tok-secret-123 b") == (
        HIDDEN
    )


def test_a_structured_value_keeps_what_is_not_secret(secrets):
    before = [
        {
            "Name": "api",
            "Image": "api:1",
            "Environment": [
                {"Name": "DB_PASSWORD", "Value": "older-password"},
                {"Name": "MODE", "Value": "prod"},
            ],
        }
    ]
    shown = json.loads(
        secrets.mask(
            "root", "Task", "AWS::ECS::TaskDefinition", "ContainerDefinitions", json.dumps(before)
        )
    )
    assert shown[0]["Image"] == "api:1"
    assert shown[0]["Environment"] == [
        {"Name": "DB_PASSWORD", "Value": HIDDEN},
        {"Name": "MODE", "Value": "prod"},
    ]


def test_a_nested_stacks_noecho_parameter_is_hidden(secrets):
    shown = secrets.mask(
        "root",
        "Child",
        "AWS::CloudFormation::Stack",
        "Parameters",
        json.dumps({"Password": "hunter2-long", "Plain": "x"}),
    )
    assert json.loads(shown) == {"Password": HIDDEN, "Plain": "x"}


def test_a_dynamic_reference_in_the_value_is_hidden(secrets):
    assert (
        secrets.mask("root", "X", "AWS::SNS::Topic", "DisplayName", "{{resolve:ssm:/a}}") == HIDDEN
    )


def test_an_unreadable_value_at_a_secret_place_is_hidden_whole(secrets):
    assert (
        secrets.mask(
            "root", "Task", "AWS::ECS::TaskDefinition", "ContainerDefinitions", "not json at all"
        )
        == HIDDEN
    )


def test_the_plans_parameters_hide_the_noecho_ones(secrets):
    assert secrets.parameters({"Token": "tok-secret-123", "Size": "m"}) == {
        "Token": HIDDEN,
        "Size": "m",
    }
