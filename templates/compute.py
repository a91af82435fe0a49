"""compute: the ECS Fargate cluster, the api/web/worker/scheduler services, their roles,
autoscaling, and the scheduled jobs (EventBridge Scheduler running the worker task
definition). It reads the data tier's endpoints and secrets and the load-balancer tier's
target groups, so it is the tier that waits for Aurora:

    load-balancer, data, messaging -> compute

The api (/api/*) and web (everything else) services register in the load-balancer
tier's target groups and run in the app subnets on AppPort; the worker and scheduler
run behind no load balancer.

Secrets reach containers only through the task definitions' `Secrets` (the execution
role reads exactly those); endpoints and names are plain environment variables. The
database takes no secret at all: the tasks sign in as DB_USER with IAM database
authentication (rds-db:connect), and the master secret stays with the data tier for
administration. The Redis AUTH token and the application secret rotate on a schedule
(SecretRotation): a function of this tier replaces them and then rolls the services,
whose new tasks start with the new values.

Releases (ReleaseStrategy): `rolling` replaces tasks in place behind the blue target
group; `blue-green` uses ECS's own blue/green strategy: the new revision starts in the
other target group, answers the test rule (header X-Release-Stage: test) first, then
takes the production traffic, and the old revision keeps running for ReleaseBakeMinutes
so a rollback is a weight change. Either way a release rolls back by itself when its
tasks do not become healthy (circuit breaker) or its release alarm (the service's 5xx
rate over both target groups) goes off.

Tracing (`Tracing`, off in dev): every task definition runs an AWS Distro for
OpenTelemetry collector beside the application, which receives OTLP and X-Ray segments
on localhost and sends them to X-Ray; the ALB's X-Amzn-Trace-Id header and the
application's SDK make the path ALB -> service -> Aurora/DynamoDB one trace. The
containers log JSON lines (docs/logging.md); their error lines are the
ApplicationErrors metric. The worker mounts the EFS access point for processing
files, with TLS and IAM authorization.
"""

from __future__ import annotations

from dataclasses import dataclass

from awacs import cloudwatch as cw_actions
from awacs import dynamodb as ddb_actions
from awacs import ecs as ecs_actions
from awacs import elasticache as elasticache_actions
from awacs import elasticfilesystem as efs_actions
from awacs import elasticloadbalancing as elb_actions
from awacs import events as events_actions
from awacs import execute_api as execute_api_actions
from awacs import iam as iam_actions
from awacs import kms as kms_actions
from awacs import rds_db as rds_db_actions
from awacs import s3 as s3_actions
from awacs import secretsmanager as sm_actions
from awacs import sqs as sqs_actions
from awacs import ssmmessages as ssmmessages_actions
from awacs import xray as xray_actions
from awacs.aws import Allow, ArnEquals, Condition, Statement, StringEquals
from troposphere import (
    And,
    GetAtt,
    Join,
    Ref,
    Select,
    Split,
    Sub,
    awslambda,
    cloudwatch,
    ecs,
    scheduler,
    secretsmanager,
)
from troposphere import (
    Condition as IsTrue,
)
from troposphere import Condition as TCondition
from troposphere import (
    applicationautoscaling as aas,
)

from templates.base import AWS_NO_VALUE, LOG_RETENTION_DAYS, Equals, If, Not, Tier
from templates.parts import third_party
from templates.parts.functions import python_function
from templates.parts.iam import (
    policy_dict,
    secrets_key_statement,
    service_role,
    task_execution_role,
)
from templates.parts.images import PLACEHOLDER_IMAGE, TRACING_COLLECTOR_IMAGE
from templates.parts.logs import APP_METRICS_NAMESPACE, error_metric_filter, log_group
from templates.parts.standby import replicates, standby_parameter

# Valid Fargate CPU/memory combinations (CPU units / MiB), as "cpu/memory".
FARGATE_SIZES = [
    "256/512",
    "256/1024",
    "256/2048",
    "512/1024",
    "512/2048",
    "512/3072",
    "512/4096",
    "1024/2048",
    "1024/3072",
    "1024/4096",
    "1024/6144",
    "1024/8192",
    "2048/4096",
    "2048/6144",
    "2048/8192",
    "2048/12288",
    "2048/16384",
    "4096/8192",
    "4096/12288",
    "4096/16384",
    "4096/30720",
]
# The collector's X-Ray configuration (OTLP on 4317/4318 and X-Ray UDP on 2000, to X-Ray).
TRACING_COLLECTOR_CONFIG = "--config=/etc/ecs/ecs-xray.yaml"
PROCESSING_PATH = "/mnt/processing"  # where the worker mounts the EFS access point


@dataclass(frozen=True)
class ServiceSpec:
    """One ECS service, `<name>Service`, with its task definition, log group and
    `<name>TaskSize` parameter.

    Defaults: behind no load balancer; its own image parameter `<name>Image`
    (described by `image`), or the one of `image_of`; the image's own command, unless
    `command` gives an example for a `<name>Command` parameter; 30 s to stop; a scaled
    service (no DesiredCount, deployments keep ServiceMinHealthyPercent and may reach
    ServiceMaxPercent, the cluster's capacity strategy, AZ rebalancing) unless
    `singleton`; no autoscaling unless `scaling` gives the default fewest and most tasks.
    """

    name: str
    runs: str  # what it runs, for descriptions
    task_size: str  # default CPU units/MiB
    image: str | None = None
    image_of: str | None = None
    command: str | None = None
    behind_alb: bool = False  # in the load-balancer tier's <name>TargetGroupArn
    stop_timeout: int = 30
    # Exactly one task, on FARGATE: a deployment stops the old task before it starts the
    # new one (beat must never run twice).
    singleton: bool = False
    scaling: tuple[int, int] | None = None
    scale_on_cpu_and_memory: bool = False
    # Mounts the EFS access point at PROCESSING_PATH (TLS, IAM authorization).
    processing_storage: bool = False


SERVICES = (
    ServiceSpec(
        "Api",
        "the HTTP API (/api/*)",
        "512/1024",
        behind_alb=True,
        image="Image of the api containers; they listen on AppPort and answer "
        "/health. The default is a public placeholder that does.",
        scaling=(2, 10),
        scale_on_cpu_and_memory=True,
    ),
    ServiceSpec(
        "Web",
        "the web front end (every other path)",
        "256/512",
        behind_alb=True,
        image="Image of the web containers (AppPort, /health).",
        scaling=(2, 6),
        scale_on_cpu_and_memory=True,
    ),
    # Workers get two minutes to finish the job in hand.
    ServiceSpec(
        "Worker",
        "Celery-style workers consuming the jobs queue",
        "512/1024",
        image="Image of the worker and scheduler containers and the scheduled jobs "
        "(the application image with Celery).",
        command="celery -A app worker",
        stop_timeout=120,
        scaling=(1, 10),
        processing_storage=True,
    ),
    ServiceSpec(
        "Scheduler",
        "the beat scheduler (exactly one task)",
        "256/512",
        image_of="Worker",
        command="celery -A app beat",
        singleton=True,
    ),
)
MAX_TASKS = 100  # ceiling of every <name>MinTasks/<name>MaxTasks parameter
# scheduled job -> (schedule, command run in the worker task definition)
JOBS = {
    "NightlyMaintenance": ("cron(0 3 * * ? *)", "celery,-A,app,call,app.tasks.nightly_maintenance"),
    "Reports": ("cron(30 5 * * ? *)", "celery,-A,app,call,app.tasks.daily_reports"),
}
SPOT_WEIGHTED = [
    ecs.CapacityProviderStrategyItem(CapacityProvider="FARGATE", Base=1, Weight=1),
    ecs.CapacityProviderStrategyItem(CapacityProvider="FARGATE_SPOT", Weight=3),
]
ON_DEMAND = [ecs.CapacityProviderStrategyItem(CapacityProvider="FARGATE", Weight=1)]


