"""The IAM evaluator the proofs rest on: it must answer as AWS does, and refuse what it
cannot decide rather than let a request through."""

from __future__ import annotations

import pytest

from streamstack.identity.evaluate import EvaluationError, PolicySet, Request, Resolved


def policy(*statements) -> PolicySet:
    return PolicySet.of([{"Version": "2012-10-17", "Statement": list(statements)}])


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_an_explicit_deny_wins_over_any_allow():
    p = policy(allow("s3:*"), {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"})
    assert p.decide(Request("s3:DeleteBucket", "arn:aws:s3:::b")) == "Deny"
    assert p.decide(Request("s3:PutObject", "arn:aws:s3:::b/k")) == "Allow"
    assert p.decide(Request("sqs:SendMessage")) == "NotAllowed"


def test_actions_match_case_insensitively_with_wildcards_and_not_action():
    p = policy(allow("EC2:describe*"))
    assert p.allows(Request("ec2:DescribeVpcs"))
    assert not p.allows(Request("ec2:CreateVpc"))
    q = policy({"Effect": "Allow", "NotAction": ["iam:*"], "Resource": "*"})
    assert q.allows(Request("ec2:CreateVpc")) and not q.allows(Request("iam:CreateRole"))


def test_statements_looked_up_by_action_decide_as_trying_every_statement():
    """decide() tries a statement that names its actions exactly only for those actions;
    the answer must be the one of trying every statement in turn."""
    from streamstack.identity.evaluate import statement_matches

    p = policy(
        allow(["s3:GetObject", "S3:PutObject"], "arn:aws:s3:::b/*"),
        allow("s3:Get*", "arn:aws:s3:::c/*"),
        {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/secret"},
        {"Effect": "Deny", "NotAction": ["s3:*", "sqs:*"], "Resource": "*"},
        allow("sqs:SendMessage", "*", Condition={"Bool": {"aws:SecureTransport": "true"}}),
    )
    requests = [
        Request(action, resource, context)
        for action in ("s3:GetObject", "s3:putobject", "s3:GetBucketPolicy", "sqs:SendMessage")
        for resource in ("arn:aws:s3:::b/k", "arn:aws:s3:::b/secret", "arn:aws:s3:::c/k", "*")
        for context in ({}, {"aws:SecureTransport": "true"})
    ] + [Request("ec2:CreateVpc")]
    answers = set()
    for request in requests:
        matching = [s for s in p.statements if statement_matches(s, request)]
        every = (
            "Deny"
            if any(s["Effect"] == "Deny" for s in matching)
            else "Allow"
            if matching
            else "NotAllowed"
        )
        assert p.decide(request) == every, request
        answers.add(every)
    assert answers == {"Allow", "Deny", "NotAllowed"}


def test_resource_wildcards_stay_in_their_arn_segment_unless_they_end_it():
    p = policy(allow("ec2:CreateTags", "arn:aws:ec2:us-*-2:123456789012:*"))
    assert p.allows(Request("ec2:CreateTags", "arn:aws:ec2:us-west-2:123456789012:vpc/vpc-1"))
    assert not p.allows(Request("ec2:CreateTags", "arn:aws:ec2:us-west-2:999999999999:vpc/vpc-1"))
    # "*" within the region segment does not swallow the account that follows it.
    assert not p.allows(Request("ec2:CreateTags", "arn:aws:ec2:us-a:b-2:123456789012:vpc/1"))
    # A request on "*" (an action without resource-level permissions) matches no ARN.
    assert not p.allows(Request("ec2:CreateTags", "*"))


def test_a_wildcard_in_the_service_segment_is_refused_as_aws_refuses_it():
    with pytest.raises(EvaluationError, match="service segment"):
        policy(allow("ec2:CreateVpc", "arn:aws:*:us-west-2:123456789012:*")).decide(
            Request("ec2:CreateVpc", "arn:aws:ec2:us-west-2:123456789012:vpc/1")
        )


def test_conditions_as_iam_evaluates_them():
    boundary = "arn:aws:iam::1:policy/b"
    p = policy(
        allow("iam:CreateRole", Condition={"StringEquals": {"iam:PermissionsBoundary": boundary}})
    )
    assert p.allows(Request("iam:CreateRole", "r", {"iam:PermissionsBoundary": boundary}))
    assert not p.allows(Request("iam:CreateRole", "r"))  # key absent: no match
    negated = policy(
        {
            "Effect": "Deny",
            "Action": "iam:PassRole",
            "Resource": "*",
            "Condition": {
                "StringNotEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}
            },
        }
    )
    assert negated.decide(Request("iam:PassRole")) == "Deny"  # absent: not equal
    null = policy(
        {
            "Effect": "Deny",
            "Action": "s3:PutObject",
            "Resource": "*",
            "Condition": {"Null": {"s3:if-none-match": "true"}},
        }
    )
    assert null.decide(Request("s3:PutObject")) == "Deny"
    assert null.decide(Request("s3:PutObject", "*", {"s3:if-none-match": "*"})) == "NotAllowed"
    exists = policy(allow("s3:GetObject", Condition={"StringLikeIfExists": {"x": "a*"}}))
    assert exists.allows(Request("s3:GetObject")) and not exists.allows(
        Request("s3:GetObject", "*", {"x": "b"})
    )
    anyof = policy(allow("s3:GetObject", Condition={"ForAnyValue:StringEquals": {"k": ["a"]}}))
    assert anyof.allows(Request("s3:GetObject", "*", {"k": ["b", "a"]}))


def test_an_unknown_condition_operator_is_an_error_not_a_match():
    with pytest.raises(EvaluationError, match="NumericLessThan"):
        policy(allow("s3:GetObject", Condition={"NumericLessThan": {"x": "1"}})).decide(
            Request("s3:GetObject", "*", {"x": "0"})
        )


def test_templates_resolve_conditions_subs_and_both_kinds_of_names():
    template = {
        "Parameters": {
            "Environment": {"Type": "String"},
            "Readers": {"Type": "CommaDelimitedList", "Default": ""},
        },
        "Conditions": {
            "IsProd": {"Fn::Equals": [{"Ref": "Environment"}, "prod"]},
            "HasReaders": {
                "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "Readers"}]}, ""]}]
            },
        },
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"Path": "/p/"}},
            "Bucket": {
                "Type": "AWS::S3::Bucket",
                "Condition": "IsProd",
                "Properties": {"BucketName": {"Fn::Sub": "s3-x-${Environment}"}},
            },
            "Policy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "PolicyDocument": {
                        "Statement": [
                            {
                                "Fn::If": [
                                    "HasReaders",
                                    {"Effect": "Allow"},
                                    {"Ref": "AWS::NoValue"},
                                ]
                            },
                            {
                                "Effect": "Allow",
                                "Resource": [
                                    {"Fn::GetAtt": ["Role", "Arn"]},
                                    {"Fn::Sub": "${Bucket.Arn}/*"},
                                ],
                            },
                        ]
                    }
                },
            },
        },
    }
    dev = Resolved(template, {"Environment": "dev"}, stack_name="s")
    assert "Bucket" not in dev.resources()
    statements = dev.resources()["Policy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statements == [
        {
            "Effect": "Allow",
            "Resource": [
                "arn:aws:iam::123456789012:role/p/s-Role-SAMPLE",
                "arn:aws:s3:::s3-x-dev/*",
            ],
        }
    ]
    prod = Resolved(template, {"Environment": "prod", "Readers": "1,2"})
    assert "Bucket" in prod.resources()
    assert len(prod.resources()["Policy"]["Properties"]["PolicyDocument"]["Statement"]) == 2
