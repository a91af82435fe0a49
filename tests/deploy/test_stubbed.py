"""API states no emulator produces, with botocore's Stubber (every request and response
is validated against the service model): nested change sets with Replacement True and
Conditional and the DATA-LOSS block, an empty FAILED change set, stuck stacks, a root
cause inside a nested stack, and a stack that moved since the plan."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json

import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY

from streamstack.deploy import commands, exits, plans
from tests.deploy.conftest import REGION, make_context, write_params

ACCOUNT = "123456789012"
STACK = "streamstack-prod"
STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/11111111-aaaa"
BOOT_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}-bootstrap/22222222-bbbb"
CS_ARN = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/deploy-1/33333333"
NESTED = {
    name: (
        f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/deploy-1-{name}/4444",
        f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}-{name}-X/5555",
    )
    for name in ("SecurityStack", "StorageStack")
}
ROLE = f"arn:aws:iam::{ACCOUNT}:role/streamstack-prod-bootstrap-ExecutionRole-1"
BUCKET = "streamstack-prod-bootstrap-artifactbucket-1"
BASE_URL = f"https://{BUCKET}.s3.{REGION}.amazonaws.com"
WEB_ACL = f"arn:aws:wafv2:us-east-1:{ACCOUNT}:global/webacl/waf-cdn-prod/abc"
EDGE_OUTPUTS = {"CdnWebAclArn": WEB_ACL, "CdnCertificateArn": ""}
NOW = dt.datetime.now(dt.UTC)
BEFORE = NOW - dt.timedelta(days=3)

PROD = f"""\
stack_name: {STACK}
region: {REGION}
account_id: "{ACCOUNT}"
tags: {{Project: video-streaming}}
parameters: {{Environment: prod, NatLayout: per-az}}
deploy: {{execute: review, protected: true, edge_parameters: {{WafRateLimit: 1000}}}}
"""


@pytest.fixture
def prod(built, tmp_path):
    write_params(tmp_path / "params", "prod", PROD)
    ctx, stubs = make_context(built, tmp_path / "params")
    yield ctx, stubs
    for stub in stubs.values():
        stub.assert_no_pending_responses()


def stack(name=STACK, stack_id=STACK_ID, status="UPDATE_COMPLETE", updated=BEFORE, **extra):
    return {
        "StackName": name,
        "StackId": stack_id,
        "CreationTime": BEFORE - dt.timedelta(1),
        "LastUpdatedTime": updated,
        "StackStatus": status,
        **extra,
    }


ARTIFACT_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000001"
BOUNDARY = "streamstack-deploy/workload-boundary-prod-us-west-2"
ROLE_STACK_ID = BOOT_ID.replace("-bootstrap/", "-bootstrap-role/")


def outputs_of(values: dict) -> list[dict]:
    return [{"OutputKey": k, "OutputValue": v} for k, v in values.items()]


def boot_stack():
    return stack(
        f"{STACK}-bootstrap",
        BOOT_ID,
        "CREATE_COMPLETE",
        Outputs=outputs_of(
            {
                "ArtifactBucketName": BUCKET,
                "ArtifactBaseUrl": BASE_URL,
                "ArtifactKeyArn": ARTIFACT_KEY,
            }
        ),
    )


def role_stack(name=STACK):
    return stack(
        f"{name}-bootstrap-role",
        ROLE_STACK_ID,
        "CREATE_COMPLETE",
        Outputs=outputs_of({"ExecutionRoleArn": ROLE, "WorkloadBoundaryPolicy": BOUNDARY}),
    )


def stored(entry: dict) -> dict:
    """HEAD of a template the bucket holds, with S3's checksum of its bytes."""
    return {
        "ChecksumSHA256": base64.b64encode(bytes.fromhex(entry["sha256"])).decode(),
        "ChecksumType": "FULL_OBJECT",
    }


def stub_templates_present(ctx, stubs, prefix=""):
    for _, entry in sorted(ctx.manifest["templates"].items()):
        stubs["s3"].add_response(
            "head_object",
            stored(entry),
            {"Bucket": BUCKET, "Key": prefix + entry["key"], "ChecksumMode": "ENABLED"},
        )


def stub_validation(stubs, ids=(CS_ARN,), events=None):
    """DescribeEvents of each change set (root first); events: id -> OperationEvents."""
    for change_set_id in ids:
        stubs["cloudformation"].add_response(
            "describe_events",
            {"OperationEvents": (events or {}).get(change_set_id, [])},
            {"ChangeSetName": change_set_id},
        )


def stub_caller(stubs, account=ACCOUNT):
    stubs["sts"].add_response(
        "get_caller_identity",
        {"Account": account, "Arn": f"arn:aws:iam::{account}:user/me", "UserId": "AID"},
    )


def stub_connect(stubs, root=None, name=STACK):
    """The account check and the bootstrap lookup (then the root stack, when given)."""
    stub_caller(stubs)
    stubs["cloudformation"].add_response(
        "describe_stacks",
        {"Stacks": [{**boot_stack(), "StackName": f"{name}-bootstrap"}]},
        {"StackName": f"{name}-bootstrap"},
    )
    stubs["cloudformation"].add_response(
        "describe_stacks", {"Stacks": [role_stack(name)]}, {"StackName": f"{name}-bootstrap-role"}
    )
    if root is not None:
        stubs["cloudformation"].add_response(
            "describe_stacks", {"Stacks": [root]}, {"StackName": name}
        )


def stub_deploy_time(ctx, stubs, edge_outputs=EDGE_OUTPUTS, prefix=""):
    """`make deploy` up to its deploy-time values: the connection, the uploads, the edge
    stack (it gives CloudFront its web ACL, as a protected environment needs;
    edge_outputs=None: there is no edge stack) and the CloudFront prefix list."""
    stub_connect(stubs, stack())
    stub_templates_present(ctx, stubs, prefix)
    edge = stubs["cloudformation-us-east-1"]
    if edge_outputs is None:
        edge.add_client_error(
            "describe_stacks",
            "ValidationError",
            f"Stack with id {STACK}-edge does not exist",
            400,
            expected_params={"StackName": f"{STACK}-edge"},
        )
    else:
        edge.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    stack(
                        f"{STACK}-edge",
                        STACK_ID.replace(STACK, f"{STACK}-edge"),
                        Outputs=[
                            {"OutputKey": k, "OutputValue": v} for k, v in edge_outputs.items()
                        ],
                    )
                ]
            },
            {"StackName": f"{STACK}-edge"},
        )
    stubs["ec2"].add_response(
        "describe_managed_prefix_lists",
        {
            "PrefixLists": [
                {
                    "PrefixListId": "pl-82a045eb",
                    "PrefixListName": "com.amazonaws.global.cloudfront.origin-facing",
                }
            ]
        },
        {
            "Filters": [
                {
                    "Name": "prefix-list-name",
                    "Values": ["com.amazonaws.global.cloudfront.origin-facing"],
                }
            ]
        },
    )


