"""cdn tier: origins (the ALB a VPC origin outside dev), behaviours, policies,
certificate/WAF/failover when given, and the bucket policies, in dev, staging and prod."""

import json

import pytest

from templates.cdn import (
    ALL_VIEWER_EXCEPT_HOST_HEADER,
    CACHING_DISABLED,
    CACHING_OPTIMIZED,
)
from tests.cfn import evaluate, mappings, statements
from tests.conftest import assert_snapshot

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-aaaa-bbbb-cccc-0123456789ab"
ACL = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/waf-cdn/0b1c2d3e-aaaa"
ALB_CERT = "arn:aws:acm:us-west-2:123456789012:certificate/11111111-2222-3333-4444-555555555555"
REPLICA = "s3-static-assets-prod-123456789012-us-east-2.s3.us-east-2.amazonaws.com"


@pytest.fixture(scope="module")
def template(rendered):
    return rendered["cdn"]


def _cdn(template, env, **overrides):
    """The cdn tier in env; the load-balancer tier sends no origin-verify secret (it has
    none in any params file) unless overrides give one."""
    return evaluate(
        template, env, {"AlbCertificateArn": "", "OriginVerifySecretArn": "", **overrides}
    )


@pytest.fixture(scope="module")
def cdn(template, env):
    return _cdn(template, env)


def _config(ev):
    return ev.props("Distribution")["DistributionConfig"]


def _behaviours(ev):
    config = _config(ev)
    return {
        "default": config["DefaultCacheBehavior"],
        **{b["PathPattern"]: b for b in config["CacheBehaviors"]},
    }


def _origins(ev):
    return {o["Id"]: o for o in _config(ev)["Origins"]}


def test_snapshot(rendered_text):
    assert_snapshot("cdn", rendered_text["cdn"])


def test_reads_exactly_the_contracted_inputs(template):
    params = template["Parameters"]
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    wiring = {p for g in groups if g["Label"]["default"] == "Wiring" for p in g["Parameters"]}
    assert wiring == {
        "StorageKeyArn",
        "AlbDnsName",
        "AlbArn",
        "AlbCertificateArn",
        "OriginVerifySecretArn",
        "AccessLogsBucketName",
        "CdnCertificateArn",
        "CdnWebAclArn",
        "StaticReplicaBucketDomainName",
        *[f"{b}Bucket{a}" for b in ("Static", "Media") for a in ("Name", "Arn", "DomainName")],
    }
    deploy_time = template["Metadata"]["streamstack:DeployTimeParameters"]
    assert deploy_time == ["CdnCertificateArn", "CdnWebAclArn", "StaticReplicaBucketDomainName"]
    assert all(params[p]["Default"] == "" for p in deploy_time)
    assert not [p for p in wiring - set(deploy_time) if "Default" in params[p]]


def test_price_class_100_in_dev_all_in_prod(cdn, env):
    assert _config(cdn)["PriceClass"] == {"dev": "PriceClass_100", "prod": "PriceClass_All"}[env]


def test_staging_price_class_200(template):
    assert _config(_cdn(template, "staging"))["PriceClass"] == "PriceClass_200"


def test_http2_http3_ipv6_root_object(cdn):
    config = _config(cdn)
    assert config["Enabled"] is True
    assert config["HttpVersion"] == "http2and3"
    assert config["IPV6Enabled"] is True
    assert config["DefaultRootObject"] == "index.html"


def test_default_certificate_no_alias_no_waf_unless_given(cdn):
    config = _config(cdn)
    assert config["ViewerCertificate"] == {"CloudFrontDefaultCertificate": True}
    assert "Aliases" not in config and "WebACLId" not in config


def test_certificate_and_alias_when_given(template, env):
    config = _config(_cdn(template, env, CdnCertificateArn=CERT, DomainName="example.org"))
    assert config["Aliases"] == [{"Fn::Sub": "cdn.${DomainName}"}]
    assert config["ViewerCertificate"] == {
        "AcmCertificateArn": CERT,
        "SslSupportMethod": "sni-only",
        "MinimumProtocolVersion": "TLSv1.2_2021",
    }


