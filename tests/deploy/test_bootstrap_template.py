"""The deploy roles' templates: bootstrap (artifact bucket, ECR, StackSet administration
role), deploy-role (execution role, workload boundary, CI roles) and stackset-role (a
target's StackSet execution role). cfn-lint, checkov and the identity proofs run on them
in `make build`; these tests pin what the proofs do not: names, trust and toggles."""

from __future__ import annotations

import json

import pytest

from streamstack.identity import derive
from streamstack.identity.check import STACKSET_TARGET_BOOTSTRAP
from streamstack.identity.evaluate import PolicySet, Request, Resolved

ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def bootstrap(rendered):
    return rendered["bootstrap"]


@pytest.fixture(scope="module")
def deploy_role(rendered):
    return rendered["deploy-role"]


@pytest.fixture(scope="module")
def stackset_role(rendered):
    return rendered["stackset-role"]


def resources(template, rtype):
    return {k: v for k, v in template["Resources"].items() if v["Type"] == rtype}


# -- bootstrap -------------------------------------------------------------------------------
def test_artifact_bucket_is_versioned_encrypted_private_and_expiring(bootstrap):
    bucket = bootstrap["Resources"]["ArtifactBucket"]
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    lifecycle = props["LifecycleConfiguration"]["Rules"][0]
    assert lifecycle["ExpirationInDays"] == {"Ref": "ArtifactRetentionDays"}
    assert bucket["DeletionPolicy"] == {"Fn::If": ["IsDev", "Delete", "Retain"]}


def bucket_policy(bootstrap, **parameters):
    resolved = Resolved(bootstrap, {"Environment": "prod", **parameters})
    document = resolved.resources()["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]
    return PolicySet.of([document]), resolved.physical("ArtifactBucket")["Arn"]


def test_the_bucket_refuses_plain_http_and_any_write_that_could_replace_a_template(bootstrap):
    policy, bucket = bucket_policy(bootstrap)
    template = f"{bucket}/templates/{'a' * 64}.json"
    planned = f"{bucket}/pull-requests/templates/{'a' * 64}.json"
    for key in (template, planned):
        assert policy.decide(Request("s3:PutObject", key)) == "Deny"
        assert (
            policy.decide(
                Request(
                    "s3:PutObject", key, {"s3:if-none-match": "*", "aws:SecureTransport": "true"}
                )
            )
            != "Deny"
        )
    assert (
        policy.decide(Request("s3:GetObject", template, {"aws:SecureTransport": "false"})) == "Deny"
    )
    # Other keys (the StackSet override state) may be rewritten.
    state = f"{bucket}/stacksets/streamstack-prod-global/overrides.json"
    assert policy.decide(Request("s3:PutObject", state, {"aws:SecureTransport": "true"})) != "Deny"


def test_template_readers_get_templates_only(bootstrap):
    policy, bucket = bucket_policy(bootstrap, TemplateReaderAccountIds="222222222222")
    readers = [s for s in policy.statements if s.get("Sid") == "TemplateReadersGetTemplates"]
    assert readers[0]["Principal"] == {"AWS": ["222222222222"]}
    assert readers[0]["Resource"] == [f"{bucket}/templates/*"]
    policy, _ = bucket_policy(bootstrap)
    assert not [s for s in policy.statements if s.get("Sid") == "TemplateReadersGetTemplates"]


def test_a_stackset_target_gets_only_ecr_and_its_key(bootstrap):
    target = Resolved(bootstrap, {"Environment": "prod", **STACKSET_TARGET_BOOTSTRAP})
    assert {r["Type"] for r in target.resources().values()} == {
        "AWS::KMS::Key",
        "AWS::ECR::Repository",
    }
    direct = Resolved(bootstrap, {"Environment": "prod"})
    assert "ArtifactBucket" in direct.resources()


def test_ecr_repositories_scan_on_push_with_immutable_tags(bootstrap):
    repos = resources(bootstrap, "AWS::ECR::Repository")
    assert len(repos) == 3
    for repo in repos.values():
        props = repo["Properties"]
        assert props["ImageTagMutability"] == "IMMUTABLE"
        assert props["ImageScanningConfiguration"] == {"ScanOnPush": True}
        assert props["EncryptionConfiguration"]["EncryptionType"] == "KMS"


def test_stackset_administration_role_follows_the_self_managed_name(bootstrap):
    admin = bootstrap["Resources"]["StackSetAdministrationRole"]
    assert admin["Condition"] == "StackSetAdministrationEnabled"
    assert admin["Properties"]["RoleName"] == "AWSCloudFormationStackSetAdministrationRole"
    assume = admin["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]
    assert assume["Action"] == ["sts:AssumeRole"]
    assert bootstrap["Parameters"]["StackSetAdministration"]["Default"] == "disabled"
    assert "StackSetExecutionRole" not in bootstrap["Resources"]


def test_the_bootstrap_fits_inline(rendered_text):
    compact = json.dumps(json.loads(rendered_text["bootstrap"]), separators=(",", ":"))
    assert len(compact.encode()) <= 51_200


# -- deploy-role -----------------------------------------------------------------------------
def test_execution_role_trusts_cloudformation_of_this_account_and_carries_every_policy(deploy_role):
    role = deploy_role["Resources"]["ExecutionRole"]["Properties"]
    statement = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"Service": "cloudformation.amazonaws.com"}
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    }
    assert role["Path"] == "/streamstack-deploy/execution/"
    policies = [
        k for k in resources(deploy_role, "AWS::IAM::ManagedPolicy") if k != "WorkloadBoundary"
    ]
    assert sorted(r["Ref"] for r in role["ManagedPolicyArns"]) == sorted(policies)
    assert len(policies) <= derive.MANAGED_POLICIES_PER_ROLE