def stub_until_change_set(
    ctx,
    stubs,
    status="CREATE_COMPLETE",
    reason=None,
    refused=None,
    alarm_arn=None,
    edge_outputs=EDGE_OUTPUTS,
    prefix="",
):
    """Everything `make deploy` asks before the change set is walked (or, with refused,
    an error code CreateChangeSet answers with); prefix: a pull request's."""
    stub_deploy_time(ctx, stubs, edge_outputs, prefix)
    composite = [{"AlarmArn": alarm_arn, "AlarmName": "alarm-platform-health-prod"}]
    stubs["cloudwatch"].add_response(
        "describe_alarms",
        {"CompositeAlarms": composite if alarm_arn else [], "MetricAlarms": []},
        {
            "AlarmNames": ["alarm-platform-health-prod"],
            "AlarmTypes": ["CompositeAlarm", "MetricAlarm"],
        },
    )
    expected = {
        "StackName": STACK,
        "ChangeSetName": ANY,
        "ChangeSetType": "UPDATE",
        "TemplateURL": f"{BASE_URL}/{prefix}{ctx.manifest['templates']['root']['key']}",
        "Parameters": ANY,
        "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        "Tags": [{"Key": "Project", "Value": "video-streaming"}],
        "Description": ANY,
        "IncludeNestedStacks": True,
        "RoleARN": ROLE,
    }
    if alarm_arn:
        expected["RollbackConfiguration"] = {
            "RollbackTriggers": [{"Arn": alarm_arn, "Type": "AWS::CloudWatch::CompositeAlarm"}],
            "MonitoringTimeInMinutes": 10,
        }
    if refused:
        stubs["cloudformation"].add_client_error(
            "create_change_set", refused, "Rate exceeded", 400, expected_params=expected
        )
        return
    stubs["cloudformation"].add_response(
        "create_change_set", {"Id": CS_ARN, "StackId": STACK_ID}, expected
    )
    described = {
        "ChangeSetName": "deploy-1",
        "ChangeSetId": CS_ARN,
        "StackId": STACK_ID,
        "StackName": STACK,
        "Status": status,
        "ExecutionStatus": "AVAILABLE",
    }
    if reason:
        described.update(StatusReason=reason, ExecutionStatus="UNAVAILABLE")
    stubs["cloudformation"].add_response(
        "describe_change_set", described, {"ChangeSetName": CS_ARN}
    )


def detail(name, recreation, evaluation, source, entity=None, before=None, after=None):
    target = {"Attribute": "Properties", "Name": name, "RequiresRecreation": recreation}
    if before is not None:
        target.update(BeforeValue=before, AfterValue=after)
    found = {"Target": target, "Evaluation": evaluation, "ChangeSource": source}
    if entity:
        found["CausingEntity"] = entity
    return found


def change(logical, rtype, action="Modify", replacement="False", details=(), nested=None):
    resource = {
        "Action": action,
        "LogicalResourceId": logical,
        "ResourceType": rtype,
        "Details": list(details),
    }
    if action == "Modify":
        resource["Replacement"] = replacement
    if nested:
        resource["ChangeSetId"] = nested
    return {"Type": "Resource", "ResourceChange": resource}


def stub_nested_plan(stubs):
    """Root: SecurityStack (its template changed) and StorageStack; NetworkStack unchanged."""
    cfn = stubs["cloudformation"]
    cfn.add_response(
        "describe_change_set",
        {
            "Changes": [
                change(
                    "SecurityStack",
                    "AWS::CloudFormation::Stack",
                    details=[detail("TemplateURL", "Never", "Static", "DirectModification")],
                    nested=NESTED["SecurityStack"][0],
                ),
                change(
                    "StorageStack",
                    "AWS::CloudFormation::Stack",
                    details=[
                        detail(
                            "Parameters",
                            "Never",
                            "Dynamic",
                            "ResourceAttribute",
                            "SecurityStack.Outputs.EfsSecurityGroupId",
                        )
                    ],
                    nested=NESTED["StorageStack"][0],
                ),
            ]
        },
        {"ChangeSetName": CS_ARN, "IncludePropertyValues": True},
    )
    cfn.add_response(
        "describe_change_set",
        {
            "Changes": [
                change(
                    "EfsIngressFromApp",
                    "AWS::EC2::SecurityGroupIngress",
                    details=[detail("Description", "Never", "Static", "DirectModification")],
                ),
            ]
        },
        {"ChangeSetName": NESTED["SecurityStack"][0], "IncludePropertyValues": True},
    )
    cfn.add_response(
        "describe_change_set",
        {
            "Changes": [
                change(
                    "MediaBucket",
                    "AWS::S3::Bucket",
                    replacement="True",
                    details=[
                        detail(
                            "BucketName",
                            "Always",
                            "Static",
                            "DirectModification",
                            before="s3-media-prod-old",
                            after="s3-media-prod-new",
                        )
                    ],
                ),
                change(
                    "FileSystem",
                    "AWS::EFS::FileSystem",
                    replacement="Conditional",
                    details=[
                        detail(
                            "KmsKeyId",
                            "Conditionally",
                            "Dynamic",
                            "ParameterReference",
                            "StorageKeyArn",
                        )
                    ],
                ),
                change(
                    "MountTarget1",
                    "AWS::EFS::MountTarget",
                    replacement="Conditional",
                    details=[
                        detail(
                            "SecurityGroups",
                            "Conditionally",
                            "Dynamic",
                            "ParameterReference",
                            "EfsSecurityGroupId",
                        )
                    ],
                ),
                change(
                    "MountTarget2",
                    "AWS::EFS::MountTarget",
                    replacement="Conditional",
                    details=[
                        detail(
                            "SubnetId",
                            "Conditionally",
                            "Dynamic",
                            "ParameterReference",
                            "AppSubnet2Id",
                        )
                    ],
                ),
            ]
        },
        {"ChangeSetName": NESTED["StorageStack"][0], "IncludePropertyValues": True},
    )


def stub_fingerprint(stubs, updated=BEFORE):
    stubs["cloudformation"].add_response(
        "describe_stacks", {"Stacks": [stack(updated=updated)]}, {"StackName": STACK_ID}
    )
    stubs["cloudformation"].add_response(
        "get_template",
        {
            "TemplateBody": json.dumps(
                {
                    "Resources": {
                        "A": {"Properties": {"TemplateURL": "x/templates/" + "a" * 64 + ".json"}}
                    }
                }
            )
        },
        {"StackName": STACK_ID, "TemplateStage": "Original"},
    )


