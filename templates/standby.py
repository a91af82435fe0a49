"""standby (stand-alone, in the standby region): what the platform's region recovers into.

deploy.py deploys this stack to the region params `standby.region` names (`make standby`),
like the edge stack to us-east-1, and passes its outputs to the root's deploy-time
parameters (replication targets, the backup copies' vault, the key of the secret
replicas); no export crosses the regions. It reads the root's outputs the same way
(the distribution, the global database, the zone, the secrets' replicas), so the order
is: `make standby`, `make deploy` + `make execute`, then `make standby` again.

- **Key** of its own: the replicas, the copies' vault, the secondary cluster and the logs.
- **Replica buckets** for the media and static buckets (S3 replication from the platform's
  region writes every version and delete marker there); the static replica lets the
  distribution read it, so /static/* fails over to it.
- **Backup vault** receiving a copy of every recovery point outside dev, locked like the
  platform's vault.
- **Secondary cluster** of the Aurora global database (GlobalClusterIdentifier, when the
  platform's AuroraGlobalDatabase is on), with StandbyDatabaseInstances readers (0: a
  headless secondary, storage only, instances added at failover).
- **Warm application** (StandbyApplication): a VPC, an ALB for api.<domain> and the api
  and web services, StandbyApiTasks and StandbyWebTasks of them, on the replica buckets
  and the secondary cluster, with the replicated secrets; the SECONDARY record of
  failover.api.<domain> points at its ALB, so Route 53 sends api.<domain> here when the
  platform's health check fails.
"""

from __future__ import annotations

from awacs import kms as kms_actions
from awacs import rds_db as rds_db_actions
from awacs import s3 as s3_actions
from awacs import secretsmanager as sm_actions
from awacs.aws import Allow, Condition, Principal, Statement, StringEquals
from troposphere import (
    And,
    Cidr,
    GetAtt,
    GetAZs,
    Join,
    Or,
    Ref,
    Select,
    Split,
    Sub,
    ec2,
    ecs,
    rds,
    route53,
    s3,
)
from troposphere import Condition as IsTrue
from troposphere import elasticloadbalancingv2 as elb

from templates.base import AWS_NO_VALUE, TOGGLE, Equals, If, Not, Tier
from templates.parts import third_party
from templates.parts.backups import backup_vault, no_backup, retention_parameters
from templates.parts.buckets import (
    log_delivery_statements,
    private_bucket,
    secure_bucket_statements,
)
from templates.parts.certificates import (
    certificate,
    certificates_toggle,
    has_domain,
    optional_zone_id,
)
from templates.parts.iam import (
    policy_dict,
    policy_document,
    secrets_key_statement,
    service_role,
    task_execution_role,
)
from templates.parts.keys import customer_key, logs_use_statement
from templates.parts.listeners import https_redirect, origin_condition, path_condition
from templates.parts.logs import log_group
from templates.parts.regions import AZS
from templates.parts.standby import FAILOVER_HOST, REPLICATED_BUCKETS, replica_bucket_name

PLACEHOLDER_IMAGE = "docker.io/traefik/whoami:v1.11.0"
TASK_SIZES = ["256/512", "512/1024", "1024/2048", "2048/4096", "4096/8192"]
DB_CLASSES = [
    "db.serverless",
    "db.r6g.large",
    "db.r6g.xlarge",
    "db.r7g.large",
    "db.r7g.xlarge",
    "db.r7g.2xlarge",
]
# Subnets: three layers of three AZs, /24s carved from the VPC block in this order.
LAYERS = ("Public", "App", "Data")
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
# ICMP type 252 code 86 to one host matches nothing: it replaces EC2's allow-all egress.
NO_EGRESS = ec2.SecurityGroupRule(
    IpProtocol="icmp",
    FromPort=252,
    ToPort=86,
    CidrIp="255.255.255.255/32",
    Description="Disallow all egress",
)
SERVICES = {"Api": ("/api/*", 10), "Web": ("/*", 20)}