def test_every_managed_policy_fits_iams_size_limit_and_grants_no_action_wildcard(
    deploy_role, stackset_role
):
    for template in (deploy_role, stackset_role):
        for name, policy in resources(template, "AWS::IAM::ManagedPolicy").items():
            document = policy["Properties"]["PolicyDocument"]
            assert derive.resolved_size(document) <= derive.MANAGED_POLICY_CHARS, name
            for statement in document["Statement"]:
                actions = statement.get("Action", [])
                assert "*" not in actions and not any(a.endswith(":*") for a in actions), name
                assert statement["Sid"].isalnum()
            sids = [s["Sid"] for s in document["Statement"]]
            assert len(sids) == len(set(sids)), name


def test_the_workload_boundary_is_named_for_the_environment_and_region(deploy_role):
    boundary = deploy_role["Resources"]["WorkloadBoundary"]["Properties"]
    assert boundary["Path"] == "/streamstack-deploy/"
    assert boundary["ManagedPolicyName"] == {
        "Fn::Sub": "workload-boundary-${Environment}-${AWS::Region}"
    }
    assert deploy_role["Outputs"]["WorkloadBoundaryPolicy"]["Value"] == {
        "Fn::Sub": "streamstack-deploy/workload-boundary-${Environment}-${AWS::Region}"
    }


def github_role(template, logical):
    role = template["Resources"][logical]
    assert role["Condition"] == "HasGitHub"
    condition = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]
    assert condition["StringEquals"] == {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com"
    }
    subjects = [
        s["Fn::Sub"] for s in condition["StringLike"]["token.actions.githubusercontent.com:sub"]
    ]
    resolved = Resolved(
        template,
        {
            "Environment": "prod",
            "GitHubRepository": "o/r",
            "PlatformStackName": "streamstack-prod",
            "BootstrapStackName": "streamstack-prod-bootstrap",
            "ArtifactBucketName": "artifacts",
        },
    )
    document = resolved.resources()[logical]["Properties"]["Policies"][0]["PolicyDocument"]
    return subjects, PolicySet.of([document])


STACK = f"arn:aws:cloudformation:us-west-2:{ACCOUNT}:stack/streamstack-prod/1"


def create(name, url):
    return Request(
        "cloudformation:CreateChangeSet",
        STACK,
        {"cloudformation:ChangeSetName": name, "cloudformation:TemplateUrl": url},
    )


