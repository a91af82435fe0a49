"""media tier: the upload -> EventBridge -> Lambda -> MediaConvert -> media pipeline, its
least-privilege roles, dead letters and job events, in dev and prod, plus a snapshot."""

import pytest

from templates.media import LADDER
from templates.parts.functions import INLINE_LIMIT, source
from tests.cfn import dumps, evaluate, statements
from tests.conftest import assert_snapshot

KEY = "<from:StorageKeyArn>"


@pytest.fixture(scope="module")
def template(rendered):
    return rendered["media"]


@pytest.fixture(scope="module")
def med(template, env):
    return evaluate(template, env)


def test_snapshot(rendered_text):
    assert_snapshot("media", rendered_text["media"])


def test_disabled_creates_nothing_and_outputs_empty(template, env):
    off = evaluate(template, env, {"MediaPipeline": "disabled"})
    assert off.resources == {}
    assert off.outputs and all(o["Value"] == "" for o in off.outputs.values())


def test_outputs_have_descriptions(template):
    assert {
        "TranscodeFunctionArn",
        "MediaConvertRoleArn",
        "MediaConvertJobTemplateName",
        "TranscodeDeadLetterQueueName",
    } <= set(template["Outputs"])
    assert all(o["Description"] for o in template["Outputs"].values())


def test_upload_rule_matches_created_objects_under_uploads(med):
    rule = med.props("UploadCreatedRule")
    assert rule["State"] == "ENABLED"
    assert rule["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": ["<from:UploadsBucketName>"]},
            "object": {"key": [{"prefix": "uploads/"}]},
        },
    }
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["TranscodeFunction", "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["TranscodeDeadLetterQueue", "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    permission = med.props("TranscodeFunctionInvokeFromRule")
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": ["UploadCreatedRule", "Arn"]}


def test_function_inline_traced_reserved_with_dead_letters(med, env):
    fn = med.props("TranscodeFunction")
    assert fn["Code"]["ZipFile"] == source("transcode")
    assert len(fn["Code"]["ZipFile"]) <= INLINE_LIMIT
    assert fn["Handler"] == "index.handler" and fn["Runtime"].startswith("python3.")
    assert fn["TracingConfig"] == {"Mode": "Active"}
    assert fn["ReservedConcurrentExecutions"] == ("2" if env == "dev" else "20")
    assert fn["DeadLetterConfig"] == {
        "TargetArn": {"Fn::GetAtt": ["TranscodeDeadLetterQueue", "Arn"]}
    }
    assert fn["LoggingConfig"] == {"LogGroup": {"Ref": "TranscodeFunctionLogGroup"}}
    variables = fn["Environment"]["Variables"]
    assert variables["JOB_TEMPLATE"] == {"Ref": "HlsJobTemplate"}
    assert variables["MEDIA_BUCKET"] == "<from:MediaBucketName>"
    assert variables["MEDIACONVERT_ROLE_ARN"] == {"Fn::GetAtt": ["MediaConvertRole", "Arn"]}


def test_function_logs_encrypted_one_day_in_dev_and_kept_outside(med, env):
    group = med.resources["TranscodeFunctionLogGroup"]
    assert group["Properties"]["RetentionInDays"] == ("1" if env == "dev" else "90")
    assert group["Properties"]["KmsKeyId"] == KEY
    assert group["DeletionPolicy"] == ("Delete" if env == "dev" else "Retain")


def test_function_role_least_privilege(med):
    (policy,) = med.props("TranscodeFunctionRole")["Policies"]
    st = statements(policy["PolicyDocument"])
    template_arn = {"Fn::GetAtt": ["HlsJobTemplate", "Arn"]}
    assert st["ReadJobTemplate"]["Resource"] == [template_arn]
    assert st["SubmitJobs"]["Action"] == ["mediaconvert:CreateJob"]
    assert template_arn in st["SubmitJobs"]["Resource"]
    assert st["PassMediaConvertRole"]["Resource"] == [{"Fn::GetAtt": ["MediaConvertRole", "Arn"]}]
    assert st["PassMediaConvertRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "mediaconvert.amazonaws.com"}
    }
    assert st["OwnLogGroup"]["Resource"] == [{"Fn::GetAtt": ["TranscodeFunctionLogGroup", "Arn"]}]
    # Only X-Ray, which has no resource-level permissions, is granted on "*".
    wildcard = [sid for sid, s in st.items() if "*" in s["Resource"]]
    assert wildcard == ["Tracing"]
    assert all("*" not in a.split(":")[1] for s in st.values() for a in s["Action"])


def test_mediaconvert_role_reads_uploads_and_writes_media_only(med):
    role = med.props("MediaConvertRole")
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "mediaconvert.amazonaws.com"}
    assert "aws:SourceAccount" in dumps(trust["Condition"])
    st = statements(role["Policies"][0]["PolicyDocument"])
    assert st["ReadUploads"]["Action"] == ["s3:GetObject"]
    assert st["ReadUploads"]["Resource"] == [
        {"Fn::Join": ["", ["<from:UploadsBucketArn>", "/uploads/*"]]}
    ]
    assert st["WriteMedia"]["Action"] == ["s3:PutObject"]
    assert st["WriteMedia"]["Resource"] == [
        {"Fn::Join": ["", ["<from:MediaBucketArn>", "/media/*"]]}
    ]
    assert st["StorageKey"]["Resource"] == [KEY]
    assert set(st) == {"ReadUploads", "WriteMedia", "StorageKey"}


