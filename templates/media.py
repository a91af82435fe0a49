"""media: the video-on-demand pipeline (toggle MediaPipeline).

    uploads bucket --(S3 -> EventBridge, Object Created under uploads/)--> rule
      --> transcode Lambda (inline, DLQ, reserved concurrency, X-Ray)
      --> MediaConvert job from the HLS job template (1080p/720p/480p + thumbnails)
      --> media bucket, media/<id>/hls/ and media/<id>/thumbnails/
    MediaConvert Job State Change (COMPLETE | ERROR, jobs of this stack only)
      --> rule --> the platform event bus, where the application records the result.

The MediaConvert role may read only uploads/* of the uploads bucket and write only
media/* of the media bucket. The alarm on job errors lives in observability, next to
every other alarm and the topic they notify (it reads MediaConvertJobTemplateName).
"""

from __future__ import annotations

from awacs import events as events_actions
from awacs import iam as iam_actions
from awacs import kms as kms_actions
from awacs import mediaconvert as mc_actions
from awacs import s3 as s3_actions
from awacs import sqs as sqs_actions
from awacs.aws import (
    Allow,
    ArnEquals,
    Bool,
    Condition,
    Deny,
    Policy,
    Principal,
    Statement,
    StringEquals,
)
from troposphere import GetAtt, If, Join, Ref, Sub, awslambda, events, mediaconvert, sqs

from templates.base import Tier, arn
from templates.parts.functions import python_function
from templates.parts.iam import service_role

# (name modifier, width, height, max bitrate, QVBR quality) of the HLS ladder.
LADDER = [
    ("_1080p", 1920, 1080, 6_000_000, 8),
    ("_720p", 1280, 720, 3_500_000, 7),
    ("_480p", 854, 480, 1_500_000, 7),
]
AUDIO = {
    "CodecSettings": {
        "Codec": "AAC",
        "AacSettings": {"Bitrate": 96000, "CodingMode": "CODING_MODE_2_0", "SampleRate": 48000},
    }
}
DLQ_RETENTION_SECONDS = 14 * 24 * 3600


def hls_rendition(modifier: str, width: int, height: int, max_bitrate: int, quality: int) -> dict:
    return {
        "NameModifier": modifier,
        "ContainerSettings": {"Container": "M3U8", "M3u8Settings": {}},
        "VideoDescription": {
            "Width": width,
            "Height": height,
            "ScalingBehavior": "DEFAULT",
            "CodecSettings": {
                "Codec": "H_264",
                "H264Settings": {
                    "RateControlMode": "QVBR",
                    "QvbrSettings": {"QvbrQualityLevel": quality},
                    "MaxBitrate": max_bitrate,
                    "CodecProfile": "HIGH",
                    "GopSize": 2,
                    "GopSizeUnits": "SECONDS",
                    "SceneChangeDetect": "TRANSITION_DETECTION",
                },
            },
        },
        "AudioDescriptions": [AUDIO],
        "OutputSettings": {"HlsSettings": {}},
    }


def job_settings(key_arn) -> dict:
    """SettingsJson of the job template; destinations are set per job by the Lambda.

    Outputs are written SSE-KMS with the storage key: the media bucket's policy denies
    any other encryption.
    """
    encryption = {
        "S3Settings": {
            "Encryption": {"EncryptionType": "SERVER_SIDE_ENCRYPTION_KMS", "KmsKeyArn": key_arn}
        }
    }
    return {
        "TimecodeConfig": {"Source": "ZEROBASED"},
        "Inputs": [
            {
                "AudioSelectors": {"Audio Selector 1": {"DefaultSelection": "DEFAULT"}},
                "VideoSelector": {},
                "TimecodeSource": "ZEROBASED",
            }
        ],
        "OutputGroups": [
            {
                "Name": "HLS ABR",
                "OutputGroupSettings": {
                    "Type": "HLS_GROUP_SETTINGS",
                    "HlsGroupSettings": {
                        "SegmentLength": 6,
                        "MinSegmentLength": 0,
                        "SegmentControl": "SEGMENTED_FILES",
                        "DirectoryStructure": "SINGLE_DIRECTORY",
                        "ManifestDurationFormat": "INTEGER",
                        "OutputSelection": "MANIFESTS_AND_SEGMENTS",
                        "DestinationSettings": encryption,
                    },
                },
                "Outputs": [hls_rendition(*rung) for rung in LADDER],
            },
            {
                "Name": "Thumbnails",
                "OutputGroupSettings": {
                    "Type": "FILE_GROUP_SETTINGS",
                    "FileGroupSettings": {"DestinationSettings": encryption},
                },
                "Outputs": [
                    {
                        "NameModifier": "_thumb",
                        "Extension": "jpg",
                        "ContainerSettings": {"Container": "RAW"},
                        "VideoDescription": {
                            "Width": 1280,
                            "Height": 720,
                            "ScalingBehavior": "DEFAULT",
                            "CodecSettings": {
                                "Codec": "FRAME_CAPTURE",
                                "FrameCaptureSettings": {
                                    "FramerateNumerator": 1,
                                    "FramerateDenominator": 10,
                                    "MaxCaptures": 10,
                                    "Quality": 80,
                                },
                            },
                        },
                    }
                ],
            },
        ],
    }


