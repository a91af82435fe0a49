"""security: customer-managed KMS keys, security groups, and VPC flow logs.

Keys: `data` (Aurora, ElastiCache, DynamoDB, Secrets Manager) and `storage` (S3, SQS,
SNS, CloudWatch Logs, EFS). Each key policy keeps the account root (so IAM policies
work and nobody is locked out) and grants exactly the service principals that use it.

Security groups: every rule is its own resource with a description, so groups can
reference each other without cycles. Egress is explicit: each group gets a placeholder
egress rule that matches nothing (which removes EC2's default allow-all), and the
real egress rules are separate resources.

Flow logs live here rather than in network: they are an audit control encrypted with
the storage key, and this tier already reads the VPC from network.
"""

from __future__ import annotations

from awacs import kms as kms_actions
from awacs import logs as logs_actions
from awacs.aws import Allow, ArnLike, Condition, Principal, Statement, StringEquals
from troposphere import And, GetAtt, Ref, Sub, ec2, logs
from troposphere import Condition as IsTrue

from templates.base import LOG_RETENTION_DAYS, Equals, If, Not, Tier, arn
from templates.parts.buckets import bucket_name
from templates.parts.certificates import issues_certificates
from templates.parts.iam import service_role
from templates.parts.keys import customer_key
from templates.parts.listeners import internal_alb

KEY_USE = [
    kms_actions.Encrypt,
    kms_actions.Decrypt,
    kms_actions.ReEncryptFrom,
    kms_actions.ReEncryptTo,
    kms_actions.GenerateDataKey,
    kms_actions.GenerateDataKeyWithoutPlaintext,
    kms_actions.DescribeKey,
]
# The placeholder rule CDK also uses: ICMP type 252 code 86 to a single host matches nothing.
NO_EGRESS = ec2.SecurityGroupRule(
    IpProtocol="icmp",
    FromPort=252,
    ToPort=86,
    CidrIp="255.255.255.255/32",
    Description="Disallow all egress",
)


# The buckets CloudFront reads through Origin Access Control (the cdn tier's origins).
CDN_BUCKETS = [bucket_name(purpose).data["Fn::Sub"] for purpose in ("static-assets", "media")]
OAC_SCOPE = (
    "CloudFront's Origin Access Control may decrypt with this key only for a distribution "
    "of this account (aws:SourceArn) and only objects of the static and media buckets "
    "(kms:EncryptionContext:aws:s3:arn). It cannot name the platform's distribution: the "
    "distribution (cdn tier) reads its buckets, which the storage tier encrypts with this "
    "key, so this key's policy would wait for the distribution and the distribution for "
    "this key, a cycle CloudFormation refuses, and a key policy cannot be written by "
    "another stack. The buckets' own policies (cdn tier) admit only the platform's "
    "distribution, so another distribution of the account reads nothing of them."
)


def service(name: str) -> Principal:
    return Principal("Service", name)