class StartsWith(str):
    """A stubbed request parameter that only has to start with this text."""

    def __eq__(self, other):
        return isinstance(other, str) and other.startswith(str(self))

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = str.__hash__


def stub_durations(stubs, measured=None, env="prod"):
    """The plan reads the durations this environment measured (none yet by default)."""
    key = {"Bucket": BUCKET, "Key": f"plans/{env}/durations.json"}
    if measured is None:
        stubs["s3"].add_client_error(
            "get_object",
            "NoSuchKey",
            "The specified key does not exist.",
            404,
            expected_params=key,
        )
    else:
        stubs["s3"].add_response(
            "get_object", {"Body": StreamingBody(io.BytesIO(measured), len(measured))}, key
        )


def stub_kept(stubs, prefix, *names):
    """Files put under the environment's prefix of the artifact bucket, in order."""
    for name in names:
        stubs["s3"].add_response(
            "put_object",
            {},
            {
                "Bucket": BUCKET,
                "Key": StartsWith(prefix) if name is None else prefix + name,
                "Body": ANY,
                "ContentType": ANY,
            },
        )


def stub_plan_end(stubs, kept="plans/prod/", measured=None):
    """After the rows: the measured durations, the fingerprint, the plan kept in the
    artifact bucket (JSON and Markdown), old change sets pruned."""
    stub_durations(stubs, measured)
    stub_fingerprint(stubs)
    stub_kept(stubs, kept, None, None)
    stubs["cloudformation"].add_response(
        "list_change_sets", {"Summaries": []}, {"StackName": STACK}
    )


def test_data_loss_blocks_the_plan_and_keeps_the_change_set(prod):
    ctx, stubs = prod
    stub_until_change_set(
        ctx, stubs, edge_outputs={"CdnWebAclArn": WEB_ACL, "CdnCertificateArn": ""}
    )
    stub_nested_plan(stubs)
    stub_validation(stubs, (CS_ARN, NESTED["SecurityStack"][0], NESTED["StorageStack"][0]))
    stub_plan_end(stubs)
    with pytest.raises(exits.Blocked) as raised:
        commands.plan(ctx)
    assert raised.value.exit_code == 3
    assert "removes or replaces stateful resources (2 DATA-LOSS above)" in str(raised.value)
    saved = plans.read(ctx.plans, "prod", plans.STACK)
    rows = {r["logical_id"]: r for r in saved.details["rows"]}
    assert saved.blocked is True and saved.details["change_set_arn"] == CS_ARN
    assert rows["MediaBucket"]["risk"] == "DATA-LOSS"
    assert rows["MediaBucket"]["replacement"] == "True"
    assert rows["MediaBucket"]["values"] == [
        {
            "property": "BucketName",
            "path": "/Properties/BucketName",
            "before": "s3-media-prod-old",
            "after": "s3-media-prod-new",
        }
    ]
    assert rows["EfsIngressFromApp"]["risk"] == "SECURITY"
    # StorageKeyArn comes from SecurityStack, whose template changed: not a false alarm.
    assert rows["FileSystem"]["risk"] == "DATA-LOSS" and not rows["FileSystem"]["likely_false"]
    assert rows["MountTarget1"]["risk"] == "INTERRUPTION"
    # AppSubnet2Id comes from NetworkStack, which this plan does not touch.
    assert rows["MountTarget2"]["likely_false"] is True
    assert "NetworkStack" in rows["MountTarget2"]["note"]
    assert saved.details["parameters"]["CloudFrontPrefixListId"] == "pl-82a045eb"
    assert saved.details["parameters"]["CdnWebAclArn"] == WEB_ACL  # from the edge stack
    assert saved.details["parameters"]["CdnCertificateArn"] == ""
    assert saved.details["parameters"]["ArtifactBaseUrl"] == BASE_URL
    text = ctx.out.text
    assert "root/StorageStack:" in text and "replace=Conditional" in text
    assert "DATA-LOSS 2" in text
    assert (ctx.plans / "prod.md").read_text().count("| root/StorageStack |") == 4


def validation_event(logical, mode, name, reason, path=""):
    return {
        "EventId": f"{logical}-{name}",
        "EventType": "VALIDATION_ERROR",
        "LogicalResourceId": logical,
        "ResourceType": "AWS::S3::Bucket",
        "ValidationStatus": "FAILED",
        "ValidationFailureMode": mode,
        "ValidationName": name,
        "ValidationStatusReason": reason,
        "ValidationPath": path,
    }


def test_pre_deployment_validation_fail_is_an_invalid_row_with_its_own_exit_code(prod):
    ctx, stubs = prod
    stub_until_change_set(ctx, stubs)
    stub_nested_plan(stubs)
    storage = NESTED["StorageStack"][0]
    stub_validation(
        stubs,
        (CS_ARN, NESTED["SecurityStack"][0], storage),
        {
            storage: [
                validation_event(
                    "MediaBucket",
                    "WARN",
                    "BucketNotEmpty",
                    "The bucket holds 1204 objects; the replacement keeps them",
                ),
                validation_event(
                    "LogsBucket",
                    "FAIL",
                    "NameConflict",
                    "s3-app-logs-prod-123456789012-us-west-2 already exists",
                    "/Properties/BucketName",
                ),
            ]
        },
    )
    stub_plan_end(stubs)
    with pytest.raises(exits.Invalid) as raised:
        commands.plan(ctx)
    assert raised.value.exit_code == 7 and "1 INVALID row(s)" in str(raised.value)
    saved = plans.read(ctx.plans, "prod", plans.STACK).to_json()
    rows = {r["logical_id"]: r for r in saved["rows"]}
    assert saved["invalid"] is True and saved["risk"]["INVALID"] == 1
    assert rows["LogsBucket"]["risk"] == "INVALID"
    assert rows["LogsBucket"]["stack"] == "root/StorageStack"
    assert rows["LogsBucket"]["note"] == (
        "fails validation: NameConflict at "
        "/Properties/BucketName: s3-app-logs-prod-"
        "123456789012-us-west-2 already exists"
    )
    assert rows["MediaBucket"]["risk"] == "DATA-LOSS"
    assert (
        "validation warning: BucketNotEmpty: The bucket holds 1204 objects"
        in rows["MediaBucket"]["note"]
    )
    assert "INVALID" in (ctx.plans / "prod.md").read_text()
    # Executing it is refused too.
    with pytest.raises(exits.Invalid):
        commands.execute(ctx)