class MediaTier(Tier):
    name = "media"
    description = (
        "video-on-demand pipeline: uploads -> EventBridge -> Lambda -> MediaConvert "
        "HLS in the media bucket, job events to the platform bus"
    )

    def build(self) -> None:
        self.on = self.toggle(
            "MediaPipeline",
            "Media",
            "enabled",
            "enabled: transcode every upload under uploads/ into HLS (1080p/720p/480p) and "
            "thumbnails with MediaConvert (billed per output minute); disabled: no pipeline.",
        )
        self.uploads_name = self._wired(
            "UploadsBucketName", "storage", "Name of the uploads bucket"
        )
        self.uploads_arn = self._wired("UploadsBucketArn", "storage", "ARN of the uploads bucket")
        self.media_name = self._wired("MediaBucketName", "storage", "Name of the media bucket")
        self.media_arn = self._wired("MediaBucketArn", "storage", "ARN of the media bucket")
        self.key_arn = self._wired(
            "StorageKeyArn", "security", "ARN of the storage KMS key (security tier)"
        )
        self.bus_arn = self._wired(
            "EventBusArn", "messaging", "ARN of the platform event bus (messaging tier)"
        )
        # Tags the jobs of this stack, so the job-state rule ignores anyone else's jobs.
        self.application = Sub("streamstack-${Environment}-${AWS::StackName}")
        self.job_template()
        self.mediaconvert_role()
        self.dead_letter_queue()
        self.transcode_function()
        self.upload_rule()
        self.job_state_rule()

    def _wired(self, name: str, source: str, description: str) -> Ref:
        return self.wired(name, source, Description=f"{description}.")

    def _output(self, name: str, value, description: str) -> None:
        self.output(
            name, If(self.on, value, ""), f'{description} ("" when MediaPipeline is disabled)'
        )

    # -- MediaConvert ------------------------------------------------------------
    def job_template(self) -> None:
        self.add(
            mediaconvert.JobTemplate(
                "HlsJobTemplate",
                Condition=self.on,
                Description=Sub("streamstack ${Environment}: HLS ABR 1080p/720p/480p + thumbnails"),
                Category="streamstack",
                SettingsJson=job_settings(self.key_arn),
                AccelerationSettings=mediaconvert.AccelerationSettings(Mode="PREFERRED"),
                StatusUpdateInterval="SECONDS_60",
                Tags={
                    "Name": self.physical_name("mediaconvert", "hls"),
                    "Environment": Ref("Environment"),
                },
            )
        )
        self._output(
            "MediaConvertJobTemplateName",
            Ref("HlsJobTemplate"),
            "MediaConvert job template of the HLS ladder",
        )

    def mediaconvert_role(self) -> None:
        service_role(
            self,
            "MediaConvertRole",
            "mediaconvert.amazonaws.com",
            "mediaconvert",
            [
                Statement(
                    Sid="ReadUploads",
                    Effect=Allow,
                    Action=[s3_actions.GetObject],
                    Resource=[Join("", [self.uploads_arn, "/uploads/*"])],
                ),
                Statement(
                    Sid="WriteMedia",
                    Effect=Allow,
                    Action=[s3_actions.PutObject],
                    Resource=[Join("", [self.media_arn, "/media/*"])],
                ),
                Statement(
                    Sid="StorageKey",
                    Effect=Allow,
                    Action=[kms_actions.Decrypt, kms_actions.GenerateDataKey],
                    Resource=[self.key_arn],
                ),
            ],
            policy_name="transcode",
            condition=self.on,
        )
        self._output(
            "MediaConvertRoleArn",
            GetAtt("MediaConvertRole", "Arn"),
            "Role MediaConvert assumes: reads uploads/*, writes media/*",
        )

    # -- transcode function --------------------------------------------------------
    def dead_letter_queue(self) -> None:
        self.add(
            sqs.Queue(
                "TranscodeDeadLetterQueue",
                Condition=self.on,
                KmsMasterKeyId=self.key_arn,
                KmsDataKeyReusePeriodSeconds=3600,
                MessageRetentionPeriod=DLQ_RETENTION_SECONDS,
                Tags=self.tags("sqs", "transcode-dlq"),
            )
        )
        queue_arn = GetAtt("TranscodeDeadLetterQueue", "Arn")
        # EventBridge parks events here when it cannot invoke a target; the function's
        # role (its own DLQ) is granted in its IAM policy.
        self.add(
            sqs.QueuePolicy(
                "TranscodeDeadLetterQueuePolicy",
                Condition=self.on,
                Queues=[Ref("TranscodeDeadLetterQueue")],
                PolicyDocument=Policy(
                    Version="2012-10-17",
                    Statement=[
                        Statement(
                            Sid="DenyInsecureTransport",
                            Effect=Deny,
                            Principal=Principal("*"),
                            Action=[sqs_actions.Action("*")],
                            Resource=[queue_arn],
                            Condition=Condition(Bool("aws:SecureTransport", False)),
                        ),
                        Statement(
                            Sid="EventBridgeRulesOfThisStack",
                            Effect=Allow,
                            Principal=Principal("Service", "events.amazonaws.com"),
                            Action=[sqs_actions.SendMessage],
                            Resource=[queue_arn],
                            Condition=Condition(
                                ArnEquals(
                                    "aws:SourceArn",
                                    [
                                        GetAtt("UploadCreatedRule", "Arn"),
                                        GetAtt("JobStateRule", "Arn"),
                                    ],
                                )
                            ),
                        ),
                    ],
                ),
            )
        )
        self._output(
            "TranscodeDeadLetterQueueName",
            GetAtt("TranscodeDeadLetterQueue", "QueueName"),
            "Dead-letter queue of uploads that could not be submitted for transcoding",
        )
        self._output(
            "TranscodeDeadLetterQueueArn", queue_arn, "ARN of the transcode dead-letter queue"
        )

    def transcode_function(self) -> None:
        concurrency = self.parameter(
            "TranscodeConcurrency",
            "Media",
            "Transcode submitter concurrency",
            Type="Number",
            Default=5,
            MinValue=1,
            MaxValue=100,
            Description="Reserved concurrency of the function that submits MediaConvert jobs "
            "(caps the submission rate; Lambda keeps 10 unreserved per account, so "
            "an account limited to 10 cannot reserve any).",
        )
        template_arn = GetAtt("HlsJobTemplate", "Arn")
        python_function(
            self,
            "TranscodeFunction",
            "transcode",
            purpose="transcode",
            description="Submits a MediaConvert HLS job for each upload under uploads/",
            condition=self.on,
            key_arn=self.key_arn,
            calls="MediaConvert",
            concurrency=concurrency,
            dead_letter_arn=GetAtt("TranscodeDeadLetterQueue", "Arn"),
            environment={
                "JOB_TEMPLATE": Ref("HlsJobTemplate"),
                "MEDIA_BUCKET": self.media_name,
                "MEDIACONVERT_ROLE_ARN": GetAtt("MediaConvertRole", "Arn"),
                "APPLICATION": self.application,
            },
            statements=[
                Statement(
                    Sid="ReadJobTemplate",
                    Effect=Allow,
                    Action=[mc_actions.GetJobTemplate],
                    Resource=[template_arn],
                ),
                Statement(
                    Sid="SubmitJobs",
                    Effect=Allow,
                    Action=[mc_actions.CreateJob],
                    Resource=[
                        template_arn,
                        arn("mediaconvert", "queues/Default"),
                        arn("mediaconvert", "jobs/*"),
                    ],
                ),
                Statement(
                    Sid="PassMediaConvertRole",
                    Effect=Allow,
                    Action=[iam_actions.PassRole],
                    Resource=[GetAtt("MediaConvertRole", "Arn")],
                    Condition=Condition(
                        StringEquals("iam:PassedToService", "mediaconvert.amazonaws.com")
                    ),
                ),
                Statement(
                    Sid="OwnDeadLetterQueue",
                    Effect=Allow,
                    Action=[sqs_actions.SendMessage],
                    Resource=[GetAtt("TranscodeDeadLetterQueue", "Arn")],
                ),
                Statement(
                    Sid="EncryptedDeadLetters",
                    Effect=Allow,
                    Action=[kms_actions.GenerateDataKey, kms_actions.Decrypt],
                    Resource=[self.key_arn],
                ),
            ],
        )
        self._output(
            "TranscodeFunctionArn",
            GetAtt("TranscodeFunction", "Arn"),
            "Lambda function that submits MediaConvert jobs for uploads",
        )
        self._output(
            "TranscodeFunctionName",
            Ref("TranscodeFunction"),
            "Name of the transcode submitter function (alarms, logs)",
        )

    # -- rules -------------------------------------------------------------------
    def _retry(self) -> dict:
        return dict(
            RetryPolicy=events.RetryPolicy(MaximumRetryAttempts=8, MaximumEventAgeInSeconds=3600),
            DeadLetterConfig=events.DeadLetterConfig(Arn=GetAtt("TranscodeDeadLetterQueue", "Arn")),
        )

    def upload_rule(self) -> None:
        self.add(
            events.Rule(
                "UploadCreatedRule",
                Condition=self.on,
                State="ENABLED",
                Description="An object created under uploads/ in the uploads bucket starts a "
                "transcode",
                EventPattern={
                    "source": ["aws.s3"],
                    "detail-type": ["Object Created"],
                    "detail": {
                        "bucket": {"name": [self.uploads_name]},
                        "object": {"key": [{"prefix": "uploads/"}]},
                    },
                },
                Targets=[
                    events.Target(
                        Id="transcode", Arn=GetAtt("TranscodeFunction", "Arn"), **self._retry()
                    )
                ],
            )
        )
        self.add(
            awslambda.Permission(
                "TranscodeFunctionInvokeFromRule",
                Condition=self.on,
                FunctionName=GetAtt("TranscodeFunction", "Arn"),
                Action="lambda:InvokeFunction",
                Principal="events.amazonaws.com",
                SourceAccount=Ref("AWS::AccountId"),
                SourceArn=GetAtt("UploadCreatedRule", "Arn"),
            )
        )

    def job_state_rule(self) -> None:
        service_role(
            self,
            "JobEventsRole",
            "events.amazonaws.com",
            "job-events",
            [
                Statement(Effect=Allow, Action=[events_actions.PutEvents], Resource=[self.bus_arn]),
            ],
            policy_name="forward-job-events",
            condition=self.on,
        )
        self.add(
            events.Rule(
                "JobStateRule",
                Condition=self.on,
                State="ENABLED",
                Description="MediaConvert jobs of this stack that completed or failed, forwarded "
                "to the platform event bus",
                EventPattern={
                    "source": ["aws.mediaconvert"],
                    "detail-type": ["MediaConvert Job State Change"],
                    "detail": {
                        "status": ["COMPLETE", "ERROR"],
                        "userMetadata": {"application": [self.application]},
                    },
                },
                Targets=[
                    events.Target(
                        Id="platform-bus",
                        Arn=self.bus_arn,
                        RoleArn=GetAtt("JobEventsRole", "Arn"),
                        **self._retry(),
                    )
                ],
            )
        )
        self._output(
            "JobStateRuleArn",
            GetAtt("JobStateRule", "Arn"),
            "Rule forwarding MediaConvert COMPLETE/ERROR events to the platform bus",
        )
