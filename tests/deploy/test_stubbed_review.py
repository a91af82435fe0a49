"""The plan's review and the safer execution, through botocore's Stubber (every request
and response is validated against CloudFormation's and S3's service models): PolicyAction
variants and drift-aware fields in change sets, drift detection of the touched nested
stacks, a plan that restores drift, stack refactoring, RollbackStack and
FORCE_DELETE_STACK, the timeline and measured durations, --detailed-exitcode, and no
secret in any plan file."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil

import pytest
from botocore.stub import ANY

from streamstack.deploy import cli, commands, exits, plans, refactor
from streamstack.deploy.secrets import HIDDEN
from tests.deploy.conftest import make_context, write_params
from tests.deploy.test_stubbed import (
    ACCOUNT,
    BEFORE,
    BUCKET,
    CS_ARN,
    DEV,
    DEV_ID,
    NOW,
    PROD,
    REGION,
    ROLE,
    STACK,
    STACK_ID,
    event,
    fingerprinted,
    plan_document,
    stack,
    stub_connect,
    stub_dev_connect,
    stub_durations,
    stub_execute_preamble,
    stub_fingerprint,
    stub_kept,
    stub_plan_end,
    stub_until_change_set,
    stub_validation,
    write_plan,
)


@pytest.fixture
def prod(built, tmp_path):
    write_params(tmp_path / "params", "prod", PROD)
    ctx, stubs = make_context(built, tmp_path / "params")
    yield ctx, stubs
    for stub in stubs.values():
        stub.assert_no_pending_responses()


@pytest.fixture
def dev(built, tmp_path):
    text = (
        PROD.replace("prod", "dev")
        .replace("protected: true", "protected: false, allow_destroy: true")
        .replace('account_id: "123456789012"\n', "")
    )
    write_params(tmp_path / "params", "dev", text)
    ctx, stubs = make_context(built, tmp_path / "params", env="dev")
    yield ctx, stubs
    for stub in stubs.values():
        stub.assert_no_pending_responses()


DATA_CS = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/deploy-1-DataStack/4444"
DATA_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}-DataStack-X/5555"
COMPUTE_CS = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/deploy-1-ComputeStack/4444"
COMPUTE_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}-ComputeStack-X/5555"


def resource(logical, rtype, action="Modify", **extra):
    return {
        "Type": "Resource",
        "ResourceChange": {
            "Action": action,
            "LogicalResourceId": logical,
            "ResourceType": rtype,
            "Details": extra.pop("details", []),
            **extra,
        },
    }


def target(name, before, after, recreation="Never", **extra):
    return {
        "Target": {
            "Attribute": "Properties",
            "Name": name,
            "RequiresRecreation": recreation,
            "BeforeValue": before,
            "AfterValue": after,
            **extra,
        },
        "Evaluation": "Static",
        "ChangeSource": "DirectModification",
    }


def nested(logical, stack_id, change_set):
    return resource(
        logical,
        "AWS::CloudFormation::Stack",
        Replacement="False",
        PhysicalResourceId=stack_id,
        ChangeSetId=change_set,
        details=[target("TemplateURL", "a", "b")],
    )


def stub_change_sets(stubs, pages: dict[str, list[dict]]):
    for change_set, changes in pages.items():
        stubs["cloudformation"].add_response(
            "describe_change_set",
            {"Changes": changes},
            {"ChangeSetName": change_set, "IncludePropertyValues": True},
        )


def stub_no_drift_check(stubs, stack_ids):
    """Drift detection of the touched nested stacks: each in sync."""
    cfn = stubs["cloudformation"]
    for index, stack_id in enumerate(stack_ids):
        cfn.add_response(
            "detect_stack_drift", {"StackDriftDetectionId": f"d-{index}"}, {"StackName": stack_id}
        )
    for index, stack_id in enumerate(stack_ids):
        cfn.add_response(
            "describe_stack_drift_detection_status",
            {
                "StackId": stack_id,
                "StackDriftDetectionId": f"d-{index}",
                "DetectionStatus": "DETECTION_COMPLETE",
                "StackDriftStatus": "IN_SYNC",
                "DriftedStackResourceCount": 0,
                "Timestamp": NOW,
            },
            {"StackDriftDetectionId": f"d-{index}"},
        )


# -- PolicyAction variants ---------------------------------------------------------------------
def test_policy_actions_label_what_cloudformation_keeps(prod):
    ctx, stubs = prod
    ctx.args.no_drift = True
    stub_until_change_set(ctx, stubs)
    stub_change_sets(
        stubs,
        {
            CS_ARN: [nested("DataStack", DATA_ID, DATA_CS)],
            DATA_CS: [
                resource(
                    "DbCluster",
                    "AWS::RDS::DBCluster",
                    Replacement="True",
                    PolicyAction="ReplaceAndSnapshot",
                    PhysicalResourceId="aurora-prod",
                    details=[target("DatabaseName", "video", "videos", "Always")],
                ),
                resource(
                    "CacheSlowLogGroup",
                    "AWS::Logs::LogGroup",
                    "Remove",
                    PolicyAction="Retain",
                    PhysicalResourceId="/streamstack/prod/redis/slow",
                ),
                resource(
                    "VideosTable",
                    "AWS::DynamoDB::Table",
                    "Remove",
                    PolicyAction="Delete",
                    PhysicalResourceId="ddb-videos-prod",
                ),
                resource(
                    "AppSecret", "AWS::SecretsManager::Secret", "Import", PolicyAction="Retain"
                ),
                resource("DbMonitoringRole", "AWS::IAM::Role", "SyncWithActual"),
                resource("CacheReplicationGroup", "AWS::ElastiCache::ReplicationGroup", "Dynamic"),
            ],
        },
    )
    stub_validation(stubs, (CS_ARN, DATA_CS))
    stub_plan_end(stubs)
    with pytest.raises(exits.Blocked, match=r"\(2 DATA-LOSS, 1 RECOVERABLE, 1 ORPHAN above\)"):
        commands.plan(ctx)
    rows = {r["logical_id"]: r for r in plans.read(ctx.plans, "prod", plans.STACK).details["rows"]}
    assert rows["DbCluster"]["risk"] == "RECOVERABLE"
    assert (
        "final DB cluster snapshot (RDS, Snapshots) in us-west-2"
        in rows["DbCluster"]["consequence"]
    )
    assert rows["CacheSlowLogGroup"]["risk"] == "ORPHAN"
    assert "same LogGroupName collides" in rows["CacheSlowLogGroup"]["consequence"]
    assert rows["VideosTable"]["risk"] == "DATA-LOSS"
    assert rows["AppSecret"]["risk"] == "NORMAL" and "imports" in rows["AppSecret"]["note"]
    assert "resets the drift status" in rows["DbMonitoringRole"]["note"]
    # Dynamic: CloudFormation decides while it runs, and nothing says the data is kept.
    assert rows["CacheReplicationGroup"]["risk"] == "DATA-LOSS"
    text = ctx.out.text
    assert "data: /streamstack/prod/redis/slow (AWS::Logs::LogGroup) is kept" in text
    assert "expected duration: about" in text


# -- drift ---------------------------------------------------------------------------------------
def stub_drifted_compute(cfn, status="DRIFTED"):
    cfn.add_response(
        "detect_stack_drift", {"StackDriftDetectionId": "d-1"}, {"StackName": COMPUTE_ID}
    )
    for detection in ("DETECTION_IN_PROGRESS", "DETECTION_COMPLETE"):
        cfn.add_response(
            "describe_stack_drift_detection_status",
            {
                "StackId": COMPUTE_ID,
                "StackDriftDetectionId": "d-1",
                "DetectionStatus": detection,
                "StackDriftStatus": status,
                "DriftedStackResourceCount": 2,
                "Timestamp": NOW,
            },
            {"StackDriftDetectionId": "d-1"},
        )
    cfn.add_response(
        "describe_stack_resource_drifts",
        {
            "StackResourceDrifts": [
                {
                    "StackId": COMPUTE_ID,
                    "LogicalResourceId": "ApiService",
                    "PhysicalResourceId": "api",
                    "ResourceType": "AWS::ECS::Service",
                    "StackResourceDriftStatus": "MODIFIED",
                    "Timestamp": NOW,
                    "PropertyDifferences": [
                        {
                            "PropertyPath": "/DesiredCount",
                            "ExpectedValue": "2",
                            "ActualValue": "6",
                            "DifferenceType": "NOT_EQUAL",
                        }
                    ],
                },
                {
                    "StackId": COMPUTE_ID,
                    "LogicalResourceId": "WebService",
                    "PhysicalResourceId": "web",
                    "ResourceType": "AWS::ECS::Service",
                    "StackResourceDriftStatus": "DELETED",
                    "Timestamp": NOW,
                },
            ]
        },
        {"StackName": COMPUTE_ID, "StackResourceDriftStatusFilters": ["MODIFIED", "DELETED"]},
    )


def test_drift_of_the_touched_nested_stacks_is_in_their_rows(prod):
    ctx, stubs = prod
    cfn = stubs["cloudformation"]
    stub_until_change_set(ctx, stubs)
    stub_change_sets(
        stubs,
        {
            CS_ARN: [nested("ComputeStack", COMPUTE_ID, COMPUTE_CS)],
            COMPUTE_CS: [
                resource(
                    "ApiService",
                    "AWS::ECS::Service",
                    Replacement="False",
                    details=[target("DesiredCount", "2", "3")],
                ),
                resource("WorkerService", "AWS::ECS::Service", Replacement="False"),
                resource("WebService", "AWS::ECS::Service", Replacement="False"),
            ],
        },
    )
    stub_validation(stubs, (CS_ARN, COMPUTE_CS))
    stub_drifted_compute(cfn)
    stub_plan_end(stubs)
    assert commands.plan(ctx) == 0
    rows = {r["logical_id"]: r for r in plans.read(ctx.plans, "prod", plans.STACK).details["rows"]}
    (api,) = rows["ApiService"]["drift"]
    assert (api["path"], api["expected"], api["actual"]) == ("/DesiredCount", "2", "6")
    assert api["outcome"] == "this deploy sets it to 3"
    assert "updating it fails (it no longer exists)" in rows["WebService"]["drift"][0]["outcome"]
    assert rows["WorkerService"]["drift"] == []
    assert "drift: /DesiredCount is 6, the last deploy set 2; this deploy sets it to 3" in (
        ctx.out.text
    )


def test_denied_drift_detection_is_a_note_with_the_fix(prod):
    ctx, stubs = prod
    stub_until_change_set(ctx, stubs)
    stub_change_sets(
        stubs,
        {
            CS_ARN: [nested("ComputeStack", COMPUTE_ID, COMPUTE_CS)],
            COMPUTE_CS: [resource("ApiService", "AWS::ECS::Service", Replacement="False")],
        },
    )
    stub_validation(stubs, (CS_ARN, COMPUTE_CS))
    stubs["cloudformation"].add_client_error(
        "detect_stack_drift",
        "AccessDenied",
        "User is not authorized to perform: cloudformation:DetectStackDrift",
        403,
        expected_params={"StackName": COMPUTE_ID},
    )
    stub_plan_end(stubs)
    assert commands.plan(ctx) == 0
    notes = plans.read(ctx.plans, "prod", plans.STACK).details["notes"]
    assert notes[0].startswith("drift was not checked (cloudformation:DetectStackDrift is denied")
    assert "`make bootstrap ENV=prod`" in notes[0]


# -- --revert-drift ------------------------------------------------------------------------------
def stub_tree(cfn, root_id=STACK_ID):
    cfn.add_response(
        "list_stack_resources",
        {
            "StackResourceSummaries": [
                {
                    "LogicalResourceId": "ComputeStack",
                    "PhysicalResourceId": COMPUTE_ID,
                    "ResourceType": "AWS::CloudFormation::Stack",
                    "LastUpdatedTimestamp": BEFORE,
                    "ResourceStatus": "UPDATE_COMPLETE",
                }
            ]
        },
        {"StackName": root_id},
    )
    cfn.add_response(
        "list_stack_resources", {"StackResourceSummaries": []}, {"StackName": COMPUTE_ID}
    )


REVERT_CS = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/deploy-1-revert/6666"
COMPUTE_KEY = "templates/" + "c" * 64 + ".json"


def test_revert_drift_plans_a_drift_aware_change_set_per_drifted_stack_then_runs_it(prod):
    ctx, stubs = prod
    ctx.args.revert_drift = True
    cfn = stubs["cloudformation"]
    base = f"https://{BUCKET}.s3.{REGION}.amazonaws.com"
    root = stack(Parameters=[{"ParameterKey": "ArtifactBaseUrl", "ParameterValue": base}])
    stub_connect(stubs, root)
    stub_tree(cfn)
    stub_drifted_compute(cfn)
    cfn.add_response(
        "get_template",
        {
            "TemplateBody": json.dumps(
                {
                    "Resources": {
                        "ComputeStack": {
                            "Type": "AWS::CloudFormation::Stack",
                            "Properties": {
                                "TemplateURL": {
                                    "Fn::Join": [
                                        "",
                                        [{"Ref": "ArtifactBaseUrl"}, "/" + COMPUTE_KEY],
                                    ]
                                }
                            },
                        }
                    }
                }
            )
        },
        {"StackName": STACK_ID, "TemplateStage": "Original"},
    )
    compute = stack(
        f"{STACK}-ComputeStack-X",
        COMPUTE_ID,
        Parameters=[{"ParameterKey": "Environment", "ParameterValue": "prod"}],
    )
    cfn.add_response("describe_stacks", {"Stacks": [compute]}, {"StackName": COMPUTE_ID})
    cfn.add_response(
        "create_change_set",
        {"Id": REVERT_CS, "StackId": COMPUTE_ID},
        {
            "StackName": COMPUTE_ID,
            "ChangeSetName": ANY,
            "ChangeSetType": "UPDATE",
            "TemplateURL": f"{base}/{COMPUTE_KEY}",
            "Parameters": [{"ParameterKey": "Environment", "UsePreviousValue": True}],
            "Capabilities": ANY,
            "Tags": ANY,
            "Description": ANY,
            "IncludeNestedStacks": False,
            "RoleARN": ROLE,
            "DeploymentMode": "REVERT_DRIFT",
        },
    )
    cfn.add_response(
        "describe_change_set",
        {"Status": "CREATE_COMPLETE", "DeploymentMode": "REVERT_DRIFT"},
        {"ChangeSetName": REVERT_CS},
    )
    stub_change_sets(
        stubs,
        {
            REVERT_CS: [
                resource(
                    "ApiService",
                    "AWS::ECS::Service",
                    Replacement="False",
                    details=[
                        target(
                            "DesiredCount",
                            "6",
                            "2",
                            BeforeValueFrom="ACTUAL_STATE",
                            AfterValueFrom="TEMPLATE",
                            AttributeChangeType="Modify",
                            Drift={
                                "PreviousValue": "2",
                                "ActualValue": "6",
                                "DriftDetectionTimestamp": NOW,
                            },
                        )
                    ],
                ),
                resource(
                    "WorkerService",
                    "AWS::ECS::Service",
                    "SyncWithActual",
                    details=[
                        target(
                            "DesiredCount",
                            "4",
                            "4",
                            BeforeValueFrom="ACTUAL_STATE",
                            AttributeChangeType="SyncWithActual",
                        )
                    ],
                ),
            ]
        },
    )
    cfn.add_response(  # the root's fingerprint (a revert plan reads no durations)
        "get_template",
        {"TemplateBody": "{}"},
        {"StackName": STACK_ID, "TemplateStage": "Original"},
    )
    stub_kept(stubs, "plans/prod/", None, None)
    cfn.add_response("list_change_sets", {"Summaries": []}, {"StackName": STACK})
    assert commands.plan(ctx) == 0
    saved = plans.read(ctx.plans, "prod", plans.STACK).details
    assert saved["change_set_type"] == "REVERT_DRIFT"
    rows = {r["logical_id"]: r for r in saved["rows"]}
    assert rows["ApiService"]["stack"] == "root/ComputeStack"
    assert rows["ApiService"]["values"][0]["before_from"] == "ACTUAL_STATE"
    assert "DesiredCount: 6 (actual) -> 2" in ctx.out.text
    assert "DesiredCount: keeps 4 (actual); only the drift status resets" in ctx.out.text
    assert "restores the drifted values of ComputeStack" in saved["notes"][0]

    # make execute runs that change set on the nested stack, after checking it did not move.
    ctx.args.revert_drift = False
    stub_connect(stubs)
    # prod is protected: the nested stack's policy is set again before the execution
    cfn.add_response("set_stack_policy", {}, {"StackName": COMPUTE_ID, "StackPolicyBody": ANY})
    cfn.add_response("describe_stacks", {"Stacks": [compute]}, {"StackName": COMPUTE_ID})
    cfn.add_response(
        "describe_change_set",
        {"ChangeSetId": REVERT_CS, "Status": "CREATE_COMPLETE", "ExecutionStatus": "AVAILABLE"},
        {"ChangeSetName": REVERT_CS},
    )
    cfn.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": COMPUTE_ID})
    cfn.add_response(
        "execute_change_set", {}, {"ChangeSetName": REVERT_CS, "RetainExceptOnCreate": True}
    )
    name = compute["StackName"]
    cfn.add_response(
        "describe_stacks",
        {"Stacks": [{**compute, "StackStatus": "UPDATE_COMPLETE"}]},
        {"StackName": COMPUTE_ID},
    )
    t = [NOW + dt.timedelta(seconds=s) for s in (1, 2, 40, 41)]
    cfn.add_response(
        "describe_stack_events",
        {
            "StackEvents": [
                event(
                    name, COMPUTE_ID, name, "AWS::CloudFormation::Stack", "UPDATE_COMPLETE", t[3]
                ),
                event(name, COMPUTE_ID, "ApiService", "AWS::ECS::Service", "UPDATE_COMPLETE", t[2]),
                event(
                    name, COMPUTE_ID, "ApiService", "AWS::ECS::Service", "UPDATE_IN_PROGRESS", t[1]
                ),
                event(
                    name, COMPUTE_ID, name, "AWS::CloudFormation::Stack", "UPDATE_IN_PROGRESS", t[0]
                ),
            ]
        },
        {"StackName": COMPUTE_ID},
    )
    cfn.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": COMPUTE_ID})
    stub_kept(stubs, "plans/prod/", None)  # the timeline
    stub_durations(stubs)
    stub_kept(stubs, "plans/prod/", "durations.json")
    assert commands.execute(ctx) == 0
    assert "drift restored in ComputeStack" in ctx.out.text
    assert "slowest: " in ctx.out.text and "ApiService (AWS::ECS::Service) 38s" in ctx.out.text


# -- stack refactoring ---------------------------------------------------------------------------
STORAGE_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}-StorageStack-X/7777"
MESSAGING_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}-MessagingStack-X/8888"
REFACTOR_ID = "arn:aws:cloudformation:us-west-2:123456789012:stackRefactor/0000-1111"


def moved_plan(ctx) -> None:
    document = plan_document(blocked=True)
    document["build_hash"] = ctx.manifest["templates"]["root"]["sha256"]
    document["moves"] = [
        {
            "resource_type": "AWS::SQS::Queue",
            "source": "root/MessagingStack",
            "source_logical": "JobsDeadLetterQueue",
            "source_stack_id": MESSAGING_ID,
            "destination": "root/StorageStack",
            "destination_logical": "JobsDeadLetterQueue",
            "destination_stack_id": STORAGE_ID,
            "physical_id": "https://sqs.us-west-2.amazonaws.com/123456789012/sqs-jobs-dlq-prod",
            "how": "identical properties",
        }
    ]
    write_plan(ctx, document)


QUEUE = {
    "Type": "AWS::SQS::Queue",
    "Properties": {
        "QueueName": {"Fn::Sub": "sqs-jobs-dlq-${Environment}"},
        "KmsMasterKeyId": {"Ref": "StorageKeyArn"},
    },
}


def stub_refactor_reads(cfn):
    source = {
        "Parameters": {"Environment": {"Type": "String"}, "StorageKeyArn": {"Type": "String"}},
        "Resources": {"JobsDeadLetterQueue": QUEUE, "Bus": {"Type": "AWS::Events::EventBus"}},
        "Outputs": {
            "JobsDeadLetterQueueArn": {"Value": {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]}}
        },
    }
    destination = {
        "Parameters": {"Environment": {"Type": "String"}, "StorageKeyArn": {"Type": "String"}},
        "Resources": {"MediaBucket": {"Type": "AWS::S3::Bucket"}},
    }
    params = [
        {"ParameterKey": "Environment", "ParameterValue": "prod"},
        {"ParameterKey": "StorageKeyArn", "ParameterValue": "arn:aws:kms:us-west-2:1:key/k"},
    ]
    for stack_id, template in ((MESSAGING_ID, source), (STORAGE_ID, destination)):
        cfn.add_response(
            "get_template",
            {"TemplateBody": json.dumps(template)},
            {"StackName": stack_id, "TemplateStage": "Original"},
        )
    for stack_id, name, outputs in (
        (MESSAGING_ID, f"{STACK}-MessagingStack-X", {"JobsDeadLetterQueueArn": "arn:aws:sqs:q"}),
        (STORAGE_ID, f"{STACK}-StorageStack-X", {}),
    ):
        cfn.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    stack(
                        name,
                        stack_id,
                        Parameters=params,
                        Outputs=[{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
                    )
                ]
            },
            {"StackName": stack_id},
        )
        cfn.add_response(
            "list_stack_resources", {"StackResourceSummaries": []}, {"StackName": stack_id}
        )
    return source, destination


def stub_uploads(stubs, count):
    for _ in range(count):
        stubs["s3"].add_client_error(
            "head_object",
            "404",
            "Not Found",
            404,
            expected_params={"Bucket": BUCKET, "Key": ANY, "ChecksumMode": "ENABLED"},
        )
        stubs["s3"].add_response(
            "put_object",
            {},
            {
                "Bucket": BUCKET,
                "Key": ANY,
                "Body": ANY,
                "ContentType": "application/json",
                "IfNoneMatch": "*",
                "ChecksumAlgorithm": "SHA256",
                "ChecksumSHA256": ANY,
            },
        )


def action(status="MOVE", entity="RESOURCE", logical="JobsDeadLetterQueue"):
    return {
        "Action": status,
        "Entity": entity,
        "PhysicalResourceId": "sqs-jobs-dlq-prod",
        "Detection": "MANUAL",
        "DetectionReason": "mapped by the refactor",
        "ResourceMapping": {
            "Source": {"StackName": f"{STACK}-MessagingStack-X", "LogicalResourceId": logical},
            "Destination": {"StackName": f"{STACK}-StorageStack-X", "LogicalResourceId": logical},
        },
    }


def stub_refactor_prepared(stubs):
    """What make refactor asks before CreateStackRefactor: the account and bootstrap,
    both stacks' deployed templates and names, the two templates uploaded."""
    stub_connect(stubs)
    stub_refactor_reads(stubs["cloudformation"])
    stub_uploads(stubs, 2)