MAIN_URL = "https://artifacts.s3.us-west-2.amazonaws.com/templates/" + "a" * 64 + ".json"
PR_URL = (
    "https://artifacts.s3.us-west-2.amazonaws.com/pull-requests/templates/" + "a" * 64 + ".json"
)


def test_the_plan_role_runs_on_the_branch_only_and_cannot_execute(deploy_role):
    subjects, policy = github_role(deploy_role, "GitHubPlanRole")
    assert subjects == ["repo:${GitHubRepository}:ref:refs/heads/${GitHubBranch}"]
    assert policy.allows(create("deploy-20261201T000000Z", MAIN_URL))
    assert not policy.allows(create("deploy-20261201T000000Z", PR_URL))
    assert not policy.allows(
        Request(
            "cloudformation:ExecuteChangeSet", STACK, {"cloudformation:ChangeSetName": "deploy-1"}
        )
    )


def test_a_pull_request_plans_from_its_own_prefix_and_nothing_it_makes_runs(deploy_role):
    subjects, policy = github_role(deploy_role, "GitHubPullRequestRole")
    assert subjects == ["repo:${GitHubRepository}:pull_request"]
    assert policy.allows(
        Request(
            "s3:PutObject", "arn:aws:s3:::artifacts/pull-requests/templates/" + "a" * 64 + ".json"
        )
    )
    # It cannot write where deploys from main read, nor plan from there.
    assert not policy.allows(
        Request("s3:PutObject", "arn:aws:s3:::artifacts/templates/" + "a" * 64 + ".json")
    )
    assert policy.allows(create("pr-20261201T000000Z", PR_URL))
    assert not policy.allows(create("deploy-20261201T000000Z", PR_URL))
    assert not policy.allows(create("pr-20261201T000000Z", MAIN_URL))
    assert not policy.allows(
        Request("cloudformation:ExecuteChangeSet", STACK, {"cloudformation:ChangeSetName": "pr-1"})
    )


def test_the_deploy_role_needs_the_environment_and_executes_deploy_change_sets_only(deploy_role):
    subjects, policy = github_role(deploy_role, "GitHubDeployRole")
    assert subjects == ["repo:${GitHubRepository}:environment:${Environment}"]
    assert policy.allows(
        Request(
            "cloudformation:ExecuteChangeSet",
            STACK,
            {"cloudformation:ChangeSetName": "deploy-20261201T000000Z"},
        )
    )
    assert not policy.allows(
        Request(
            "cloudformation:ExecuteChangeSet",
            STACK,
            {"cloudformation:ChangeSetName": "pr-20261201T000000Z"},
        )
    )


def test_ci_roles_read_the_bootstrap_and_edge_stacks_and_run_the_transform(deploy_role):
    for logical in ("GitHubPlanRole", "GitHubPullRequestRole", "GitHubDeployRole"):
        _, policy = github_role(deploy_role, logical)
        for stack in (
            f"arn:aws:cloudformation:us-west-2:{ACCOUNT}:stack/streamstack-prod-bootstrap-role/1",
            f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/streamstack-prod-edge/1",
        ):
            assert policy.allows(Request("cloudformation:DescribeStacks", stack)), logical
        assert policy.allows(
            Request(
                "cloudformation:CreateChangeSet",
                "arn:aws:cloudformation:us-west-2:aws:transform/LanguageExtensions",
            )
        ), logical
        assert policy.allows(Request("cloudformation:DescribeEvents", STACK)), logical


# -- stackset-role ---------------------------------------------------------------------------
def test_the_stackset_execution_role_trusts_only_the_administration_role(stackset_role):
    role = stackset_role["Resources"]["StackSetExecutionRole"]["Properties"]
    statement = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {
        "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AdministratorAccountId}:root"}
    }
    assert statement["Condition"] == {
        "ArnEquals": {
            "aws:PrincipalArn": {
                "Fn::Sub": (
                    "arn:${AWS::Partition}:iam::${AdministratorAccountId}:role/"
                    "${AdministrationRoleName}"
                )
            }
        }
    }
    assert role["RoleName"] == {"Fn::Sub": "${ExecutionRoleName}"}