def test_certificate_without_domain_is_not_used(template):
    config = _config(_cdn(template, "prod", CdnCertificateArn=CERT, DomainName=""))
    assert config["ViewerCertificate"] == {"CloudFrontDefaultCertificate": True}


def test_waf_attached_when_given(template, env):
    assert _config(_cdn(template, env, CdnWebAclArn=ACL))["WebACLId"] == ACL


def test_edge_parameters_accept_only_us_east_1_arns(template):
    import re

    cert = re.compile(template["Parameters"]["CdnCertificateArn"]["AllowedPattern"])
    acl = re.compile(template["Parameters"]["CdnWebAclArn"]["AllowedPattern"])
    assert cert.match(CERT) and cert.match("") and not cert.match(ALB_CERT)
    assert acl.match(ACL) and acl.match("")
    assert not acl.match(ACL.replace("us-east-1", "eu-west-1"))


ENVIRONMENTS = ["dev", "staging", "prod"]
SECRET = "arn:aws:secretsmanager:us-west-2:123456789012:secret:secret-origin-verify-dev-AbCdEf"


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("certificate", ["", ALB_CERT], ids=["http", "https"])
def test_the_alb_is_a_vpc_origin_outside_dev(template, env, certificate):
    """Outside dev the ALB is internal: CloudFront reaches it as a VPC origin, inside AWS's
    network; dev's internet-facing ALB is a custom origin. Either way HTTPS as
    api.<domain> when the ALB has a certificate."""
    ev = _cdn(template, env, AlbCertificateArn=certificate)
    alb = _origins(ev)["alb"]
    protocol = "https-only" if certificate else "http-only"
    assert alb["DomainName"] == (
        {"Fn::Sub": "api.${DomainName}"} if certificate else "<from:AlbDnsName>"
    )
    if env == "dev":
        assert "AlbVpcOrigin" not in ev.resources and "VpcOriginConfig" not in alb
        assert alb["CustomOriginConfig"]["OriginProtocolPolicy"] == protocol
        assert alb["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]
        assert ev.outputs["AlbVpcOriginId"]["Value"] == ""
        return
    assert "CustomOriginConfig" not in alb
    assert alb["VpcOriginConfig"] == {
        "VpcOriginId": {"Fn::GetAtt": ["AlbVpcOrigin", "Id"]},
        "OriginReadTimeout": 30,
        "OriginKeepaliveTimeout": 5,
    }
    endpoint = ev.props("AlbVpcOrigin")["VpcOriginEndpointConfig"]
    assert endpoint["Arn"] == "<from:AlbArn>"
    assert endpoint["OriginProtocolPolicy"] == protocol
    assert endpoint["OriginSSLProtocols"] == ["TLSv1.2"]
    assert (endpoint["HTTPPort"], endpoint["HTTPSPort"]) == (80, 443)
    # No shared secret: only CloudFront's VPC origin reaches an internal ALB.
    assert "OriginCustomHeaders" not in alb


def test_alb_origin_sends_the_secret_header_by_dynamic_reference(template):
    (header,) = _origins(_cdn(template, "dev", OriginVerifySecretArn=SECRET))["alb"][
        "OriginCustomHeaders"
    ]
    assert header["HeaderName"] == "X-Origin-Verify"
    assert header["HeaderValue"] == {
        "Fn::Sub": "{{resolve:secretsmanager:${OriginVerifySecretArn}}}"
    }
    assert "OriginCustomHeaders" not in _origins(_cdn(template, "dev"))["alb"]


def test_header_value_is_what_the_alb_listener_rules_require(rendered, template):
    """The same secret, resolved the same way, as the load balancer's listener-rule
    condition."""
    (header,) = _origins(_cdn(template, "dev", OriginVerifySecretArn=SECRET))["alb"][
        "OriginCustomHeaders"
    ]
    rules = [
        r
        for r in rendered["load-balancer"]["Resources"].values()
        if r["Type"] == "AWS::ElasticLoadBalancingV2::ListenerRule"
    ]
    required = {
        json.dumps(c).replace("${OriginVerifySecret}", "${OriginVerifySecretArn}")
        for rule in rules
        for c in _header_conditions(rule)
        if c["HttpHeaderName"] != "X-Release-Stage"  # the release-test rules' own header
    }
    assert required == {
        json.dumps({"HttpHeaderName": header["HeaderName"], "Values": [header["HeaderValue"]]})
    }


def _header_conditions(node):
    return (m["HttpHeaderConfig"] for m in mappings(node) if "HttpHeaderConfig" in m)


def test_buckets_through_oac_signing_always(cdn):
    oac = cdn.props("BucketOriginAccessControl")["OriginAccessControlConfig"]
    assert (
        oac["OriginAccessControlOriginType"],
        oac["SigningBehavior"],
        oac["SigningProtocol"],
    ) == ("s3", "always", "sigv4")
    origins = _origins(cdn)
    assert set(origins) == {"alb", "static", "media"}
    for origin_id in ("static", "media"):
        origin = origins[origin_id]
        assert origin["OriginAccessControlId"] == {
            "Fn::GetAtt": ["BucketOriginAccessControl", "Id"]
        }
        assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    assert origins["static"]["DomainName"] == "<from:StaticBucketDomainName>"
    assert origins["media"]["DomainName"] == "<from:MediaBucketDomainName>"


def test_default_behaviour_is_the_uncached_alb(cdn):
    default = _behaviours(cdn)["default"]
    assert default["TargetOriginId"] == "alb"
    assert set(default["AllowedMethods"]) == {
        "GET",
        "HEAD",
        "OPTIONS",
        "PUT",
        "POST",
        "PATCH",
        "DELETE",
    }
    assert default["CachePolicyId"] == CACHING_DISABLED == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
    assert (
        default["OriginRequestPolicyId"]
        == ALL_VIEWER_EXCEPT_HOST_HEADER
        == ("b689b0a8-53d0-40ab-baf2-68738e2966ac")
    )


def test_static_behaviour_cached_and_compressed(cdn):
    static = _behaviours(cdn)["/static/*"]
    assert static["TargetOriginId"] == "static"
    assert static["CachePolicyId"] == CACHING_OPTIMIZED == "658327ea-f89d-4fab-a63d-7e88639e58f6"
    assert static["Compress"] is True
    assert static["AllowedMethods"] == ["GET", "HEAD"]


def test_media_manifests_short_segments_long(cdn):
    patterns = [b["PathPattern"] for b in _config(cdn)["CacheBehaviors"]]
    assert patterns.index("/media/*.m3u8") < patterns.index("/media/*")
    behaviours = _behaviours(cdn)
    assert behaviours["/media/*.m3u8"]["CachePolicyId"] == {"Ref": "HlsManifestCachePolicy"}
    assert behaviours["/media/*"]["CachePolicyId"] == {"Ref": "HlsSegmentCachePolicy"}
    assert {behaviours[p]["TargetOriginId"] for p in ("/media/*.m3u8", "/media/*")} == {"media"}
    manifest = cdn.props("HlsManifestCachePolicy")["CachePolicyConfig"]
    segment = cdn.props("HlsSegmentCachePolicy")["CachePolicyConfig"]
    assert manifest["DefaultTTL"] <= 10 and manifest["MaxTTL"] <= 60
    assert segment["DefaultTTL"] >= 86400 and segment["MaxTTL"] == 31536000
    for policy in (manifest, segment):
        keys = policy["ParametersInCacheKeyAndForwardedToOrigin"]
        assert keys["QueryStringsConfig"] == {"QueryStringBehavior": "none"}
        assert keys["CookiesConfig"] == {"CookieBehavior": "none"}


def test_https_and_security_headers_everywhere(cdn):
    for behaviour in _behaviours(cdn).values():
        assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https"
        assert behaviour["ResponseHeadersPolicyId"] == {"Ref": "SecurityHeadersPolicy"}
    headers = cdn.props("SecurityHeadersPolicy")["ResponseHeadersPolicyConfig"][
        "SecurityHeadersConfig"
    ]
    hsts = headers["StrictTransportSecurity"]
    assert hsts["AccessControlMaxAgeSec"] >= 31536000 and hsts["Override"] is True
    assert headers["ContentTypeOptions"] == {"Override": True}
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert headers["ReferrerPolicy"]["ReferrerPolicy"] == "strict-origin-when-cross-origin"


def test_error_responses_cached_briefly(cdn):
    errors = {e["ErrorCode"]: e for e in _config(cdn)["CustomErrorResponses"]}
    assert set(errors) == {403, 404, 500, 502, 503}
    assert all(0 < e["ErrorCachingMinTTL"] <= 10 for e in errors.values())
    assert all("ResponsePagePath" not in e for e in errors.values())


def test_access_logging_into_the_access_logs_bucket(cdn):
    assert _config(cdn)["Logging"] == {
        "Bucket": {"Fn::Sub": "${AccessLogsBucketName}.s3.amazonaws.com"},
        "IncludeCookies": False,
        "Prefix": "cloudfront/",
    }


def test_no_origin_group_without_replica(cdn):
    assert "OriginGroups" not in _config(cdn)


def test_static_fails_over_to_the_replica_when_given(template, env):
    ev = _cdn(template, env, StaticReplicaBucketDomainName=REPLICA)
    config = _config(ev)
    replica = _origins(ev)["static-replica"]
    assert replica["DomainName"] == REPLICA
    assert replica["OriginAccessControlId"] == {"Fn::GetAtt": ["BucketOriginAccessControl", "Id"]}
    (group,) = config["OriginGroups"]["Items"]
    assert config["OriginGroups"]["Quantity"] == 1
    assert [m["OriginId"] for m in group["Members"]["Items"]] == ["static", "static-replica"]
    codes = group["FailoverCriteria"]["StatusCodes"]
    assert {500, 502, 503, 504} <= set(codes["Items"]) and codes["Quantity"] == len(codes["Items"])
    assert _behaviours(ev)["/static/*"]["TargetOriginId"] == group["Id"]
    # media never fails over: no replica of it exists
    assert _behaviours(ev)["/media/*"]["TargetOriginId"] == "media"


@pytest.mark.parametrize("bucket", ["Static", "Media"])
def test_bucket_policy_lets_only_this_distribution_read(cdn, bucket):
    props = cdn.props(f"{bucket}BucketPolicy")
    assert props["Bucket"] == f"<from:{bucket}BucketName>"
    st = statements(props["PolicyDocument"])
    read = st["CloudFrontOacRead"]
    assert read["Effect"] == "Allow"
    assert read["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert read["Action"] == ["s3:GetObject"]
    assert read["Resource"] == [{"Fn::Join": ["", [f"<from:{bucket}BucketArn>", "/*"]]}]
    assert read["Condition"] == {
        "StringEquals": {
            "AWS:SourceArn": {
                "Fn::Sub": (
                    "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${Distribution}"
                )
            }
        }
    }
    # the storage tier's secure defaults still apply
    assert st["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": False}}
    assert (
        st["DenyOtherKmsKeys"]["Condition"]["StringNotEqualsIfExists"][
            "s3:x-amz-server-side-encryption-aws-kms-key-id"
        ]
        == "<from:StorageKeyArn>"
    )


def test_outputs(cdn):
    assert cdn.outputs["DistributionId"]["Value"] == {"Ref": "Distribution"}
    assert cdn.outputs["DistributionDomainName"]["Value"] == {
        "Fn::GetAtt": ["Distribution", "DomainName"]
    }
    assert cdn.outputs["DistributionArn"]["Value"] == {
        "Fn::Sub": (
            "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${Distribution}"
        )
    }


def test_tls_and_waf_suppressions_have_their_reasons(template):
    skips = {
        s["id"]: s["comment"]
        for s in template["Resources"]["Distribution"]["Metadata"]["checkov"]["skip"]
    }
    assert set(skips) == {"CKV_AWS_174", "CKV_AWS_68"}
    assert "TLSv1.2_2021" in skips["CKV_AWS_174"]
    assert "protected" in skips["CKV_AWS_68"] and "make edge" in skips["CKV_AWS_68"]