def test_unreadable_validation_is_a_note_with_the_fix(prod):
    ctx, stubs = prod
    stub_until_change_set(ctx, stubs)
    stub_nested_plan(stubs)
    stubs["cloudformation"].add_client_error(
        "describe_events",
        "AccessDenied",
        "User is not authorized to perform: cloudformation:DescribeEvents",
        403,
        expected_params={"ChangeSetName": CS_ARN},
    )
    stub_plan_end(stubs)
    with pytest.raises(exits.Blocked):  # the DATA-LOSS rows still block
        commands.plan(ctx)
    saved = plans.read(ctx.plans, "prod", plans.STACK).to_json()
    assert saved["notes"][0].startswith(
        "CloudFormation's pre-deployment validation could "
        "not be read (cloudformation:DescribeEvents is denied"
    )
    assert "`make bootstrap ENV=prod`" in saved["notes"][0]
    assert "note: CloudFormation's pre-deployment validation could not be read" in ctx.out.text


def test_a_pull_request_plans_from_its_prefix_and_its_plan_cannot_be_executed(prod):
    ctx, stubs = prod
    ctx.args.pull_request = True
    stub_until_change_set(ctx, stubs, prefix="pull-requests/")
    stubs["cloudformation"].add_response(
        "describe_change_set",
        {
            "Changes": [
                change(
                    "EfsIngressFromApp",
                    "AWS::EC2::SecurityGroupIngress",
                    details=[detail("Description", "Never", "Static", "DirectModification")],
                )
            ]
        },
        {"ChangeSetName": CS_ARN, "IncludePropertyValues": True},
    )
    stub_validation(stubs)
    stub_plan_end(stubs, kept="pull-requests/plans/prod/")
    assert commands.plan(ctx) == 0
    saved = plans.read(ctx.plans, "prod", plans.STACK).to_json()
    assert saved["pull_request"] is True and saved["change_set_name"].startswith("pr-")
    assert saved["parameters"]["ArtifactBaseUrl"] == f"{BASE_URL}/pull-requests"
    assert "nothing can be executed from it" in ctx.out.text
    with pytest.raises(exits.Refused, match="made for a pull request"):
        commands.execute(ctx)


def test_blocked_plan_is_not_executed(prod, tmp_path):
    ctx, stubs = prod
    write_plan(ctx, plan_document(blocked=True))
    with pytest.raises(exits.Blocked):
        commands.execute(ctx)


def test_empty_change_set_is_success_and_deleted(prod):
    ctx, stubs = prod
    stub_until_change_set(
        ctx,
        stubs,
        status="FAILED",
        reason=(
            "The submitted information didn't contain changes. Submit different information to "
            "create a change set."
        ),
    )
    stubs["cloudformation"].add_response("delete_change_set", {}, {"ChangeSetName": CS_ARN})
    write_plan(ctx, plan_document())  # a stale plan from before
    assert commands.plan(ctx) == 0
    assert "no changes" in ctx.out.text
    assert not (ctx.plans / "prod.json").exists()


@pytest.mark.parametrize(
    "edge_outputs", [None, {"CdnCertificateArn": ""}], ids=["no edge stack", "no web ACL"]
)
def test_a_protected_plan_refuses_cloudfront_without_its_web_acl(prod, edge_outputs):
    ctx, stubs = prod
    stub_deploy_time(ctx, stubs, edge_outputs)
    with pytest.raises(exits.Refused) as refused:
        commands.plan(ctx)
    message = str(refused.value)
    assert refused.value.exit_code == exits.REFUSED
    assert message.startswith("prod is protected and CloudFront would serve it without a WAF")
    assert "run `make edge ENV=prod`" in message and "\n" not in message
    assert not (ctx.plans / "prod.json").exists()  # and no change set was asked for


def test_the_health_alarm_becomes_a_rollback_trigger_once_it_exists(prod):
    ctx, stubs = prod
    alarm = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:alarm-platform-health-prod"
    stub_until_change_set(
        ctx, stubs, status="FAILED", alarm_arn=alarm, reason="No updates are to be performed."
    )
    stubs["cloudformation"].add_response("delete_change_set", {}, {"ChangeSetName": CS_ARN})
    assert commands.plan(ctx) == 0


def test_other_failed_change_set_is_an_error(prod):
    ctx, stubs = prod
    stub_until_change_set(
        ctx, stubs, status="FAILED", reason="Template error: unresolved resource dependencies [X]"
    )
    with pytest.raises(commands.StreamstackError, match="unresolved resource dependencies"):
        commands.plan(ctx)


def test_a_failed_change_set_without_a_reason_says_where_to_look(prod):
    ctx, stubs = prod
    stub_until_change_set(ctx, stubs, status="FAILED")
    with pytest.raises(commands.StreamstackError) as err:
        commands.plan(ctx)
    assert str(err.value) == (
        "the change set deploy-1 failed: no reason given; see the stack's events in the "
        f"console: {commands.aws.console_url(REGION, STACK_ID)}"
    )


def test_throttling_that_outlasts_the_retries_is_one_clear_error(prod):
    """Adaptive retries absorb throttling (test_aws); when they run out, the user sees
    which call was refused and why, and nothing was created."""
    ctx, stubs = prod
    stub_until_change_set(ctx, stubs, refused="Throttling")
    with pytest.raises(
        commands.StreamstackError,
        match="refused the change set for streamstack-prod: Rate exceeded",
    ):
        commands.plan(ctx)
    assert not (ctx.plans / "prod.json").exists()


def write_plan(ctx, document: dict) -> None:
    """A plan file as `make deploy` writes it."""
    plans.write(ctx.plans, plans.PlanFile.from_json(document, env="prod", kind=plans.STACK), "")


def plan_document(blocked=False, updated=BEFORE, kind="UPDATE") -> dict:
    return {
        "version": plans.PLAN_VERSION,
        "kind": plans.STACK,
        "environment": "prod",
        "stack_name": STACK,
        "region": REGION,
        "change_set_arn": CS_ARN,
        "change_set_name": "deploy-1",
        "change_set_type": kind,
        "stack_id": STACK_ID,
        "stack_last_updated": updated.isoformat(),
        "deployed_templates": ["a" * 64],
        "template_hashes": {},
        "parameters": {},
        "risk": {},
        "commit": "c" * 40,
        "build_hash": "b" * 64,
        "console_url": "https://console",
        "blocked": blocked,
        "allow_data_loss": False,
        "rows": [
            {
                "stack": "root/StorageStack",
                "action": "Modify",
                "logical_id": "Media",
                "resource_type": "AWS::S3::Bucket",
                "replacement": "False",
                "properties": ["Tags"],
                "risk": "NORMAL",
                "likely_false": False,
                "note": "",
                "values": [],
            }
        ],
    }