class SecurityTier(Tier):
    name = "security"
    description = "KMS keys, security groups and VPC flow logs"

    def build(self) -> None:
        self.vpc_id = self.wired(
            "VpcId",
            "network",
            Type="AWS::EC2::VPC::Id",
            Description="VPC the security groups belong to (network tier).",
        )
        self.vpc_cidr = self.wired(
            "VpcCidr", "network", group="Network", Description="CIDR of the VPC (network tier)."
        )
        self.keys()
        self.security_groups()
        self.flow_logs()

    # -- KMS ---------------------------------------------------------------------
    def keys(self) -> None:
        self._key(
            "DataKey",
            "data",
            "Aurora, ElastiCache, DynamoDB and Secrets Manager data at rest",
            [self._service_statement("RdsUse", "rds.amazonaws.com")],
        )
        storage = self._key(
            "StorageKey",
            "storage",
            "S3 objects, SQS messages, SNS topics, CloudWatch log groups and EFS",
            [
                self._service_statement("S3Use", "s3.amazonaws.com"),
                Statement(
                    Sid="CloudWatchLogsUse",
                    Effect=Allow,
                    Principal=service(Sub("logs.${AWS::Region}.amazonaws.com")),
                    Action=KEY_USE,
                    Resource=["*"],
                    Condition=Condition(
                        ArnLike("kms:EncryptionContext:aws:logs:arn", arn("logs", "log-group:*"))
                    ),
                ),
                # Alarms publish to the encrypted SNS topic; EventBridge and SNS
                # deliver to encrypted queues and topics.
                self._service_statement("CloudWatchAlarmsUse", "cloudwatch.amazonaws.com"),
                # EventBridge also describes the key of an encrypted bus or archive.
                self._service_statement(
                    "EventBridgeUse", "events.amazonaws.com", kms_actions.DescribeKey
                ),
                self._service_statement("SnsUse", "sns.amazonaws.com"),
                # Budgets and Cost Anomaly Detection notify the encrypted info topic.
                self._service_statement("BudgetsUse", "budgets.amazonaws.com"),
                self._service_statement("CostAnomalyAlertsUse", "costalerts.amazonaws.com"),
                self._service_statement("SqsUse", "sqs.amazonaws.com"),
                # CloudFront Origin Access Control reads the static and media buckets'
                # objects, for this account's distributions (why not the platform's
                # distribution alone: the key's Metadata, OAC_SCOPE).
                Statement(
                    Sid="CloudFrontOacDecrypt",
                    Effect=Allow,
                    Principal=service("cloudfront.amazonaws.com"),
                    Action=[kms_actions.Decrypt, kms_actions.GenerateDataKey],
                    Resource=["*"],
                    Condition=Condition(
                        ArnLike(
                            {
                                "aws:SourceArn": Sub(
                                    "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}"
                                    ":distribution/*"
                                ),
                                "kms:EncryptionContext:aws:s3:arn": [
                                    Sub(f"arn:${{AWS::Partition}}:s3:::{name}{suffix}")
                                    for name in CDN_BUCKETS
                                    for suffix in ("", "/*")
                                ],
                            }
                        )
                    ),
                ),
            ],
        )
        storage.Metadata = {"streamstack:OacScope": OAC_SCOPE}

    @staticmethod
    def _service_statement(sid: str, principal: str, *extra_actions) -> Statement:
        return Statement(
            Sid=sid,
            Effect=Allow,
            Principal=service(principal),
            Action=[kms_actions.Decrypt, kms_actions.GenerateDataKey, *extra_actions],
            Resource=["*"],
            Condition=Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId"))),
        )

    def _key(self, logical: str, purpose: str, use: str, statements: list):
        key = customer_key(
            self,
            logical,
            purpose,
            f"streamstack {purpose} key (${{Environment}}): {use}",
            statements,
        )
        self.output(f"{logical}Id", Ref(logical), f"ID of the {purpose} KMS key ({use})")
        self.output(
            f"{logical}Arn", GetAtt(logical, "Arn"), f"ARN of the {purpose} KMS key ({use})"
        )
        return key

    # -- security groups ----------------------------------------------------------
    def security_groups(self) -> None:
        prefix_list = self.parameter(
            "CloudFrontPrefixListId",
            "Wiring",
            deploy_time=True,
            Type="String",
            Default="",
            AllowedPattern=r"^(pl-[0-9a-f]{8,17})?$",
            ConstraintDescription="empty, or a managed prefix list id such as pl-82a045eb",
            Description="CloudFront origin-facing managed prefix list. When set, the ALB "
            "accepts traffic only from CloudFront, on the one port CloudFront uses; empty: "
            "an internal ALB from the VPC, an internet-facing one from anywhere. "
            "deploy.py looks it up.",
        )
        app_port = self.shared_parameter("AppPort")
        engine = self.shared_parameter("DatabaseEngine")
        internal = internal_alb(self)
        self.condition("IsMySql", Equals(engine, "aurora-mysql"))
        self.condition("AlbFromCloudFrontOnly", Not(Equals(prefix_list, "")))
        db_port = If("IsMySql", 3306, 5432)
        # CloudFront reaches the ALB on one port: HTTPS when the dns tier issues the
        # ALB's certificate, else HTTP. One rule, because the prefix list weighs 55 of a
        # security group's 60 rules.
        origin_port = If(issues_certificates(self), 443, 80)

        for logical, purpose, text in (
            ("Alb", "alb", "Application load balancer: HTTP/HTTPS from viewers or CloudFront"),
            ("App", "app", "Application tasks and instances: the app port from the ALB"),
            ("Database", "db", "Aurora: the engine port from the application"),
            ("Cache", "cache", "ElastiCache: 6379 from the application"),
            ("Efs", "efs", "EFS mount targets: NFS from the application"),
            ("Fleet", "fleet", "Optional EC2 fleet: HTTP from the ALB"),
        ):
            self.add(
                ec2.SecurityGroup(
                    f"{logical}SecurityGroup",
                    GroupDescription=text,
                    VpcId=self.vpc_id,
                    SecurityGroupEgress=[NO_EGRESS],
                    Tags=self.tags("sg", purpose),
                )
            )
            self.output(
                f"{logical}SecurityGroupId",
                Ref(f"{logical}SecurityGroup"),
                f"ID of the {purpose} security group ({text})",
            )

        # Without the prefix list (it was not found): an internal ALB accepts its port from
        # inside the VPC, where CloudFront's VPC origin connects from.
        self.condition("AlbFromVpc", And(IsTrue(internal), Equals(prefix_list, "")))
        for source, condition, peer, whom in (
            (
                "CloudFront",
                "AlbFromCloudFrontOnly",
                {"SourcePrefixListId": prefix_list},
                "its origin-facing servers only",
            ),
            ("Vpc", "AlbFromVpc", {"CidrIp": self.vpc_cidr}, "the VPC (its VPC origin)"),
        ):
            self.add(
                ec2.SecurityGroupIngress(
                    f"AlbIngressFrom{source}",
                    Condition=condition,
                    GroupId=Ref("AlbSecurityGroup"),
                    IpProtocol="tcp",
                    FromPort=origin_port,
                    ToPort=origin_port,
                    Description=f"CloudFront's origin port from {whom}",
                    **peer,
                )
            )
        self.condition("AlbFromAnywhere", And(Not(IsTrue(internal)), Equals(prefix_list, "")))
        for port in (80, 443):
            rule = self.add(
                ec2.SecurityGroupIngress(
                    f"AlbIngress{port}FromAnywhere",
                    Condition="AlbFromAnywhere",
                    GroupId=Ref("AlbSecurityGroup"),
                    IpProtocol="tcp",
                    FromPort=port,
                    ToPort=port,
                    CidrIp="0.0.0.0/0",
                    Description=f"TCP {port} from any viewer",
                )
            )
            if port == 80:
                self.suppress(
                    rule,
                    checkov={
                        "CKV_AWS_260": "Only an internet-facing ALB without the CloudFront "
                        "prefix list (dev's direct tests; staging and prod refuse "
                        "internet-facing) answers port 80 to anyone, to redirect viewers "
                        "to HTTPS or serve the no-certificate test setup."
                    },
                )
        self._rule("AlbEgressToApp", "Alb", "App", app_port, "Forward to the application port")
        self._rule(
            "AppIngressFromAlb",
            "App",
            "Alb",
            app_port,
            "Application port from the ALB",
            ingress=True,
        )
        self._rule("AppEgressToDatabase", "App", "Database", db_port, "Aurora")
        self._rule(
            "DatabaseIngressFromApp",
            "Database",
            "App",
            db_port,
            "Aurora from the application",
            ingress=True,
        )
        self._rule("AppEgressToCache", "App", "Cache", 6379, "ElastiCache")
        self._rule(
            "CacheIngressFromApp",
            "Cache",
            "App",
            6379,
            "ElastiCache from the application",
            ingress=True,
        )
        self._rule("AppEgressToEfs", "App", "Efs", 2049, "EFS (NFS)")
        self._rule(
            "EfsIngressFromApp", "Efs", "App", 2049, "NFS from the application", ingress=True
        )
        # The EC2 fleet is an application tier too: it reaches Aurora like the tasks.
        self._rule("FleetEgressToDatabase", "Fleet", "Database", db_port, "Aurora")
        self._rule(
            "DatabaseIngressFromFleet",
            "Database",
            "Fleet",
            db_port,
            "Aurora from the EC2 fleet",
            ingress=True,
        )
        self._rule("AlbEgressToFleet", "Alb", "Fleet", 80, "Forward to the EC2 fleet")
        self._rule("FleetIngressFromAlb", "Fleet", "Alb", 80, "HTTP from the ALB", ingress=True)
        for group in ("App", "Fleet"):
            self.add(
                ec2.SecurityGroupEgress(
                    f"{group}EgressHttps",
                    GroupId=Ref(f"{group}SecurityGroup"),
                    IpProtocol="tcp",
                    FromPort=443,
                    ToPort=443,
                    CidrIp="0.0.0.0/0",
                    Description="HTTPS to AWS APIs and package/image registries (through NAT or "
                    "endpoints)",
                )
            )

    def _rule(
        self, logical: str, group: str, peer: str, port, description: str, ingress: bool = False
    ) -> None:
        if ingress:
            self.add(
                ec2.SecurityGroupIngress(
                    logical,
                    GroupId=Ref(f"{group}SecurityGroup"),
                    IpProtocol="tcp",
                    FromPort=port,
                    ToPort=port,
                    SourceSecurityGroupId=Ref(f"{peer}SecurityGroup"),
                    Description=description,
                )
            )
        else:
            self.add(
                ec2.SecurityGroupEgress(
                    logical,
                    GroupId=Ref(f"{group}SecurityGroup"),
                    IpProtocol="tcp",
                    FromPort=port,
                    ToPort=port,
                    DestinationSecurityGroupId=Ref(f"{peer}SecurityGroup"),
                    Description=description,
                )
            )

    # -- flow logs ---------------------------------------------------------------
    def flow_logs(self) -> None:
        retention = self.parameter(
            "FlowLogRetentionDays",
            "Observability",
            "Flow log retention (days)",
            Type="Number",
            AllowedValues=LOG_RETENTION_DAYS,
            Default=30,
            Description="Days to keep VPC flow logs in CloudWatch Logs.",
        )
        self.add(
            self.stateful(
                logs.LogGroup(
                    "FlowLogGroup",
                    RetentionInDays=retention,
                    KmsKeyId=GetAtt("StorageKey", "Arn"),
                    Tags=self.tags("logs", "flow"),
                )
            )
        )
        service_role(
            self,
            "FlowLogRole",
            "vpc-flow-logs.amazonaws.com",
            "flow-logs",
            [
                Statement(
                    Effect=Allow,
                    Action=[
                        logs_actions.CreateLogStream,
                        logs_actions.PutLogEvents,
                        logs_actions.DescribeLogStreams,
                    ],
                    Resource=[GetAtt("FlowLogGroup", "Arn")],
                ),
            ],
            policy_name="deliver-flow-logs",
        )
        self.add(
            ec2.FlowLog(
                "VpcFlowLog",
                ResourceId=self.vpc_id,
                ResourceType="VPC",
                TrafficType="ALL",
                LogDestinationType="cloud-watch-logs",
                LogGroupName=Ref("FlowLogGroup"),
                DeliverLogsPermissionArn=GetAtt("FlowLogRole", "Arn"),
                Tags=self.tags("flowlog", "vpc"),
            )
        )
        self.output("FlowLogGroupName", Ref("FlowLogGroup"), "Log group holding VPC flow logs")
