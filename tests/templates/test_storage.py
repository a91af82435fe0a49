"""storage tier: buckets, their policies and lifecycle, and EFS, in dev and prod."""

import pytest

from tests.cfn import evaluate, statements
from tests.conftest import assert_snapshot

BUCKETS = ["StaticBucket", "MediaBucket", "UploadsBucket", "AppLogsBucket", "AccessLogsBucket"]
KMS_BUCKETS = [b for b in BUCKETS if b != "AccessLogsBucket"]
# The static and media policies name the distribution, so the cdn tier writes them.
POLICY_BUCKETS = [b for b in BUCKETS if b not in ("StaticBucket", "MediaBucket")]


@pytest.fixture(scope="module")
def sto(rendered, env):
    return evaluate(rendered["storage"], env)


def test_snapshot(rendered_text):
    assert_snapshot("storage", rendered_text["storage"])


def test_five_buckets_retained_outside_dev(sto, env):
    assert set(sto.of_type("AWS::S3::Bucket")) == set(BUCKETS)
    for bucket in BUCKETS:
        policy = sto.resources[bucket]["DeletionPolicy"]
        assert policy == ("Delete" if env == "dev" else "Retain")
        assert sto.resources[bucket]["UpdateReplacePolicy"] == policy


@pytest.mark.parametrize("bucket", BUCKETS)
def test_versioned_private_and_encrypted(sto, bucket):
    props = sto.props(bucket)
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    default = rule["ServerSideEncryptionByDefault"]
    if bucket == "AccessLogsBucket":
        assert default == {"SSEAlgorithm": "AES256"}
        assert props["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == "BucketOwnerPreferred"
        assert "LoggingConfiguration" not in props
    else:
        assert default == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "<from:StorageKeyArn>"}
        assert rule["BucketKeyEnabled"] is True
        assert props["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == "BucketOwnerEnforced"
        assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "AccessLogsBucket"}


@pytest.mark.parametrize("bucket", POLICY_BUCKETS)
def test_policy_denies_plain_http_and_wrong_encryption(sto, bucket):
    doc = sto.props(f"{bucket}Policy")["PolicyDocument"]
    st = statements(doc)
    assert st["DenyInsecureTransport"]["Effect"] == "Deny"
    assert st["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": False}}
    wrong = st["DenyWrongEncryption"]["Condition"]["StringNotEqualsIfExists"]
    assert wrong["s3:x-amz-server-side-encryption"] == (
        "AES256" if bucket == "AccessLogsBucket" else "aws:kms"
    )
    assert st["AccountRootManagesPolicy"]["Effect"] == "Allow"
    assert ("DenyOtherKmsKeys" in st) == (bucket != "AccessLogsBucket")


def test_static_and_media_policies_are_left_to_the_cdn_tier(sto):
    policies = {
        p["Properties"]["Bucket"]["Ref"] for p in sto.of_type("AWS::S3::BucketPolicy").values()
    }
    assert policies == set(POLICY_BUCKETS)


def test_access_logs_bucket_accepts_log_deliveries(sto):
    st = statements(sto.props("AccessLogsBucketPolicy")["PolicyDocument"])
    assert st["S3ServerAccessLogs"]["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert st["AlbLogsDeliveryService"]["Principal"] == {
        "Service": "logdelivery.elasticloadbalancing.amazonaws.com"
    }
    assert "AlbLogsRegionalAccount" in st
    principal = st["AlbLogsRegionalAccount"]["Principal"]["AWS"]["Fn::Sub"]
    assert principal[1]["ElbAccount"]["Fn::FindInMap"][0] == "ElbLogDelivery"


@pytest.mark.parametrize("region", ["ap-south-2", "eu-central-2", "me-central-1"])
def test_newer_regions_take_alb_logs_from_the_delivery_service_only(rendered, region):
    """Regions opened since August 2022 have no Elastic Load Balancing account: the
    policy grants the log-delivery service principal alone, and the mapping has the
    region (a missing key would fail the deploy there)."""
    ev = evaluate(rendered["storage"], "prod", {"AWS::Region": region})
    st = statements(ev.props("AccessLogsBucketPolicy")["PolicyDocument"])
    assert "AlbLogsRegionalAccount" not in st
    assert st["AlbLogsDeliveryService"]["Principal"] == {
        "Service": "logdelivery.elasticloadbalancing.amazonaws.com"
    }
    assert rendered["storage"]["Mappings"]["ElbLogDelivery"][region] == {"AccountId": ""}


