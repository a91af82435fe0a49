"""compute: two nested stacks that live together because they are one application.

`load-balancer`: the internet-facing ALB with its listeners, listener rules, the
api/web target groups and the origin verification. It reads only network, security,
storage and dns, so it (and CloudFront behind it, which reads AlbDnsName and
OriginVerifySecretArn) is created in parallel with Aurora and Redis.

`compute`: the ECS Fargate cluster, the api/web/worker/scheduler services, their roles,
autoscaling, and the scheduled jobs (EventBridge Scheduler running the worker task
definition). It reads the data tier's endpoints and secrets and the load-balancer's
target groups, so it is the tier that waits for Aurora.

    network, security, storage, dns -> load-balancer -> cdn, fleet, dns-records
    load-balancer, data, messaging  -> compute

Traffic: viewers (or CloudFront) -> ALB in the public subnets -> api (/api/*) and web
(everything else) tasks on AppPort in the app subnets. With a certificate, HTTP
redirects to HTTPS; without one, HTTP forwards (the seed spec's test setup). With
AlbOriginVerify enabled, the serving listener forwards only requests carrying the
X-Origin-Verify header whose value CloudFront sends (a generated secret), and
answers 403 to everything else.

Secrets reach containers only through the task definitions' `Secrets` (the execution
role reads exactly those); endpoints and names are plain environment variables.
"""
from __future__ import annotations

from functools import partial

from awacs import dynamodb as ddb_actions
from awacs import ecr as ecr_actions
from awacs import ecs as ecs_actions
from awacs import events as events_actions
from awacs import execute_api as execute_api_actions
from awacs import iam as iam_actions
from awacs import kms as kms_actions
from awacs import logs as logs_actions
from awacs import s3 as s3_actions
from awacs import secretsmanager as sm_actions
from awacs import sqs as sqs_actions
from awacs import ssmmessages as ssmmessages_actions
from awacs.aws import Allow, ArnEquals, Condition, Policy, Principal, Statement, StringEquals
from awacs.sts import AssumeRole
from troposphere import (
    GetAtt, Join, Ref, Select, Split, Sub, applicationautoscaling as aas, ecs,
    elasticloadbalancingv2 as elb, iam, scheduler,
)

from templates.base import (
    AWS_NO_VALUE, LOG_RETENTION_DAYS, Equals, If, Not, Tier, policy_dict,
)
from templates.parts import generated_secret, log_group, workload_role

# Valid Fargate CPU/memory combinations (CPU units / MiB), as "cpu/memory".
FARGATE_SIZES = [
    "256/512", "256/1024", "256/2048",
    "512/1024", "512/2048", "512/3072", "512/4096",
    "1024/2048", "1024/3072", "1024/4096", "1024/6144", "1024/8192",
    "2048/4096", "2048/6144", "2048/8192", "2048/12288", "2048/16384",
    "4096/8192", "4096/12288", "4096/16384", "4096/30720",
]
# A real public image that answers every path (and /health) with 200 on the port given
# by WHOAMI_PORT_NUMBER, runs as any uid on a read-only root file system: a first
# deploy with defaults passes its health checks. Replace it with the application's.
PLACEHOLDER_IMAGE = "docker.io/traefik/whoami:v1.11.0"
ORIGIN_HEADER = "X-Origin-Verify"
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
# service -> (what it runs, default task size, behind the ALB)
SERVICES = {
    "Api": ("the HTTP API (/api/*)", "512/1024", True),
    "Web": ("the web front end (every other path)", "256/512", True),
    "Worker": ("Celery-style workers consuming the jobs queue", "512/1024", False),
    "Scheduler": ("the beat scheduler (exactly one task)", "256/512", False),
}
# scheduled job -> (schedule, command run in the worker task definition)
JOBS = {
    "NightlyMaintenance": ("cron(0 3 * * ? *)",
                           "celery,-A,app,call,app.tasks.nightly_maintenance"),
    "Reports": ("cron(30 5 * * ? *)", "celery,-A,app,call,app.tasks.daily_reports"),
}
SPOT_WEIGHTED = [ecs.CapacityProviderStrategyItem(CapacityProvider="FARGATE", Base=1, Weight=1),
                 ecs.CapacityProviderStrategyItem(CapacityProvider="FARGATE_SPOT", Weight=3)]
ON_DEMAND = [ecs.CapacityProviderStrategyItem(CapacityProvider="FARGATE", Weight=1)]


def service_principal(name: str) -> Principal:
    return Principal("Service", name)


def path_condition(pattern) -> elb.Condition:
    return elb.Condition(Field="path-pattern",
                         PathPatternConfig=elb.PathPatternConfig(Values=[pattern]))


def origin_condition(secret: str) -> elb.Condition:
    """Requests carrying the origin-verify header; `secret` names the parameter or
    resource whose value is the secret's ARN (read by dynamic reference)."""
    return elb.Condition(Field="http-header", HttpHeaderConfig=elb.HttpHeaderConfig(
        HttpHeaderName=ORIGIN_HEADER,
        Values=[Sub("{{resolve:secretsmanager:${%s}}}" % secret)]))