class ComputeTier(Tier):
    name = "compute"
    description = "ECS Fargate cluster, api/web/worker/scheduler services, scheduled jobs"

    def build(self) -> None:
        self.inputs()
        self.cluster()
        self.log_groups()
        self.third_party_secrets()
        self.roles()
        self.task_definitions()
        self.releases()
        self.services()
        self.autoscaling()
        self.scheduled_jobs()
        self.secret_rotation()

    # -- inputs ------------------------------------------------------------------
    def inputs(self) -> None:
        w = self.wired
        self.app_subnets = w(
            "AppSubnetIds",
            "network",
            Type="List<AWS::EC2::Subnet::Id>",
            Description="App subnets of the tasks (network tier).",
        )
        self.app_sg = w(
            "AppSecurityGroupId",
            "security",
            Type="AWS::EC2::SecurityGroup::Id",
            Description="Security group of the tasks (security tier).",
        )
        self.data_key = w(
            "DataKeyArn", "security", Description="Data KMS key (security tier): secrets, DynamoDB."
        )
        self.storage_key = w(
            "StorageKeyArn",
            "security",
            Description="Storage KMS key (security tier): logs, S3, SQS, events.",
        )
        self.buckets = {}
        for bucket in ("Media", "Uploads", "Static"):
            self.buckets[bucket] = (
                w(
                    f"{bucket}BucketName",
                    "storage",
                    Description=f"{bucket} bucket name (storage tier).",
                ),
                w(
                    f"{bucket}BucketArn",
                    "storage",
                    Description=f"{bucket} bucket ARN (storage tier).",
                ),
            )
        # Container environment variable -> (wired input, its tier, what it is).
        inputs = {
            "DB_HOST": ("DbEndpoint", "data", "Aurora writer endpoint (data tier)."),
            "DB_READER_HOST": ("DbReaderEndpoint", "data", "Aurora reader endpoint (data tier)."),
            "DB_PORT": ("DbPort", "data", "Aurora port (data tier)."),
            "DB_NAME": ("DbName", "data", "Application database name (data tier)."),
            "REDIS_HOST": ("RedisEndpoint", "data", "Redis primary endpoint (data tier)."),
            "REDIS_PORT": ("RedisPort", "data", "Redis port (data tier)."),
            "VIDEOS_TABLE": (
                "VideosTableName",
                "data",
                "Videos table name, empty when off (data tier).",
            ),
            "JOBS_QUEUE_URL": ("JobsQueueUrl", "messaging", "Jobs queue URL (messaging tier)."),
            "METADATA_API_URL": (
                "MetadataApiUrl",
                "api",
                "Base URL of the metadata API stage, empty when off (api tier).",
            ),
            "EVENT_BUS_NAME": ("EventBusName", "messaging", "Platform event bus (messaging tier)."),
        }
        self.env_inputs = {
            **{
                variable: w(name, source, Description=description)
                for variable, (name, source, description) in inputs.items()
            },
            "MEDIA_BUCKET": self.buckets["Media"][0],
            "UPLOADS_BUCKET": self.buckets["Uploads"][0],
            "STATIC_BUCKET": self.buckets["Static"][0],
        }
        self.db_resource_id = w(
            "DbClusterResourceId",
            "data",
            Description="Resource id of the Aurora cluster (data tier): IAM database "
            "authentication.",
        )
        self.env_inputs["DB_USER"] = w(
            "DbAppUsername", "data", Description="The application's database user (data tier)."
        )
        self.redis_group = w(
            "RedisReplicationGroupId",
            "data",
            Description="Redis/Valkey replication group (data tier): AUTH token rotation.",
        )
        self.redis_secret = w(
            "RedisAuthSecretArn", "data", Description="Redis AUTH token secret (data tier)."
        )
        self.app_secret = w("AppSecretArn", "data", Description="Application secret (data tier).")
        self.videos_table_arn = w(
            "VideosTableArn", "data", Description="Videos table ARN, empty when off (data tier)."
        )
        self.jobs_queue_arn = w(
            "JobsQueueArn", "messaging", Description="Jobs queue ARN (messaging tier)."
        )
        self.jobs_queue_name = w(
            "JobsQueueName", "messaging", Description="Jobs queue name (messaging tier)."
        )
        self.event_bus_arn = w(
            "EventBusArn", "messaging", Description="Platform event bus ARN (messaging tier)."
        )
        self.target_group_arns = {
            spec.name: w(
                f"{spec.name}TargetGroupArn",
                "load-balancer",
                Description=f"Target group the {spec.name.lower()} service registers "
                "in (load-balancer tier).",
            )
            for spec in SERVICES
            if spec.behind_alb
        }
        self.alternate_arns = {
            name: w(
                f"{name}AlternateTargetGroupArn",
                "load-balancer",
                Description=f"The {name.lower()} service's second target group, for blue/green "
                "releases (load-balancer tier).",
            )
            for name in self.target_group_arns
        }
        self.rule_arns = {
            name: {
                kind: w(
                    f"{name}{prefix}ListenerRuleArn",
                    "load-balancer",
                    Description=f"The {name.lower()} {kind} listener rule whose weights a "
                    "blue/green release moves (load-balancer tier).",
                )
                for kind, prefix in (("production", ""), ("test", "Test"))
            }
            for name in self.target_group_arns
        }
        self.listener_arn = w(
            "AlbListenerArn",
            "load-balancer",
            Description="Listener serving traffic (load-balancer tier): blue/green releases.",
        )
        self.full_names = {
            name: [
                w(
                    f"{name}{variant}TargetGroupFullName",
                    "load-balancer",
                    Description=f"targetgroup/<name>/<id> of the {name.lower()} {colour} target "
                    "group (load-balancer tier): scaling and release alarms.",
                )
                for variant, colour in (("", "blue"), ("Alternate", "green"))
            ]
            for name in self.target_group_arns
        }
        self.alb_full_name = w(
            "AlbFullName",
            "load-balancer",
            Description="app/<name>/<id> of the ALB (load-balancer tier): "
            "the api's request-count scaling.",
        )
        self.metadata_api_id = w(
            "MetadataApiId",
            "api",
            Description="ID of the metadata HTTP API, empty when off (api tier).",
        )
        self.metadata_api_stage = w(
            "MetadataApiStageName",
            "api",
            Description="Stage of the metadata API, empty when off (api tier).",
        )
        self.file_system_id = w(
            "FileSystemId", "storage", Description="Shared EFS file system (storage tier)."
        )
        self.file_system_arn = w(
            "FileSystemArn", "storage", Description="ARN of the EFS file system (storage tier)."
        )
        self.access_point_id = w(
            "AppAccessPointId",
            "storage",
            Description="EFS access point the worker mounts (storage tier).",
        )
        self.access_point_arn = w(
            "AppAccessPointArn", "storage", Description="ARN of that access point (storage tier)."
        )
        self.condition("HasVideosTable", Not(Equals(self.videos_table_arn, "")))
        self.condition("HasMetadataApi", Not(Equals(self.metadata_api_id, "")))
        self.app_port = self.shared_parameter("AppPort")

    # -- cluster -----------------------------------------------------------------
    def cluster(self) -> None:
        strategy = self.parameter(
            "CapacityStrategy",
            "Compute",
            Type="String",
            AllowedValues=["on-demand", "spot-weighted"],
            Default="on-demand",
            Description="on-demand: every task on FARGATE. spot-weighted: one task per "
            "service on FARGATE, the rest 3:1 on FARGATE_SPOT (about 70% cheaper, "
            "tasks may be interrupted with 2 minutes' notice). The scheduler and "
            "scheduled jobs always run on FARGATE.",
        )
        self.condition("SpotWeighted", Equals(strategy, "spot-weighted"))
        self.strategy = If("SpotWeighted", SPOT_WEIGHTED, ON_DEMAND)
        self.add(
            ecs.Cluster(
                "Cluster",
                ClusterSettings=[ecs.ClusterSetting(Name="containerInsights", Value="enabled")],
                CapacityProviders=["FARGATE", "FARGATE_SPOT"],
                DefaultCapacityProviderStrategy=self.strategy,
                Tags=self.tags("ecs", "cluster"),
            )
        )
        self.output("ClusterName", Ref("Cluster"), "Name of the ECS cluster")
        self.output("ClusterArn", GetAtt("Cluster", "Arn"), "ARN of the ECS cluster")

    # -- logs and roles ----------------------------------------------------------
    def log_groups(self) -> None:
        retention = self.parameter(
            "AppLogRetentionDays",
            "Compute",
            Type="Number",
            AllowedValues=LOG_RETENTION_DAYS,
            Default=30,
            Description="Days to keep container logs.",
        )
        for spec in SERVICES:
            log_group(
                self,
                f"{spec.name}LogGroup",
                f"ecs-{spec.name.lower()}",
                retention,
                self.storage_key,
            )
            error_metric_filter(self, f"{spec.name}ErrorsMetricFilter", f"{spec.name}LogGroup")

    # -- third-party secrets -------------------------------------------------------
    def third_party_secrets(self) -> None:
        """SLOTS empty secrets an operator fills (templates/parts/third_party.py): each
        exists when its slot has a name, and is injected into the services whose toggle
        of that slot is enabled. deploy.py sets both from the params file's `secrets:`."""
        for slot in range(1, third_party.SLOTS + 1):
            name = self.parameter(
                third_party.name_parameter(slot),
                "Compute",
                Type="String",
                Default="",
                AllowedPattern=third_party.NAME_PATTERN,
                Description=f"Container variable of third-party secret {slot} (set by deploy.py "
                "from the params file's secrets section); empty: none.",
                deploy_time=True,
            )
            exists = self.condition(f"HasThirdPartySecret{slot}", Not(Equals(name, "")))
            third_party.injection_conditions(
                self,
                slot,
                third_party.READERS,
                IsTrue(exists),
                "Compute",
                "enabled: third-party secret {slot} is injected into the {service} containers "
                "(set by deploy.py once it has a value).",
            )
            # No value: the operator puts it (never through CloudFormation, so it is in
            # no template, parameter or change set).
            secret = secretsmanager.Secret(
                f"ThirdPartySecret{slot}",
                Condition=exists,
                Name=Sub(third_party.SECRET_NAME % f"${{{third_party.name_parameter(slot)}}}"),
                Description=Sub(
                    f"${{{third_party.name_parameter(slot)}}} for the services of streamstack "
                    "${Environment}; its value is put by an operator"
                ),
                KmsKeyId=self.data_key,
                # The warm standby's services read it there (its value replicates too).
                ReplicaRegions=If(
                    replicates(self),
                    [
                        secretsmanager.ReplicaRegion(
                            Region=standby_parameter(self, "StandbyRegion"),
                            KmsKeyId=standby_parameter(self, "StandbyKeyArn"),
                        )
                    ],
                    Ref(AWS_NO_VALUE),
                ),
                Tags=self.tags("secret", f"third-party-{slot}"),
            )
            self.add(self.stateful(secret))
        third_party.reads_conditions(self, third_party.READERS)

    def _secrets(self) -> dict[str, Sub]:
        """Container secret -> valueFrom (JSON keys of the managed and app secrets)."""
        return {
            "REDIS_AUTH_TOKEN": self.redis_secret,
            "SECRET_KEY": Sub("${AppSecretArn}:SECRET_KEY::"),
            "JWT_SECRET": Sub("${AppSecretArn}:JWT_SECRET::"),
        }

    def _read_secrets(self, sid: str) -> list[Statement]:
        return [
            Statement(
                Sid=sid,
                Effect=Allow,
                Action=[sm_actions.GetSecretValue],
                Resource=[self.redis_secret, self.app_secret],
            ),
            secrets_key_statement(f"{sid}Decrypt", self.data_key),
        ]

    def _execution_role(self, service: str) -> None:
        """<service>ExecutionRole: what ECS needs to start the service's tasks (its
        image, its log group, the secrets its containers get)."""
        task_execution_role(
            self,
            service,
            f"ecs-execution-{service.lower()}",
            [
                *self._read_secrets("InjectedSecrets"),
                third_party.read_statement(service, lambda slot: Ref(f"ThirdPartySecret{slot}")),
            ],
            Sub("arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/*"),
        )
        self.output(
            f"{service}ExecutionRoleArn",
            GetAtt(f"{service}ExecutionRole", "Arn"),
            f"ARN of the {service.lower()} tasks' execution role (image pulls, logs, "
            "injected secrets)",
        )

    def roles(self) -> None:
        exec_enabled = self.toggle(
            "EcsExec",
            "Compute",
            "disabled",
            "enabled: `aws ecs execute-command` into running tasks (their root file system "
            "is then writable, which ECS Exec needs). disabled: no shell access.",
        )
        self.exec_enabled = exec_enabled
        self.tracing = self.toggle(
            "Tracing",
            "Compute",
            "enabled",
            "enabled: an AWS Distro for OpenTelemetry collector runs beside every container and "
            "sends its traces to X-Ray (the tasks may write traces); disabled: no collector "
            "(dev saves its CPU and memory).",
        )
        # One execution role per service: a third-party secret is readable only by the
        # services that list it.
        for spec in SERVICES:
            self._execution_role(spec.name)

        objects = [Join("", [arn, "/*"]) for _, arn in self.buckets.values()]
        task = service_role(
            self,
            "TaskRole",
            "ecs-tasks.amazonaws.com",
            "ecs-task",
            [
                Statement(
                    Sid="BucketObjects",
                    Effect=Allow,
                    Action=[
                        s3_actions.GetObject,
                        s3_actions.PutObject,
                        s3_actions.DeleteObject,
                        s3_actions.AbortMultipartUpload,
                    ],
                    Resource=objects,
                ),
                Statement(
                    Sid="ListBuckets",
                    Effect=Allow,
                    Action=[s3_actions.ListBucket],
                    Resource=[arn for _, arn in self.buckets.values()],
                ),
                Statement(
                    Sid="JobsQueue",
                    Effect=Allow,
                    Action=[
                        sqs_actions.SendMessage,
                        sqs_actions.ReceiveMessage,
                        sqs_actions.DeleteMessage,
                        sqs_actions.ChangeMessageVisibility,
                        sqs_actions.GetQueueAttributes,
                        sqs_actions.GetQueueUrl,
                    ],
                    Resource=[self.jobs_queue_arn],
                ),
                Statement(
                    Sid="PlatformEvents",
                    Effect=Allow,
                    Action=[events_actions.PutEvents],
                    Resource=[self.event_bus_arn],
                ),
                Statement(
                    Sid="KeysOfThoseResources",
                    Effect=Allow,
                    Action=[kms_actions.Decrypt, kms_actions.GenerateDataKey],
                    Resource=[self.storage_key, self.data_key],
                ),
                *self._read_secrets("OwnSecrets"),
                Statement(
                    Sid="DatabaseSignIn",
                    Effect=Allow,
                    Action=[rds_db_actions.connect],
                    Resource=[
                        Sub(
                            "arn:${AWS::Partition}:rds-db:${AWS::Region}:${AWS::AccountId}:"
                            "dbuser:${DbClusterResourceId}/${DbAppUsername}"
                        )
                    ],
                ),
                # Custom metrics only into the platform's own namespace (PutMetricData has
                # no resource-level permissions).
                Statement(
                    Sid="OwnMetrics",
                    Effect=Allow,
                    Action=[cw_actions.PutMetricData],
                    Resource=["*"],
                    Condition=Condition(
                        StringEquals("cloudwatch:namespace", Sub(APP_METRICS_NAMESPACE))
                    ),
                ),
                # The worker's processing files: through the access point only, over TLS.
                Statement(
                    Sid="ProcessingStorage",
                    Effect=Allow,
                    Action=[efs_actions.ClientMount, efs_actions.ClientWrite],
                    Resource=[self.file_system_arn],
                    Condition=Condition(
                        StringEquals("elasticfilesystem:AccessPointArn", self.access_point_arn)
                    ),
                ),
                If(
                    self.tracing,
                    policy_dict(
                        Statement(
                            Sid="Tracing",
                            Effect=Allow,
                            Action=[
                                xray_actions.PutTraceSegments,
                                xray_actions.PutTelemetryRecords,
                                xray_actions.GetSamplingRules,
                                xray_actions.GetSamplingTargets,
                                xray_actions.GetSamplingStatisticSummaries,
                            ],
                            Resource=["*"],
                        )
                    ),
                    Ref(AWS_NO_VALUE),
                ),
                If(
                    "HasVideosTable",
                    policy_dict(
                        Statement(
                            Sid="VideosTable",
                            Effect=Allow,
                            Action=[
                                ddb_actions.GetItem,
                                ddb_actions.BatchGetItem,
                                ddb_actions.Query,
                                ddb_actions.PutItem,
                                ddb_actions.UpdateItem,
                                ddb_actions.DeleteItem,
                                ddb_actions.BatchWriteItem,
                                ddb_actions.ConditionCheckItem,
                                ddb_actions.DescribeTable,
                            ],
                            Resource=[
                                self.videos_table_arn,
                                Join("", [self.videos_table_arn, "/index/*"]),
                            ],
                        )
                    ),
                    Ref(AWS_NO_VALUE),
                ),
                # The metadata API's writes (and, by default, reads) need SigV4: the
                # services call its /videos routes on this environment's stage only.
                If(
                    "HasMetadataApi",
                    policy_dict(
                        Statement(
                            Sid="MetadataApi",
                            Effect=Allow,
                            Action=[execute_api_actions.Invoke],
                            Resource=[
                                Sub(
                                    "arn:${AWS::Partition}:execute-api:${AWS::Region}:"
                                    "${AWS::AccountId}:${MetadataApiId}/"
                                    f"${{MetadataApiStageName}}/*/videos{suffix}"
                                )
                                for suffix in ("", "/*")
                            ],
                        )
                    ),
                    Ref(AWS_NO_VALUE),
                ),
                If(
                    exec_enabled,
                    policy_dict(
                        Statement(
                            Sid="EcsExecChannels",
                            Effect=Allow,
                            Action=[
                                ssmmessages_actions.CreateControlChannel,
                                ssmmessages_actions.CreateDataChannel,
                                ssmmessages_actions.OpenControlChannel,
                                ssmmessages_actions.OpenDataChannel,
                            ],
                            Resource=["*"],
                        )
                    ),
                    Ref(AWS_NO_VALUE),
                ),
            ],
            policy_name="application",
        )
        self.suppress(
            task,
            checkov={
                "CKV_AWS_111": "Only actions without resource-level permissions use *: the ECS "
                "Exec ssmmessages channels (with EcsExec), X-Ray's segment and sampling calls "
                "(with Tracing) and PutMetricData, which a condition keeps to the platform's "
                "namespace."
            },
        )
        self.output("TaskRoleArn", GetAtt("TaskRole", "Arn"), "ARN of the tasks' IAM role")

    # -- task definitions ----------------------------------------------------------
    def task_definitions(self) -> None:
        images = {
            spec.name: self.parameter(
                f"{spec.name}Image",
                "Compute",
                Type="String",
                Default=PLACEHOLDER_IMAGE,
                Description=f"{spec.image} Staging and prod accept only an image pinned by "
                "digest (...@sha256:<64 hex>) or one of this platform's ECR repositories, "
                "whose tags are immutable.",
            )
            for spec in SERVICES
            if spec.image
        }
        commands = {}
        for spec in (s for s in SERVICES if s.command):
            command = self.parameter(
                f"{spec.name}Command",
                "Compute",
                Type="String",
                Default="",
                AllowedPattern=r'^[^"\\]*$',
                Description=f"Comma-separated command of the {spec.name.lower()} container, "
                f"e.g. {','.join(spec.command.split())}. Empty: the image's own "
                "command (the placeholder image's server).",
            )
            self.condition(f"Has{spec.name}Command", Not(Equals(command, "")))
            commands[spec.name] = If(
                f"Has{spec.name}Command", Split(",", command), Ref(AWS_NO_VALUE)
            )
        user = self.parameter(
            "ContainerUser",
            "Compute",
            Type="String",
            Default="1000:1000",
            AllowedPattern=r"^[1-9][0-9]*(:[0-9]+)?$",
            ConstraintDescription="a non-root uid[:gid], e.g. 1000:1000",
            Description="Non-root uid:gid every container runs as.",
        )
        collector_image = self.parameter(
            "TracingCollectorImage",
            "Compute",
            Type="String",
            Default=TRACING_COLLECTOR_IMAGE,
            Description="Image of the AWS Distro for OpenTelemetry collector that runs beside "
            "every container when Tracing is enabled.",
        )
        common = {
            **self.env_inputs,
            "APP_ENV": Ref("Environment"),
            # Sign in to Aurora with a token of the task role (no password).
            "DB_IAM_AUTH": "true",
            "PORT": self.app_port,
            "WHOAMI_PORT_NUMBER": self.app_port,
            # The only namespace the task role may put metrics into.
            "METRICS_NAMESPACE": Sub(APP_METRICS_NAMESPACE),
        }
        # What the application's OpenTelemetry (or X-Ray) SDK reads, with the collector.
        tracing = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
            "OTEL_PROPAGATORS": "xray,tracecontext",
            "OTEL_PYTHON_ID_GENERATOR": "xray",
            "OTEL_RESOURCE_ATTRIBUTES": Sub("deployment.environment=${Environment}"),
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        }

        # A third-party secret must never shadow a variable the platform sets.
        unlisted = sorted(
            v
            for v in {*common, *tracing, *self._secrets(), "PROCESSING_DIR"}
            if v not in third_party.PLATFORM_VARIABLES
            and not v.startswith(third_party.RESERVED_PREFIXES)
        )
        if unlisted:
            raise ValueError(
                f"add {', '.join(unlisted)} to PLATFORM_VARIABLES in templates/parts/third_party.py"
            )

        def environment(spec: ServiceSpec, traced: bool) -> list:
            values = {**common}
            if spec.processing_storage:
                values["PROCESSING_DIR"] = PROCESSING_PATH
            if traced:
                values.update(tracing, OTEL_SERVICE_NAME=spec.name.lower())
            return [ecs.Environment(Name=k, Value=v) for k, v in sorted(values.items())]

        secrets = [ecs.Secret(Name=k, ValueFrom=v) for k, v in sorted(self._secrets().items())]
        for spec in SERVICES:
            name = spec.name
            size = self.parameter(
                f"{name}TaskSize",
                "Compute",
                Type="String",
                AllowedValues=FARGATE_SIZES,
                Default=spec.task_size,
                Description=f"CPU units/memory MiB of one {name.lower()} task ({spec.runs}); "
                "only combinations Fargate accepts.",
            )
            app = dict(
                Name=name.lower(),
                Image=images[spec.image_of or name],
                Essential=True,
                User=user,
                ReadonlyRootFilesystem=If(self.exec_enabled, False, True),
                MountPoints=[
                    ecs.MountPoint(SourceVolume="tmp", ContainerPath="/tmp", ReadOnly=False),
                    *(
                        [
                            ecs.MountPoint(
                                SourceVolume="processing",
                                ContainerPath=PROCESSING_PATH,
                                ReadOnly=False,
                            )
                        ]
                        if spec.processing_storage
                        else []
                    ),
                ],
                Secrets=[
                    *secrets,
                    *third_party.container_secrets(
                        name, lambda slot: Ref(f"ThirdPartySecret{slot}")
                    ),
                ],
                Command=commands.get(name, Ref(AWS_NO_VALUE)),
                StopTimeout=spec.stop_timeout,
                LogConfiguration=ecs.LogConfiguration(
                    LogDriver="awslogs",
                    Options={
                        "awslogs-group": Ref(f"{name}LogGroup"),
                        "awslogs-region": Ref("AWS::Region"),
                        "awslogs-stream-prefix": name.lower(),
                    },
                ),
            )
            if spec.behind_alb:
                app["PortMappings"] = [
                    ecs.PortMapping(ContainerPort=self.app_port, Protocol="tcp", Name="http")
                ]
            # Two variants, so no Fn::If on one condition sits inside another on it.
            plain = ecs.ContainerDefinition(**app, Environment=environment(spec, False))
            traced = ecs.ContainerDefinition(**app, Environment=environment(spec, True))
            collector = ecs.ContainerDefinition(
                Name="otel-collector",
                Image=collector_image,
                Essential=False,  # the application keeps serving if tracing fails
                Command=[TRACING_COLLECTOR_CONFIG],
                Cpu=64,
                MemoryReservation=128,
                User=user,
                ReadonlyRootFilesystem=True,
                LogConfiguration=ecs.LogConfiguration(
                    LogDriver="awslogs",
                    Options={
                        "awslogs-group": Ref(f"{name}LogGroup"),
                        "awslogs-region": Ref("AWS::Region"),
                        "awslogs-stream-prefix": "otel",
                    },
                ),
            )
            volumes = [ecs.Volume(Name="tmp")]
            if spec.processing_storage:
                volumes.append(
                    ecs.Volume(
                        Name="processing",
                        EFSVolumeConfiguration=ecs.EFSVolumeConfiguration(
                            FilesystemId=self.file_system_id,
                            TransitEncryption="ENABLED",
                            AuthorizationConfig=ecs.AuthorizationConfig(
                                AccessPointId=self.access_point_id, IAM="ENABLED"
                            ),
                        ),
                    )
                )
            self.add(
                ecs.TaskDefinition(
                    f"{name}TaskDefinition",
                    Family=self.physical_name("task", name.lower()),
                    RequiresCompatibilities=["FARGATE"],
                    NetworkMode="awsvpc",
                    Cpu=Select(0, Split("/", size)),
                    Memory=Select(1, Split("/", size)),
                    RuntimePlatform=ecs.RuntimePlatform(
                        OperatingSystemFamily="LINUX", CpuArchitecture="X86_64"
                    ),
                    ExecutionRoleArn=GetAtt(f"{name}ExecutionRole", "Arn"),
                    TaskRoleArn=GetAtt("TaskRole", "Arn"),
                    # Writable scratch space for a read-only root file system (and the
                    # worker's EFS processing storage).
                    Volumes=volumes,
                    ContainerDefinitions=If(self.tracing, [traced, collector], [plain]),
                    Tags=self.tags("task", name.lower()),
                )
            )

    # -- releases ------------------------------------------------------------------
    def releases(self) -> None:
        """Release settings, the role ECS moves the listener weights with (blue/green),
        and one release alarm per service behind the ALB."""
        strategy = self.parameter(
            "ReleaseStrategy",
            "Compute",
            Type="String",
            AllowedValues=["rolling", "blue-green"],
            Default="rolling",
            Description="How the api and web services release a new task definition. rolling: "
            "tasks are replaced in place. blue-green: the new revision starts beside the old "
            "one in the other target group, gets the test rule's traffic, then all "
            "production traffic; the old one stays ReleaseBakeMinutes for an instant "
            "rollback. Both roll back on their own when the release alarm goes off.",
        )
        self.blue_green = self.condition("BlueGreen", Equals(strategy, "blue-green"))
        self.bake_minutes = self.parameter(
            "ReleaseBakeMinutes",
            "Compute",
            Type="Number",
            Default=10,
            MinValue=0,
            MaxValue=1440,
            Description="blue-green: minutes the old revision keeps running after production "
            "traffic moved, watched by the release alarm (a rollback is a weight change).",
        )
        rate = self.parameter(
            "ReleaseRollback5xxRate",
            "Compute",
            Type="Number",
            Default=5,
            MinValue=1,
            MaxValue=100,
            Description="Percent of a service's requests answered 5xx, in 3 consecutive "
            "minutes, that rolls its release back.",
        )
        approval = self.toggle(
            "ReleaseApproval",
            "Compute",
            "disabled",
            "blue-green: enabled pauses each release after the test traffic, before "
            "production traffic moves, until someone continues it (make release-continue) "
            "or it times out after ReleaseApprovalMinutes and rolls back.",
        )
        timeout = self.parameter(
            "ReleaseApprovalMinutes",
            "Compute",
            Type="Number",
            Default=60,
            MinValue=1,
            MaxValue=1440,
            Description="ReleaseApproval: minutes a paused release waits before it rolls back.",
        )
        self.approval = self.condition(
            "ReleaseApprovalHook", And(TCondition(self.blue_green), TCondition(approval))
        )
        self.approval_hook = ecs.DeploymentLifecycleHook(
            TargetType="PAUSE",
            LifecycleStages=["PRE_PRODUCTION_TRAFFIC_SHIFT"],
            TimeoutConfiguration=ecs.HookTimeoutConfig(TimeoutInMinutes=timeout, Action="ROLLBACK"),
        )
        names = [spec.name for spec in SERVICES if spec.behind_alb]
        rules = [self.rule_arns[n][kind] for n in names for kind in ("production", "test")]
        groups = [arn for n in names for arn in (self.target_group_arns[n], self.alternate_arns[n])]
        role = service_role(
            self,
            "ReleaseTrafficRole",
            "ecs.amazonaws.com",
            "ecs-release-traffic",
            [
                Statement(
                    Sid="ReadLoadBalancer",
                    Effect=Allow,
                    Action=[
                        elb_actions.DescribeListeners,
                        elb_actions.DescribeRules,
                        elb_actions.DescribeTargetGroups,
                        elb_actions.DescribeTargetHealth,
                    ],
                    Resource=["*"],
                ),
                Statement(
                    Sid="MoveWeights",
                    Effect=Allow,
                    Action=[elb_actions.ModifyRule],
                    Resource=rules,
                ),
                Statement(
                    Sid="ModifyServingListener",
                    Effect=Allow,
                    Action=[elb_actions.ModifyListener],
                    Resource=[self.listener_arn],
                ),
                Statement(
                    Sid="RegisterTasks",
                    Effect=Allow,
                    Action=[elb_actions.RegisterTargets, elb_actions.DeregisterTargets],
                    Resource=groups,
                ),
            ],
            condition=self.blue_green,
            policy_name="move-release-traffic",
            # ECS assumes the role it is passed in the service's load balancer settings
            # (AWS's documented trust for this role has no condition).
            source_account=False,
        )
        self.suppress(
            role,
            checkov={
                "CKV_AWS_111": "Only the Describe* reads of Elastic Load Balancing use *: they "
                "have no resource-level permissions; the writes name this ALB's rules, "
                "listener and target groups."
            },
        )
        alb = {"LoadBalancer": self.alb_full_name}
        for name in names:

            def count(id_, metric, group, name=name):
                return cloudwatch.MetricDataQuery(
                    Id=id_,
                    ReturnData=False,
                    MetricStat=cloudwatch.MetricStat(
                        Metric=cloudwatch.Metric(
                            Namespace="AWS/ApplicationELB",
                            MetricName=metric,
                            Dimensions=[
                                cloudwatch.MetricDimension(Name=k, Value=v)
                                for k, v in {
                                    **alb,
                                    "TargetGroup": self.full_names[name][group],
                                }.items()
                            ],
                        ),
                        Period=60,
                        Stat="Sum",
                    ),
                )

            self.add(
                cloudwatch.Alarm(
                    f"{name}ReleaseAlarm",
                    AlarmName=self.physical_name("alarm", f"{name.lower()}-release"),
                    AlarmDescription=f"{name} release: more than ReleaseRollback5xxRate % of its "
                    "requests answered 5xx for 3 minutes (ECS rolls the release back)",
                    ComparisonOperator="GreaterThanThreshold",
                    Threshold=rate,
                    EvaluationPeriods=3,
                    DatapointsToAlarm=3,
                    TreatMissingData="notBreaching",
                    Metrics=[
                        count("e1", "HTTPCode_Target_5XX_Count", 0),
                        count("e2", "HTTPCode_Target_5XX_Count", 1),
                        count("r1", "RequestCount", 0),
                        count("r2", "RequestCount", 1),
                        cloudwatch.MetricDataQuery(
                            Id="rate",
                            Expression="IF((FILL(r1, 0) + FILL(r2, 0)) > 0, 100 * (FILL(e1, 0) "
                            "+ FILL(e2, 0)) / (FILL(r1, 0) + FILL(r2, 0)), 0)",
                            Label="5xx rate (%) over both target groups",
                            ReturnData=True,
                        ),
                    ],
                )
            )
            self.output(
                f"{name}ReleaseAlarmName",
                Ref(f"{name}ReleaseAlarm"),
                f"Alarm that rolls a {name.lower()} release back",
            )

    # -- services ------------------------------------------------------------------
    def services(self) -> None:
        min_healthy = self.parameter(
            "ServiceMinHealthyPercent",
            "Compute",
            Type="Number",
            Default=100,
            MinValue=0,
            MaxValue=100,
            Description="Share of desired api/web/worker tasks kept running during a deployment.",
        )
        max_percent = self.parameter(
            "ServiceMaxPercent",
            "Compute",
            Type="Number",
            Default=200,
            MinValue=100,
            MaxValue=400,
            Description="Upper limit of running tasks during a deployment, in percent of desired.",
        )
        for spec in SERVICES:
            name, single = spec.name, spec.singleton
            props = dict(
                Cluster=Ref("Cluster"),
                TaskDefinition=Ref(f"{name}TaskDefinition"),
                # Scaled services leave DesiredCount out: created at 1 and raised to the
                # scalable target's minimum, a stack update then never resets a count
                # autoscaling has raised.
                DesiredCount=1 if single else Ref(AWS_NO_VALUE),
                CapacityProviderStrategy=ON_DEMAND if single else self.strategy,
                DeploymentConfiguration=self._deployment(spec, min_healthy, max_percent),
                AvailabilityZoneRebalancing="DISABLED" if single else "ENABLED",
                NetworkConfiguration=ecs.NetworkConfiguration(
                    AwsvpcConfiguration=ecs.AwsvpcConfiguration(
                        AssignPublicIp="DISABLED",
                        Subnets=self.app_subnets,
                        SecurityGroups=[self.app_sg],
                    )
                ),
                EnableExecuteCommand=If(self.exec_enabled, True, False),
                EnableECSManagedTags=True,
                PropagateTags="SERVICE",
                Tags=self.tags("ecs-svc", name.lower()),
            )
            if spec.behind_alb:
                props.update(
                    LoadBalancers=[
                        ecs.LoadBalancer(
                            ContainerName=name.lower(),
                            ContainerPort=self.app_port,
                            TargetGroupArn=self.target_group_arns[name],
                            AdvancedConfiguration=If(
                                self.blue_green,
                                ecs.AdvancedConfiguration(
                                    AlternateTargetGroupArn=self.alternate_arns[name],
                                    ProductionListenerRule=self.rule_arns[name]["production"],
                                    TestListenerRule=self.rule_arns[name]["test"],
                                    RoleArn=GetAtt("ReleaseTrafficRole", "Arn"),
                                ),
                                Ref(AWS_NO_VALUE),
                            ),
                        )
                    ],
                    # The listener rules that attach the target group exist already: this
                    # stack waits for the whole load-balancer stack.
                    HealthCheckGracePeriodSeconds=60,
                )
            self.add(ecs.Service(f"{name}Service", **props))
            self.output(
                f"{name}ServiceName",
                GetAtt(f"{name}Service", "Name"),
                f"Name of the {name.lower()} service ({spec.runs})",
            )

    def _deployment(self, spec: ServiceSpec, min_healthy, max_percent):
        """Every service rolls back when its tasks do not get healthy (circuit breaker);
        one behind the ALB also on its release alarm, and releases blue/green where
        ReleaseStrategy says so."""
        single = spec.singleton
        extra = {}
        if spec.behind_alb:
            blue_green = self.blue_green
            extra = dict(
                Strategy=If(blue_green, "BLUE_GREEN", "ROLLING"),
                BakeTimeInMinutes=If(blue_green, self.bake_minutes, Ref(AWS_NO_VALUE)),
                LifecycleHooks=If(self.approval, [self.approval_hook], Ref(AWS_NO_VALUE)),
                Alarms=ecs.DeploymentAlarms(
                    AlarmNames=[Ref(f"{spec.name}ReleaseAlarm")], Enable=True, Rollback=True
                ),
            )
        return ecs.DeploymentConfiguration(
            DeploymentCircuitBreaker=ecs.DeploymentCircuitBreaker(Enable=True, Rollback=True),
            MinimumHealthyPercent=0 if single else min_healthy,
            MaximumPercent=100 if single else max_percent,
            **extra,
        )

    # -- autoscaling ----------------------------------------------------------------
    def _scalable(self, name: str, low: int, high: int, ceiling: int = MAX_TASKS) -> None:
        minimum = self.parameter(
            f"{name}MinTasks",
            "Compute",
            Type="Number",
            Default=low,
            MinValue=1,
            MaxValue=ceiling,
            Description=f"Fewest {name.lower()} tasks autoscaling keeps running.",
        )
        maximum = self.parameter(
            f"{name}MaxTasks",
            "Compute",
            Type="Number",
            Default=high,
            MinValue=1,
            MaxValue=ceiling,
            Description=f"Most {name.lower()} tasks autoscaling may run.",
        )
        self.add(
            aas.ScalableTarget(
                f"{name}ScalableTarget",
                ServiceNamespace="ecs",
                ScalableDimension="ecs:service:DesiredCount",
                ResourceId=Join("/", ["service", Ref("Cluster"), GetAtt(f"{name}Service", "Name")]),
                MinCapacity=minimum,
                MaxCapacity=maximum,
            )
        )

    def _target_tracking(self, logical: str, target: str, value, **spec) -> None:
        # Scale out within a minute, scale in slowly (5 minutes between steps).
        self.add(
            aas.ScalingPolicy(
                logical,
                PolicyName=logical,
                PolicyType="TargetTrackingScaling",
                ScalingTargetId=Ref(f"{target}ScalableTarget"),
                TargetTrackingScalingPolicyConfiguration=aas.TargetTrackingScalingPolicyConfiguration(
                    TargetValue=value, ScaleOutCooldown=60, ScaleInCooldown=300, **spec
                ),
            )
        )

    @staticmethod
    def _running(name: str) -> aas.TargetTrackingMetricDataQuery:
        """The service's running tasks (Container Insights), query id `running`."""
        return aas.TargetTrackingMetricDataQuery(
            Id="running",
            ReturnData=False,
            MetricStat=aas.TargetTrackingMetricStat(
                Stat="Average",
                Metric=aas.TargetTrackingMetric(
                    Namespace="ECS/ContainerInsights",
                    MetricName="RunningTaskCount",
                    Dimensions=[
                        aas.TargetTrackingMetricDimension(Name="ClusterName", Value=Ref("Cluster")),
                        aas.TargetTrackingMetricDimension(
                            Name="ServiceName", Value=GetAtt(f"{name}Service", "Name")
                        ),
                    ],
                ),
            ),
        )

    def autoscaling(self) -> None:
        requests = self.parameter(
            "ApiRequestsPerTarget",
            "Compute",
            Type="Number",
            Default=1000,
            MinValue=10,
            MaxValue=100000,
            Description="ALB requests per api task per minute the api scales to hold.",
        )
        backlog = self.parameter(
            "WorkerBacklogPerTask",
            "Compute",
            Type="Number",
            Default=20,
            MinValue=1,
            MaxValue=10000,
            Description="Visible jobs per worker task the workers scale to hold (queue "
            "backlog / running workers).",
        )
        scaled = [spec for spec in SERVICES if spec.scaling]
        for spec in scaled:
            self._scalable(spec.name, *spec.scaling)
        for name in (spec.name for spec in scaled if spec.scale_on_cpu_and_memory):
            for metric, target in (
                ("ECSServiceAverageCPUUtilization", 70),
                ("ECSServiceAverageMemoryUtilization", 75),
            ):
                kind = "Cpu" if "CPU" in metric else "Memory"
                self._target_tracking(
                    f"{name}{kind}Scaling",
                    name,
                    target,
                    PredefinedMetricSpecification=aas.PredefinedMetricSpecification(
                        PredefinedMetricType=metric
                    ),
                )
        # Requests per task over both target groups: after a blue/green release the
        # production traffic is in the other group.
        alb = {"LoadBalancer": self.alb_full_name}
        self._target_tracking(
            "ApiRequestsScaling",
            "Api",
            requests,
            CustomizedMetricSpecification=aas.CustomizedMetricSpecification(
                Metrics=[
                    *(
                        aas.TargetTrackingMetricDataQuery(
                            Id=f"requests{i}",
                            ReturnData=False,
                            MetricStat=aas.TargetTrackingMetricStat(
                                Stat="Sum",
                                Metric=aas.TargetTrackingMetric(
                                    Namespace="AWS/ApplicationELB",
                                    MetricName="RequestCount",
                                    Dimensions=[
                                        aas.TargetTrackingMetricDimension(Name=k, Value=v)
                                        for k, v in {**alb, "TargetGroup": group}.items()
                                    ],
                                ),
                            ),
                        )
                        for i, group in enumerate(self.full_names["Api"], 1)
                    ),
                    self._running("Api"),
                    aas.TargetTrackingMetricDataQuery(
                        Id="per_task",
                        Expression="(FILL(requests1, 0) + FILL(requests2, 0)) / "
                        "IF(running > 0, running, 1)",
                        Label="ALB requests per running api task",
                        ReturnData=True,
                    ),
                ]
            ),
        )
        # Backlog per task = visible messages / running worker tasks (Container Insights).
        self._target_tracking(
            "WorkerBacklogScaling",
            "Worker",
            backlog,
            CustomizedMetricSpecification=aas.CustomizedMetricSpecification(
                Metrics=[
                    aas.TargetTrackingMetricDataQuery(
                        Id="visible",
                        ReturnData=False,
                        MetricStat=aas.TargetTrackingMetricStat(
                            Stat="Sum",
                            Metric=aas.TargetTrackingMetric(
                                Namespace="AWS/SQS",
                                MetricName="ApproximateNumberOfMessagesVisible",
                                Dimensions=[
                                    aas.TargetTrackingMetricDimension(
                                        Name="QueueName", Value=self.jobs_queue_name
                                    )
                                ],
                            ),
                        ),
                    ),
                    self._running("Worker"),
                    aas.TargetTrackingMetricDataQuery(
                        Id="backlog",
                        Expression="visible / IF(running > 0, running, 1)",
                        Label="Visible jobs per running worker",
                        ReturnData=True,
                    ),
                ]
            ),
        )

    # -- scheduled jobs -------------------------------------------------------------
    def scheduled_jobs(self) -> None:
        enabled = self.toggle(
            "ScheduledJobs",
            "Compute",
            "enabled",
            "enabled: nightly maintenance and reports run on their schedules (a worker task "
            "each); disabled: the schedules exist but are paused.",
        )
        timezone = self.parameter(
            "ScheduleTimezone",
            "Compute",
            Type="String",
            Default="UTC",
            AllowedPattern=r"^[A-Za-z_]+(/[A-Za-z_+-]+)*$",
            Description="IANA time zone of the job schedules, e.g. UTC or Europe/Paris.",
        )
        task_definitions = [Ref("WorkerTaskDefinition")]
        service_role(
            self,
            "SchedulerRole",
            "scheduler.amazonaws.com",
            "scheduler",
            [
                Statement(
                    Sid="RunWorkerTasks",
                    Effect=Allow,
                    Action=[ecs_actions.RunTask],
                    Resource=task_definitions,
                    Condition=Condition(ArnEquals("ecs:cluster", GetAtt("Cluster", "Arn"))),
                ),
                Statement(
                    Sid="PassTaskRoles",
                    Effect=Allow,
                    Action=[iam_actions.PassRole],
                    Resource=[GetAtt("TaskRole", "Arn"), GetAtt("WorkerExecutionRole", "Arn")],
                    Condition=Condition(
                        StringEquals("iam:PassedToService", "ecs-tasks.amazonaws.com")
                    ),
                ),
            ],
            policy_name="run-worker-tasks",
        )
        for job, (expression, command) in JOBS.items():
            schedule = self.parameter(
                f"{job}Schedule",
                "Compute",
                Type="String",
                Default=expression,
                AllowedPattern=r"^(cron|rate)\(.+\)$",
                Description=f"When the {job} job runs (EventBridge Scheduler cron()/rate()).",
            )
            job_command = self.parameter(
                f"{job}Command",
                "Compute",
                Type="String",
                Default=command,
                AllowedPattern=r'^[^"\\]+$',
                Description=f"Comma-separated command the {job} job runs in the worker "
                "container (it must exit when done).",
            )
            overrides = Join(
                "",
                [
                    '{"containerOverrides":[{"name":"worker","command":["',
                    Join('","', Split(",", job_command)),
                    '"]}]}',
                ],
            )
            self.add(
                scheduler.Schedule(
                    f"{job}Job",
                    Description=f"streamstack scheduled job: {job}",
                    ScheduleExpression=schedule,
                    ScheduleExpressionTimezone=timezone,
                    FlexibleTimeWindow=scheduler.FlexibleTimeWindow(Mode="OFF"),
                    State=If(enabled, "ENABLED", "DISABLED"),
                    Target=scheduler.Target(
                        Arn=GetAtt("Cluster", "Arn"),
                        RoleArn=GetAtt("SchedulerRole", "Arn"),
                        Input=overrides,
                        RetryPolicy=scheduler.RetryPolicy(
                            MaximumRetryAttempts=2, MaximumEventAgeInSeconds=3600
                        ),
                        EcsParameters=scheduler.EcsParameters(
                            TaskDefinitionArn=Ref("WorkerTaskDefinition"),
                            TaskCount=1,
                            LaunchType="FARGATE",
                            PlatformVersion="LATEST",
                            NetworkConfiguration=scheduler.NetworkConfiguration(
                                AwsvpcConfiguration=scheduler.AwsVpcConfiguration(
                                    AssignPublicIp="DISABLED",
                                    Subnets=self.app_subnets,
                                    SecurityGroups=[self.app_sg],
                                )
                            ),
                        ),
                    ),
                )
            )

    # -- secret rotation ------------------------------------------------------------
    def secret_rotation(self) -> None:
        enabled = self.toggle(
            "SecretRotation",
            "Compute",
            "enabled",
            "enabled: a function rotates the Redis AUTH token and the application secret "
            "every SecretRotationDays days, then rolls the services so new tasks get the new "
            "values. disabled: they keep the values they were created with.",
        )
        days = self.parameter(
            "SecretRotationDays",
            "Compute",
            Type="Number",
            Default=30,
            MinValue=1,
            MaxValue=365,
            Description="Days between two rotations of the Redis AUTH token and of the "
            "application secret (SECRET_KEY and JWT_SECRET; the values they replace stay "
            "as SECRET_KEY_PREVIOUS and JWT_SECRET_PREVIOUS).",
        )
        secrets = {"AppSecret": self.app_secret, "RedisAuthSecret": self.redis_secret}
        services = [Ref(f"{spec.name}Service") for spec in SERVICES]
        function = python_function(
            self,
            "SecretRotationFunction",
            "rotate_secrets",
            purpose="secret-rotation",
            description="Rotates the Redis AUTH token and the application secret, then "
            "rolls the ECS services",
            condition=enabled,
            key_arn=self.storage_key,
            calls="Secrets Manager, ElastiCache, ECS",
            no_dead_letter="Invoked synchronously by Secrets Manager, which marks the "
            "rotation failed and keeps the current value when a step fails; a dead-letter "
            "queue only applies to asynchronous invocations.",
            unscoped="secretsmanager:GetRandomPassword has none either and reads no secret",
            concurrency=2,
            # A Redis token change waits for the replication group (minutes).
            timeout=900,
            environment={
                "APP_SECRET_ARN": self.app_secret,
                "APP_SECRET_KEYS": "SECRET_KEY,JWT_SECRET",
                "REDIS_SECRET_ARN": self.redis_secret,
                "REPLICATION_GROUP": self.redis_group,
                "CLUSTER": Ref("Cluster"),
                "SERVICES": Join(",", [GetAtt(f"{spec.name}Service", "Name") for spec in SERVICES]),
            },
            statements=[
                Statement(
                    Sid="RotatedSecrets",
                    Effect=Allow,
                    Action=[
                        sm_actions.DescribeSecret,
                        sm_actions.GetSecretValue,
                        sm_actions.PutSecretValue,
                        sm_actions.UpdateSecretVersionStage,
                    ],
                    Resource=list(secrets.values()),
                ),
                Statement(
                    Sid="NewValues",
                    Effect=Allow,
                    Action=[sm_actions.GetRandomPassword],
                    Resource=["*"],
                ),
                secrets_key_statement("SecretsKey", self.data_key, kms_actions.GenerateDataKey),
                Statement(
                    Sid="RedisToken",
                    Effect=Allow,
                    Action=[
                        elasticache_actions.DescribeReplicationGroups,
                        elasticache_actions.ModifyReplicationGroup,
                    ],
                    Resource=[
                        Sub(
                            "arn:${AWS::Partition}:elasticache:${AWS::Region}:"
                            "${AWS::AccountId}:replicationgroup:${RedisReplicationGroupId}"
                        )
                    ],
                ),
                Statement(
                    Sid="RollServices",
                    Effect=Allow,
                    Action=[ecs_actions.UpdateService],
                    Resource=services,
                ),
            ],
        )
        for logical, secret in secrets.items():
            permission = self.add(
                awslambda.Permission(
                    f"{logical}RotationPermission",
                    Condition=enabled,
                    FunctionName=Ref(function),
                    Action="lambda:InvokeFunction",
                    Principal="secretsmanager.amazonaws.com",
                    SourceAccount=Ref("AWS::AccountId"),
                    SourceArn=secret,
                )
            )
            self.add(
                secretsmanager.RotationSchedule(
                    f"{logical}Rotation",
                    Condition=enabled,
                    DependsOn=[permission.title],
                    SecretId=secret,
                    RotationLambdaARN=GetAtt(function, "Arn"),
                    RotationRules=secretsmanager.RotationRules(AutomaticallyAfterDays=days),
                    # The first rotation waits for the schedule: the stack that creates the
                    # services never sees them rolled under it.
                    RotateImmediatelyOnUpdate=False,
                )
            )