def test_every_supported_region_is_mapped(rendered):
    from templates.parts.regions import SUPPORTED_REGIONS

    assert set(rendered["storage"]["Mappings"]["ElbLogDelivery"]) == set(SUPPORTED_REGIONS)
    assert {"ap-south-1", "ap-south-2"} <= set(SUPPORTED_REGIONS)


def _rule(sto, bucket):
    (rule,) = sto.props(bucket)["LifecycleConfiguration"]["Rules"]
    return rule


def test_lifecycle_rules(sto, env):
    logs = _rule(sto, "AccessLogsBucket")
    assert logs["ExpirationInDays"] == 30
    assert logs["Transitions"] == [{"StorageClass": "GLACIER", "TransitionInDays": 7}]
    media = _rule(sto, "MediaBucket")
    assert media["Transitions"] == [
        {"StorageClass": "INTELLIGENT_TIERING", "TransitionInDays": "90"}
    ]
    # Media expires after two years in prod only; elsewhere it is kept.
    assert media.get("ExpirationInDays") == (None if env == "dev" else "730")
    assert _rule(sto, "UploadsBucket")["ExpirationInDays"] == 7
    for bucket in BUCKETS:
        rule = _rule(sto, bucket)
        assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
        assert rule["NoncurrentVersionExpiration"] == {
            "NoncurrentDays": "7" if env == "dev" else "90"
        }


def test_only_uploads_send_events_to_eventbridge(sto):
    """The media tier's rule on Object Created under uploads/ depends on this."""
    for bucket in BUCKETS:
        config = sto.props(bucket).get("NotificationConfiguration")
        if bucket == "UploadsBucket":
            assert config == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
        else:
            assert config is None


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_browser_uploads_only_from_the_origins_a_params_file_names(rendered, env):
    """dev allows any origin; staging and prod name none yet, so the uploads bucket has
    no CORS rule there (their validation refuses *)."""
    sto = evaluate(rendered["storage"], env)
    if env != "dev":
        assert "CorsConfiguration" not in sto.props("UploadsBucket")
        sto = evaluate(rendered["storage"], env, {"UploadCorsOrigins": "https://app.example.com"})
    (cors,) = sto.props("UploadsBucket")["CorsConfiguration"]["CorsRules"]
    assert set(cors["AllowedMethods"]) >= {"PUT", "POST"}
    assert cors["AllowedOrigins"] == ("*" if env == "dev" else "https://app.example.com")


def test_upload_origins_default_to_none_and_are_urls(rendered):
    import re

    declared = rendered["storage"]["Parameters"]["UploadCorsOrigins"]
    assert declared["Default"] == ""
    pattern = re.compile(declared["AllowedPattern"])
    for good in ("", "*", "https://app.example.com", "http://localhost:3000"):
        assert pattern.fullmatch(good), good
    for bad in ("app.example.com", "https://app.example.com/path", "ftp://x"):
        assert not pattern.fullmatch(bad), bad


def test_efs_encrypted_with_mount_targets_in_app_subnets(sto, env):
    fs = sto.resources["FileSystem"]
    assert fs["Properties"]["Encrypted"] is True
    assert fs["Properties"]["KmsKeyId"] == "<from:StorageKeyArn>"
    assert fs["DeletionPolicy"] == ("Delete" if env == "dev" else "Retain")
    assert fs["Properties"]["LifecyclePolicies"][0] == {"TransitionToIA": "AFTER_30_DAYS"}
    assert (
        statements(fs["Properties"]["FileSystemPolicy"])["DenyInsecureTransport"]["Effect"]
        == "Deny"
    )
    targets = sto.of_type("AWS::EFS::MountTarget")
    assert sorted(t["Properties"]["SubnetId"] for t in targets.values()) == [
        f"<from:AppSubnet{az}Id>" for az in (1, 2, 3)
    ]
    assert all(
        t["Properties"]["SecurityGroups"] == ["<from:EfsSecurityGroupId>"] for t in targets.values()
    )
    assert sto.props("AppAccessPoint")["RootDirectory"]["Path"] == "/app"


def test_media_can_archive_to_glacier_instant_retrieval_instead(rendered):
    sto = evaluate(rendered["storage"], "staging", {"MediaArchiveClass": "GLACIER_IR"})
    (rule,) = sto.props("MediaBucket")["LifecycleConfiguration"]["Rules"]
    assert rule["Transitions"][0]["StorageClass"] == "GLACIER_IR"
    assert "ExpirationInDays" not in rule  # staging keeps media