def stub_refactor_created(cfn, actions):
    cfn.add_response(
        "create_stack_refactor",
        {"StackRefactorId": REFACTOR_ID},
        {
            "Description": ANY,
            "EnableStackCreation": False,
            "StackDefinitions": [
                {"StackName": f"{STACK}-MessagingStack-X", "TemplateURL": ANY},
                {"StackName": f"{STACK}-StorageStack-X", "TemplateURL": ANY},
            ],
            "ResourceMappings": [
                {
                    "Source": {
                        "StackName": f"{STACK}-MessagingStack-X",
                        "LogicalResourceId": "JobsDeadLetterQueue",
                    },
                    "Destination": {
                        "StackName": f"{STACK}-StorageStack-X",
                        "LogicalResourceId": "JobsDeadLetterQueue",
                    },
                }
            ],
        },
    )
    for status in ("CREATE_IN_PROGRESS", "CREATE_COMPLETE"):
        cfn.add_response(
            "describe_stack_refactor",
            {"StackRefactorId": REFACTOR_ID, "Status": status, "ExecutionStatus": "AVAILABLE"},
            {"StackRefactorId": REFACTOR_ID},
        )
    cfn.add_response(
        "list_stack_refactor_actions",
        {"StackRefactorActions": actions},
        {"StackRefactorId": REFACTOR_ID},
    )