def test_job_template_is_an_hls_ladder_plus_thumbnails(med):
    settings = med.props("HlsJobTemplate")["SettingsJson"]
    hls, thumbs = settings["OutputGroups"]
    assert hls["OutputGroupSettings"]["Type"] == "HLS_GROUP_SETTINGS"
    heights = [o["VideoDescription"]["Height"] for o in hls["Outputs"]]
    assert heights == [1080, 720, 480] == [rung[2] for rung in LADDER]
    assert all(o["ContainerSettings"]["Container"] == "M3U8" for o in hls["Outputs"])
    assert len({o["NameModifier"] for o in hls["Outputs"]}) == 3
    assert thumbs["OutputGroupSettings"]["Type"] == "FILE_GROUP_SETTINGS"
    (thumb,) = thumbs["Outputs"]
    assert thumb["VideoDescription"]["CodecSettings"]["Codec"] == "FRAME_CAPTURE"
    assert thumb["Extension"] == "jpg"
    for group, field in ((hls, "HlsGroupSettings"), (thumbs, "FileGroupSettings")):
        group_settings = group["OutputGroupSettings"][field]
        assert "Destination" not in group_settings  # set per job: media/<id>/
        assert group_settings["DestinationSettings"]["S3Settings"]["Encryption"] == {
            "EncryptionType": "SERVER_SIDE_ENCRYPTION_KMS",
            "KmsKeyArn": KEY,
        }


def test_job_state_changes_go_to_the_platform_bus(med):
    rule = med.props("JobStateRule")
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.mediaconvert"]
    assert pattern["detail-type"] == ["MediaConvert Job State Change"]
    assert pattern["detail"]["status"] == ["COMPLETE", "ERROR"]
    # Only this stack's jobs: the function tags them with the same application value.
    assert pattern["detail"]["userMetadata"]["application"] == [
        med.props("TranscodeFunction")["Environment"]["Variables"]["APPLICATION"]
    ]
    (target,) = rule["Targets"]
    assert target["Arn"] == "<from:EventBusArn>"
    assert target["RoleArn"] == {"Fn::GetAtt": ["JobEventsRole", "Arn"]}
    st = statements(med.props("JobEventsRole")["Policies"][0]["PolicyDocument"])
    assert [(s["Action"], s["Resource"]) for s in st.values()] == [
        (["events:PutEvents"], ["<from:EventBusArn>"])
    ]


def test_dead_letter_queue_encrypted_and_only_our_rules_write(med):
    queue = med.props("TranscodeDeadLetterQueue")
    assert queue["KmsMasterKeyId"] == KEY
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    st = statements(med.props("TranscodeDeadLetterQueuePolicy")["PolicyDocument"])
    assert st["DenyInsecureTransport"]["Effect"] == "Deny"
    allowed = st["EventBridgeRulesOfThisStack"]
    assert allowed["Principal"] == {"Service": "events.amazonaws.com"}
    assert allowed["Condition"]["ArnEquals"]["aws:SourceArn"] == [
        {"Fn::GetAtt": ["UploadCreatedRule", "Arn"]},
        {"Fn::GetAtt": ["JobStateRule", "Arn"]},
    ]


def test_wiring_parameters_have_no_default(template):
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    wiring = next(g["Parameters"] for g in groups if g["Label"]["default"] == "Wiring")
    assert set(wiring) == {
        "UploadsBucketName",
        "UploadsBucketArn",
        "MediaBucketName",
        "MediaBucketArn",
        "StorageKeyArn",
        "EventBusArn",
        "WorkloadBoundaryPolicy",
    }
    assert all("Default" not in template["Parameters"][p] for p in wiring)
