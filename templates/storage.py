"""storage: S3 buckets (static, media, uploads, app logs, access logs) and EFS.

Every bucket: versioning, default encryption (SSE-KMS with bucket keys; the access-logs
bucket uses SSE-S3 because ALB log delivery requires it), all four public access
blocks, server access logging into the access-logs bucket, lifecycle rules, and a
policy that denies non-TLS requests and wrongly encrypted uploads while keeping the
account root able to manage the policy.
"""
from __future__ import annotations

from awacs import elasticfilesystem as efs_actions
from awacs import s3 as s3_actions
from awacs.aws import Allow, Bool, Condition, Deny, Policy, Principal, Statement, StringEquals
from troposphere import FindInMap, GetAtt, Join, Ref, Sub, efs, s3

from templates.base import Tier, account_root
from templates.parts.buckets import secure_bucket_statements
from templates.parts.iam import policy_dict
from templates.parts.regions import ELB_LOG_ACCOUNTS

# logical id prefix -> (name purpose, what it holds)
BUCKETS = {
    "Static": ("static-assets", "static web assets served by CloudFront"),
    "Media": ("media", "transcoded video (HLS) and thumbnails served by CloudFront"),
    "Uploads": ("uploads", "raw uploads from browsers, deleted after processing"),
    "AppLogs": ("app-logs", "application logs written by the EC2 fleet and tasks"),
    "AccessLogs": ("access-logs", "S3, ALB and CloudFront access logs"),
}


# The static and media bucket policies live in the cdn tier: they must name that tier's
# distribution (AWS:SourceArn), and a bucket has exactly one policy.
POLICIES_IN_CDN = ("Static", "Media")