def test_refactor_moves_the_planned_resource_after_review(prod, monkeypatch):
    ctx, stubs = prod
    cfn = stubs["cloudformation"]
    uploaded = record_uploads(monkeypatch)
    moved_plan(ctx)
    stub_refactor_prepared(stubs)
    stub_refactor_created(cfn, [action()])
    # Without YES=1 nothing is executed; the review is printed.
    with pytest.raises(exits.Refused, match="make refactor ENV=prod YES=1"):
        refactor.run(ctx)
    assert "MOVE RESOURCE sqs-jobs-dlq-prod " in ctx.out.text
    # The templates move the queue and nothing else: no parameter added, the output
    # the root reads keeps its current value until the next deploy rewires it.
    source, destination = uploaded
    assert "JobsDeadLetterQueue" not in source["Resources"]
    assert source["Outputs"]["JobsDeadLetterQueueArn"]["Value"] == "arn:aws:sqs:q"
    assert destination["Resources"]["JobsDeadLetterQueue"] == QUEUE
    assert set(destination["Parameters"]) == {"Environment", "StorageKeyArn"}

    ctx.args.yes = True
    stub_refactor_prepared(stubs)
    stub_refactor_created(cfn, [action()])
    cfn.add_response("execute_stack_refactor", {}, {"StackRefactorId": REFACTOR_ID})
    for status in ("EXECUTE_IN_PROGRESS", "EXECUTE_COMPLETE"):
        cfn.add_response(
            "describe_stack_refactor",
            {
                "StackRefactorId": REFACTOR_ID,
                "Status": "CREATE_COMPLETE",
                "ExecutionStatus": status,
            },
            {"StackRefactorId": REFACTOR_ID},
        )
    assert refactor.run(ctx) == 0
    assert "moved 1 resource(s) without replacing them" in ctx.out.text
    assert not plans.plan_path(ctx.plans, "prod").exists()  # plan again after a refactor