def test_no_administrator_access_anywhere(rendered_text):
    for name in ("bootstrap", "deploy-role", "stackset-role"):
        assert "AdministratorAccess" not in rendered_text[name], name


def test_the_preview_role_can_change_nothing(stackset_role):
    resolved = Resolved(
        stackset_role,
        {
            "Environment": "prod",
            "StackSetName": "s",
            "AdministratorAccountId": "999999999999",
            "ArtifactBucketName": "central",
            "ArtifactKeyArn": "arn:aws:kms:us-west-2:999999999999:key/1",
        },
    )
    role = resolved.resources()["StackSetPreviewRole"]["Properties"]
    policy = PolicySet.of([p["PolicyDocument"] for p in role["Policies"]])
    instance = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/StackSet-s-1234/5"
    assert policy.allows(Request("cloudformation:CreateChangeSet", instance))
    for action in (
        "cloudformation:ExecuteChangeSet",
        "cloudformation:UpdateStack",
        "cloudformation:DeleteStack",
        "iam:PassRole",
        "s3:PutObject",
    ):
        assert not policy.allows(Request(action, instance)), action


def test_ci_roles_keep_plans_and_durations_of_their_environment_only(deploy_role):
    plans_key = "arn:aws:s3:::artifacts/plans/prod/"
    for logical in ("GitHubPlanRole", "GitHubDeployRole"):
        _, policy = github_role(deploy_role, logical)
        for action in ("s3:GetObject", "s3:PutObject"):
            assert policy.allows(Request(action, plans_key + "durations.json")), logical
            assert policy.allows(Request(action, plans_key + "deploy-1.timeline.md")), logical
            assert not policy.allows(
                Request(action, "arn:aws:s3:::artifacts/plans/staging/durations.json")
            ), logical
        # A missing key is a 404 (not a 403) only with ListBucket on the bucket.
        assert policy.allows(Request("s3:ListBucket", "arn:aws:s3:::artifacts")), logical
    _, pull_request = github_role(deploy_role, "GitHubPullRequestRole")
    assert pull_request.allows(Request("s3:GetObject", plans_key + "durations.json"))
    assert not pull_request.allows(Request("s3:PutObject", plans_key + "durations.json"))
    assert not pull_request.allows(Request("s3:GetObject", plans_key + "deploy-1.json"))
    assert pull_request.allows(
        Request("s3:PutObject", "arn:aws:s3:::artifacts/pull-requests/plans/prod/pr-1.md")
    )


def test_ci_roles_may_check_drift_of_the_nested_stacks(deploy_role):
    nested = f"arn:aws:cloudformation:us-west-2:{ACCOUNT}:stack/streamstack-prod-DataStack-X/1"
    for logical in ("GitHubPlanRole", "GitHubPullRequestRole", "GitHubDeployRole"):
        _, policy = github_role(deploy_role, logical)
        for action in ("DetectStackDrift", "DescribeStackResourceDrifts", "GetTemplate"):
            assert policy.allows(Request(f"cloudformation:{action}", nested)), (logical, action)
        assert policy.allows(Request("cloudformation:DescribeStackDriftDetectionStatus", "*"))


def test_the_plan_role_may_plan_a_drift_revert_of_a_nested_stack(deploy_role):
    nested = f"arn:aws:cloudformation:us-west-2:{ACCOUNT}:stack/streamstack-prod-DataStack-X/1"
    _, plan = github_role(deploy_role, "GitHubPlanRole")
    revert = Request(
        "cloudformation:CreateChangeSet",
        nested,
        {
            "cloudformation:ChangeSetName": "deploy-20261201T000000Z-revert",
            "cloudformation:TemplateUrl": MAIN_URL,
        },
    )
    assert plan.allows(revert)
    _, deploy = github_role(deploy_role, "GitHubDeployRole")
    assert deploy.allows(
        Request(
            "cloudformation:ExecuteChangeSet",
            nested,
            {"cloudformation:ChangeSetName": "deploy-20261201T000000Z-revert"},
        )
    )


