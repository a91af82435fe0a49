"""messaging: the jobs queue (with its dead-letter queue) the Celery-style workers
consume, and a custom EventBridge bus for platform events, with an archive and a
dead-letter queue for events it cannot encrypt or decrypt.

Queues, bus and archive are encrypted with the storage key, whose policy grants SQS
and EventBridge. Queues and the archive hold work and history, so they are retained
outside dev like any other stateful resource.
"""

from __future__ import annotations

from awacs import sqs as sqs_actions
from awacs.aws import Allow, ArnEquals, Bool, Condition, Deny, Policy, Principal, Statement
from troposphere import GetAtt, Ref, Sub, events, sqs

from templates.base import Tier

DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # the SQS maximum
MAX_RECEIVES = 5


class MessagingTier(Tier):
    name = "messaging"
    description = "Jobs queue with a dead-letter queue, EventBridge bus with an archive"

    def build(self) -> None:
        self.storage_key = self.wired(
            "StorageKeyArn",
            "security",
            Type="String",
            Description="ARN of the storage KMS key (security tier): queues, bus, archive.",
        )
        self.queues()
        self.event_bus()

    # -- SQS ---------------------------------------------------------------------
    def queues(self) -> None:
        visibility = self.parameter(
            "JobsVisibilityTimeout",
            "Messaging",
            Type="Number",
            Default=900,
            MinValue=30,
            MaxValue=43200,
            Description="Seconds a received job stays invisible to other workers; longer "
            "than the longest job (a transcode hand-off, a report), or it runs "
            "twice.",
        )
        retention = self.parameter(
            "JobsRetentionSeconds",
            "Messaging",
            Type="Number",
            Default=345600,
            MinValue=60,
            MaxValue=DLQ_RETENTION_SECONDS,
            Description="Seconds an unconsumed job is kept (default 4 days).",
        )
        encryption = dict(KmsMasterKeyId=self.storage_key, KmsDataKeyReusePeriodSeconds=300)
        self.add(
            self.stateful(
                sqs.Queue(
                    "JobsDeadLetterQueue",
                    MessageRetentionPeriod=DLQ_RETENTION_SECONDS,
                    Tags=self.tags("sqs", "jobs-dlq"),
                    **encryption,
                )
            )
        )
        self.add(
            self.stateful(
                sqs.Queue(
                    "JobsQueue",
                    VisibilityTimeout=visibility,
                    MessageRetentionPeriod=retention,
                    ReceiveMessageWaitTimeSeconds=20,
                    RedrivePolicy=sqs.RedrivePolicy(
                        deadLetterTargetArn=GetAtt("JobsDeadLetterQueue", "Arn"),
                        maxReceiveCount=MAX_RECEIVES,
                    ),
                    Tags=self.tags("sqs", "jobs"),
                    **encryption,
                )
            )
        )
        self._queue_policy("JobsQueuePolicy", ["JobsQueue", "JobsDeadLetterQueue"])
        self.output("JobsQueueUrl", Ref("JobsQueue"), "URL of the jobs queue")
        self.output("JobsQueueArn", GetAtt("JobsQueue", "Arn"), "ARN of the jobs queue")
        self.output(
            "JobsQueueName",
            GetAtt("JobsQueue", "QueueName"),
            "Name of the jobs queue (CloudWatch dimension QueueName)",
        )
        self.output(
            "JobsDeadLetterQueueUrl",
            Ref("JobsDeadLetterQueue"),
            "URL of the jobs dead-letter queue (for redrive)",
        )
        self.output(
            "JobsDeadLetterQueueArn",
            GetAtt("JobsDeadLetterQueue", "Arn"),
            f"ARN of the jobs dead-letter queue (jobs received {MAX_RECEIVES} times)",
        )
        self.output(
            "JobsDeadLetterQueueName",
            GetAtt("JobsDeadLetterQueue", "QueueName"),
            "Name of the jobs dead-letter queue",
        )

    def _queue_policy(self, logical: str, queues: list[str], statements=()) -> None:
        """TLS-only access to the queues, plus any grants."""
        arns = [GetAtt(q, "Arn") for q in queues]
        self.add(
            sqs.QueuePolicy(
                logical,
                Queues=[Ref(q) for q in queues],
                PolicyDocument=Policy(
                    Version="2012-10-17",
                    Statement=[
                        Statement(
                            Sid="DenyInsecureTransport",
                            Effect=Deny,
                            Principal=Principal("*"),
                            Action=[sqs_actions.Action("*")],
                            Resource=arns,
                            Condition=Condition(Bool("aws:SecureTransport", False)),
                        ),
                        *statements,
                    ],
                ),
            )
        )

    # -- EventBridge -------------------------------------------------------------
    def event_bus(self) -> None:
        archive_days = self.parameter(
            "EventArchiveRetentionDays",
            "Messaging",
            Type="Number",
            Default=30,
            MinValue=0,
            MaxValue=3650,
            Description="Days platform events are archived for replay (0 keeps them forever).",
        )
        # Events the bus cannot encrypt or decrypt (a key problem) land here instead of
        # being lost.
        self.add(
            self.stateful(
                sqs.Queue(
                    "EventBusDeadLetterQueue",
                    MessageRetentionPeriod=DLQ_RETENTION_SECONDS,
                    KmsMasterKeyId=self.storage_key,
                    KmsDataKeyReusePeriodSeconds=300,
                    Tags=self.tags("sqs", "bus-dlq"),
                )
            )
        )
        self._queue_policy(
            "EventBusDeadLetterQueuePolicy",
            ["EventBusDeadLetterQueue"],
            [
                Statement(
                    Sid="EventBridgeDeliversFailures",
                    Effect=Allow,
                    Principal=Principal("Service", "events.amazonaws.com"),
                    Action=[sqs_actions.SendMessage],
                    Resource=[GetAtt("EventBusDeadLetterQueue", "Arn")],
                    Condition=Condition(ArnEquals("aws:SourceArn", GetAtt("EventBus", "Arn"))),
                )
            ],
        )
        self.add(
            events.EventBus(
                "EventBus",
                Name=self.physical_name("bus", "platform"),
                Description="Platform events (uploads, transcodes, publications)",
                KmsKeyIdentifier=self.storage_key,
                DeadLetterConfig=events.DeadLetterConfig(
                    Arn=GetAtt("EventBusDeadLetterQueue", "Arn")
                ),
                Tags=self.tags("bus", "platform"),
            )
        )
        self.add(
            self.stateful(
                events.Archive(
                    "EventArchive",
                    SourceArn=GetAtt("EventBus", "Arn"),
                    Description=Sub("Every event of the streamstack ${Environment} platform bus"),
                    RetentionDays=archive_days,
                    KmsKeyIdentifier=self.storage_key,
                )
            )
        )
        self.output("EventBusName", Ref("EventBus"), "Name of the platform event bus")
        self.output("EventBusArn", GetAtt("EventBus", "Arn"), "ARN of the platform event bus")
        self.output(
            "EventBusDeadLetterQueueArn",
            GetAtt("EventBusDeadLetterQueue", "Arn"),
            "ARN of the queue receiving events the bus could not encrypt or decrypt",
        )
        self.output(
            "EventBusDeadLetterQueueName",
            GetAtt("EventBusDeadLetterQueue", "QueueName"),
            "Name of the event bus dead-letter queue (CloudWatch dimension)",
        )
        self.output(
            "EventArchiveArn",
            GetAtt("EventArchive", "Arn"),
            "ARN of the platform events archive (replays)",
        )