def record_uploads(monkeypatch) -> list[dict]:
    """The refactor templates refactor.run uploads, in order."""
    from streamstack.deploy import artifacts

    seen: list[dict] = []
    real = artifacts.upload_template

    def recording(s3, bucket, base_url, text):
        seen.append(json.loads(text))
        return real(s3, bucket, base_url, text)

    monkeypatch.setattr(artifacts, "upload_template", recording)
    return seen


def test_a_refactor_that_would_do_more_than_the_moves_is_refused(prod):
    ctx, stubs = prod
    cfn = stubs["cloudformation"]
    moved_plan(ctx)
    stub_refactor_prepared(stubs)
    stub_refactor_created(cfn, [action(), action("CREATE", "STACK", "Other")])
    ctx.args.yes = True
    with pytest.raises(exits.Refused, match="more than the planned moves .CREATE STACK"):
        refactor.run(ctx)


def test_a_refused_refactor_says_why(prod):
    ctx, stubs = prod
    cfn = stubs["cloudformation"]
    moved_plan(ctx)
    stub_refactor_prepared(stubs)
    cfn.add_response("create_stack_refactor", {"StackRefactorId": REFACTOR_ID}, None)
    cfn.add_response(
        "describe_stack_refactor",
        {
            "StackRefactorId": REFACTOR_ID,
            "Status": "CREATE_FAILED",
            "StatusReason": "Resource JobsDeadLetterQueue has unsupported updates",
        },
        {"StackRefactorId": REFACTOR_ID},
    )
    with pytest.raises(commands.StreamstackError, match="refused the refactor .CREATE_FAILED.: "):
        refactor.run(ctx)