# -- image delivery --------------------------------------------------------------------------
APPS = {
    "Environment": "prod",
    "GitHubRepository": "o/r",
    "GitHubApplicationRepositories": "o/video-api,o/video-web",
    "PlatformStackName": "streamstack-prod",
    "BootstrapStackName": "streamstack-prod-bootstrap",
    "ArtifactBucketName": "artifacts",
}


def test_image_push_role_pushes_to_exactly_the_environments_repositories(deploy_role):
    resolved = Resolved(deploy_role, APPS)
    role = resolved.resources()["GitHubImagePushRole"]
    assert deploy_role["Resources"]["GitHubImagePushRole"]["Condition"] == "HasApplications"
    props = role["Properties"]
    assert props["Path"] == "/streamstack-deploy/" and props["MaxSessionDuration"] == 3600
    policy = PolicySet.of([props["Policies"][0]["PolicyDocument"]])
    repo = f"arn:aws:ecr:us-west-2:{ACCOUNT}:repository/"
    for name in ("ecr-api-prod", "ecr-web-prod", "ecr-worker-prod"):
        for action in ("ecr:PutImage", "ecr:UploadLayerPart", "ecr:DescribeImageScanFindings"):
            assert policy.allows(Request(action, repo + name)), (action, name)
    # Not another environment's repository, nor anything but pushing.
    assert not policy.allows(Request("ecr:PutImage", repo + "ecr-api-dev"))
    assert not policy.allows(Request("ecr:PutImage", repo + "someone-elses"))
    assert not policy.allows(Request("ecr:DeleteRepository", repo + "ecr-api-prod"))
    assert not policy.allows(Request("ecr:SetRepositoryPolicy", repo + "ecr-api-prod"))
    assert policy.allows(Request("ecr:GetAuthorizationToken", "*"))
    for escalation in (
        Request("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/x"),
        Request("cloudformation:CreateChangeSet", STACK),
        Request("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/x"),
        Request("s3:PutObject", "arn:aws:s3:::artifacts/templates/x.json"),
    ):
        assert not policy.allows(escalation), escalation


def _app_trust(template, logical):
    statements = Resolved(template, APPS).resources()[logical]["Properties"][
        "AssumeRolePolicyDocument"
    ]["Statement"]
    return [s for s in statements if s.get("Sid") == "ImageDeliveryWorkflow"]


def test_application_repositories_run_only_the_platforms_image_delivery_workflow(deploy_role):
    workflow = "o/r/.github/workflows/image-delivery.yml@refs/heads/main"
    claims = {
        "GitHubImagePushRole": {},
        "GitHubPlanRole": {"token.actions.githubusercontent.com:ref": "refs/heads/main"},
        "GitHubDeployRole": {"token.actions.githubusercontent.com:environment": "prod"},
    }
    for logical, extra in claims.items():
        (trust,) = _app_trust(deploy_role, logical)
        assert trust["Condition"]["StringEquals"] == {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:job_workflow_ref": workflow,
            **extra,
        }, logical
        assert trust["Condition"]["StringLike"] == {
            "token.actions.githubusercontent.com:sub": ["repo:o/video-api:*", "repo:o/video-web:*"]
        }
    # Pull requests never; and without application repositories no role trusts them.
    assert not _app_trust(deploy_role, "GitHubPullRequestRole")
    bare = Resolved(deploy_role, {**APPS, "GitHubApplicationRepositories": ""})
    assert "GitHubImagePushRole" not in bare.resources()
    statements = bare.resources()["GitHubDeployRole"]["Properties"]["AssumeRolePolicyDocument"][
        "Statement"
    ]
    assert [s.get("Sid") for s in statements] == [None]


def test_the_push_role_names_the_bootstraps_repositories(bootstrap):
    names = {
        r["Properties"]["RepositoryName"]["Fn::Sub"]
        for r in resources(bootstrap, "AWS::ECR::Repository").values()
    }
    assert names == {
        "ecr-api-${Environment}",
        "ecr-web-${Environment}",
        "ecr-worker-${Environment}",
    }
