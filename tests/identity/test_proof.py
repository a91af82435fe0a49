"""The deploy identity's proofs on the real build, and on policies broken on purpose:
each must find what AWS would deny (or allow) and name it in one line."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from streamstack import build
from streamstack.errors import BuildError
from streamstack.identity import check, derive, proof
from streamstack.identity.check import STACKSET_TARGET_BOOTSTRAP
from streamstack.identity.evaluate import Resolved

HAND_WRITTEN = Path(__file__).with_name("hand_written_bootstrap.json")
ENV = "prod"


@pytest.fixture(scope="module")
def trees(rendered):
    return check.trees(rendered)


def execution_findings(trees, role_template):
    tree, _ = trees
    return proof.permissions(tree, role_template, proof.execution_mode(ENV), ENV).findings


def statements_of(template):
    for logical, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::ManagedPolicy" and logical != "WorkloadBoundary":
            yield from resource["Properties"]["PolicyDocument"]["Statement"]


# -- the real build ------------------------------------------------------------------------------
def test_the_execution_role_may_do_everything_the_tree_needs(trees, rendered):
    tree, _ = trees
    result = proof.permissions(tree, rendered["deploy-role"], proof.execution_mode(ENV), ENV)
    assert result.findings == []
    assert result.checked > 2000
    # Refused although a handler lists them: removing a boundary, Windows passwords.
    assert result.denied_by_design == {
        "iam:DeleteRolePermissionsBoundary",
        "ec2:GetPasswordData",
        "sts:AssumeRole",  # the CloudFront VpcOrigin handlers list it
    }


def test_the_stackset_execution_role_may_do_everything_a_target_needs(trees, rendered):
    _, stackset_tree = trees
    result = proof.permissions(
        stackset_tree,
        rendered["stackset-role"],
        proof.stackset_mode(ENV),
        ENV,
        {"bootstrap": STACKSET_TARGET_BOOTSTRAP},
    )
    assert result.findings == [] and result.checked > 2000


@pytest.mark.parametrize(
    "template,mode", [("deploy-role", proof.execution_mode), ("stackset-role", proof.stackset_mode)]
)
def test_every_escalation_path_is_denied(rendered, template, mode):
    findings, results = proof.escalation(rendered[template], mode(ENV))
    assert findings == []
    answers = {path.what: answer for path, answer in results}
    for what in (
        "attach AdministratorAccess to its own role",
        "change its own trust policy",
        "create a role without the boundary",
        "attach AdministratorAccess to a workload role",
        "remove a workload role's boundary",
        "delete the boundary",
        "change the boundary (a new default version)",
        "pass an unbounded role to Lambda",
        "pass an unbounded role to ECS",
        "create an IAM user",
    ):
        assert answers[what] != "Allow", what
    assert any(a == "Deny" for w, a in answers.items() if "its own policy" in w)
    assert answers["create a workload role with the boundary"] == "Allow"


def test_every_platform_role_is_bounded_and_the_boundary_covers_its_policies(trees, rendered):
    tree, _ = trees
    assert proof.boundary(tree, rendered["deploy-role"], proof.execution_mode(ENV), ENV) == []
    assert proof.boundary(tree, rendered["stackset-role"], proof.stackset_mode(ENV), ENV) == []


def test_the_build_runs_the_proofs_and_reports_the_identity(rendered_text, tmp_path):
    line = build.prove_identity(rendered_text, tmp_path)
    assert re.match(
        r"deploy identity: \d+ handler permissions proven, \d+ escalation paths "
        r"denied; deploy-role: \d+ actions in \d+ managed policies",
        line,
    )
    assert build.prove_identity(rendered_text, tmp_path).endswith("(unchanged since it was proven)")


# -- policies broken on purpose --------------------------------------------------------------------
def test_the_hand_written_verb_list_policy_fails_the_proof(trees):
    """The execution role as it was written by hand (verb wildcards per service, IAM on
    streamstack-* names): denied on the first resources of a real deploy, and a way to
    administrator."""
    old = json.loads(HAND_WRITTEN.read_text())
    findings = execution_findings(trees, old)
    text = "\n".join(findings)
    assert (
        "may not lambda:CreateFunction on arn:aws:lambda:us-west-2:123456789012:function:" in text
    )
    assert (
        "may not kms:CreateKey on * (it has no resource-level permissions, so it must be "
        'granted on "*"), which AWS::KMS::Key' in text
    )
    assert "may not scheduler:CreateSchedule" in text
    assert "may not kms:ScheduleKeyDeletion" in text
    assert len(findings) > 100
    escalations, _ = proof.escalation(old, proof.execution_mode(ENV, "bootstrap"))
    assert any("is allowed to put an inline policy on its own role" in f for f in escalations)
    assert any("is allowed to create a policy version of its own policy" in f for f in escalations)


def test_a_missing_action_is_one_line_naming_the_type_the_action_and_the_fix(trees, rendered):
    broken = copy.deepcopy(rendered["deploy-role"])
    for statement in statements_of(broken):
        statement["Action"] = [
            a for a in statement.get("Action", []) if a != "lambda:CreateFunction"
        ]
    findings = execution_findings(trees, broken)
    assert len(findings) == 1
    assert re.match(
        r"deploy-role: the execution role may not lambda:CreateFunction on "
        r"arn:aws:lambda:us-west-2:123456789012:function:\S+, which "
        r"AWS::Lambda::Function \w+ in (api|media) needs: re-derive it with "
        r"`make build`",
        findings[0],
    )


def test_an_action_without_resource_level_permissions_must_be_on_star(trees, rendered):
    broken = copy.deepcopy(rendered["deploy-role"])
    for statement in statements_of(broken):
        if statement.get("Resource") == ["*"] and "kms:CreateKey" in statement["Action"]:
            statement["Resource"] = [
                {"Fn::Sub": "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:*"}
            ]
    findings = execution_findings(trees, broken)
    assert any(
        f.startswith(
            "deploy-role: the execution role may not kms:CreateKey on * (it "
            'has no resource-level permissions, so it must be granted on "*")'
        )
        for f in findings
    )


def test_a_statement_behind_a_false_condition_grants_nothing(trees, rendered):
    """Fn::If branches count as CloudFormation resolves them."""
    broken = copy.deepcopy(rendered["deploy-role"])
    broken.setdefault("Conditions", {})["Never"] = {"Fn::Equals": ["a", "b"]}
    for logical, resource in broken["Resources"].items():
        if resource["Type"] == "AWS::IAM::ManagedPolicy" and logical != "WorkloadBoundary":
            document = resource["Properties"]["PolicyDocument"]
            document["Statement"] = [
                {"Fn::If": ["Never", s, {"Ref": "AWS::NoValue"}]}
                if "lambda:CreateFunction" in s.get("Action", [])
                else s
                for s in document["Statement"]
            ]
    assert any("lambda:CreateFunction" in f for f in execution_findings(trees, broken))


def test_an_allow_everything_statement_opens_every_escalation_path(rendered):
    broken = copy.deepcopy(rendered["deploy-role"])
    first = next(k for k in broken["Resources"] if k.startswith("DeployPermissions"))
    document = broken["Resources"][first]["Properties"]["PolicyDocument"]
    document["Statement"] = [s for s in document["Statement"] if s["Effect"] == "Allow"]
    for resource in broken["Resources"].values():
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            doc = resource["Properties"]["PolicyDocument"]
            doc["Statement"] = [s for s in doc["Statement"] if s["Effect"] == "Allow"]
    document["Statement"].append(
        {"Sid": "Everything", "Effect": "Allow", "Action": "iam:*", "Resource": "*"}
    )
    findings, _ = proof.escalation(broken, proof.execution_mode(ENV))
    for what in (
        "attach AdministratorAccess to its own role",
        "create a role without the boundary",
        "delete the boundary",
        "pass an unbounded role to Lambda",
        "create an IAM user",
    ):
        assert any(f"is allowed to {what}" in f for f in findings), what


def test_an_unbounded_workload_role_is_named(trees, rendered):
    tree, _ = trees
    broken = copy.deepcopy(tree)
    del broken["media"]["Resources"]["MediaConvertRole"]["Properties"]["PermissionsBoundary"]
    findings = proof.boundary(broken, rendered["deploy-role"], proof.execution_mode(ENV), ENV)
    assert findings == [
        "media: role MediaConvertRole has no workload boundary (arn:aws:iam::"
        "123456789012:policy/streamstack-deploy/workload-boundary-prod-us-west-2"
        "): build it with templates.parts.workload_role"
    ]
    # And the execution role could not even create it.
    assert any(
        "iam:CreateRole" in f and "MediaConvertRole" in f
        for f in execution_findings((broken, None), rendered["deploy-role"])
    )


def test_a_boundary_that_misses_what_a_role_uses_is_named(trees, rendered):
    tree, _ = trees
    broken = copy.deepcopy(rendered["deploy-role"])
    statements = broken["Resources"]["WorkloadBoundary"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    for statement in statements:
        statement["Action"] = [a for a in statement["Action"] if a != "mediaconvert:CreateJob"]
    findings = proof.boundary(tree, broken, proof.execution_mode(ENV), ENV)
    assert findings and all("mediaconvert:CreateJob" in f for f in findings)
    assert findings[0].startswith(
        "media: role TranscodeFunctionRole: the workload boundary "
        "does not allow mediaconvert:CreateJob"
    )


def test_a_gap_fails_the_build_with_the_first_finding(rendered_text, tmp_path):
    broken = dict(rendered_text)
    template = json.loads(broken["deploy-role"])
    for statement in statements_of(template):
        statement["Action"] = [a for a in statement.get("Action", []) if a != "kms:CreateKey"]
    broken["deploy-role"] = json.dumps(template)
    with pytest.raises(BuildError) as raised:
        build.prove_identity(broken, tmp_path)
    assert raised.value.lines[0].startswith(
        "deploy-role: the execution role may not kms:CreateKey on *"
    )


# -- derivation ------------------------------------------------------------------------------------
def test_a_new_resource_type_changes_the_derived_policy(trees):
    tree, _ = trees
    grown = {
        **tree,
        "extra": {
            "Resources": {
                "Stream": {
                    "Type": "AWS::Kinesis::Stream",
                    "Properties": {"ShardCount": 1},
                }
            }
        },
    }
    before = {
        a
        for s in derive.statements(derive.needs(tree), derive.execution_scope())
        for a in s.get("Action", [])
    }
    after = {
        a
        for s in derive.statements(derive.needs(grown), derive.execution_scope())
        for a in s.get("Action", [])
    }
    assert "kinesis:CreateStream" in after - before


@pytest.mark.parametrize("template", ["deploy-role", "stackset-role"])
def test_every_derived_managed_policy_fits_iam_size_limit(rendered, template):
    """Counted as IAM counts (whitespace aside), with the longest pseudo values and the
    Sid a split statement gets (PartN)."""
    for logical, resource in rendered[template]["Resources"].items():
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            size = derive.resolved_size(resource["Properties"]["PolicyDocument"])
            assert size <= derive.MANAGED_POLICY_CHARS, (logical, size)


def test_a_split_statement_counts_the_sid_it_gets():
    actions = [f"ec2:Describe{'X' * 40}{i}" for i in range(400)]
    big = {"Sid": "Big", "Effect": "Allow", "Action": actions, "Resource": "*"}
    policies = derive.pack([big])
    assert len(policies) > 1
    for statements in policies:
        document = {"Version": "2012-10-17", "Statement": statements}
        assert derive.resolved_size(document) <= derive.MANAGED_POLICY_CHARS
    assert [s["Sid"] for p in policies for s in p][:2] == ["BigPart1", "BigPart2"]


def test_resource_types_of_other_namespaces_are_not_derived(rendered):
    """backup:TagResource may name a recovery point in another service's namespace
    (arn:${Partition}:${Vendor}:...); IAM takes no wildcard there and CloudFormation
    creates no recovery point, so no such Resource is derived."""
    resources = [
        r
        for s in statements_of(rendered["deploy-role"])
        for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    ]
    assert not [r for r in resources if "${Vendor}" in json.dumps(r)]


def test_the_deploy_role_template_change_is_a_security_change_in_the_plan():
    from streamstack.deploy.plans import classify

    assert (
        classify(
            {"ResourceType": "AWS::IAM::ManagedPolicy", "Action": "Modify", "Replacement": "False"}
        )
        == "SECURITY"
    )


def test_api_names_that_are_no_iam_action_are_left_out(rendered):
    unknown = derive.unknown_actions(rendered)
    assert "s3:REST.PUT.OBJECT" in unknown and "s3:DeleteBucketCors" in unknown
    granted = {
        a.lower() for s in statements_of(rendered["deploy-role"]) for a in s.get("Action", [])
    }
    assert not {a.lower() for a in unknown} & granted
    # A stem of real actions is granted as those actions.
    assert {"kms:reencryptfrom", "kms:reencryptto"} <= granted


def test_the_stackset_target_bootstrap_needs_no_iam_role(rendered):
    target = Resolved(rendered["bootstrap"], {"Environment": ENV, **STACKSET_TARGET_BOOTSTRAP})
    assert not [r for r in target.resources().values() if r["Type"].startswith("AWS::IAM::")]