def test_refactor_without_moves_says_how_they_show(prod):
    ctx, _ = prod
    write_plan(ctx, plan_document())
    with pytest.raises(commands.StreamstackError, match="has no MOVE rows"):
        refactor.run(ctx)


# -- stuck stacks: RollbackStack and FORCE_DELETE_STACK ----------------------------------------
def failed_resource(logical, rtype, status, physical, reason):
    return {
        "LogicalResourceId": logical,
        "PhysicalResourceId": physical,
        "ResourceType": rtype,
        "LastUpdatedTimestamp": BEFORE,
        "ResourceStatus": status,
        "ResourceStatusReason": reason,
    }


def test_a_dev_stack_stuck_in_delete_failed_is_force_deleted_after_listing_what_stays(dev):
    ctx, stubs = dev
    cfn = stubs["cloudformation"]
    bucket = failed_resource(
        "MediaBucket",
        "AWS::S3::Bucket",
        "DELETE_FAILED",
        "s3-media-dev",
        "The bucket you tried to delete is not empty",
    )
    for attempt in range(2):
        stub_dev_connect(stubs, "DELETE_FAILED")
        cfn.add_response(
            "list_stack_resources", {"StackResourceSummaries": [bucket]}, {"StackName": DEV_ID}
        )
        if attempt == 0:
            with pytest.raises(exits.Refused, match="FORCE_DELETE_STACK, leaving behind: Media"):
                commands.plan(ctx)
    assert "leaves these behind in the account, outside any stack: MediaBucket " in (ctx.out.text)
    ctx.args.yes = True
    cfn.add_response(
        "delete_stack",
        {},
        {"StackName": DEV_ID, "DeletionMode": "FORCE_DELETE_STACK", "RoleARN": ROLE},
    )
    cfn.add_response(
        "describe_stacks",
        {"Stacks": [stack(DEV, DEV_ID, "DELETE_COMPLETE")]},
        {"StackName": DEV_ID},
    )
    stubs["s3"].add_client_error("head_object", "AccessDenied", "Access Denied", 403)
    with pytest.raises(commands.ClientError, match="AccessDenied"):  # the plan goes on
        commands.plan(ctx)
    assert f"deleted {DEV}" in ctx.out.text