class StorageTier(Tier):
    name = "storage"
    description = "S3 buckets for assets, media, uploads and logs; EFS shared file system"

    def build(self) -> None:
        self.storage_key = self.parameter(
            "StorageKeyArn", "Wiring", Type="String",
            Description="ARN of the storage KMS key (security tier).")
        self.template.add_mapping("ElbLogDelivery", {
            region: {"AccountId": account} for region, account in ELB_LOG_ACCOUNTS.items()})
        self.lifecycle_parameters()
        self.buckets()
        self.bucket_policies()
        self.file_system()

    # -- buckets -----------------------------------------------------------------
    def lifecycle_parameters(self) -> None:
        self.noncurrent_days = self.parameter(
            "NoncurrentVersionExpirationDays", "Storage", Type="Number", Default=30,
            MinValue=1, MaxValue=3650,
            Description="Days a replaced or deleted object version is kept before it expires "
                        "(the undo window for overwrites).")
        self.media_archive_days = self.parameter(
            "MediaArchiveDays", "Storage", Type="Number", Default=90, MinValue=30,
            MaxValue=3650,
            Description="Days after which media moves to Glacier Instant Retrieval (still "
                        "streamable, cheaper to store).")
        self.upload_cors_origins = self.parameter(
            "UploadCorsOrigins", "Storage", Type="CommaDelimitedList", Default="*",
            Description="Origins allowed to upload from a browser (presigned PUT/POST), "
                        "e.g. https://app.example.com; * allows any origin.")

    def _rules(self, logical: str) -> list[s3.LifecycleRule]:
        common = dict(
            Status="Enabled",
            AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(
                DaysAfterInitiation=7),
            NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(
                NoncurrentDays=self.noncurrent_days))
        rules = {
            "AccessLogs": [s3.LifecycleRule(
                Id="archive-then-expire", Prefix="", ExpirationInDays=30,
                Transitions=[s3.LifecycleRuleTransition(StorageClass="GLACIER",
                                                        TransitionInDays=7)], **common)],
            "Media": [s3.LifecycleRule(
                Id="archive-media", Prefix="",
                Transitions=[s3.LifecycleRuleTransition(
                    StorageClass="GLACIER_IR", TransitionInDays=self.media_archive_days)],
                **common)],
            "Uploads": [s3.LifecycleRule(Id="expire-uploads", Prefix="", ExpirationInDays=7,
                                         **common)],
            "AppLogs": [s3.LifecycleRule(
                Id="archive-logs", Prefix="",
                Transitions=[s3.LifecycleRuleTransition(StorageClass="GLACIER_IR",
                                                        TransitionInDays=30)], **common)],
        }
        return rules.get(logical, [s3.LifecycleRule(Id="expire-old-versions", Prefix="",
                                                    **common)])

    def buckets(self) -> None:
        for logical, (purpose, holds) in BUCKETS.items():
            access_logs = logical == "AccessLogs"
            if access_logs:
                encryption = s3.ServerSideEncryptionByDefault(SSEAlgorithm="AES256")
            else:
                encryption = s3.ServerSideEncryptionByDefault(
                    SSEAlgorithm="aws:kms", KMSMasterKeyID=self.storage_key)
            props = dict(
                # s3-{purpose}-{env}-{account}-{region}: unique across accounts and the
                # regions of a StackSet; a named bucket is never silently replaced.
                BucketName=Sub(f"s3-{purpose}-${{Environment}}-${{AWS::AccountId}}"
                               "-${AWS::Region}"),
                VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
                BucketEncryption=s3.BucketEncryption(
                    ServerSideEncryptionConfiguration=[s3.ServerSideEncryptionRule(
                        ServerSideEncryptionByDefault=encryption,
                        BucketKeyEnabled=not access_logs)]),
                PublicAccessBlockConfiguration=s3.PublicAccessBlockConfiguration(
                    BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True,
                    RestrictPublicBuckets=True),
                # CloudFront standard logging still writes with ACLs.
                OwnershipControls=s3.OwnershipControls(Rules=[s3.OwnershipControlsRule(
                    ObjectOwnership="BucketOwnerPreferred" if access_logs
                    else "BucketOwnerEnforced")]),
                LifecycleConfiguration=s3.LifecycleConfiguration(Rules=self._rules(logical)),
                Tags=self.tags("s3", purpose),
            )
            if not access_logs:
                props["LoggingConfiguration"] = s3.LoggingConfiguration(
                    DestinationBucketName=Ref("AccessLogsBucket"),
                    LogFilePrefix=f"s3/{purpose}/")
            if logical == "Uploads":
                # S3 -> EventBridge: the media tier's rule starts a transcode per upload.
                props["NotificationConfiguration"] = s3.NotificationConfiguration(
                    EventBridgeConfiguration=s3.EventBridgeConfiguration(
                        EventBridgeEnabled=True))
                props["CorsConfiguration"] = s3.CorsConfiguration(CorsRules=[s3.CorsRules(
                    AllowedMethods=["GET", "PUT", "POST"], AllowedOrigins=self.upload_cors_origins,
                    AllowedHeaders=["*"], ExposedHeaders=["ETag"], MaxAge=3000)])
            bucket = self.add(self.stateful(s3.Bucket(f"{logical}Bucket", **props)))
            if access_logs:
                self.suppress(bucket, checkov={
                    "CKV_AWS_18": "This is the access-logs bucket; logging it into itself "
                                  "would loop.",
                    "CKV_AWS_145": "ALB access-log delivery only supports SSE-S3 (AES256) "
                                   "destination buckets."})
            self.output(f"{logical}BucketName", Ref(f"{logical}Bucket"),
                        f"Name of the {purpose} bucket ({holds})")
            self.output(f"{logical}BucketArn", GetAtt(f"{logical}Bucket", "Arn"),
                        f"ARN of the {purpose} bucket")
            self.output(f"{logical}BucketDomainName",
                        GetAtt(f"{logical}Bucket", "RegionalDomainName"),
                        f"Regional domain name of the {purpose} bucket (CloudFront origins, "
                        "log destinations)")

    def bucket_policies(self) -> None:
        for logical in (b for b in BUCKETS if b not in POLICIES_IN_CDN):
            statements = secure_bucket_statements(
                f"{logical}Bucket", "AES256" if logical == "AccessLogs" else "aws:kms",
                None if logical == "AccessLogs" else self.storage_key)
            if logical == "AccessLogs":
                statements += self._log_delivery_statements()
            self.add(s3.BucketPolicy(f"{logical}BucketPolicy", Bucket=Ref(f"{logical}Bucket"),
                                     PolicyDocument=Policy(Version="2012-10-17",
                                                           Statement=statements)))

    @staticmethod
    def _log_delivery_statements() -> list[Statement]:
        objects = Join("", [GetAtt("AccessLogsBucket", "Arn"), "/*"])
        alb_prefix = Join("", [GetAtt("AccessLogsBucket", "Arn"),
                               Sub("/alb/AWSLogs/${AWS::AccountId}/*")])
        same_account = Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId")))
        return [
            Statement(Sid="S3ServerAccessLogs", Effect=Allow,
                      Principal=Principal("Service", "logging.s3.amazonaws.com"),
                      Action=[s3_actions.PutObject], Resource=[objects],
                      Condition=same_account),
            Statement(Sid="AlbLogsRegionalAccount", Effect=Allow,
                      Principal=Principal("AWS", Sub(
                          "arn:${AWS::Partition}:iam::${ElbAccount}:root",
                          ElbAccount=FindInMap("ElbLogDelivery", Ref("AWS::Region"),
                                               "AccountId"))),
                      Action=[s3_actions.PutObject], Resource=[alb_prefix]),
            Statement(Sid="AlbLogsDeliveryService", Effect=Allow,
                      Principal=Principal("Service",
                                          "logdelivery.elasticloadbalancing.amazonaws.com"),
                      Action=[s3_actions.PutObject], Resource=[alb_prefix]),
        ]

    # -- EFS ---------------------------------------------------------------------
    def file_system(self) -> None:
        app_subnets = [self.parameter(
            f"AppSubnet{az}Id", "Wiring", Type="AWS::EC2::Subnet::Id",
            Description=f"App subnet in AZ {az} for an EFS mount target (network tier).")
            for az in (1, 2, 3)]
        efs_sg = self.parameter("EfsSecurityGroupId", "Wiring", Type="AWS::EC2::SecurityGroup::Id",
                                Description="Security group of the EFS mount targets "
                                            "(security tier).")
        self.add(self.stateful(efs.FileSystem(
            "FileSystem", Encrypted=True, KmsKeyId=self.storage_key,
            PerformanceMode="generalPurpose", ThroughputMode="elastic",
            BackupPolicy=efs.BackupPolicy(Status=self.if_dev("DISABLED", "ENABLED")),
            LifecyclePolicies=[efs.LifecyclePolicy(TransitionToIA="AFTER_30_DAYS"),
                               efs.LifecyclePolicy(
                                   TransitionToPrimaryStorageClass="AFTER_1_ACCESS")],
            FileSystemPolicy=policy_dict(Policy(Version="2012-10-17", Statement=[
                Statement(Sid="DenyInsecureTransport", Effect=Deny, Principal=Principal("*"),
                          Action=[efs_actions.Action("*")], Resource=["*"],
                          Condition=Condition(Bool("aws:SecureTransport", False))),
                Statement(Sid="AccountClientsThroughMountTargets", Effect=Allow,
                          Principal=Principal("AWS", account_root()),
                          Action=[efs_actions.ClientMount, efs_actions.ClientWrite],
                          Resource=["*"],
                          Condition=Condition(Bool(
                              "elasticfilesystem:AccessedViaMountTarget", True))),
            ])),
            FileSystemTags=self.tags("efs", "shared"),
        )))
        for az, subnet in zip((1, 2, 3), app_subnets):
            self.add(efs.MountTarget(f"MountTarget{az}", FileSystemId=Ref("FileSystem"),
                                     SubnetId=subnet, SecurityGroups=[efs_sg]))
        self.add(efs.AccessPoint(
            "AppAccessPoint", FileSystemId=Ref("FileSystem"),
            PosixUser=efs.PosixUser(Uid="1000", Gid="1000"),
            RootDirectory=efs.RootDirectory(Path="/app", CreationInfo=efs.CreationInfo(
                OwnerUid="1000", OwnerGid="1000", Permissions="750")),
            AccessPointTags=self.tags("efsap", "app")))
        self.output("FileSystemId", Ref("FileSystem"), "ID of the shared EFS file system")
        self.output("FileSystemArn", GetAtt("FileSystem", "Arn"), "ARN of the EFS file system")
        self.output("AppAccessPointId", Ref("AppAccessPoint"),
                    "EFS access point for the application (/app, uid 1000)")
        self.output("AppAccessPointArn", GetAtt("AppAccessPoint", "Arn"),
                    "ARN of the application's EFS access point")