class StandbyTier(Tier):
    name = "standby"
    description = (
        "replica buckets, backup vault, Aurora secondary and warm application capacity in "
        "the standby region (stand-alone)"
    )
    nested = False

    def build(self) -> None:
        self.inputs()
        self.key()
        self.replica_buckets()
        self.vault()
        self.network()
        self.database()
        self.application()

    # -- inputs --------------------------------------------------------------------
    def _from_primary(self, name: str, pattern: str, description: str):
        """A deploy-time parameter deploy.py reads from the platform's region ("" before)."""
        return self.from_other_stack(
            name, pattern, description, "empty, or the platform stack's output"
        )

    def inputs(self) -> None:
        secret_arn = r"^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[^\s]+)?$"
        self.primary_region = self._from_primary(
            "PrimaryRegion",
            r"^([a-z]{2}(-[a-z]+)+-[0-9])?$",
            "Region of the platform this stack stands by for (deploy.py sets it).",
        )
        self.distribution = self._from_primary(
            "DistributionArn",
            r"^(arn:aws[a-z-]*:cloudfront::[0-9]{12}:distribution/[A-Z0-9]+)?$",
            "The platform's CloudFront distribution (root output): it may read the static "
            "replica. Empty before the platform's first deploy.",
        )
        self.global_cluster = self._from_primary(
            "GlobalClusterIdentifier",
            r"^([a-zA-Z][a-zA-Z0-9-]{0,62})?$",
            "Aurora global database to join as the secondary (root output DbGlobalClusterId). "
            "Empty: no secondary cluster.",
        )
        self.engine_version = self._from_primary(
            "DatabaseEngineVersion",
            r"^([0-9][0-9a-z._]*)?$",
            "Engine version of the platform's cluster (root output DbEngineVersion); a "
            "secondary runs the same.",
        )
        self.zone = optional_zone_id(
            self,
            "HostedZoneId",
            "Public zone of DomainName (root output HostedZoneId): the standby ALB's "
            "certificate and failover record. Empty: neither.",
        )
        self.origin_secret = self._from_primary(
            "OriginVerifySecretArn",
            secret_arn,
            "This region's replica of the platform's origin-verify secret (deploy.py derives "
            "it from the root output).",
        )
        self.db_user = self._from_primary(
            "DbAppUsername",
            r"^([a-z][a-z0-9_]{0,15})?$",
            "The application's database user (root output DbAppUsername): the standby tasks "
            "sign in as it with IAM database authentication, as the platform's do.",
        )
        self.db_name = self._from_primary(
            "DbName",
            r"^([a-zA-Z][a-zA-Z0-9_]{0,62})?$",
            "The application database (root output DbName).",
        )
        self.app_secret = self._from_primary(
            "AppSecretArn",
            secret_arn,
            "This region's replica of the application secret (deploy.py).",
        )
        self.prefix_list = self._from_primary(
            "CloudFrontPrefixListId",
            r"^(pl-[0-9a-f]{8,17})?$",
            "CloudFront's origin-facing prefix list in this region (deploy.py looks it up): "
            "the standby ALB then accepts only CloudFront.",
        )
        self.condition("HasSecondary", Not(Equals(self.global_cluster, "")))
        self.condition("HasDistribution", Not(Equals(self.distribution, "")))
        self.condition("HasDbUser", And(IsTrue("HasSecondary"), Not(Equals(self.db_user, ""))))
        self.condition("HasAppSecret", Not(Equals(self.app_secret, "")))
        self.condition("HasOriginSecret", Not(Equals(self.origin_secret, "")))
        self.third_party_inputs()
        self.condition("AlbFromCloudFrontOnly", Not(Equals(self.prefix_list, "")))
        self.condition("AlbFromAnywhere", Equals(self.prefix_list, ""))
        self.condition("HasZone", Not(Equals(self.zone, "")))
        self.engine = self.shared_parameter("DatabaseEngine")
        self.condition("IsMySql", Equals(self.engine, "aurora-mysql"))
        self.app_port = self.shared_parameter("AppPort")
        self.application_on = self.toggle(
            "StandbyApplication",
            "Standby",
            "disabled",
            "enabled: a warm standby of the api and web services (VPC, ALB, StandbyApiTasks "
            "and StandbyWebTasks) that Route 53 fails api.<domain> over to; disabled: data "
            "only (replicas, backup copies, the secondary cluster).",
        )
        self.condition("HasNetwork", Or(IsTrue(self.application_on), IsTrue("HasSecondary")))

    # -- key -----------------------------------------------------------------------
    def key(self) -> None:
        customer_key(
            self,
            "StandbyKey",
            "standby",
            "streamstack standby key (${Environment}): replicas, backup copies, the secondary "
            "cluster, secret replicas and logs in the standby region",
            [
                logs_use_statement(
                    Sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*")
                ),
                If(
                    "HasDistribution",
                    policy_dict(
                        Statement(
                            Sid="CloudFrontReadsTheStaticReplica",
                            Effect=Allow,
                            Principal=Principal("Service", "cloudfront.amazonaws.com"),
                            Action=[kms_actions.Decrypt],
                            Resource=["*"],
                            Condition=Condition(StringEquals("AWS:SourceArn", self.distribution)),
                        )
                    ),
                    Ref(AWS_NO_VALUE),
                ),
            ],
        )
        self.key_arn = GetAtt("StandbyKey", "Arn")
        self.output("StandbyKeyArn", self.key_arn, "KMS key of the standby stack")

    # -- replica buckets -------------------------------------------------------------
    def replica_buckets(self) -> None:
        noncurrent = self.parameter(
            "NoncurrentVersionExpirationDays",
            "Storage",
            Type="Number",
            Default=30,
            MinValue=1,
            MaxValue=3650,
            Description="Days a replaced or deleted object version is kept before it expires "
            "(the platform's value: replicas keep the same undo window).",
        )
        for purpose, replica in REPLICATED_BUCKETS.items():
            logical = "".join(p.capitalize() for p in replica.split("-")) + "Bucket"
            bucket = self.add(
                self.stateful(
                    s3.Bucket(
                        logical,
                        BucketName=Sub(replica_bucket_name(purpose, "${AWS::Region}")),
                        **private_bucket(self.key_arn),
                        LifecycleConfiguration=s3.LifecycleConfiguration(
                            Rules=[
                                s3.LifecycleRule(
                                    Id="expire-old-versions",
                                    Prefix="",
                                    Status="Enabled",
                                    AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(
                                        DaysAfterInitiation=7
                                    ),
                                    NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(
                                        NoncurrentDays=noncurrent
                                    ),
                                )
                            ]
                        ),
                        Tags=self.tags("s3", replica),
                    )
                )
            )
            self.suppress(
                bucket,
                checkov={
                    "CKV_AWS_18": "A replica: S3 replication is its only writer (logged in the "
                    "platform's region, where the source bucket's access is logged).",
                },
            )
            no_backup(
                bucket,
                "A replica of the platform's bucket: the source is backed up (media) or "
                "published by every release (static).",
            )
            statements = secure_bucket_statements(logical, "aws:kms", self.key_arn)
            if purpose == "static-assets":
                statements.append(
                    If(
                        "HasDistribution",
                        policy_dict(
                            Statement(
                                Sid="CloudFrontOacRead",
                                Effect=Allow,
                                Principal=Principal("Service", "cloudfront.amazonaws.com"),
                                Action=[s3_actions.GetObject],
                                Resource=[Join("", [GetAtt(logical, "Arn"), "/*"])],
                                Condition=Condition(
                                    StringEquals("AWS:SourceArn", self.distribution)
                                ),
                            )
                        ),
                        Ref(AWS_NO_VALUE),
                    )
                )
            self.add(
                s3.BucketPolicy(
                    f"{logical}Policy",
                    Bucket=Ref(logical),
                    PolicyDocument=policy_document(*statements),
                )
            )
            self.output(f"{logical}Name", Ref(logical), f"Name of the {replica} bucket")
            self.output(
                f"{logical}DomainName",
                GetAtt(logical, "RegionalDomainName"),
                f"Regional domain name of the {replica} bucket",
            )
        self.replicas = {
            purpose: "".join(p.capitalize() for p in replica.split("-")) + "Bucket"
            for purpose, replica in REPLICATED_BUCKETS.items()
        }

    # -- backup vault ------------------------------------------------------------------
    def vault(self) -> None:
        retention_parameters(self)
        backup_vault(self, "StandbyBackupVault", self.key_arn)
        self.output(
            "StandbyBackupVaultArn",
            GetAtt("StandbyBackupVault", "BackupVaultArn"),
            "Vault receiving the platform's backup copies",
        )

    # -- network -----------------------------------------------------------------------
    def network(self) -> None:
        cidr = self.parameter(
            "StandbyVpcCidr",
            "Standby",
            Type="String",
            Default="10.1.0.0/16",
            AllowedPattern=r"^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}"
            r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])/(1[6-9]|20)$",
            ConstraintDescription="an IPv4 CIDR block between /16 and /20",
            Description="VPC block of the standby region (nine /24 subnets are carved from "
            "it). Give it a block the platform's VPC does not use, so the two can be peered.",
        )
        nat = self.parameter(
            "StandbyNat",
            "Standby",
            Type="String",
            AllowedValues=["single", "none"],
            Default="single",
            Description="single: one NAT gateway for the standby tasks (image pulls, AWS APIs); "
            "none: no egress (images must come through endpoints; not provided here).",
        )
        self.condition("HasStandbyNat", And(IsTrue(self.application_on), Equals(nat, "single")))
        network = {"Condition": "HasNetwork"}
        self.add(
            ec2.VPC(
                "Vpc",
                **network,
                CidrBlock=cidr,
                EnableDnsHostnames=True,
                EnableDnsSupport=True,
                Tags=self.tags("vpc", "standby"),
            )
        )
        blocks = Cidr(cidr, len(LAYERS) * len(AZS), 8)
        pairs = [(layer, az) for layer in LAYERS for az in AZS]
        for index, (layer, az) in enumerate(pairs):
            self.add(
                ec2.Subnet(
                    f"{layer}Subnet{az}",
                    **network,
                    VpcId=Ref("Vpc"),
                    CidrBlock=Select(index, blocks),
                    AvailabilityZone=Select(az - 1, GetAZs("")),
                    MapPublicIpOnLaunch=False,
                    Tags=self.tags("subnet", f"{layer.lower()}-{az}", Tier=layer.lower()),
                )
            )
        self.add(
            ec2.InternetGateway("InternetGateway", **network, Tags=self.tags("igw", "standby"))
        )
        self.add(
            ec2.VPCGatewayAttachment(
                "InternetGatewayAttachment",
                **network,
                VpcId=Ref("Vpc"),
                InternetGatewayId=Ref("InternetGateway"),
            )
        )
        for table, purpose in (("Public", "public"), ("App", "app"), ("Data", "data")):
            self.add(
                ec2.RouteTable(
                    f"{table}RouteTable",
                    **network,
                    VpcId=Ref("Vpc"),
                    Tags=self.tags("rtb", purpose),
                )
            )
            for az in AZS:
                self.add(
                    ec2.SubnetRouteTableAssociation(
                        f"{table}Subnet{az}RouteTableAssociation",
                        **network,
                        SubnetId=Ref(f"{table}Subnet{az}"),
                        RouteTableId=Ref(f"{table}RouteTable"),
                    )
                )
        self.add(
            ec2.Route(
                "PublicDefaultRoute",
                **network,
                DependsOn="InternetGatewayAttachment",
                RouteTableId=Ref("PublicRouteTable"),
                DestinationCidrBlock="0.0.0.0/0",
                GatewayId=Ref("InternetGateway"),
            )
        )
        self.add(
            ec2.EIP(
                "NatEip",
                Condition="HasStandbyNat",
                Domain="vpc",
                DependsOn="InternetGatewayAttachment",
                Tags=self.tags("eip", "nat"),
            )
        )
        self.add(
            ec2.NatGateway(
                "NatGateway",
                Condition="HasStandbyNat",
                AllocationId=GetAtt("NatEip", "AllocationId"),
                SubnetId=Ref("PublicSubnet1"),
                Tags=self.tags("nat", "standby"),
            )
        )
        self.add(
            ec2.Route(
                "AppDefaultRoute",
                Condition="HasStandbyNat",
                RouteTableId=Ref("AppRouteTable"),
                DestinationCidrBlock="0.0.0.0/0",
                NatGatewayId=Ref("NatGateway"),
            )
        )
        # The data subnets are isolated: no route out of the VPC.
        self.add(
            ec2.VPCEndpoint(
                "S3GatewayEndpoint",
                **network,
                VpcId=Ref("Vpc"),
                VpcEndpointType="Gateway",
                ServiceName=Sub("com.amazonaws.${AWS::Region}.s3"),
                RouteTableIds=[Ref("AppRouteTable"), Ref("DataRouteTable")],
            )
        )
        self.security_groups()

    def security_groups(self) -> None:
        network = {"Condition": "HasNetwork"}
        db_port = If("IsMySql", 3306, 5432)
        for logical, purpose, text in (
            ("Alb", "alb", "Standby ALB: HTTP/HTTPS from viewers or CloudFront"),
            ("App", "app", "Standby tasks: the app port from the ALB"),
            ("Database", "db", "Secondary Aurora cluster: the engine port from the tasks"),
        ):
            self.add(
                ec2.SecurityGroup(
                    f"{logical}SecurityGroup",
                    **network,
                    GroupDescription=text,
                    VpcId=Ref("Vpc"),
                    SecurityGroupEgress=[NO_EGRESS],
                    Tags=self.tags("sg", purpose),
                )
            )
        for port in (80, 443):
            self.add(
                ec2.SecurityGroupIngress(
                    f"AlbIngress{port}FromCloudFront",
                    Condition=self.condition(
                        f"AlbIngress{port}CloudFront",
                        And(IsTrue("HasNetwork"), IsTrue("AlbFromCloudFrontOnly")),
                    ),
                    GroupId=Ref("AlbSecurityGroup"),
                    IpProtocol="tcp",
                    FromPort=port,
                    ToPort=port,
                    SourcePrefixListId=self.prefix_list,
                    Description=f"TCP {port} from CloudFront origin-facing servers only",
                )
            )
            rule = self.add(
                ec2.SecurityGroupIngress(
                    f"AlbIngress{port}FromAnywhere",
                    Condition=self.condition(
                        f"AlbIngress{port}Anywhere",
                        And(IsTrue("HasNetwork"), IsTrue("AlbFromAnywhere")),
                    ),
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
                        "CKV_AWS_260": "The internet-facing standby ALB must answer port 80 to "
                        "redirect viewers to HTTPS; with the CloudFront prefix list it is "
                        "closed to the internet."
                    },
                )
        for logical, group, peer, port, text, ingress in (
            ("AlbEgressToApp", "Alb", "App", self.app_port, "Forward to the app port", False),
            ("AppIngressFromAlb", "App", "Alb", self.app_port, "App port from the ALB", True),
            ("AppEgressToDatabase", "App", "Database", db_port, "Secondary Aurora", False),
            ("DatabaseIngressFromApp", "Database", "App", db_port, "From the tasks", True),
        ):
            kind = ec2.SecurityGroupIngress if ingress else ec2.SecurityGroupEgress
            peer_key = "SourceSecurityGroupId" if ingress else "DestinationSecurityGroupId"
            self.add(
                kind(
                    logical,
                    **network,
                    GroupId=Ref(f"{group}SecurityGroup"),
                    IpProtocol="tcp",
                    FromPort=port,
                    ToPort=port,
                    Description=text,
                    **{peer_key: Ref(f"{peer}SecurityGroup")},
                )
            )
        self.add(
            ec2.SecurityGroupEgress(
                "AppEgressHttps",
                **network,
                GroupId=Ref("AppSecurityGroup"),
                IpProtocol="tcp",
                FromPort=443,
                ToPort=443,
                CidrIp="0.0.0.0/0",
                Description="HTTPS to AWS APIs and image registries",
            )
        )

    # -- secondary cluster ------------------------------------------------------------
    def database(self) -> None:
        readers = self.parameter(
            "StandbyDatabaseInstances",
            "Standby",
            Type="Number",
            AllowedValues=[0, 1, 2],
            Default=1,
            Description="Instances of the secondary cluster. 0: headless (storage only, the "
            "cheapest; add instances before promoting it); 1 or 2: readers that serve the "
            "standby application and take over writes after a failover.",
        )
        instance_class = self.parameter(
            "StandbyDatabaseInstanceClass",
            "Standby",
            Type="String",
            AllowedValues=DB_CLASSES,
            Default="db.serverless",
            Description="Instance class of the secondary's instances (db.serverless: "
            "Serverless v2 between StandbyDatabaseMinCapacity and StandbyDatabaseMaxCapacity).",
        )
        min_acu = self.parameter(
            "StandbyDatabaseMinCapacity",
            "Standby",
            Type="Number",
            Default=0.5,
            MinValue=0.5,
            MaxValue=256,
            Description="Serverless v2 minimum ACUs of the secondary.",
        )
        max_acu = self.parameter(
            "StandbyDatabaseMaxCapacity",
            "Standby",
            Type="Number",
            Default=8,
            MinValue=1,
            MaxValue=256,
            Description="Serverless v2 maximum ACUs of the secondary.",
        )
        self.condition("IsServerless", Equals(instance_class, "db.serverless"))
        self.condition("HasInstance1", And(IsTrue("HasSecondary"), Not(Equals(readers, "0"))))
        self.condition("HasInstance2", And(IsTrue("HasSecondary"), Equals(readers, "2")))
        secondary = {"Condition": "HasSecondary"}
        self.add(
            rds.DBSubnetGroup(
                "DbSubnetGroup",
                **secondary,
                DBSubnetGroupDescription="Secondary Aurora cluster: the three data subnets",
                SubnetIds=[Ref(f"DataSubnet{az}") for az in AZS],
                Tags=self.tags("dbsubnet", "aurora-secondary"),
            )
        )
        self.add(
            rds.DBClusterParameterGroup(
                "DbClusterParameterGroup",
                **secondary,
                Family=If("IsMySql", "aurora-mysql8.0", "aurora-postgresql16"),
                Description="Secondary Aurora cluster: TLS only, like the primary",
                Parameters=If(
                    "IsMySql", {"require_secure_transport": "ON"}, {"rds.force_ssl": "1"}
                ),
                Tags=self.tags("dbcpg", "aurora-secondary"),
            )
        )
        cluster = self.add(
            self.stateful(
                rds.DBCluster(
                    "DbCluster",
                    **secondary,
                    GlobalClusterIdentifier=self.global_cluster,
                    Engine=self.engine,
                    EngineVersion=self.engine_version,
                    Port=If("IsMySql", 3306, 5432),
                    StorageEncrypted=True,
                    KmsKeyId=self.key_arn,
                    DBSubnetGroupName=Ref("DbSubnetGroup"),
                    VpcSecurityGroupIds=[Ref("DatabaseSecurityGroup")],
                    DBClusterParameterGroupName=Ref("DbClusterParameterGroup"),
                    EnableIAMDatabaseAuthentication=True,
                    CopyTagsToSnapshot=True,
                    EnableCloudwatchLogsExports=If(
                        "IsMySql", ["error", "slowquery"], ["postgresql"]
                    ),
                    DeletionProtection=self.if_dev(False, True),
                    ServerlessV2ScalingConfiguration=If(
                        "IsServerless",
                        rds.ServerlessV2ScalingConfiguration(
                            MinCapacity=min_acu, MaxCapacity=max_acu
                        ),
                        Ref(AWS_NO_VALUE),
                    ),
                    Tags=self.tags("aurora", "secondary"),
                )
            )
        )
        no_backup(
            cluster,
            "The global database's secondary: the primary cluster is backed up and its "
            "recovery points copied to this region's vault.",
        )
        service_role(
            self,
            "DbMonitoringRole",
            "monitoring.rds.amazonaws.com",
            "rds-monitoring-standby",
            condition="HasSecondary",
            ManagedPolicyArns=[
                Sub(
                    "arn:${AWS::Partition}:iam::aws:policy/"
                    "service-role/AmazonRDSEnhancedMonitoringRole"
                )
            ],
        )
        for index in (1, 2):
            self.add(
                rds.DBInstance(
                    f"DbInstance{index}",
                    Condition=f"HasInstance{index}",
                    DBClusterIdentifier=Ref("DbCluster"),
                    Engine=self.engine,
                    DBInstanceClass=instance_class,
                    AvailabilityZone=Select(index - 1, GetAZs("")),
                    PubliclyAccessible=False,
                    AutoMinorVersionUpgrade=True,
                    MonitoringInterval=60,
                    MonitoringRoleArn=GetAtt("DbMonitoringRole", "Arn"),
                    EnablePerformanceInsights=True,
                    PerformanceInsightsKMSKeyId=self.key_arn,
                    PerformanceInsightsRetentionPeriod=7,
                    Tags=self.tags("aurora", f"secondary-{index}"),
                )
            )
        self.output(
            "StandbyDbClusterIdentifier",
            If("HasSecondary", Ref("DbCluster"), ""),
            'Secondary cluster of the global database ("" without one)',
        )
        self.output(
            "StandbyDbEndpoint",
            If("HasSecondary", GetAtt("DbCluster", "Endpoint.Address"), ""),
            "Writer endpoint of the secondary (it writes once promoted)",
        )

    # -- warm application ---------------------------------------------------------------
    def third_party_inputs(self) -> None:
        """The platform's third-party secret slots as its root has them, for the warm
        services (templates/parts/third_party.py): deploy.py passes a slot's name, and
        enables a service only when the platform injects it and this region's replica is
        in sync."""
        for slot in range(1, third_party.SLOTS + 1):
            name = self._from_primary(
                third_party.name_parameter(slot),
                third_party.NAME_PATTERN,
                f"Container variable of the platform's third-party secret {slot} (its root "
                "stack's value, passed by deploy.py); empty: none.",
            )
            third_party.injection_conditions(
                self,
                slot,
                SERVICES,
                Not(Equals(name, "")),
                "Wiring",
                "enabled: this region's replica of third-party secret {slot} is injected into "
                "the standby {service} containers (deploy.py).",
            )
        third_party.reads_conditions(self, SERVICES)

    @staticmethod
    def _third_party_name(slot: int) -> str:
        """The replica's name in this region (Fn::Sub text): the platform's secret's."""
        return third_party.SECRET_NAME % f"${{{third_party.name_parameter(slot)}}}"

    def _third_party_arn(self, slot: int) -> Sub:
        # Secrets Manager ends a secret's ARN with - and six random characters.
        return Sub(
            "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
            f"{self._third_party_name(slot)}-??????"
        )

    def application(self) -> None:
        on = self.application_on
        app = {"Condition": on}
        retention = self.shared_parameter("LogRetentionDays")
        images = {
            name: self.parameter(
                f"{name}Image",
                "Standby",
                Type="String",
                Default=PLACEHOLDER_IMAGE,
                Description=f"Image of the standby {name.lower()} containers (deploy.py passes "
                "the platform's value): they listen on AppPort and answer /health.",
            )
            for name in SERVICES
        }
        counts = {
            name: self.parameter(
                f"Standby{name}Tasks",
                "Standby",
                Type="Number",
                Default=1,
                MinValue=1,
                MaxValue=100,
                Description=f"{name} tasks the warm standby runs (scale it up after a failover).",
            )
            for name in SERVICES
        }
        sizes = {
            name: self.parameter(
                f"Standby{name}TaskSize",
                "Standby",
                Type="String",
                AllowedValues=TASK_SIZES,
                Default="512/1024" if name == "Api" else "256/512",
                Description=f"CPU units/memory MiB of one standby {name.lower()} task.",
            )
            for name in SERVICES
        }
        verify = self.parameter(
            "AlbOriginVerify",
            "Standby",
            Type="String",
            AllowedValues=TOGGLE,
            Default="disabled",
            Description="The platform's value: enabled, the standby ALB too forwards only "
            "requests with CloudFront's X-Origin-Verify header (the secret's replica).",
        )
        self.condition("VerifyOrigin", And(Equals(verify, "enabled"), IsTrue("HasOriginSecret")))
        has_domain(self)
        certificates = certificates_toggle(self)
        self.condition(
            "IssueCertificate",
            And(IsTrue(on), IsTrue("HasDomain"), IsTrue(certificates), IsTrue("HasZone")),
        )
        self.condition("FailoverRecord", And(IsTrue(on), IsTrue("HasDomain"), IsTrue("HasZone")))
        certificate(self, "AlbCertificate", "api", self.zone, "api-standby", "IssueCertificate")

        logs_bucket = self.add(
            self.stateful(
                s3.Bucket(
                    "AccessLogsBucket",
                    **app,
                    BucketName=Sub(
                        "s3-standby-access-logs-${Environment}-${AWS::AccountId}-${AWS::Region}"
                    ),
                    **private_bucket(),
                    LifecycleConfiguration=s3.LifecycleConfiguration(
                        Rules=[
                            s3.LifecycleRule(
                                Id="expire-logs",
                                Prefix="",
                                Status="Enabled",
                                ExpirationInDays=30,
                                NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(
                                    NoncurrentDays=7
                                ),
                            )
                        ]
                    ),
                    Tags=self.tags("s3", "standby-access-logs"),
                )
            )
        )
        self.suppress(
            logs_bucket,
            checkov={
                "CKV_AWS_18": "This is the access-logs bucket; logging it into itself would loop.",
                "CKV_AWS_145": "ALB access-log delivery only supports SSE-S3 (AES256) "
                "destination buckets.",
            },
        )
        no_backup(logs_bucket, "Access logs expire after 30 days; nothing is restored from them.")
        self.add(
            s3.BucketPolicy(
                "AccessLogsBucketPolicy",
                **app,
                Bucket=Ref("AccessLogsBucket"),
                PolicyDocument=policy_document(
                    *secure_bucket_statements("AccessLogsBucket", "AES256"),
                    *log_delivery_statements(self, "AccessLogsBucket"),
                ),
            )
        )
        self.load_balancer(verify_on="VerifyOrigin")
        self.services(images, counts, sizes, retention)
        for record_type in ("A", "AAAA"):
            self.add(
                route53.RecordSetType(
                    f"FailoverRecord{record_type}",
                    Condition="FailoverRecord",
                    HostedZoneId=self.zone,
                    Name=Sub(f"{FAILOVER_HOST}.${{DomainName}}"),
                    Type=record_type,
                    SetIdentifier=Sub("standby-${AWS::Region}"),
                    Failover="SECONDARY",
                    AliasTarget=route53.AliasTarget(
                        HostedZoneId=GetAtt("Alb", "CanonicalHostedZoneID"),
                        DNSName=GetAtt("Alb", "DNSName"),
                        EvaluateTargetHealth=True,
                    ),
                )
            )
        self.output(
            "StandbyAlbDnsName",
            If(on, GetAtt("Alb", "DNSName"), ""),
            'DNS name of the standby ALB ("" without the warm application)',
        )

    def load_balancer(self, verify_on: str) -> None:
        app = {"Condition": self.application_on}
        self.add(
            elb.LoadBalancer(
                "Alb",
                **app,
                DependsOn="AccessLogsBucketPolicy",
                Type="application",
                Scheme="internet-facing",
                IpAddressType="ipv4",
                Subnets=[Ref(f"PublicSubnet{az}") for az in AZS],
                SecurityGroups=[Ref("AlbSecurityGroup")],
                LoadBalancerAttributes=[
                    elb.LoadBalancerAttributes(Key=k, Value=v)
                    for k, v in (
                        ("access_logs.s3.enabled", "true"),
                        ("access_logs.s3.bucket", Ref("AccessLogsBucket")),
                        ("access_logs.s3.prefix", "alb"),
                        ("routing.http.drop_invalid_header_fields.enabled", "true"),
                        ("routing.http.desync_mitigation_mode", "defensive"),
                        ("deletion_protection.enabled", self.if_dev("false", "true")),
                    )
                ],
                Tags=self.tags("alb", "standby"),
            )
        )
        for name in SERVICES:
            self.add(
                elb.TargetGroup(
                    f"{name}TargetGroup",
                    **app,
                    TargetType="ip",
                    Protocol="HTTP",
                    ProtocolVersion="HTTP1",
                    Port=self.app_port,
                    VpcId=Ref("Vpc"),
                    HealthCheckEnabled=True,
                    HealthCheckPath="/health",
                    HealthCheckProtocol="HTTP",
                    HealthCheckIntervalSeconds=30,
                    HealthCheckTimeoutSeconds=5,
                    HealthyThresholdCount=2,
                    UnhealthyThresholdCount=2,
                    Matcher=elb.Matcher(HttpCode="200"),
                    Tags=self.tags("tg", f"standby-{name.lower()}"),
                )
            )
        self.condition("HasCertificate", IsTrue("IssueCertificate"))
        forbidden = elb.Action(
            Type="fixed-response",
            FixedResponseConfig=elb.FixedResponseConfig(
                StatusCode="403", ContentType="text/plain", MessageBody="Forbidden"
            ),
        )
        serve = If(
            verify_on,
            [forbidden],
            [elb.Action(Type="forward", TargetGroupArn=Ref("WebTargetGroup"))],
        )
        http = self.add(
            elb.Listener(
                "HttpListener",
                **app,
                LoadBalancerArn=Ref("Alb"),
                Port=80,
                Protocol="HTTP",
                DefaultActions=If(
                    "HasCertificate",
                    [https_redirect()],
                    serve,
                ),
            )
        )
        self.suppress(
            http,
            checkov={
                "CKV_AWS_2": "Port 80 forwards plain HTTP only until the standby has "
                "api.<domain>'s certificate (the platform's zone and Certificates); with it, "
                "port 80 redirects to HTTPS. The ALB accepts only CloudFront's origin-facing "
                "addresses once deploy.py passes the prefix list.",
                "CKV_AWS_103": "Plain HTTP has no TLS version; it is served only where "
                "CKV_AWS_2's reason says, and HTTPS uses TLS 1.2 at least.",
            },
        )
        self.add(
            elb.Listener(
                "HttpsListener",
                Condition="HasCertificate",
                LoadBalancerArn=Ref("Alb"),
                Port=443,
                Protocol="HTTPS",
                SslPolicy=TLS_POLICY,
                Certificates=[elb.Certificate(CertificateArn=Ref("AlbCertificate"))],
                DefaultActions=serve,
            )
        )
        serving = If("HasCertificate", Ref("HttpsListener"), Ref("HttpListener"))
        origin = origin_condition("OriginVerifySecretArn")
        for name, (pattern, priority) in SERVICES.items():
            path = path_condition(pattern)
            self.add(
                elb.ListenerRule(
                    f"{name}ListenerRule",
                    **app,
                    ListenerArn=serving,
                    Priority=priority,
                    Conditions=If(verify_on, [path, origin], [path]),
                    Actions=[
                        elb.ListenerRuleAction(
                            Type="forward", TargetGroupArn=Ref(f"{name}TargetGroup")
                        )
                    ],
                )
            )

    def services(self, images: dict, counts: dict, sizes: dict, retention) -> None:
        on = self.application_on
        app = {"Condition": on}
        self.add(
            ecs.Cluster(
                "Cluster",
                **app,
                ClusterSettings=[ecs.ClusterSetting(Name="containerInsights", Value="enabled")],
                Tags=self.tags("ecs", "standby"),
            )
        )
        for name in SERVICES:
            log_group(
                self,
                f"{name}LogGroup",
                f"ecs-standby-{name.lower()}",
                retention,
                self.key_arn,
                Condition=on,
            )
        # Each service's own execution role: the application secret's replica, and only
        # the third-party secrets that service reads (the database takes an IAM token).
        for name in SERVICES:
            task_execution_role(
                self,
                name,
                f"ecs-standby-execution-{name.lower()}",
                [
                    If(
                        "HasAppSecret",
                        policy_dict(
                            Statement(
                                Sid="InjectedSecrets",
                                Effect=Allow,
                                Action=[sm_actions.GetSecretValue],
                                Resource=[self.app_secret],
                            )
                        ),
                        Ref(AWS_NO_VALUE),
                    ),
                    third_party.read_statement(name, self._third_party_arn),
                    secrets_key_statement("InjectedSecretsDecrypt", self.key_arn),
                ],
                # The platform's images live in its own region's ECR (or a replica here).
                Sub("arn:${AWS::Partition}:ecr:*:${AWS::AccountId}:repository/*"),
                policy_name="start-standby-tasks",
                condition=on,
            )
        replica_arns = [GetAtt(logical, "Arn") for logical in self.replicas.values()]
        service_role(
            self,
            "TaskRole",
            "ecs-tasks.amazonaws.com",
            "ecs-standby-task",
            [
                Statement(
                    Sid="ReadReplicas",
                    Effect=Allow,
                    Action=[s3_actions.GetObject],
                    Resource=[Join("", [arn, "/*"]) for arn in replica_arns],
                ),
                Statement(
                    Sid="ListReplicas",
                    Effect=Allow,
                    Action=[s3_actions.ListBucket],
                    Resource=replica_arns,
                ),
                Statement(
                    Sid="DecryptReplicas",
                    Effect=Allow,
                    Action=[kms_actions.Decrypt],
                    Resource=[self.key_arn],
                    Condition=Condition(
                        StringEquals("kms:ViaService", Sub("s3.${AWS::Region}.amazonaws.com"))
                    ),
                ),
                If(
                    "HasDbUser",
                    policy_dict(
                        Statement(
                            Sid="DatabaseSignIn",
                            Effect=Allow,
                            Action=[rds_db_actions.connect],
                            Resource=[
                                Sub(
                                    "arn:${AWS::Partition}:rds-db:${AWS::Region}:"
                                    "${AWS::AccountId}:dbuser:${ResourceId}/${DbAppUsername}",
                                    ResourceId=GetAtt("DbCluster", "DBClusterResourceId"),
                                )
                            ],
                        )
                    ),
                    Ref(AWS_NO_VALUE),
                ),
            ],
            condition=on,
            policy_name="read-replicas",
        )
        environment = {
            "APP_ENV": Ref("Environment"),
            "PLATFORM_ROLE": "standby",
            "PORT": self.app_port,
            "WHOAMI_PORT_NUMBER": self.app_port,
            "MEDIA_BUCKET": Ref(self.replicas["media"]),
            "STATIC_BUCKET": Ref(self.replicas["static-assets"]),
            "DB_HOST": If("HasSecondary", GetAtt("DbCluster", "Endpoint.Address"), ""),
            "DB_READER_HOST": If("HasSecondary", GetAtt("DbCluster", "ReadEndpoint.Address"), ""),
            "DB_PORT": If("IsMySql", "3306", "5432"),
            "DB_NAME": self.db_name,
            "DB_USER": self.db_user,
            # Sign in to Aurora with a token of the task role (no password), as the
            # platform's tasks do.
            "DB_IAM_AUTH": "true",
        }
        task_secrets = [
            If(
                "HasAppSecret",
                ecs.Secret(Name=key, ValueFrom=Sub(f"${{AppSecretArn}}:{key}::")),
                Ref(AWS_NO_VALUE),
            )
            for key in ("SECRET_KEY", "JWT_SECRET")
        ]
        for name in SERVICES:
            size = sizes[name]
            self.add(
                ecs.TaskDefinition(
                    f"{name}TaskDefinition",
                    **app,
                    Family=self.physical_name("task", f"standby-{name.lower()}"),
                    RequiresCompatibilities=["FARGATE"],
                    NetworkMode="awsvpc",
                    Cpu=Select(0, Split("/", size)),
                    Memory=Select(1, Split("/", size)),
                    RuntimePlatform=ecs.RuntimePlatform(
                        OperatingSystemFamily="LINUX", CpuArchitecture="X86_64"
                    ),
                    ExecutionRoleArn=GetAtt(f"{name}ExecutionRole", "Arn"),
                    TaskRoleArn=GetAtt("TaskRole", "Arn"),
                    Volumes=[ecs.Volume(Name="tmp")],
                    ContainerDefinitions=[
                        ecs.ContainerDefinition(
                            Name=name.lower(),
                            Image=images[name],
                            Essential=True,
                            User="1000:1000",
                            ReadonlyRootFilesystem=True,
                            MountPoints=[
                                ecs.MountPoint(
                                    SourceVolume="tmp", ContainerPath="/tmp", ReadOnly=False
                                )
                            ],
                            Environment=[
                                ecs.Environment(Name=k, Value=v)
                                for k, v in sorted(environment.items())
                            ],
                            Secrets=[
                                *task_secrets,
                                *third_party.container_secrets(
                                    name, lambda slot: Sub(self._third_party_name(slot))
                                ),
                            ],
                            PortMappings=[
                                ecs.PortMapping(
                                    ContainerPort=self.app_port, Protocol="tcp", Name="http"
                                )
                            ],
                            LogConfiguration=ecs.LogConfiguration(
                                LogDriver="awslogs",
                                Options={
                                    "awslogs-group": Ref(f"{name}LogGroup"),
                                    "awslogs-region": Ref("AWS::Region"),
                                    "awslogs-stream-prefix": name.lower(),
                                },
                            ),
                        )
                    ],
                    Tags=self.tags("task", f"standby-{name.lower()}"),
                )
            )
            self.add(
                ecs.Service(
                    f"{name}Service",
                    **app,
                    DependsOn=f"{name}ListenerRule",
                    Cluster=Ref("Cluster"),
                    TaskDefinition=Ref(f"{name}TaskDefinition"),
                    DesiredCount=counts[name],
                    LaunchType="FARGATE",
                    DeploymentConfiguration=ecs.DeploymentConfiguration(
                        DeploymentCircuitBreaker=ecs.DeploymentCircuitBreaker(
                            Enable=True, Rollback=True
                        ),
                        MinimumHealthyPercent=100,
                        MaximumPercent=200,
                    ),
                    NetworkConfiguration=ecs.NetworkConfiguration(
                        AwsvpcConfiguration=ecs.AwsvpcConfiguration(
                            AssignPublicIp="DISABLED",
                            Subnets=[Ref(f"AppSubnet{az}") for az in AZS],
                            SecurityGroups=[Ref("AppSecurityGroup")],
                        )
                    ),
                    LoadBalancers=[
                        ecs.LoadBalancer(
                            ContainerName=name.lower(),
                            ContainerPort=self.app_port,
                            TargetGroupArn=Ref(f"{name}TargetGroup"),
                        )
                    ],
                    HealthCheckGracePeriodSeconds=60,
                    EnableECSManagedTags=True,
                    PropagateTags="SERVICE",
                    Tags=self.tags("ecs-svc", f"standby-{name.lower()}"),
                )
            )
        self.output(
            "StandbyClusterName",
            If(on, Ref("Cluster"), ""),
            'ECS cluster of the warm standby ("" without it)',
        )
        self.output(
            "StandbyApplication",
            If(on, "enabled", "disabled"),
            "Whether this stack runs the warm application (the platform's api.<domain> "
            "fails over to it)",
        )
