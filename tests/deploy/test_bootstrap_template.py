"""The bootstrap template: what must hold for the artifact bucket, the roles, ECR and
the StackSet roles (cfn-lint and checkov run on it in `make build`)."""
from __future__ import annotations

import json

import pytest

from templates.bootstrap import BootstrapTier


@pytest.fixture(scope="module")
def template():
    return json.loads(BootstrapTier().to_json())


def resources(template, rtype):
    return {k: v for k, v in template["Resources"].items() if v["Type"] == rtype}


def test_artifact_bucket_is_versioned_encrypted_private_and_expiring(template):
    bucket = template["Resources"]["ArtifactBucket"]
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    lifecycle = props["LifecycleConfiguration"]["Rules"][0]
    assert lifecycle["ExpirationInDays"] == {"Ref": "ArtifactRetentionDays"}
    assert bucket["DeletionPolicy"] == {"Fn::If": ["IsDev", "Delete", "Retain"]}


def test_bucket_policy_denies_plain_http_and_opens_templates_only_to_listed_accounts(template):
    statements = template["Resources"]["ArtifactBucketPolicy"]["Properties"][
        "PolicyDocument"]["Statement"]
    deny = statements[0]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": False}}
    readers = statements[1]["Fn::If"]
    assert readers[0] == "HasTemplateReaders" and readers[2] == {"Ref": "AWS::NoValue"}
    assert readers[1]["Principal"] == {"AWS": {"Ref": "TemplateReaderAccountIds"}}
    assert readers[1]["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert template["Parameters"]["TemplateReaderAccountIds"]["Default"] == ""


def test_no_policy_grants_every_action(template):
    text = json.dumps(template)
    assert '"Action": "*"' not in text and '"*:*"' not in text
    for name, policy in resources(template, "AWS::IAM::ManagedPolicy").items():
        document = policy["Properties"]["PolicyDocument"]
        assert len(json.dumps(document, separators=(",", ":"))) < 6144, name
        for statement in document["Statement"]:
            assert statement["Resource"] != "*" and statement["Resource"] != ["*"], name


def test_execution_role_trusts_cloudformation_of_this_account(template):
    role = template["Resources"]["ExecutionRole"]["Properties"]
    statement = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"Service": "cloudformation.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount":
                                                       {"Ref": "AWS::AccountId"}}}
    assert len(role["ManagedPolicyArns"]) == len(
        resources(template, "AWS::IAM::ManagedPolicy"))


def test_ecr_repositories_scan_on_push_with_immutable_tags(template):
    repos = resources(template, "AWS::ECR::Repository")
    assert len(repos) == 3
    for repo in repos.values():
        props = repo["Properties"]
        assert props["ImageTagMutability"] == "IMMUTABLE"
        assert props["ImageScanningConfiguration"] == {"ScanOnPush": True}
        assert props["EncryptionConfiguration"]["EncryptionType"] == "KMS"
        assert "LifecyclePolicyText" in props["LifecyclePolicy"]


def github_role(template, logical):
    role = template["Resources"][logical]
    assert role["Condition"] == "HasGitHub"
    condition = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]
    assert condition["StringEquals"] == {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}
    subjects = [s["Fn::Sub"] for s in
                condition["StringLike"]["token.actions.githubusercontent.com:sub"]]
    statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    actions = {a for s in statements for a in s["Action"]}
    passes = [s for s in statements if s["Action"] == ["iam:PassRole"]]
    assert passes[0]["Resource"] == [{"Fn::GetAtt": ["ExecutionRole", "Arn"]}]
    return subjects, actions


def test_github_plan_role_runs_on_the_branch_and_pull_requests_and_cannot_execute(template):
    subjects, actions = github_role(template, "GitHubPlanRole")
    assert subjects == ["repo:${GitHubRepository}:ref:refs/heads/${GitHubBranch}",
                        "repo:${GitHubRepository}:pull_request"]
    assert "cloudformation:CreateChangeSet" in actions
    assert not actions & {"cloudformation:ExecuteChangeSet", "cloudformation:SetStackPolicy",
                          "cloudformation:UpdateTerminationProtection"}


def test_github_deploy_role_needs_the_environment_and_may_execute(template):
    subjects, actions = github_role(template, "GitHubDeployRole")
    assert subjects == ["repo:${GitHubRepository}:environment:${Environment}"]
    assert {"cloudformation:ExecuteChangeSet", "cloudformation:SetStackPolicy"} <= actions


def test_stackset_roles_follow_the_self_managed_names_behind_toggles(template):
    admin = template["Resources"]["StackSetAdministrationRole"]
    execution = template["Resources"]["StackSetExecutionRole"]
    assert admin["Condition"] == "StackSetAdministrationEnabled"
    assert admin["Properties"]["RoleName"] == "AWSCloudFormationStackSetAdministrationRole"
    assume = admin["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]
    assert assume["Action"] == ["sts:AssumeRole"]
    assert assume["Resource"] == [{"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/"
                                              "AWSCloudFormationStackSetExecutionRole"}]
    assert execution["Condition"] == "CreateStackSetExecutionRole"
    assert execution["Properties"]["RoleName"] == "AWSCloudFormationStackSetExecutionRole"
    trust = execution["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::"
                                                     "${AdministratorAccountId}:root"}}
    for toggle in ("StackSetAdministration", "StackSetExecution"):
        assert template["Parameters"][toggle]["Default"] == "disabled"


def test_deploy_reads_these_outputs(template):
    assert {"ArtifactBucketName", "ArtifactBaseUrl", "ExecutionRoleArn"} <= set(
        template["Outputs"])