def test_delete_failed_is_never_forced_in_a_protected_environment(prod):
    ctx, stubs = prod
    ctx.args.yes = True
    stub_connect(stubs, stack(status="DELETE_FAILED"))
    stubs["cloudformation"].add_response(
        "list_stack_resources",
        {
            "StackResourceSummaries": [
                failed_resource("DbCluster", "AWS::RDS::DBCluster", "DELETE_FAILED", "aurora", "x")
            ]
        },
        {"StackName": STACK_ID},
    )
    with pytest.raises(exits.Refused, match="protected, so deploy.py will not force"):
        commands.plan(ctx)


def test_an_update_failed_with_rollback_disabled_is_rolled_back(prod):
    ctx, stubs = prod
    ctx.args.yes = True
    cfn = stubs["cloudformation"]
    stub_connect(stubs, stack(status="UPDATE_FAILED", DisableRollback=True))
    cfn.add_response(
        "list_stack_resources",
        {
            "StackResourceSummaries": [
                failed_resource(
                    "ApiService", "AWS::ECS::Service", "UPDATE_FAILED", "api", "tasks failed"
                )
            ]
        },
        {"StackName": STACK_ID},
    )
    cfn.add_response(
        "rollback_stack",
        {"StackId": STACK_ID},
        {"StackName": STACK_ID, "RetainExceptOnCreate": True, "RoleARN": ROLE},
    )
    for status in ("UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"):
        cfn.add_response(
            "describe_stacks", {"Stacks": [stack(status=status)]}, {"StackName": STACK_ID}
        )
    stubs["s3"].add_client_error("head_object", "AccessDenied", "Access Denied", 403)
    with pytest.raises(commands.ClientError, match="AccessDenied"):  # the plan goes on
        commands.plan(ctx)
    assert "what failed: ApiService (AWS::ECS::Service, api): tasks failed" in ctx.out.text
    assert f"{STACK} is UPDATE_ROLLBACK_COMPLETE" in ctx.out.text