def fingerprinted(document: dict) -> dict:
    """The plan as `make deploy` would have written it for the stubbed stack."""
    body = json.dumps(
        {"Resources": {"A": {"Properties": {"TemplateURL": "x/templates/" + "a" * 64 + ".json"}}}}
    )
    document["deployed_templates"] = ["a" * 64, "root:" + hashlib.sha256(body.encode()).hexdigest()]
    return document


def stub_execute_preamble(stubs, updated=BEFORE):
    stub_connect(stubs)
    stubs["cloudformation"].add_response(
        "describe_change_set",
        {"ChangeSetId": CS_ARN, "Status": "CREATE_COMPLETE", "ExecutionStatus": "AVAILABLE"},
        {"ChangeSetName": CS_ARN},
    )
    stub_fingerprint(stubs, updated)


def test_execute_refuses_a_stack_that_moved_since_the_plan(prod):
    ctx, stubs = prod
    write_plan(ctx, fingerprinted(plan_document()))
    stub_execute_preamble(stubs, updated=NOW)  # someone deployed after the plan
    with pytest.raises(exits.Refused, match="moved since the plan") as raised:
        commands.execute(ctx)
    assert raised.value.exit_code == 4


def test_execute_refuses_other_deployed_templates(prod):
    ctx, stubs = prod
    document = fingerprinted(plan_document())
    document["deployed_templates"][0] = "f" * 64
    write_plan(ctx, document)
    stub_execute_preamble(stubs)
    with pytest.raises(exits.Refused, match="deployed template hashes"):
        commands.execute(ctx)


def event(stack_name, stack_id, logical, rtype, status, at, reason=None, physical=None):
    found = {
        "StackId": stack_id,
        "EventId": f"{logical}-{status}-{at.timestamp()}",
        "StackName": stack_name,
        "LogicalResourceId": logical,
        "ResourceType": rtype,
        "ResourceStatus": status,
        "Timestamp": at,
    }
    if reason:
        found["ResourceStatusReason"] = reason
    if physical:
        found["PhysicalResourceId"] = physical
    return found


def test_execute_protects_then_names_the_root_cause_inside_a_nested_stack(prod):
    ctx, stubs = prod
    cfn = stubs["cloudformation"]
    write_plan(ctx, fingerprinted(plan_document()))
    stub_execute_preamble(stubs)
    nested_id = NESTED["StorageStack"][1]
    nested_name = nested_id.split("/")[1]
    resources = {
        STACK_ID: [
            {
                "LogicalResourceId": "StorageStack",
                "PhysicalResourceId": nested_id,
                "ResourceType": "AWS::CloudFormation::Stack",
                "LastUpdatedTimestamp": BEFORE,
                "ResourceStatus": "UPDATE_COMPLETE",
            }
        ],
        nested_id: [],
    }

    def stub_tree():
        for stack_id, summaries in resources.items():
            cfn.add_response(
                "list_stack_resources",
                {"StackResourceSummaries": summaries},
                {"StackName": stack_id},
            )

    stub_tree()  # stack policies go on each, then events are followed
    for stack_id in resources:
        cfn.add_response("set_stack_policy", {}, {"StackName": stack_id, "StackPolicyBody": ANY})
    cfn.add_response(
        "update_termination_protection",
        {"StackId": STACK_ID},
        {"EnableTerminationProtection": True, "StackName": STACK_ID},
    )
    old = NOW - dt.timedelta(minutes=1)
    cfn.add_response(
        "describe_stack_events",
        {
            "StackEvents": [
                event(STACK, STACK_ID, STACK, "AWS::CloudFormation::Stack", "UPDATE_COMPLETE", old)
            ]
        },
        {"StackName": STACK_ID},
    )
    cfn.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": nested_id})
    cfn.add_response(
        "execute_change_set", {}, {"ChangeSetName": CS_ARN, "RetainExceptOnCreate": True}
    )

    t = [NOW + dt.timedelta(seconds=s) for s in range(10)]
    cfn.add_response(
        "describe_stacks", {"Stacks": [stack(status="UPDATE_IN_PROGRESS")]}, {"StackName": STACK_ID}
    )
    cfn.add_response(
        "describe_stack_events",
        {
            "StackEvents": [
                event(
                    STACK,
                    STACK_ID,
                    "StorageStack",
                    "AWS::CloudFormation::Stack",
                    "UPDATE_FAILED",
                    t[5],
                    f"Embedded stack {nested_id} was not successfully updated",
                    nested_id,
                ),
                event(
                    STACK, STACK_ID, STACK, "AWS::CloudFormation::Stack", "UPDATE_IN_PROGRESS", t[0]
                ),
            ]
        },
        {"StackName": STACK_ID},
    )
    cfn.add_response(
        "describe_stack_events",
        {
            "StackEvents": [
                event(
                    nested_name,
                    nested_id,
                    "AppAccessPoint",
                    "AWS::EFS::AccessPoint",
                    "UPDATE_FAILED",
                    t[3],
                    "Resource update cancelled",
                ),
                event(
                    nested_name,
                    nested_id,
                    "MediaBucket",
                    "AWS::S3::Bucket",
                    "UPDATE_FAILED",
                    t[2],
                    "s3-media-prod already exists",
                ),
            ]
        },
        {"StackName": nested_id},
    )
    cfn.add_response(
        "describe_stacks",
        {"Stacks": [stack(status="UPDATE_ROLLBACK_COMPLETE")]},
        {"StackName": STACK_ID},
    )
    cfn.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STACK_ID})
    cfn.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": nested_id})
    cfn.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STACK_ID})
    cfn.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": nested_id})

    with pytest.raises(exits.OperationFailed) as raised:
        commands.execute(ctx)
    assert raised.value.exit_code == 5
    assert (
        f"first root cause: {nested_name}/MediaBucket (AWS::S3::Bucket) UPDATE_FAILED: "
        "s3-media-prod already exists"
    ) in str(raised.value)
    assert "denies Replace/Delete" in ctx.out.text
    lines = [line for line in ctx.out.lines if "UPDATE_" in line]
    assert [line.split()[2] for line in lines[:3]] == [
        "UPDATE_IN_PROGRESS",
        "UPDATE_FAILED",
        "UPDATE_FAILED",
    ]


# -- stuck stacks ------------------------------------------------------------------------
def test_rollback_complete_is_never_deleted_in_a_protected_environment(prod):
    ctx, stubs = prod
    stub_until_stuck(stubs, "ROLLBACK_COMPLETE")
    ctx.args.yes = True
    with pytest.raises(exits.Refused, match="protected"):
        commands.plan(ctx)


def stub_until_stuck(stubs, status):
    stub_connect(stubs, stack(status=status))


