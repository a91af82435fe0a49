"""storage: S3 buckets (static, media, uploads, app logs, access logs) and EFS.

Every bucket: versioning, default encryption (SSE-KMS with bucket keys; the access-logs
bucket uses SSE-S3 because ALB log delivery requires it), all four public access
blocks, server access logging into the access-logs bucket, lifecycle rules, and a
policy that denies non-TLS requests and wrongly encrypted uploads while keeping the
account root able to manage the policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from awacs import elasticfilesystem as efs_actions
from awacs import kms as kms_actions
from awacs import s3 as s3_actions
from awacs.aws import Allow, Bool, Condition, Deny, Policy, Principal, Statement, StringEquals
from troposphere import GetAtt, Join, Ref, Sub, efs, s3

from templates.base import AWS_NO_VALUE, Equals, If, Not, Tier, account_root
from templates.parts.backups import backup_tags, no_backup
from templates.parts.buckets import bucket_name, log_delivery_statements, secure_bucket_statements
from templates.parts.iam import policy_dict, policy_document, service_role
from templates.parts.standby import replica_bucket_arn, replicates, standby_parameter


@dataclass(frozen=True)
class Lifecycle:
    """The bucket's one lifecycle rule. Every rule also aborts incomplete multipart
    uploads after 7 days and expires noncurrent versions after
    NoncurrentVersionExpirationDays. Default: nothing else."""

    rule_id: str = "expire-old-versions"
    # current objects expire after this (or this parameter; its 0: never)
    expire_days: int | str | None = None
    archive_class: str | None = None  # storage class objects move to (or this parameter) ...
    archive_days: int | str | None = None  # ... after these days (or this parameter)


@dataclass(frozen=True)
class BucketSpec:
    """One platform bucket, `<logical>Bucket`, named s3-<purpose>-<env>-<account>-<region>
    (unique across the accounts and regions of a StackSet; a named bucket is never
    silently replaced).

    Defaults, for every bucket that does not say otherwise: versioning; SSE-KMS with the
    storage key and bucket keys; all four public access blocks; ACLs off
    (BucketOwnerEnforced); server access logs into the access-logs bucket under
    s3/<purpose>/; the bucket policy written by this tier; kept outside dev.
    """

    logical: str
    purpose: str
    holds: str  # what it holds, for output descriptions
    lifecycle: Lifecycle = Lifecycle()
    sse_s3: bool = False  # SSE-S3 (AES256) instead of the storage key
    acls: bool = False  # BucketOwnerPreferred: writers may use ACLs
    access_logged: bool = True
    receives_logs: bool = False  # S3 server access and ALB log delivery
    events: bool = False  # object events to EventBridge
    browser_uploads: bool = False  # CORS for presigned PUT/POST from browsers
    # The cdn tier writes the policy: it must name that tier's distribution
    # (AWS:SourceArn), and a bucket has exactly one policy.
    policy_in_cdn: bool = False
    suppressions: dict = field(default_factory=dict)  # checkov rule -> reason
    # AWS Backup: backed up (the selection's tag), or the reason it is not.
    backed_up: bool = False
    no_backup: str = ""
    # Replicated to its replica in the standby region, when the environment has one.
    replicated: bool = False


BUCKETS = (
    BucketSpec(
        "Static",
        "static-assets",
        "static web assets served by CloudFront",
        policy_in_cdn=True,
        no_backup="The application's build output, published again by every release and "
        "replicated to the standby region.",
        replicated=True,
    ),
    BucketSpec(
        "Media",
        "media",
        "transcoded video (HLS) and thumbnails served by CloudFront",
        policy_in_cdn=True,
        # Intelligent-Tiering (default) or Glacier Instant Retrieval: still streamable,
        # cheaper to store; expiry only where params set it.
        lifecycle=Lifecycle(
            "archive-media",
            archive_class="MediaArchiveClass",
            archive_days="MediaArchiveDays",
            expire_days="MediaExpirationDays",
        ),
        backed_up=True,
        replicated=True,
    ),
    BucketSpec(
        "Uploads",
        "uploads",
        "raw uploads from browsers, deleted after processing",
        # S3 -> EventBridge: the media tier's rule starts a transcode per upload.
        events=True,
        browser_uploads=True,
        lifecycle=Lifecycle("expire-uploads", expire_days=7),
        no_backup="Raw uploads live at most 7 days, until transcoded; the transcoded media "
        "is backed up.",
    ),
    BucketSpec(
        "AppLogs",
        "app-logs",
        "application logs written by the EC2 fleet and tasks",
        lifecycle=Lifecycle("archive-logs", archive_class="GLACIER_IR", archive_days=30),
        no_backup="Logs, kept and archived by their lifecycle rule; nothing is restored from them.",
    ),
    # ALB log delivery requires SSE-S3, and CloudFront standard logging writes with ACLs.
    BucketSpec(
        "AccessLogs",
        "access-logs",
        "S3, ALB and CloudFront access logs",
        sse_s3=True,
        acls=True,
        access_logged=False,
        receives_logs=True,
        lifecycle=Lifecycle(
            "archive-then-expire", expire_days=30, archive_class="GLACIER", archive_days=7
        ),
        suppressions={
            "CKV_AWS_18": "This is the access-logs bucket; logging it into itself would loop.",
            "CKV_AWS_145": "ALB access-log delivery only supports SSE-S3 (AES256) "
            "destination buckets.",
        },
        no_backup="Access logs expire after 30 days; nothing is restored from them.",
    ),
)


class StorageTier(Tier):
    name = "storage"
    description = "S3 buckets for assets, media, uploads and logs; EFS shared file system"

    def build(self) -> None:
        self.storage_key = self.wired(
            "StorageKeyArn",
            "security",
            Type="String",
            Description="ARN of the storage KMS key (security tier).",
        )
        self.lifecycle_parameters()
        self.replication_role()
        self.buckets()
        self.file_system()

    # -- buckets -----------------------------------------------------------------
    def lifecycle_parameters(self) -> None:
        self.noncurrent_days = self.parameter(
            "NoncurrentVersionExpirationDays",
            "Storage",
            Type="Number",
            Default=30,
            MinValue=1,
            MaxValue=3650,
            Description="Days a replaced or deleted object version is kept before it expires "
            "(the undo window for overwrites).",
        )
        self.parameter(
            "MediaArchiveDays",
            "Storage",
            Type="Number",
            Default=90,
            MinValue=30,
            MaxValue=3650,
            Description="Days after which media moves to MediaArchiveClass.",
        )
        self.parameter(
            "MediaArchiveClass",
            "Storage",
            Type="String",
            AllowedValues=["INTELLIGENT_TIERING", "GLACIER_IR"],
            Default="INTELLIGENT_TIERING",
            Description="Where media goes after MediaArchiveDays. INTELLIGENT_TIERING: a "
            "video nobody watches for 30 days costs about 45% less, after 90 days about 68% "
            "less, and one that is watched again costs nothing to read (HLS segments are "
            "larger than its 128 KB minimum). GLACIER_IR: the archive price at once, but "
            "every read of an old video pays a retrieval fee per GB.",
        )
        expiry = self.parameter(
            "MediaExpirationDays",
            "Storage",
            Type="Number",
            Default=0,
            MinValue=0,
            MaxValue=3650,
            Description="Days after which media is deleted (730: two years). 0: media is "
            "never deleted (whether video expires is a product decision).",
        )
        self.condition("MediaExpires", Not(Equals(expiry, 0)))
        self.upload_cors_origins = self.parameter(
            "UploadCorsOrigins",
            "Storage",
            Type="CommaDelimitedList",
            Default="",
            AllowedPattern=r"^(\*|https?://[a-z0-9.-]+(:[0-9]{1,5})?)?$",
            ConstraintDescription="origins such as https://app.example.com (scheme, host, "
            "optional port), or *",
            Description="Origins whose pages may upload to the uploads bucket from a browser "
            "(presigned PUT/POST), e.g. https://app.example.com. Empty: no browser uploads "
            "(no CORS rule). * allows a page on any site; staging and prod refuse it.",
        )
        self.condition("BrowserUploads", Not(Equals(Join("", self.upload_cors_origins), "")))

    def _lifecycle(self, spec: BucketSpec) -> s3.LifecycleRule:
        rule = spec.lifecycle
        props = dict(
            Id=rule.rule_id,
            Prefix="",
            Status="Enabled",
            AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=7),
            NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(
                NoncurrentDays=self.noncurrent_days
            ),
        )
        if isinstance(rule.expire_days, str):
            props["ExpirationInDays"] = If(
                "MediaExpires", Ref(rule.expire_days), Ref("AWS::NoValue")
            )
        elif rule.expire_days is not None:
            props["ExpirationInDays"] = rule.expire_days
        if rule.archive_class:
            days = rule.archive_days
            archive = rule.archive_class
            props["Transitions"] = [
                s3.LifecycleRuleTransition(
                    StorageClass=Ref(archive) if archive in self.template.parameters else archive,
                    TransitionInDays=Ref(days) if isinstance(days, str) else days,
                )
            ]
        return s3.LifecycleRule(**props)

    # -- replication to the standby region ----------------------------------------------
    def replication_role(self) -> None:
        """With a standby stack (its key is known), the replicated buckets copy every object
        version and delete marker to their replicas there, encrypted with its key."""
        region = standby_parameter(self, "StandbyRegion")
        key = standby_parameter(self, "StandbyKeyArn")
        replicate = replicates(self)
        replicated = [spec for spec in BUCKETS if spec.replicated]
        # By name: the buckets name this role, so their GetAtt would be a cycle.
        sources = [
            Join("", ["arn:", Ref("AWS::Partition"), ":s3:::", bucket_name(spec.purpose)])
            for spec in replicated
        ]
        replicas = [replica_bucket_arn(spec.purpose) for spec in replicated]
        service_role(
            self,
            "ReplicationRole",
            "s3.amazonaws.com",
            "s3-replication",
            [
                Statement(
                    Sid="ReadReplicationSettings",
                    Effect=Allow,
                    Action=[s3_actions.GetReplicationConfiguration, s3_actions.ListBucket],
                    Resource=sources,
                ),
                Statement(
                    Sid="ReadSourceVersions",
                    Effect=Allow,
                    Action=[
                        s3_actions.GetObjectVersionForReplication,
                        s3_actions.GetObjectVersionAcl,
                        s3_actions.GetObjectVersionTagging,
                    ],
                    Resource=[Join("", [arn, "/*"]) for arn in sources],
                ),
                Statement(
                    Sid="WriteReplicas",
                    Effect=Allow,
                    Action=[
                        s3_actions.ReplicateObject,
                        s3_actions.ReplicateDelete,
                        s3_actions.ReplicateTags,
                    ],
                    Resource=[Join("", [arn, "/*"]) for arn in replicas],
                ),
                Statement(
                    Sid="DecryptSources",
                    Effect=Allow,
                    Action=[kms_actions.Decrypt],
                    Resource=[self.storage_key],
                    Condition=Condition(
                        StringEquals("kms:ViaService", Sub("s3.${AWS::Region}.amazonaws.com"))
                    ),
                ),
                Statement(
                    Sid="EncryptReplicas",
                    Effect=Allow,
                    Action=[kms_actions.Encrypt, kms_actions.GenerateDataKey],
                    Resource=[key],
                    Condition=Condition(
                        StringEquals(
                            "kms:ViaService", Sub("s3.${Region}.amazonaws.com", Region=region)
                        )
                    ),
                ),
            ],
            condition=replicate,
            policy_name="replicate-to-standby",
        )
        self.output(
            "ReplicationRoleArn",
            If(replicate, GetAtt("ReplicationRole", "Arn"), ""),
            'Role S3 replicates the media and static buckets with ("" without a standby)',
        )

    def _replication(self, spec: BucketSpec) -> s3.ReplicationConfiguration:
        return s3.ReplicationConfiguration(
            Role=GetAtt("ReplicationRole", "Arn"),
            Rules=[
                s3.ReplicationConfigurationRules(
                    Id="to-standby-region",
                    Status="Enabled",
                    Priority=1,
                    Filter=s3.ReplicationRuleFilter(Prefix=""),
                    DeleteMarkerReplication=s3.DeleteMarkerReplication(Status="Enabled"),
                    SourceSelectionCriteria=s3.SourceSelectionCriteria(
                        SseKmsEncryptedObjects=s3.SseKmsEncryptedObjects(Status="Enabled")
                    ),
                    Destination=s3.ReplicationConfigurationRulesDestination(
                        Bucket=replica_bucket_arn(spec.purpose),
                        EncryptionConfiguration=s3.EncryptionConfiguration(
                            ReplicaKmsKeyID=Ref("StandbyKeyArn")
                        ),
                    ),
                )
            ],
        )

    def buckets(self) -> None:
        for spec in BUCKETS:
            self.bucket(spec)

    def bucket(self, spec: BucketSpec) -> None:
        if spec.sse_s3:
            encryption = s3.ServerSideEncryptionByDefault(SSEAlgorithm="AES256")
        else:
            encryption = s3.ServerSideEncryptionByDefault(
                SSEAlgorithm="aws:kms", KMSMasterKeyID=self.storage_key
            )
        props = dict(
            BucketName=bucket_name(spec.purpose),
            VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
            BucketEncryption=s3.BucketEncryption(
                ServerSideEncryptionConfiguration=[
                    s3.ServerSideEncryptionRule(
                        ServerSideEncryptionByDefault=encryption, BucketKeyEnabled=not spec.sse_s3
                    )
                ]
            ),
            PublicAccessBlockConfiguration=s3.PublicAccessBlockConfiguration(
                BlockPublicAcls=True,
                BlockPublicPolicy=True,
                IgnorePublicAcls=True,
                RestrictPublicBuckets=True,
            ),
            OwnershipControls=s3.OwnershipControls(
                Rules=[
                    s3.OwnershipControlsRule(
                        ObjectOwnership="BucketOwnerPreferred"
                        if spec.acls
                        else "BucketOwnerEnforced"
                    )
                ]
            ),
            LifecycleConfiguration=s3.LifecycleConfiguration(Rules=[self._lifecycle(spec)]),
            Tags=backup_tags(self, "s3", spec.purpose)
            if spec.backed_up
            else self.tags("s3", spec.purpose),
        )
        if spec.access_logged:
            props["LoggingConfiguration"] = s3.LoggingConfiguration(
                DestinationBucketName=Ref("AccessLogsBucket"), LogFilePrefix=f"s3/{spec.purpose}/"
            )
        if spec.replicated:
            props["ReplicationConfiguration"] = If(
                replicates(self), self._replication(spec), Ref(AWS_NO_VALUE)
            )
        if spec.events:
            props["NotificationConfiguration"] = s3.NotificationConfiguration(
                EventBridgeConfiguration=s3.EventBridgeConfiguration(EventBridgeEnabled=True)
            )
        if spec.browser_uploads:
            props["CorsConfiguration"] = If(
                "BrowserUploads",
                s3.CorsConfiguration(
                    CorsRules=[
                        s3.CorsRules(
                            AllowedMethods=["GET", "PUT", "POST"],
                            AllowedOrigins=self.upload_cors_origins,
                            AllowedHeaders=["*"],
                            ExposedHeaders=["ETag"],
                            MaxAge=3000,
                        )
                    ]
                ),
                Ref(AWS_NO_VALUE),
            )
        logical = f"{spec.logical}Bucket"
        bucket = self.add(self.stateful(s3.Bucket(logical, **props)))
        if spec.suppressions:
            self.suppress(bucket, checkov=spec.suppressions)
        if not spec.backed_up:
            no_backup(bucket, spec.no_backup)
        self.output(
            f"{logical}Name", Ref(logical), f"Name of the {spec.purpose} bucket ({spec.holds})"
        )
        self.output(f"{logical}Arn", GetAtt(logical, "Arn"), f"ARN of the {spec.purpose} bucket")
        self.output(
            f"{logical}DomainName",
            GetAtt(logical, "RegionalDomainName"),
            f"Regional domain name of the {spec.purpose} bucket (CloudFront origins, "
            "log destinations)",
        )
        if not spec.policy_in_cdn:
            statements = secure_bucket_statements(
                logical,
                "AES256" if spec.sse_s3 else "aws:kms",
                None if spec.sse_s3 else self.storage_key,
            )
            if spec.receives_logs:
                statements += log_delivery_statements(self, logical)
            self.add(
                s3.BucketPolicy(
                    f"{logical}Policy",
                    Bucket=Ref(logical),
                    PolicyDocument=policy_document(*statements),
                )
            )

    # -- EFS ---------------------------------------------------------------------
    def file_system(self) -> None:
        app_subnets = [
            self.wired(
                f"AppSubnet{az}Id",
                "network",
                Type="AWS::EC2::Subnet::Id",
                Description=f"App subnet in AZ {az} for an EFS mount target (network tier).",
            )
            for az in (1, 2, 3)
        ]
        efs_sg = self.wired(
            "EfsSecurityGroupId",
            "security",
            Type="AWS::EC2::SecurityGroup::Id",
            Description="Security group of the EFS mount targets (security tier).",
        )
        self.add(
            self.stateful(
                efs.FileSystem(
                    "FileSystem",
                    Encrypted=True,
                    KmsKeyId=self.storage_key,
                    PerformanceMode="generalPurpose",
                    ThroughputMode="elastic",
                    # The backup tier's plan selects it by tag; EFS's own automatic backups
                    # into the default vault would copy it twice.
                    BackupPolicy=efs.BackupPolicy(Status="DISABLED"),
                    LifecyclePolicies=[
                        efs.LifecyclePolicy(TransitionToIA="AFTER_30_DAYS"),
                        efs.LifecyclePolicy(TransitionToPrimaryStorageClass="AFTER_1_ACCESS"),
                    ],
                    FileSystemPolicy=policy_dict(
                        Policy(
                            Version="2012-10-17",
                            Statement=[
                                Statement(
                                    Sid="DenyInsecureTransport",
                                    Effect=Deny,
                                    Principal=Principal("*"),
                                    Action=[efs_actions.Action("*")],
                                    Resource=["*"],
                                    Condition=Condition(Bool("aws:SecureTransport", False)),
                                ),
                                Statement(
                                    Sid="AccountClientsThroughMountTargets",
                                    Effect=Allow,
                                    Principal=Principal("AWS", account_root()),
                                    Action=[efs_actions.ClientMount, efs_actions.ClientWrite],
                                    Resource=["*"],
                                    Condition=Condition(
                                        Bool("elasticfilesystem:AccessedViaMountTarget", True)
                                    ),
                                ),
                            ],
                        )
                    ),
                    FileSystemTags=backup_tags(self, "efs", "shared"),
                )
            )
        )
        for az, subnet in zip((1, 2, 3), app_subnets, strict=True):
            self.add(
                efs.MountTarget(
                    f"MountTarget{az}",
                    FileSystemId=Ref("FileSystem"),
                    SubnetId=subnet,
                    SecurityGroups=[efs_sg],
                )
            )
        self.add(
            efs.AccessPoint(
                "AppAccessPoint",
                FileSystemId=Ref("FileSystem"),
                PosixUser=efs.PosixUser(Uid="1000", Gid="1000"),
                RootDirectory=efs.RootDirectory(
                    Path="/app",
                    CreationInfo=efs.CreationInfo(
                        OwnerUid="1000", OwnerGid="1000", Permissions="750"
                    ),
                ),
                AccessPointTags=self.tags("efsap", "app"),
            )
        )
        self.output("FileSystemId", Ref("FileSystem"), "ID of the shared EFS file system")
        self.output("FileSystemArn", GetAtt("FileSystem", "Arn"), "ARN of the EFS file system")
        self.output(
            "AppAccessPointId",
            Ref("AppAccessPoint"),
            "EFS access point for the application (/app, uid 1000)",
        )
        self.output(
            "AppAccessPointArn",
            GetAtt("AppAccessPoint", "Arn"),
            "ARN of the application's EFS access point",
        )