# -- the timeline after an execution -------------------------------------------------------------
def test_execute_writes_the_timeline_and_measures_durations(prod):
    ctx, stubs = prod
    cfn = stubs["cloudformation"]
    document = fingerprinted(plan_document())
    document["duration"] = {"seconds": 600, "path": [], "slowest": [], "source": "table"}
    write_plan(ctx, document)
    stub_execute_preamble(stubs)
    storage = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}-StorageStack-X/5555"
    cfn.add_response(
        "list_stack_resources",
        {
            "StackResourceSummaries": [
                {
                    "LogicalResourceId": "StorageStack",
                    "PhysicalResourceId": storage,
                    "ResourceType": "AWS::CloudFormation::Stack",
                    "LastUpdatedTimestamp": BEFORE,
                    "ResourceStatus": "UPDATE_COMPLETE",
                }
            ]
        },
        {"StackName": STACK_ID},
    )
    cfn.add_response("list_stack_resources", {"StackResourceSummaries": []}, {"StackName": storage})
    for stack_id in (STACK_ID, storage):
        cfn.add_response("set_stack_policy", {}, {"StackName": stack_id, "StackPolicyBody": ANY})
    cfn.add_response(
        "update_termination_protection",
        {"StackId": STACK_ID},
        {"EnableTerminationProtection": True, "StackName": STACK_ID},
    )
    for stack_id in (STACK_ID, storage):
        cfn.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": stack_id})
    cfn.add_response(
        "execute_change_set", {}, {"ChangeSetName": CS_ARN, "RetainExceptOnCreate": True}
    )
    cfn.add_response(
        "describe_stacks", {"Stacks": [stack(status="UPDATE_COMPLETE")]}, {"StackName": STACK_ID}
    )
    storage_name = storage.split("/")[1]
    t = [NOW + dt.timedelta(seconds=s) for s in (0, 2, 3, 95, 100, 300, 305, 310)]
    cfn.add_response(
        "describe_stack_events",
        {
            "StackEvents": [
                event(
                    STACK, STACK_ID, STACK, "AWS::CloudFormation::Stack", "UPDATE_COMPLETE", t[7]
                ),
                event(
                    STACK,
                    STACK_ID,
                    "StorageStack",
                    "AWS::CloudFormation::Stack",
                    "UPDATE_COMPLETE",
                    t[6],
                    physical=storage,
                ),
                event(
                    STACK,
                    STACK_ID,
                    "StorageStack",
                    "AWS::CloudFormation::Stack",
                    "UPDATE_IN_PROGRESS",
                    t[1],
                    physical=storage,
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
                    storage_name,
                    storage,
                    "FileSystem",
                    "AWS::EFS::FileSystem",
                    "UPDATE_COMPLETE",
                    t[5],
                ),
                event(
                    storage_name, storage, "MediaBucket", "AWS::S3::Bucket", "UPDATE_COMPLETE", t[3]
                ),
                event(
                    storage_name,
                    storage,
                    "FileSystem",
                    "AWS::EFS::FileSystem",
                    "UPDATE_IN_PROGRESS",
                    t[2],
                ),
                event(
                    storage_name,
                    storage,
                    "MediaBucket",
                    "AWS::S3::Bucket",
                    "UPDATE_IN_PROGRESS",
                    t[2],
                ),
            ]
        },
        {"StackName": storage},
    )
    for stack_id in (STACK_ID, storage):
        cfn.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": stack_id})
    stub_kept(stubs, "plans/prod/", "deploy-1.timeline.md")
    measured = json.dumps(
        {"version": 1, "types": {"AWS::EFS::FileSystem": {"update": [250.0]}}}
    ).encode()
    stub_durations(stubs, measured)
    stubs["s3"].add_response(
        "put_object",
        {},
        {
            "Bucket": BUCKET,
            "Key": "plans/prod/durations.json",
            "Body": DurationsBody({"update": [250.0, 297.0]}, {"update": [92.0]}),
            "ContentType": "application/json",
        },
    )
    assert commands.execute(ctx) == 0
    timeline = (ctx.plans / "prod.timeline.md").read_text()
    assert "| StorageStack | " in timeline and "(the plan expected about 10 min)" in timeline
    assert "| `FileSystem` | " in timeline and "4m57s" in timeline
    assert (
        f"slowest: {storage_name}/FileSystem (AWS::EFS::FileSystem) 4m57s, "
        f"{storage_name}/MediaBucket (AWS::S3::Bucket) 1m32s"
    ) in ctx.out.text


class DurationsBody:
    """The durations.json written back: the file system's and the bucket's samples."""

    def __init__(self, file_system: dict, bucket: dict) -> None:
        self.wanted = {"AWS::EFS::FileSystem": file_system, "AWS::S3::Bucket": bucket}

    def __eq__(self, other) -> bool:
        return json.loads(other)["types"] == self.wanted

    def __ne__(self, other) -> bool:
        return not self.__eq__(other)


# -- --detailed-exitcode -------------------------------------------------------------------------
def test_detailed_exitcode_is_2_with_changes_and_0_without(prod):
    ctx, stubs = prod
    ctx.args.detailed_exitcode = True
    ctx.args.no_drift = True
    stub_until_change_set(ctx, stubs)
    stub_change_sets(stubs, {CS_ARN: [resource("Topic", "AWS::SNS::Topic", "Add")]})
    stub_validation(stubs)
    stub_plan_end(stubs)
    assert commands.plan(ctx) == exits.CHANGES == 2
    stub_until_change_set(ctx, stubs, status="FAILED", reason="No updates are to be performed.")
    stubs["cloudformation"].add_response("delete_change_set", {}, {"ChangeSetName": CS_ARN})
    assert commands.plan(ctx) == 0