@pytest.fixture
def dev(built, tmp_path):
    write_params(
        tmp_path / "params",
        "dev",
        PROD.replace("prod", "dev")
        .replace("protected: true", "protected: false, allow_destroy: true")
        .replace('account_id: "123456789012"\n', ""),
    )
    ctx, stubs = make_context(built, tmp_path / "params", env="dev")
    yield ctx, stubs
    for stub in stubs.values():
        stub.assert_no_pending_responses()


DEV = "streamstack-dev"
DEV_ID = STACK_ID.replace(STACK, DEV)


def stub_dev_connect(stubs, status):
    stub_connect(stubs, stack(DEV, DEV_ID, status), DEV)


def plan_goes_on_to_upload(ctx, stubs):
    """After the stuck stack is settled the plan goes on: it stops at the first upload."""
    stubs["s3"].add_client_error("head_object", "AccessDenied", "Access Denied", 403)
    with pytest.raises(commands.ClientError, match="AccessDenied"):
        commands.plan(ctx)


@pytest.mark.parametrize(
    "status,message",
    [
        ("ROLLBACK_COMPLETE", "must be deleted before a new plan: rerun with --yes"),
        ("UPDATE_IN_PROGRESS", "UPDATE_IN_PROGRESS: another operation is running"),
        ("ROLLBACK_FAILED", "deploy.py cannot repair this state"),
    ],
)
def test_stuck_stack_refuses_with_the_next_step(dev, status, message):
    ctx, stubs = dev
    stub_dev_connect(stubs, status)
    with pytest.raises(exits.Refused, match=message):
        commands.plan(ctx)


def test_rollback_complete_is_deleted_with_yes_then_planned_as_create(dev):
    ctx, stubs = dev
    ctx.args.yes = True
    stub_dev_connect(stubs, "ROLLBACK_COMPLETE")
    cfn = stubs["cloudformation"]
    cfn.add_response("delete_stack", {}, {"StackName": DEV_ID, "RoleARN": ROLE})
    cfn.add_response(
        "describe_stacks",
        {"Stacks": [stack(DEV, DEV_ID, "DELETE_IN_PROGRESS")]},
        {"StackName": DEV_ID},
    )
    cfn.add_response(
        "describe_stacks",
        {"Stacks": [stack(DEV, DEV_ID, "DELETE_COMPLETE")]},
        {"StackName": DEV_ID},
    )
    plan_goes_on_to_upload(ctx, stubs)
    assert f"deleted {DEV}" in ctx.out.text


def test_update_rollback_failed_lists_what_would_be_skipped(dev):
    ctx, stubs = dev
    stub_dev_connect(stubs, "UPDATE_ROLLBACK_FAILED")
    cfn = stubs["cloudformation"]
    nested_id = NESTED["StorageStack"][1].replace(STACK, DEV)
    for attempt in range(2):
        cfn.add_response(
            "list_stack_resources",
            {
                "StackResourceSummaries": [
                    {
                        "LogicalResourceId": "StorageStack",
                        "PhysicalResourceId": nested_id,
                        "ResourceType": "AWS::CloudFormation::Stack",
                        "LastUpdatedTimestamp": BEFORE,
                        "ResourceStatus": "UPDATE_FAILED",
                    }
                ]
            },
            {"StackName": DEV_ID},
        )
        cfn.add_response(
            "list_stack_resources",
            {
                "StackResourceSummaries": [
                    {
                        "LogicalResourceId": "FileSystem",
                        "PhysicalResourceId": "fs-1",
                        "ResourceType": "AWS::EFS::FileSystem",
                        "LastUpdatedTimestamp": BEFORE,
                        "ResourceStatus": "UPDATE_FAILED",
                    }
                ]
            },
            {"StackName": nested_id},
        )
        if attempt == 0:
            with pytest.raises(exits.Refused, match="StorageStack.FileSystem"):
                commands.plan(ctx)
            stub_dev_connect(stubs, "UPDATE_ROLLBACK_FAILED")
    ctx.args.yes = True
    cfn.add_response(
        "continue_update_rollback",
        {},
        {"StackName": DEV_ID, "RoleARN": ROLE, "ResourcesToSkip": ["StorageStack.FileSystem"]},
    )
    cfn.add_response(
        "describe_stacks",
        {"Stacks": [stack(DEV, DEV_ID, "UPDATE_ROLLBACK_COMPLETE")]},
        {"StackName": DEV_ID},
    )
    plan_goes_on_to_upload(ctx, stubs)
    assert "UPDATE_ROLLBACK_COMPLETE" in ctx.out.text


def test_wait_waits_for_a_running_operation(dev):
    ctx, stubs = dev
    ctx.args.wait = True
    stub_dev_connect(stubs, "UPDATE_IN_PROGRESS")
    cfn = stubs["cloudformation"]
    for status in ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_COMPLETE"):
        cfn.add_response(
            "describe_stacks", {"Stacks": [stack(DEV, DEV_ID, status)]}, {"StackName": DEV_ID}
        )
    plan_goes_on_to_upload(ctx, stubs)
    assert "waiting for it to finish" in ctx.out.text


def test_review_in_progress_without_change_sets_is_deleted(dev):
    ctx, stubs = dev
    stub_dev_connect(stubs, "REVIEW_IN_PROGRESS")
    cfn = stubs["cloudformation"]
    cfn.add_response("list_change_sets", {"Summaries": []}, {"StackName": DEV_ID})
    cfn.add_response("delete_stack", {}, {"StackName": DEV_ID})
    cfn.add_response(
        "describe_stacks",
        {"Stacks": [stack(DEV, DEV_ID, "DELETE_COMPLETE")]},
        {"StackName": DEV_ID},
    )
    plan_goes_on_to_upload(ctx, stubs)
    assert "REVIEW_IN_PROGRESS with no change set" in ctx.out.text


def test_wrong_account_is_refused_before_anything_else(prod):
    ctx, stubs = prod
    stub_caller(stubs, "999999999999")
    with pytest.raises(commands.StreamstackError, match="account 999999999999.*123456789012"):
        commands.plan(ctx)


def test_missing_bootstrap_says_run_make_bootstrap(prod):
    ctx, stubs = prod
    stub_caller(stubs)
    stubs["cloudformation"].add_client_error(
        "describe_stacks", "ValidationError", f"Stack with id {STACK}-bootstrap does not exist", 400
    )
    with pytest.raises(commands.StreamstackError, match="run `make bootstrap ENV=prod`"):
        commands.plan(ctx)