def wired(tier: Tier, name: str, description: str, type_: str = "String") -> Ref:
    """A parameter fed by another tier's output of the same name."""
    return tier.parameter(name, "Wiring", Type=type_, Description=description)


def document(*statements) -> dict:
    """A policy document whose statements may be Fn::If (awacs' Policy only takes
    Statement objects)."""
    return {"Version": "2012-10-17",
            "Statement": [policy_dict(s) if isinstance(s, Statement) else s
                          for s in statements]}


def assume_role_policy(service: str) -> Policy:
    return Policy(Version="2012-10-17", Statement=[Statement(
        Effect=Allow, Principal=service_principal(service), Action=[AssumeRole],
        Condition=Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId"))))])


class LoadBalancerTier(Tier):
    name = "load-balancer"
    description = "internet-facing ALB, listeners, origin verification, api/web target groups"

    def build(self) -> None:
        self.wiring()
        self.load_balancer()
        self.target_groups()
        self.listeners()

    # -- inputs (network, security, storage, dns only: no wait for the data tier) ----
    def wiring(self) -> None:
        self.vpc = wired(self, "VpcId", "VPC of the target groups (network tier).",
                         "AWS::EC2::VPC::Id")
        self.public_subnets = wired(self, "PublicSubnetIds",
                                    "Public subnets of the ALB (network tier).",
                                    "List<AWS::EC2::Subnet::Id>")
        self.alb_sg = wired(self, "AlbSecurityGroupId",
                            "Security group of the ALB (security tier).",
                            "AWS::EC2::SecurityGroup::Id")
        self.data_key = wired(self, "DataKeyArn",
                              "Data KMS key (security tier): the origin-verify secret.")
        self.access_logs_bucket = wired(self, "AccessLogsBucketName",
                                        "Bucket receiving ALB access logs (storage tier).")
        self.app_port = self.shared_parameter("AppPort")

    # -- load balancer -----------------------------------------------------------
    def load_balancer(self) -> None:
        alb = elb.LoadBalancer(
            "Alb", Type="application", Scheme="internet-facing", IpAddressType="ipv4",
            Subnets=self.public_subnets, SecurityGroups=[self.alb_sg],
            LoadBalancerAttributes=[elb.LoadBalancerAttributes(Key=k, Value=v) for k, v in (
                ("access_logs.s3.enabled", "true"),
                ("access_logs.s3.bucket", self.access_logs_bucket),
                ("access_logs.s3.prefix", "alb"),
                ("routing.http.drop_invalid_header_fields.enabled", "true"),
                ("routing.http.desync_mitigation_mode", "defensive"),
                ("deletion_protection.enabled", self.if_dev("false", "true")),
            )],
            Tags=self.tags("alb", "web"))
        self.add(alb)
        self.output("AlbArn", Ref("Alb"), "ARN of the application load balancer")
        self.output("AlbDnsName", GetAtt("Alb", "DNSName"), "DNS name of the ALB")
        self.output("AlbCanonicalHostedZoneId", GetAtt("Alb", "CanonicalHostedZoneID"),
                    "Hosted zone of the ALB (Route 53 alias records)")
        self.output("AlbFullName", GetAtt("Alb", "LoadBalancerFullName"),
                    "app/<name>/<id> of the ALB (CloudWatch dimension LoadBalancer)")

    def target_groups(self) -> None:
        interval = self.parameter(
            "HealthCheckIntervalSeconds", "Compute", Type="Number", Default=30, MinValue=5,
            MaxValue=300, Description="Seconds between ALB health checks of a task (/health).")
        delay = self.parameter(
            "DeregistrationDelaySeconds", "Compute", Type="Number", Default=60, MinValue=0,
            MaxValue=3600,
            Description="Seconds the ALB drains in-flight requests from a stopping task.")
        stickiness = self.toggle(
            "TargetStickiness", "Compute", "disabled",
            "enabled: a viewer sticks to one web/api task for a day (lb_cookie); "
            "disabled: every request is balanced.")
        for name in ("Api", "Web"):
            self.add(elb.TargetGroup(
                f"{name}TargetGroup", TargetType="ip", Protocol="HTTP", ProtocolVersion="HTTP1",
                Port=self.app_port, VpcId=self.vpc,
                HealthCheckEnabled=True, HealthCheckPath="/health", HealthCheckProtocol="HTTP",
                HealthCheckIntervalSeconds=interval, HealthCheckTimeoutSeconds=5,
                HealthyThresholdCount=2, UnhealthyThresholdCount=2,
                Matcher=elb.Matcher(HttpCode="200"),
                TargetGroupAttributes=[elb.TargetGroupAttribute(Key=k, Value=v) for k, v in (
                    ("deregistration_delay.timeout_seconds", delay),
                    ("stickiness.enabled", If(stickiness, "true", "false")),
                    ("stickiness.type", "lb_cookie"),
                    ("stickiness.lb_cookie.duration_seconds", "86400"),
                )],
                Tags=self.tags("tg", name.lower())))
            self.output(f"{name}TargetGroupArn", Ref(f"{name}TargetGroup"),
                        f"ARN of the {name.lower()} target group")
            self.output(f"{name}TargetGroupFullName",
                        GetAtt(f"{name}TargetGroup", "TargetGroupFullName"),
                        f"targetgroup/<name>/<id> of the {name.lower()} target group "
                        "(CloudWatch dimension TargetGroup)")

    def listeners(self) -> None:
        certificate = self.parameter(
            "AlbCertificateArn", "Compute", Type="String", Default="",
            AllowedPattern=r"^(arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+)?$",
            ConstraintDescription="empty, or an ACM certificate ARN in the ALB's region",
            Description="ACM certificate of the ALB (the dns tier issues it when a domain is "
                        "set). Empty: HTTP on 80 forwards (test setup). Set: HTTP redirects to "
                        "HTTPS on 443 (TLS 1.3/1.2).")
        verify = self.toggle(
            "AlbOriginVerify", "Compute", "disabled",
            f"enabled: the ALB forwards only requests carrying the {ORIGIN_HEADER} header "
            "with the generated secret CloudFront sends, and answers 403 to any other (use "
            "with the cdn tier). disabled: the ALB serves anyone (direct tests).")
        self.condition("HasCertificate", Not(Equals(certificate, "")))
        generated_secret(self, "OriginVerifySecret", "origin-verify",
                         f"Value of the {ORIGIN_HEADER} header CloudFront sends to the ALB",
                         self.data_key, length=48, retain=False)
        self.output("OriginVerifySecretArn", Ref("OriginVerifySecret"),
                    f"ARN of the secret whose value CloudFront sends as {ORIGIN_HEADER}")
        self.output("OriginVerifyEnforced", If(verify, "true", "false"),
                    f"true when the ALB's listener rules require {ORIGIN_HEADER} (the fleet "
                    "tier adds the same condition to its rule)")

        forbidden = elb.Action(Type="fixed-response", FixedResponseConfig=elb.FixedResponseConfig(
            StatusCode="403", ContentType="text/plain", MessageBody="Forbidden"))
        forward_web = elb.Action(Type="forward", TargetGroupArn=Ref("WebTargetGroup"))
        serve = If(verify, [forbidden], [forward_web])
        http = elb.Listener(
            "HttpListener", LoadBalancerArn=Ref("Alb"), Port=80, Protocol="HTTP",
            DefaultActions=If("HasCertificate", [elb.Action(
                Type="redirect", RedirectConfig=elb.RedirectConfig(
                    Protocol="HTTPS", Port="443", Host="#{host}", Path="/#{path}",
                    Query="#{query}", StatusCode="HTTP_301"))], serve))
        # Port 80 stays plain HTTP only without a certificate (the seed's test setup).
        self.add(http)
        self.add(elb.Listener(
            "HttpsListener", Condition="HasCertificate", LoadBalancerArn=Ref("Alb"), Port=443,
            Protocol="HTTPS", SslPolicy=TLS_POLICY,
            Certificates=[elb.Certificate(CertificateArn=certificate)],
            DefaultActions=serve))
        serving = If("HasCertificate", Ref("HttpsListener"), Ref("HttpListener"))
        origin = origin_condition("OriginVerifySecret")
        for name, priority, pattern in (("Api", 10, "/api/*"), ("Web", 20, "/*")):
            path = path_condition(pattern)
            self.add(elb.ListenerRule(
                f"{name}ListenerRule", ListenerArn=serving, Priority=priority,
                Conditions=If(verify, [path, origin], [path]),
                Actions=[elb.ListenerRuleAction(Type="forward",
                                                TargetGroupArn=Ref(f"{name}TargetGroup"))]))
        self.output("AlbListenerArn", serving,
                    "ARN of the listener that serves traffic (HTTPS with a certificate, else "
                    "HTTP); rules 10 (api) and 20 (web) are taken")


class ComputeTier(Tier):
    name = "compute"
    description = "ECS Fargate cluster, api/web/worker/scheduler services, scheduled jobs"

    def build(self) -> None:
        self.wiring()
        self.cluster()
        self.log_groups()
        self.roles()
        self.task_definitions()
        self.services()
        self.autoscaling()
        self.scheduled_jobs()

    # -- inputs ------------------------------------------------------------------
    def wiring(self) -> None:
        w = partial(wired, self)
        self.app_subnets = w("AppSubnetIds", "App subnets of the tasks (network tier).",
                             "List<AWS::EC2::Subnet::Id>")
        self.app_sg = w("AppSecurityGroupId", "Security group of the tasks (security tier).",
                        "AWS::EC2::SecurityGroup::Id")
        self.data_key = w("DataKeyArn", "Data KMS key (security tier): secrets, DynamoDB.")
        self.storage_key = w("StorageKeyArn",
                             "Storage KMS key (security tier): logs, S3, SQS, events.")
        self.buckets = {}
        for bucket in ("Media", "Uploads", "Static"):
            self.buckets[bucket] = (
                w(f"{bucket}BucketName", f"{bucket} bucket name (storage tier)."),
                w(f"{bucket}BucketArn", f"{bucket} bucket ARN (storage tier)."))
        self.env_inputs = {
            "DB_HOST": w("DbEndpoint", "Aurora writer endpoint (data tier)."),
            "DB_READER_HOST": w("DbReaderEndpoint", "Aurora reader endpoint (data tier)."),
            "DB_PORT": w("DbPort", "Aurora port (data tier)."),
            "DB_NAME": w("DbName", "Application database name (data tier)."),
            "REDIS_HOST": w("RedisEndpoint", "Redis primary endpoint (data tier)."),
            "REDIS_PORT": w("RedisPort", "Redis port (data tier)."),
            "VIDEOS_TABLE": w("VideosTableName", "Videos table name, empty when off (data "
                                                 "tier)."),
            "JOBS_QUEUE_URL": w("JobsQueueUrl", "Jobs queue URL (messaging tier)."),
            "METADATA_API_URL": w("MetadataApiUrl", "Base URL of the metadata API stage, "
                                                    "empty when off (api tier)."),
            "EVENT_BUS_NAME": w("EventBusName", "Platform event bus (messaging tier)."),
            "MEDIA_BUCKET": self.buckets["Media"][0],
            "UPLOADS_BUCKET": self.buckets["Uploads"][0],
            "STATIC_BUCKET": self.buckets["Static"][0],
        }
        self.db_secret = w("DbMasterSecretArn", "RDS-managed master secret (data tier).")
        self.redis_secret = w("RedisAuthSecretArn", "Redis AUTH token secret (data tier).")
        self.app_secret = w("AppSecretArn", "Application secret (data tier).")
        self.videos_table_arn = w("VideosTableArn", "Videos table ARN, empty when off (data "
                                                    "tier).")
        self.jobs_queue_arn = w("JobsQueueArn", "Jobs queue ARN (messaging tier).")
        self.jobs_queue_name = w("JobsQueueName", "Jobs queue name (messaging tier).")
        self.event_bus_arn = w("EventBusArn", "Platform event bus ARN (messaging tier).")
        self.target_group_arns = {
            name: w(f"{name}TargetGroupArn",
                    f"Target group the {name.lower()} service registers in (load-balancer "
                    "tier).")
            for name in ("Api", "Web")}
        self.alb_full_name = w("AlbFullName", "app/<name>/<id> of the ALB (load-balancer "
                                              "tier): the api's request-count scaling.")
        self.api_target_group_full_name = w(
            "ApiTargetGroupFullName", "targetgroup/<name>/<id> of the api target group "
                                      "(load-balancer tier): the api's request-count scaling.")
        self.metadata_api_id = w("MetadataApiId", "ID of the metadata HTTP API, empty when "
                                                  "off (api tier).")
        self.metadata_api_stage = w("MetadataApiStageName", "Stage of the metadata API, empty "
                                                            "when off (api tier).")
        self.condition("HasVideosTable", Not(Equals(self.videos_table_arn, "")))
        self.condition("HasMetadataApi", Not(Equals(self.metadata_api_id, "")))
        self.app_port = self.shared_parameter("AppPort")

    # -- cluster -----------------------------------------------------------------
    def cluster(self) -> None:
        strategy = self.parameter(
            "CapacityStrategy", "Compute", Type="String",
            AllowedValues=["on-demand", "spot-weighted"], Default="on-demand",
            Description="on-demand: every task on FARGATE. spot-weighted: one task per "
                        "service on FARGATE, the rest 3:1 on FARGATE_SPOT (about 70% cheaper, "
                        "tasks may be interrupted with 2 minutes' notice). The scheduler and "
                        "scheduled jobs always run on FARGATE.")
        self.condition("SpotWeighted", Equals(strategy, "spot-weighted"))
        self.strategy = If("SpotWeighted", SPOT_WEIGHTED, ON_DEMAND)
        self.add(ecs.Cluster(
            "Cluster",
            ClusterSettings=[ecs.ClusterSetting(Name="containerInsights", Value="enabled")],
            CapacityProviders=["FARGATE", "FARGATE_SPOT"],
            DefaultCapacityProviderStrategy=self.strategy,
            Tags=self.tags("ecs", "cluster")))
        self.output("ClusterName", Ref("Cluster"), "Name of the ECS cluster")
        self.output("ClusterArn", GetAtt("Cluster", "Arn"), "ARN of the ECS cluster")

    # -- logs and roles ----------------------------------------------------------
    def log_groups(self) -> None:
        retention = self.parameter(
            "AppLogRetentionDays", "Compute", Type="Number", AllowedValues=LOG_RETENTION_DAYS,
            Default=30, Description="Days to keep container logs.")
        for name in SERVICES:
            log_group(self, f"{name}LogGroup", f"ecs-{name.lower()}", retention,
                      self.storage_key)

    def _secrets(self) -> dict[str, Sub]:
        """Container secret -> valueFrom (JSON keys of the managed and app secrets)."""
        return {
            "DB_USER": Sub("${DbMasterSecretArn}:username::"),
            "DB_PASSWORD": Sub("${DbMasterSecretArn}:password::"),
            "REDIS_AUTH_TOKEN": self.redis_secret,
            "SECRET_KEY": Sub("${AppSecretArn}:SECRET_KEY::"),
            "JWT_SECRET": Sub("${AppSecretArn}:JWT_SECRET::"),
        }

    def _read_secrets(self, sid: str) -> list[Statement]:
        return [
            Statement(Sid=sid, Effect=Allow, Action=[sm_actions.GetSecretValue],
                      Resource=[self.db_secret, self.redis_secret, self.app_secret]),
            Statement(Sid=f"{sid}Decrypt", Effect=Allow, Action=[kms_actions.Decrypt],
                      Resource=[self.data_key],
                      Condition=Condition(StringEquals(
                          "kms:ViaService", Sub("secretsmanager.${AWS::Region}.amazonaws.com")))),
        ]

    def roles(self) -> None:
        exec_enabled = self.toggle(
            "EcsExec", "Compute", "disabled",
            "enabled: `aws ecs execute-command` into running tasks (their root file system "
            "is then writable, which ECS Exec needs). disabled: no shell access.")
        self.exec_enabled = exec_enabled
        log_arns = [GetAtt(f"{name}LogGroup", "Arn") for name in SERVICES]
        execution = workload_role(self, iam.Role(
            "ExecutionRole", AssumeRolePolicyDocument=assume_role_policy("ecs-tasks.amazonaws.com"),
            Policies=[iam.Policy(PolicyName="start-tasks", PolicyDocument=Policy(
                Version="2012-10-17", Statement=[
                    *self._read_secrets("InjectedSecrets"),
                    Statement(Sid="ContainerLogs", Effect=Allow,
                              Action=[logs_actions.CreateLogStream, logs_actions.PutLogEvents],
                              Resource=log_arns),
                    Statement(Sid="PullFromThisAccountsEcr", Effect=Allow,
                              Action=[ecr_actions.BatchCheckLayerAvailability,
                                      ecr_actions.GetDownloadUrlForLayer,
                                      ecr_actions.BatchGetImage],
                              Resource=[Sub("arn:${AWS::Partition}:ecr:${AWS::Region}:"
                                            "${AWS::AccountId}:repository/*")]),
                    Statement(Sid="EcrLogin", Effect=Allow,
                              Action=[ecr_actions.GetAuthorizationToken], Resource=["*"]),
                ]))],
            Tags=self.tags("role", "ecs-execution")))
        self.suppress(execution, checkov={
            "CKV_AWS_111": "ecr:GetAuthorizationToken has no resource-level permissions; "
                           "it must be granted on *."})
        self.add(execution)

        objects = [Join("", [arn, "/*"]) for _, arn in self.buckets.values()]
        task = workload_role(self, iam.Role(
            "TaskRole", AssumeRolePolicyDocument=assume_role_policy("ecs-tasks.amazonaws.com"),
            Policies=[iam.Policy(PolicyName="application", PolicyDocument=document(
                    Statement(Sid="BucketObjects", Effect=Allow,
                              Action=[s3_actions.GetObject, s3_actions.PutObject,
                                      s3_actions.DeleteObject, s3_actions.AbortMultipartUpload],
                              Resource=objects),
                    Statement(Sid="ListBuckets", Effect=Allow, Action=[s3_actions.ListBucket],
                              Resource=[arn for _, arn in self.buckets.values()]),
                    Statement(Sid="JobsQueue", Effect=Allow,
                              Action=[sqs_actions.SendMessage, sqs_actions.ReceiveMessage,
                                      sqs_actions.DeleteMessage,
                                      sqs_actions.ChangeMessageVisibility,
                                      sqs_actions.GetQueueAttributes, sqs_actions.GetQueueUrl],
                              Resource=[self.jobs_queue_arn]),
                    Statement(Sid="PlatformEvents", Effect=Allow,
                              Action=[events_actions.PutEvents], Resource=[self.event_bus_arn]),
                    Statement(Sid="KeysOfThoseResources", Effect=Allow,
                              Action=[kms_actions.Decrypt, kms_actions.GenerateDataKey],
                              Resource=[self.storage_key, self.data_key]),
                    *self._read_secrets("OwnSecrets"),
                    If("HasVideosTable", policy_dict(Statement(
                        Sid="VideosTable", Effect=Allow,
                        Action=[ddb_actions.GetItem, ddb_actions.BatchGetItem, ddb_actions.Query,
                                ddb_actions.PutItem, ddb_actions.UpdateItem,
                                ddb_actions.DeleteItem, ddb_actions.BatchWriteItem,
                                ddb_actions.ConditionCheckItem, ddb_actions.DescribeTable],
                        Resource=[self.videos_table_arn,
                                  Join("", [self.videos_table_arn, "/index/*"])])),
                       Ref(AWS_NO_VALUE)),
                    # The metadata API's writes (and, by default, reads) need SigV4: the
                    # services call its /videos routes on this environment's stage only.
                    If("HasMetadataApi", policy_dict(Statement(
                        Sid="MetadataApi", Effect=Allow, Action=[execute_api_actions.Invoke],
                        Resource=[Sub("arn:${AWS::Partition}:execute-api:${AWS::Region}:"
                                      "${AWS::AccountId}:${MetadataApiId}/"
                                      f"${{MetadataApiStageName}}/*/videos{suffix}")
                                  for suffix in ("", "/*")])),
                       Ref(AWS_NO_VALUE)),
                    If(exec_enabled, policy_dict(Statement(
                        Sid="EcsExecChannels", Effect=Allow,
                        Action=[ssmmessages_actions.CreateControlChannel,
                                ssmmessages_actions.CreateDataChannel,
                                ssmmessages_actions.OpenControlChannel,
                                ssmmessages_actions.OpenDataChannel],
                        Resource=["*"])), Ref(AWS_NO_VALUE)),
            ))],
            Tags=self.tags("role", "ecs-task")))
        self.suppress(task, checkov={
            "CKV_AWS_111": "Only the ECS Exec ssmmessages channel actions (present when "
                           "EcsExec is enabled) use *: they have no resource-level "
                           "permissions."})
        self.add(task)
        self.output("TaskRoleArn", GetAtt("TaskRole", "Arn"), "ARN of the tasks' IAM role")
        self.output("ExecutionRoleArn", GetAtt("ExecutionRole", "Arn"),
                    "ARN of the task execution role (image pulls, logs, injected secrets)")

    # -- task definitions ----------------------------------------------------------
    def task_definitions(self) -> None:
        images = {
            "Api": self.parameter(
                "ApiImage", "Compute", Type="String", Default=PLACEHOLDER_IMAGE,
                Description="Image of the api containers; they listen on AppPort and answer "
                            "/health. The default is a public placeholder that does."),
            "Web": self.parameter(
                "WebImage", "Compute", Type="String", Default=PLACEHOLDER_IMAGE,
                Description="Image of the web containers (AppPort, /health)."),
            "Worker": self.parameter(
                "WorkerImage", "Compute", Type="String", Default=PLACEHOLDER_IMAGE,
                Description="Image of the worker and scheduler containers and the scheduled "
                            "jobs (the application image with Celery)."),
        }
        images["Scheduler"] = images["Worker"]
        commands = {}
        for name, default in (("Worker", "celery -A app worker"),
                              ("Scheduler", "celery -A app beat")):
            command = self.parameter(
                f"{name}Command", "Compute", Type="String", Default="",
                AllowedPattern=r'^[^"\\]*$',
                Description=f"Comma-separated command of the {name.lower()} container, e.g. "
                            f"{','.join(default.split())}. Empty: the image's own command "
                            "(the placeholder image's server).")
            self.condition(f"Has{name}Command", Not(Equals(command, "")))
            commands[name] = If(f"Has{name}Command", Split(",", command), Ref(AWS_NO_VALUE))
        user = self.parameter(
            "ContainerUser", "Compute", Type="String", Default="1000:1000",
            AllowedPattern=r"^[1-9][0-9]*(:[0-9]+)?$",
            ConstraintDescription="a non-root uid[:gid], e.g. 1000:1000",
            Description="Non-root uid:gid every container runs as.")
        environment = [ecs.Environment(Name=k, Value=v) for k, v in sorted({
            **self.env_inputs,
            "APP_ENV": Ref("Environment"),
            "PORT": self.app_port,
            "WHOAMI_PORT_NUMBER": self.app_port,
        }.items())]
        secrets = [ecs.Secret(Name=k, ValueFrom=v) for k, v in sorted(self._secrets().items())]
        for name, (runs, size_default, web) in SERVICES.items():
            size = self.parameter(
                f"{name}TaskSize", "Compute", Type="String", AllowedValues=FARGATE_SIZES,
                Default=size_default,
                Description=f"CPU units/memory MiB of one {name.lower()} task ({runs}); only "
                            "combinations Fargate accepts.")
            container = ecs.ContainerDefinition(
                Name=name.lower(), Image=images[name], Essential=True, User=user,
                ReadonlyRootFilesystem=If(self.exec_enabled, False, True),
                MountPoints=[ecs.MountPoint(SourceVolume="tmp", ContainerPath="/tmp",
                                            ReadOnly=False)],
                Environment=environment, Secrets=secrets,
                Command=commands.get(name, Ref(AWS_NO_VALUE)),
                StopTimeout=120 if name == "Worker" else 30,
                LogConfiguration=ecs.LogConfiguration(LogDriver="awslogs", Options={
                    "awslogs-group": Ref(f"{name}LogGroup"),
                    "awslogs-region": Ref("AWS::Region"),
                    "awslogs-stream-prefix": name.lower(),
                }))
            if web:
                container.PortMappings = [ecs.PortMapping(ContainerPort=self.app_port,
                                                          Protocol="tcp", Name="http")]
            self.add(ecs.TaskDefinition(
                f"{name}TaskDefinition", Family=self.physical_name("task", name.lower()),
                RequiresCompatibilities=["FARGATE"], NetworkMode="awsvpc",
                Cpu=Select(0, Split("/", size)), Memory=Select(1, Split("/", size)),
                RuntimePlatform=ecs.RuntimePlatform(OperatingSystemFamily="LINUX",
                                                    CpuArchitecture="X86_64"),
                ExecutionRoleArn=GetAtt("ExecutionRole", "Arn"),
                TaskRoleArn=GetAtt("TaskRole", "Arn"),
                # Writable scratch space for a read-only root file system.
                Volumes=[ecs.Volume(Name="tmp")],
                ContainerDefinitions=[container],
                Tags=self.tags("task", name.lower())))

    # -- services ------------------------------------------------------------------
    def services(self) -> None:
        min_healthy = self.parameter(
            "ServiceMinHealthyPercent", "Compute", Type="Number", Default=100, MinValue=0,
            MaxValue=100,
            Description="Share of desired api/web/worker tasks kept running during a "
                        "deployment.")
        max_percent = self.parameter(
            "ServiceMaxPercent", "Compute", Type="Number", Default=200, MinValue=100,
            MaxValue=400,
            Description="Upper limit of running tasks during a deployment, in percent of "
                        "desired.")
        for name, (runs, _, web) in SERVICES.items():
            single = name == "Scheduler"
            props = dict(
                Cluster=Ref("Cluster"), TaskDefinition=Ref(f"{name}TaskDefinition"),
                # Scaled services leave DesiredCount out: created at 1 and raised to the
                # scalable target's minimum, a stack update then never resets a count
                # autoscaling has raised.
                DesiredCount=1 if single else Ref(AWS_NO_VALUE),
                # Beat must never run twice: stop the old task before starting the new one.
                CapacityProviderStrategy=ON_DEMAND if single else self.strategy,
                DeploymentConfiguration=ecs.DeploymentConfiguration(
                    DeploymentCircuitBreaker=ecs.DeploymentCircuitBreaker(Enable=True,
                                                                          Rollback=True),
                    MinimumHealthyPercent=0 if single else min_healthy,
                    MaximumPercent=100 if single else max_percent),
                AvailabilityZoneRebalancing="DISABLED" if single else "ENABLED",
                NetworkConfiguration=ecs.NetworkConfiguration(
                    AwsvpcConfiguration=ecs.AwsvpcConfiguration(
                        AssignPublicIp="DISABLED", Subnets=self.app_subnets,
                        SecurityGroups=[self.app_sg])),
                EnableExecuteCommand=If(self.exec_enabled, True, False),
                EnableECSManagedTags=True, PropagateTags="SERVICE",
                Tags=self.tags("ecs-svc", name.lower()))
            if web:
                props.update(
                    LoadBalancers=[ecs.LoadBalancer(
                        ContainerName=name.lower(), ContainerPort=self.app_port,
                        TargetGroupArn=self.target_group_arns[name])],
                    # The listener rules that attach the target group exist already: this
                    # stack waits for the whole load-balancer stack.
                    HealthCheckGracePeriodSeconds=60)
            self.add(ecs.Service(f"{name}Service", **props))
            self.output(f"{name}ServiceName", GetAtt(f"{name}Service", "Name"),
                        f"Name of the {name.lower()} service ({runs})")

    # -- autoscaling ----------------------------------------------------------------
    def _scalable(self, name: str, low: int, high: int, ceiling: int) -> None:
        minimum = self.parameter(
            f"{name}MinTasks", "Compute", Type="Number", Default=low, MinValue=1,
            MaxValue=ceiling, Description=f"Fewest {name.lower()} tasks autoscaling keeps running.")
        maximum = self.parameter(
            f"{name}MaxTasks", "Compute", Type="Number", Default=high, MinValue=1,
            MaxValue=ceiling, Description=f"Most {name.lower()} tasks autoscaling may run.")
        self.add(aas.ScalableTarget(
            f"{name}ScalableTarget", ServiceNamespace="ecs",
            ScalableDimension="ecs:service:DesiredCount",
            ResourceId=Join("/", ["service", Ref("Cluster"), GetAtt(f"{name}Service", "Name")]),
            MinCapacity=minimum, MaxCapacity=maximum))

    def _target_tracking(self, logical: str, target: str, value, **spec) -> None:
        # Scale out within a minute, scale in slowly (5 minutes between steps).
        self.add(aas.ScalingPolicy(
            logical, PolicyName=logical, PolicyType="TargetTrackingScaling",
            ScalingTargetId=Ref(f"{target}ScalableTarget"),
            TargetTrackingScalingPolicyConfiguration=aas.TargetTrackingScalingPolicyConfiguration(
                TargetValue=value, ScaleOutCooldown=60, ScaleInCooldown=300, **spec)))

    def autoscaling(self) -> None:
        requests = self.parameter(
            "ApiRequestsPerTarget", "Compute", Type="Number", Default=1000, MinValue=10,
            MaxValue=100000,
            Description="ALB requests per api task per minute the api scales to hold.")
        backlog = self.parameter(
            "WorkerBacklogPerTask", "Compute", Type="Number", Default=20, MinValue=1,
            MaxValue=10000,
            Description="Visible jobs per worker task the workers scale to hold (queue "
                        "backlog / running workers).")
        for name, low, high in (("Api", 2, 10), ("Web", 2, 6), ("Worker", 1, 10)):
            self._scalable(name, low, high, 100)
        for name in ("Api", "Web"):
            for metric, target in (("ECSServiceAverageCPUUtilization", 70),
                                   ("ECSServiceAverageMemoryUtilization", 75)):
                kind = "Cpu" if "CPU" in metric else "Memory"
                self._target_tracking(
                    f"{name}{kind}Scaling", name, target,
                    PredefinedMetricSpecification=aas.PredefinedMetricSpecification(
                        PredefinedMetricType=metric))
        self._target_tracking(
            "ApiRequestsScaling", "Api", requests,
            PredefinedMetricSpecification=aas.PredefinedMetricSpecification(
                PredefinedMetricType="ALBRequestCountPerTarget",
                ResourceLabel=Join("/", [self.alb_full_name,
                                         self.api_target_group_full_name])))
        # Backlog per task = visible messages / running worker tasks (Container Insights).
        self._target_tracking(
            "WorkerBacklogScaling", "Worker", backlog,
            CustomizedMetricSpecification=aas.CustomizedMetricSpecification(Metrics=[
                aas.TargetTrackingMetricDataQuery(
                    Id="visible", ReturnData=False,
                    MetricStat=aas.TargetTrackingMetricStat(Stat="Sum", Metric=aas.TargetTrackingMetric(
                        Namespace="AWS/SQS", MetricName="ApproximateNumberOfMessagesVisible",
                        Dimensions=[aas.TargetTrackingMetricDimension(
                            Name="QueueName", Value=self.jobs_queue_name)]))),
                aas.TargetTrackingMetricDataQuery(
                    Id="running", ReturnData=False,
                    MetricStat=aas.TargetTrackingMetricStat(Stat="Average", Metric=aas.TargetTrackingMetric(
                        Namespace="ECS/ContainerInsights", MetricName="RunningTaskCount",
                        Dimensions=[
                            aas.TargetTrackingMetricDimension(Name="ClusterName",
                                                              Value=Ref("Cluster")),
                            aas.TargetTrackingMetricDimension(
                                Name="ServiceName", Value=GetAtt("WorkerService", "Name"))]))),
                aas.TargetTrackingMetricDataQuery(
                    Id="backlog", Expression="visible / IF(running > 0, running, 1)",
                    Label="Visible jobs per running worker", ReturnData=True),
            ]))

    # -- scheduled jobs -------------------------------------------------------------
    def scheduled_jobs(self) -> None:
        enabled = self.toggle(
            "ScheduledJobs", "Compute", "enabled",
            "enabled: nightly maintenance and reports run on their schedules (a worker task "
            "each); disabled: the schedules exist but are paused.")
        timezone = self.parameter(
            "ScheduleTimezone", "Compute", Type="String", Default="UTC",
            AllowedPattern=r"^[A-Za-z_]+(/[A-Za-z_+-]+)*$",
            Description="IANA time zone of the job schedules, e.g. UTC or Europe/Paris.")
        task_definitions = [Ref("WorkerTaskDefinition")]
        self.add(workload_role(self, iam.Role(
            "SchedulerRole", AssumeRolePolicyDocument=assume_role_policy("scheduler.amazonaws.com"),
            Policies=[iam.Policy(PolicyName="run-worker-tasks", PolicyDocument=Policy(
                Version="2012-10-17", Statement=[
                    Statement(Sid="RunWorkerTasks", Effect=Allow, Action=[ecs_actions.RunTask],
                              Resource=task_definitions,
                              Condition=Condition(ArnEquals("ecs:cluster",
                                                            GetAtt("Cluster", "Arn")))),
                    Statement(Sid="PassTaskRoles", Effect=Allow, Action=[iam_actions.PassRole],
                              Resource=[GetAtt("TaskRole", "Arn"),
                                        GetAtt("ExecutionRole", "Arn")],
                              Condition=Condition(StringEquals(
                                  "iam:PassedToService", "ecs-tasks.amazonaws.com"))),
                ]))],
            Tags=self.tags("role", "scheduler"))))
        for job, (expression, command) in JOBS.items():
            schedule = self.parameter(
                f"{job}Schedule", "Compute", Type="String", Default=expression,
                AllowedPattern=r"^(cron|rate)\(.+\)$",
                Description=f"When the {job} job runs (EventBridge Scheduler cron()/rate()).")
            job_command = self.parameter(
                f"{job}Command", "Compute", Type="String", Default=command,
                AllowedPattern=r'^[^"\\]+$',
                Description=f"Comma-separated command the {job} job runs in the worker "
                            "container (it must exit when done).")
            overrides = Join("", [
                '{"containerOverrides":[{"name":"worker","command":["',
                Join('","', Split(",", job_command)), '"]}]}'])
            self.add(scheduler.Schedule(
                f"{job}Job",
                Description=f"streamstack scheduled job: {job}",
                ScheduleExpression=schedule, ScheduleExpressionTimezone=timezone,
                FlexibleTimeWindow=scheduler.FlexibleTimeWindow(Mode="OFF"),
                State=If(enabled, "ENABLED", "DISABLED"),
                Target=scheduler.Target(
                    Arn=GetAtt("Cluster", "Arn"), RoleArn=GetAtt("SchedulerRole", "Arn"),
                    Input=overrides,
                    RetryPolicy=scheduler.RetryPolicy(MaximumRetryAttempts=2,
                                                      MaximumEventAgeInSeconds=3600),
                    EcsParameters=scheduler.EcsParameters(
                        TaskDefinitionArn=Ref("WorkerTaskDefinition"), TaskCount=1,
                        LaunchType="FARGATE", PlatformVersion="LATEST",
                        NetworkConfiguration=scheduler.NetworkConfiguration(
                            AwsvpcConfiguration=scheduler.AwsVpcConfiguration(
                                AssignPublicIp="DISABLED", Subnets=self.app_subnets,
                                SecurityGroups=[self.app_sg]))))))