def test_detailed_exitcode_keeps_2_for_changes_when_the_params_file_is_bad(built, tmp_path):
    write_params(tmp_path, "prod", "stack_name: s\nregion: us-west-2\nparameters: {Nope: 1}\n")
    argv = [
        "deploy",
        "prod",
        "--no-build",
        "--build-dir",
        str(built),
        "--params-dir",
        str(tmp_path),
    ]
    with pytest.raises(commands.StreamstackError) as plain:
        cli.main(argv)
    assert plain.value.exit_code == exits.PARAMS
    with pytest.raises(commands.StreamstackError) as detailed:
        cli.main([*argv, "--detailed-exitcode"])
    assert detailed.value.exit_code == exits.ERROR and "Nope" in str(detailed.value)


# -- no secret in any plan file -----------------------------------------------------------------
ALARM_EMAIL = "oncall-7f3a9c@video.example.com"
AUTH_TOKEN = "auth-5e2b8d1c9a7f4e6b"
ORIGIN_SECRET = "origin-3c9e1a7b5d2f8e4a"


@pytest.fixture
def secret_build(built, tmp_path):
    """The build with AlarmEmail declared NoEcho in the root (as a secret would be)."""
    copy = tmp_path / "build"
    shutil.copytree(built, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    entry = manifest["templates"]["root"]
    root = json.loads((copy / entry["file"]).read_text())
    root["Parameters"]["AlarmEmail"]["NoEcho"] = True
    text = json.dumps(root, indent=1, sort_keys=True) + "\n"
    (copy / entry["file"]).write_text(text)
    entry["sha256"] = hashlib.sha256(text.encode()).hexdigest()
    entry["key"] = f"templates/{entry['sha256']}.json"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


def test_no_secret_value_reaches_the_plan_files(secret_build, tmp_path):
    write_params(
        tmp_path / "params",
        "prod",
        PROD.replace("NatLayout: per-az", f"NatLayout: per-az, AlarmEmail: '{ALARM_EMAIL}'"),
    )
    ctx, stubs = make_context(secret_build, tmp_path / "params")
    ctx.args.no_drift = True
    put_bodies: list[bytes] = []
    stub_until_change_set(ctx, stubs)
    cdn_cs = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/deploy-1-CdnStack/4444"
    cdn_id = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}-CdnStack-X/5555"
    obs_cs = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/deploy-1-Obs/4444"
    obs_id = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}-Obs-X/5555"

    def origins(secret: str) -> str:
        header = {"HeaderName": "X-Origin-Verify", "HeaderValue": secret}
        return json.dumps({"Origins": [{"Id": "alb", "OriginCustomHeaders": [header]}]})

    stub_change_sets(
        stubs,
        {
            CS_ARN: [
                nested("DataStack", DATA_ID, DATA_CS),
                nested("CdnStack", cdn_id, cdn_cs),
                nested("ObservabilityStack", obs_id, obs_cs),
            ],
            DATA_CS: [
                resource(
                    "CacheReplicationGroup",
                    "AWS::ElastiCache::ReplicationGroup",
                    Replacement="False",
                    details=[target("AuthToken", AUTH_TOKEN, AUTH_TOKEN + "2")],
                )
            ],
            cdn_cs: [
                resource(
                    "Distribution",
                    "AWS::CloudFront::Distribution",
                    Replacement="False",
                    details=[
                        target(
                            "DistributionConfig",
                            origins(ORIGIN_SECRET),
                            origins(ORIGIN_SECRET + "2"),
                        )
                    ],
                )
            ],
            obs_cs: [
                resource(
                    "AlarmEmailSubscription",
                    "AWS::SNS::Subscription",
                    Replacement="True",
                    details=[target("Endpoint", "old@example.com", ALARM_EMAIL, "Always")],
                )
            ],
        },
    )
    stub_validation(stubs, (CS_ARN, DATA_CS, cdn_cs, obs_cs))
    stub_durations(stubs)
    stub_fingerprint(stubs)
    for _ in range(2):
        stubs["s3"].add_response(
            "put_object",
            {},
            {"Bucket": BUCKET, "Key": ANY, "Body": Collect(put_bodies), "ContentType": ANY},
        )
    stubs["cloudformation"].add_response(
        "list_change_sets", {"Summaries": []}, {"StackName": STACK}
    )
    commands.plan(ctx)
    files = [p.read_text() for p in ctx.plans.iterdir()]
    everything = "\n".join(files + [b.decode() for b in put_bodies] + [ctx.out.text])
    for secret in (ALARM_EMAIL, AUTH_TOKEN, ORIGIN_SECRET):
        assert secret not in everything, secret
    saved = plans.read(ctx.plans, "prod", plans.STACK).details
    assert saved["parameters"]["AlarmEmail"] == HIDDEN
    assert len(put_bodies) == 2 and HIDDEN in everything


class Collect:
    """A stubbed Body that keeps what was sent."""

    def __init__(self, into: list) -> None:
        self.into = into

    def __eq__(self, other) -> bool:
        self.into.append(other)
        return True

    def __ne__(self, other) -> bool:
        return not self.__eq__(other)


def test_allow_data_loss_exempts_every_blocking_row_from_the_stack_policies():
    document = plan_document()
    document["allow_data_loss"] = True
    template = document["rows"][0]
    document["rows"] = [
        {**template, "logical_id": risk.title().replace("-", ""), "risk": risk}
        for risk in ("DATA-LOSS", "RECOVERABLE", "ORPHAN", "MOVE", "NORMAL", "SECURITY")
    ]
    the_plan = plans.PlanFile.from_json(document, env="prod", kind=plans.STACK)
    assert commands._allowed(the_plan) == {
        "root/StorageStack": ["DataLoss", "Recoverable", "Orphan", "Move"]
    }