def test_ctrl_c_while_following_leaves_the_operation_running(prod):
    ctx, stubs = prod
    cfn = stubs["cloudformation"]
    cfn.add_response(
        "describe_stacks", {"Stacks": [stack(status="UPDATE_IN_PROGRESS")]}, {"StackName": STACK_ID}
    )
    cfn.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STACK_ID})

    def interrupt(seconds):
        raise KeyboardInterrupt

    ctx.sleep = interrupt
    view = commands.events.TreeEvents(ctx.client("cloudformation"), STACK_ID, NOW)
    with pytest.raises(exits.Interrupted) as raised:
        commands.follow(ctx, ctx.client("cloudformation"), view, total=3)
    assert raised.value.exit_code == 130
    assert "keeps running" in str(raised.value) and "make status ENV=prod" in str(raised.value)


# -- bootstrap, status, doctor ---------------------------------------------------------------
def stub_bootstrap_change_set(ctx, stubs, changes):
    boot_name = f"{STACK}-bootstrap"
    cfn = stubs["cloudformation"]
    stub_caller(stubs)
    cfn.add_response("describe_stacks", {"Stacks": [boot_stack()]}, {"StackName": boot_name})
    cfn.add_response(
        "create_change_set",
        {"Id": CS_ARN, "StackId": BOOT_ID},
        {
            "StackName": boot_name,
            "ChangeSetName": ANY,
            "ChangeSetType": "UPDATE",
            "TemplateBody": ANY,
            "Parameters": [
                {"ParameterKey": "DirectDeploys", "ParameterValue": "enabled"},
                {"ParameterKey": "Environment", "ParameterValue": "prod"},
            ],
            "Capabilities": ANY,
            "Tags": ANY,
            "Description": ANY,
            "IncludeNestedStacks": False,
        },
    )
    cfn.add_response(
        "describe_change_set", {"Status": "CREATE_COMPLETE"}, {"ChangeSetName": CS_ARN}
    )
    cfn.add_response(
        "describe_change_set",
        {"Changes": changes},
        {"ChangeSetName": CS_ARN, "IncludePropertyValues": True},
    )


NO_CHANGES = (
    "The submitted information didn't contain changes. Submit different "
    "information to create a change set."
)


def stub_no_change_set(cfn, stack_name, stack_id, **template):
    cfn.add_response(
        "create_change_set",
        {"Id": CS_ARN, "StackId": stack_id},
        {
            "StackName": stack_name,
            "ChangeSetName": ANY,
            "ChangeSetType": "UPDATE",
            "Parameters": ANY,
            "Capabilities": ANY,
            "Tags": ANY,
            "Description": ANY,
            "IncludeNestedStacks": False,
            **template,
        },
    )
    cfn.add_response(
        "describe_change_set",
        {"Status": "FAILED", "StatusReason": NO_CHANGES},
        {"ChangeSetName": CS_ARN},
    )
    cfn.add_response("delete_change_set", {}, {"ChangeSetName": CS_ARN})


def test_bootstrap_then_the_deploy_role_from_the_bucket_verified(prod):
    """The bootstrap goes inline; the deploy-role stack (its policy is too large for
    that) from the bucket the bootstrap made, after its hash is checked there."""
    ctx, stubs = prod
    cfn = stubs["cloudformation"]
    stub_caller(stubs)
    cfn.add_response(
        "describe_stacks", {"Stacks": [boot_stack()]}, {"StackName": f"{STACK}-bootstrap"}
    )
    stub_no_change_set(cfn, f"{STACK}-bootstrap", BOOT_ID, TemplateBody=ANY)
    cfn.add_response(
        "describe_stacks", {"Stacks": [boot_stack()]}, {"StackName": f"{STACK}-bootstrap"}
    )
    entry = ctx.manifest["templates"]["deploy-role"]
    stubs["s3"].add_response(
        "head_object",
        stored(entry),
        {"Bucket": BUCKET, "Key": entry["key"], "ChecksumMode": "ENABLED"},
    )
    cfn.add_response(
        "describe_stacks", {"Stacks": [role_stack()]}, {"StackName": f"{STACK}-bootstrap-role"}
    )
    stub_no_change_set(
        cfn, f"{STACK}-bootstrap-role", ROLE_STACK_ID, TemplateURL=f"{BASE_URL}/{entry['key']}"
    )
    assert commands.bootstrap(ctx) == 0
    assert "bootstrap streamstack-prod-bootstrap: no changes" in ctx.out.text
    assert "deploy role streamstack-prod-bootstrap-role: no changes" in ctx.out.text


def test_the_deploy_role_gets_the_bootstrap_bucket_key_and_names(built, tmp_path):
    write_params(tmp_path / "params", "prod", PROD)
    ctx, _ = make_context(built, tmp_path / "params")
    template = json.loads((built / "templates" / "deploy-role.json").read_text())
    values = commands.bootstrap_stack.role_parameters(
        ctx.params, template, {"ArtifactBucketName": BUCKET, "ArtifactKeyArn": ARTIFACT_KEY}
    )
    assert values == {
        "Environment": "prod",
        "PlatformStackName": STACK,
        "BootstrapStackName": f"{STACK}-bootstrap",
        "ArtifactBucketName": BUCKET,
        "ArtifactKeyArn": ARTIFACT_KEY,
    }


def test_protected_bootstrap_update_waits_for_yes(prod):
    ctx, stubs = prod
    stub_bootstrap_change_set(ctx, stubs, [change("StackSetAdministrationRole", "AWS::IAM::Role")])
    with pytest.raises(exits.Refused, match="make bootstrap ENV=prod YES=1"):
        commands.bootstrap(ctx)
    assert "SECURITY" in ctx.out.text and "StackSetAdministrationRole" in ctx.out.text


def test_bootstrap_replacing_the_artifact_bucket_is_blocked(prod):
    ctx, stubs = prod
    ctx.args.yes = True
    stub_bootstrap_change_set(
        ctx, stubs, [change("ArtifactBucket", "AWS::S3::Bucket", replacement="True")]
    )
    with pytest.raises(exits.Blocked, match="kept for review"):
        commands.bootstrap(ctx)


def test_status_shows_the_tree_and_drift(prod):
    ctx, stubs = prod
    cfn = stubs["cloudformation"]
    root = stack(Outputs=[{"OutputKey": "VpcId", "OutputValue": "vpc-0123456789abcdef0"}])
    stub_caller(stubs)
    cfn.add_response(
        "describe_stacks", {"Stacks": [boot_stack()]}, {"StackName": f"{STACK}-bootstrap"}
    )
    cfn.add_response(
        "describe_stacks", {"Stacks": [role_stack()]}, {"StackName": f"{STACK}-bootstrap-role"}
    )
    stubs["cloudformation-us-east-1"].add_client_error(
        "describe_stacks",
        "ValidationError",
        f"Stack with id {STACK}-edge does not exist",
        400,
        expected_params={"StackName": f"{STACK}-edge"},
    )
    cfn.add_response("describe_stacks", {"Stacks": [root]}, {"StackName": STACK})
    cfn.add_response(
        "list_stack_resources", {"StackResourceSummaries": []}, {"StackName": STACK_ID}
    )
    cfn.add_response("describe_stacks", {"Stacks": [root]}, {"StackName": STACK_ID})
    cfn.add_response(
        "detect_stack_drift", {"StackDriftDetectionId": "d-1"}, {"StackName": STACK_ID}
    )
    for status in ("DETECTION_IN_PROGRESS", "DETECTION_COMPLETE"):
        cfn.add_response(
            "describe_stack_drift_detection_status",
            {
                "StackId": STACK_ID,
                "StackDriftDetectionId": "d-1",
                "DetectionStatus": status,
                "StackDriftStatus": "DRIFTED",
                "DriftedStackResourceCount": 2,
                "Timestamp": NOW,
            },
            {"StackDriftDetectionId": "d-1"},
        )
    assert commands.status(ctx) == 0
    assert "UPDATE_COMPLETE" in ctx.out.text and "drift: DRIFTED (2 drifted)" in ctx.out.text
    assert "VpcId = vpc-0123456789abcdef0" in ctx.out.text
    assert f"edge {STACK}-edge (us-east-1): not deployed" in ctx.out.text


def test_doctor_keeps_the_newest_change_sets(prod):
    ctx, stubs = prod
    cfn = stubs["cloudformation"]
    stub_connect(stubs)  # the account, the execution role
    cfn.add_response(
        "describe_stacks", {"Stacks": [boot_stack()]}, {"StackName": f"{STACK}-bootstrap"}
    )
    cfn.add_response("list_change_sets", {"Summaries": []}, {"StackName": BOOT_ID})
    cfn.add_response(
        "describe_stacks", {"Stacks": [role_stack()]}, {"StackName": f"{STACK}-bootstrap-role"}
    )
    cfn.add_response("list_change_sets", {"Summaries": []}, {"StackName": ROLE_STACK_ID})
    cfn.add_response("describe_stacks", {"Stacks": [stack()]}, {"StackName": STACK})
    summaries = [
        {
            "ChangeSetId": f"{CS_ARN}-{i}",
            "ChangeSetName": f"deploy-{i}",
            "CreationTime": BEFORE + dt.timedelta(hours=i),
        }
        for i in (4, 1, 3, 2, 5)
    ]
    summaries.append(
        {"ChangeSetId": "other", "ChangeSetName": "someone-elses", "CreationTime": BEFORE}
    )
    cfn.add_response("list_change_sets", {"Summaries": summaries}, {"StackName": STACK_ID})
    for i in (1, 2):  # keep 3: the oldest two go
        cfn.add_response("delete_change_set", {}, {"ChangeSetName": f"{CS_ARN}-{i}"})
    assert commands.doctor(ctx) == 0
    assert "deleted 2 old change set(s), kept the newest 3" in ctx.out.text
    assert "nothing stuck" in ctx.out.text


def test_edge_goes_to_us_east_1_with_the_params_values_and_the_roots_zone(prod):
    """Shared parameters come from `parameters:`, the WAF's from deploy.edge_parameters,
    the zone and (the root being outside us-east-1) the distribution from the root."""
    ctx, stubs = prod
    east = stubs["cloudformation-us-east-1"]
    edge_name, edge_id = f"{STACK}-edge", STACK_ID.replace(STACK, f"{STACK}-edge")
    stub_caller(stubs)
    stubs["cloudformation"].add_response(
        "describe_stacks",
        {
            "Stacks": [
                stack(
                    Outputs=[
                        {"OutputKey": "HostedZoneId", "OutputValue": "Z0123456789ABCDEFGHIJ"},
                        {"OutputKey": "DistributionId", "OutputValue": "E2QWRUHAPOMQZL"},
                    ]
                )
            ]
        },
        {"StackName": STACK},
    )
    east.add_client_error(
        "describe_stacks",
        "ValidationError",
        f"Stack with id {edge_name} does not exist",
        400,
        expected_params={"StackName": edge_name},
    )
    east.add_response(
        "create_change_set",
        {"Id": CS_ARN, "StackId": edge_id},
        {
            "StackName": edge_name,
            "ChangeSetName": ANY,
            "ChangeSetType": "CREATE",
            "TemplateBody": ANY,
            "Capabilities": ANY,
            "Tags": ANY,
            "Description": ANY,
            "IncludeNestedStacks": False,
            "Parameters": [
                {"ParameterKey": "DistributionId", "ParameterValue": "E2QWRUHAPOMQZL"},
                {"ParameterKey": "Environment", "ParameterValue": "prod"},
                {"ParameterKey": "HostedZoneId", "ParameterValue": "Z0123456789ABCDEFGHIJ"},
                {"ParameterKey": "WafRateLimit", "ParameterValue": "1000"},
            ],
        },
    )
    east.add_response(
        "describe_change_set", {"Status": "CREATE_COMPLETE"}, {"ChangeSetName": CS_ARN}
    )
    east.add_response(
        "describe_change_set",
        {"Changes": [change("WebAcl", "AWS::WAFv2::WebACL", action="Add")]},
        {"ChangeSetName": CS_ARN, "IncludePropertyValues": True},
    )
    east.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": edge_id})
    east.add_response(
        "execute_change_set", {}, {"ChangeSetName": CS_ARN, "RetainExceptOnCreate": True}
    )
    east.add_response(
        "describe_stacks",
        {
            "Stacks": [
                stack(
                    edge_name,
                    edge_id,
                    "CREATE_COMPLETE",
                    Outputs=[{"OutputKey": "CdnWebAclArn", "OutputValue": WEB_ACL}],
                )
            ]
        },
        {"StackName": edge_id},
    )
    east.add_response(
        "describe_stack_events",
        {
            "StackEvents": [
                event(edge_name, edge_id, "WebAcl", "AWS::WAFv2::WebACL", "CREATE_COMPLETE", NOW),
                event(
                    edge_name,
                    edge_id,
                    edge_name,
                    "AWS::CloudFormation::Stack",
                    "CREATE_COMPLETE",
                    NOW,
                ),
            ]
        },
        {"StackName": edge_id},
    )
    east.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": edge_id})
    east.add_response(
        "update_termination_protection",
        {"StackId": edge_id},
        {"EnableTerminationProtection": True, "StackName": edge_id},
    )
    assert commands.edge(ctx) == 0
    assert f"edge {edge_name} (us-east-1): CREATE_COMPLETE" in ctx.out.text
    assert f"CdnWebAclArn = {WEB_ACL}" in ctx.out.text
