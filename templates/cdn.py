"""cdn: the CloudFront distribution in front of the ALB and the static and media buckets,
its cache and response-header policies, and the static and media bucket policies.

Paths:  /*            -> ALB (not cached: managed CachingDisabled + AllViewerExceptHostHeader)
        /static/*     -> static bucket (managed CachingOptimized, compressed)
        /media/*.m3u8 -> media bucket, HLS manifests: seconds
        /media/*      -> media bucket, HLS segments and thumbnails: a day, up to a year
Objects keep their path as key: static/app.js in the static bucket, media/<id>/... in
the media bucket (where the video pipeline writes).

The buckets are read through Origin Access Control (SigV4 on every request); their
policies live here because they must name this distribution (AWS:SourceArn) and a bucket
has only one policy.

The ALB: an internal one (the default, and all staging and prod accept) is a VPC origin,
reached inside AWS's network from CloudFront's own interfaces in the ALB's subnets, over
HTTPS as api.<domain> when it has a certificate, else over HTTP. An internet-facing one
(dev's direct tests) is a custom origin reached the same way over the internet; when
its listener rules require it, every request carries the X-Origin-Verify header whose
value comes from the load-balancer tier's generated secret.

Certificate, aliases and WAF come from the edge stack in us-east-1, through deploy-time
parameters; without them the distribution uses *.cloudfront.net and no web ACL, which
the plan of a protected environment refuses.
"""

from __future__ import annotations

from awacs import s3 as s3_actions
from awacs.aws import Allow, Condition, Policy, Principal, Statement, StringEquals
from troposphere import And, GetAtt, If, Join, Not, Ref, Sub, cloudfront, s3
from troposphere import Condition as UseCondition

from templates.base import AWS_NO_VALUE, Equals, Tier
from templates.parts.buckets import secure_bucket_statements
from templates.parts.certificates import has_domain
from templates.parts.edge_outputs import edge_output_parameter
from templates.parts.listeners import ORIGIN_HEADER, internal_alb
from templates.parts.standby import standby_parameter

# AWS managed policies (ids from the CloudFront Developer Guide).
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"

ALL_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
READ_METHODS = ["GET", "HEAD"]

# HLS caching (seconds): a manifest may be rewritten (re-transcode, new renditions), a
# segment never changes once written.
HLS_TTLS = {
    "Manifest": dict(MinTTL=0, DefaultTTL=5, MaxTTL=60),
    "Segment": dict(MinTTL=0, DefaultTTL=86400, MaxTTL=31536000),
}

# Error responses are cached briefly: long enough to shield a struggling origin, short
# enough that a fixed object or a recovered origin is seen within seconds.
ERROR_CACHING_SECONDS = {403: 10, 404: 10, 500: 5, 502: 5, 503: 5}

# Failover to the static replica: the primary answers an error, or does not have the
# object yet (with OAC and no ListBucket, S3 reports a missing object as 403).
FAILOVER_STATUS_CODES = [403, 404, 500, 502, 503, 504]

STATIC, STATIC_REPLICA, STATIC_FAILOVER, MEDIA, ALB = (
    "static",
    "static-replica",
    "static-failover",
    "media",
    "alb",
)


class CdnTier(Tier):
    name = "cdn"
    description = (
        "CloudFront distribution with OAC bucket origins and the ALB origin, "
        "cache and security-header policies, and the bucket policies it needs"
    )

    def build(self) -> None:
        self.domain = has_domain(self)
        self.storage_key = self.wired(
            "StorageKeyArn",
            "security",
            Type="String",
            Description="ARN of the storage KMS key the buckets are encrypted with "
            "(security tier).",
        )
        self.bucket_params = {
            logical: {
                attr: self.wired(
                    f"{logical}Bucket{attr}",
                    "storage",
                    Type="String",
                    Description=f"{what} of the {logical.lower()} bucket (storage tier).",
                )
                for attr, what in (
                    ("Name", "Name"),
                    ("Arn", "ARN"),
                    ("DomainName", "Regional domain name"),
                )
            }
            for logical in ("Static", "Media")
        }
        self.origin_access_control()
        self.policies()
        self.distribution()
        self.bucket_policies()

    # -- policies shared by the behaviours ------------------------------------------------
    def origin_access_control(self) -> None:
        self.add(
            cloudfront.OriginAccessControl(
                "BucketOriginAccessControl",
                OriginAccessControlConfig=cloudfront.OriginAccessControlConfig(
                    # Names are unique per account: one per environment and region.
                    Name=Sub("oac-buckets-${Environment}-${AWS::Region}"),
                    Description="CloudFront signs every request to the static and media buckets",
                    OriginAccessControlOriginType="s3",
                    SigningBehavior="always",
                    SigningProtocol="sigv4",
                ),
            )
        )

    def policies(self) -> None:
        self.add(
            cloudfront.ResponseHeadersPolicy(
                "SecurityHeadersPolicy",
                ResponseHeadersPolicyConfig=cloudfront.ResponseHeadersPolicyConfig(
                    Name=Sub("security-headers-${Environment}-${AWS::Region}"),
                    Comment="HSTS, nosniff, frame denial and referrer policy on every response",
                    SecurityHeadersConfig=cloudfront.SecurityHeadersConfig(
                        StrictTransportSecurity=cloudfront.StrictTransportSecurity(
                            AccessControlMaxAgeSec=63072000,
                            IncludeSubdomains=True,
                            Preload=False,
                            Override=True,
                        ),
                        ContentTypeOptions=cloudfront.ContentTypeOptions(Override=True),
                        FrameOptions=cloudfront.FrameOptions(FrameOption="DENY", Override=True),
                        ReferrerPolicy=cloudfront.ReferrerPolicy(
                            ReferrerPolicy="strict-origin-when-cross-origin", Override=True
                        ),
                    ),
                ),
            )
        )
        for kind, ttls in HLS_TTLS.items():
            compressible = kind == "Manifest"  # segments and thumbnails are compressed media
            self.add(
                cloudfront.CachePolicy(
                    f"Hls{kind}CachePolicy",
                    CachePolicyConfig=cloudfront.CachePolicyConfig(
                        Name=Sub(f"hls-{kind.lower()}s-${{Environment}}-${{AWS::Region}}"),
                        Comment=f"HLS {kind.lower()}s under /media/: no cookies, headers or "
                        "query strings in the cache key",
                        ParametersInCacheKeyAndForwardedToOrigin=(
                            cloudfront.ParametersInCacheKeyAndForwardedToOrigin(
                                EnableAcceptEncodingGzip=compressible,
                                EnableAcceptEncodingBrotli=compressible,
                                CookiesConfig=cloudfront.CacheCookiesConfig(CookieBehavior="none"),
                                HeadersConfig=cloudfront.CacheHeadersConfig(HeaderBehavior="none"),
                                QueryStringsConfig=cloudfront.CacheQueryStringsConfig(
                                    QueryStringBehavior="none"
                                ),
                            )
                        ),
                        **ttls,
                    ),
                )
            )

    # -- distribution -----------------------------------------------------------------------
    def distribution(self) -> None:
        price_class = self.parameter(
            "PriceClass",
            "CDN",
            Type="String",
            Default="PriceClass_100",
            AllowedValues=["PriceClass_100", "PriceClass_200", "PriceClass_All"],
            Description="CloudFront edge locations: PriceClass_100 (North America, Europe), "
            "PriceClass_200 (adds Asia, Middle East, Africa), PriceClass_All.",
        )
        certificate = edge_output_parameter(self, "CdnCertificateArn")
        web_acl = edge_output_parameter(self, "CdnWebAclArn")
        self.wired(
            "AccessLogsBucketName",
            "storage",
            Type="String",
            Description="Name of the access-logs bucket (storage tier); CloudFront writes "
            "its standard logs under cloudfront/.",
        )
        self.condition("CustomDomain", And(UseCondition("HasDomain"), Not(Equals(certificate, ""))))
        self.condition("HasWebAcl", Not(Equals(web_acl, "")))

        distribution = self.add(
            cloudfront.Distribution(
                "Distribution",
                DistributionConfig=cloudfront.DistributionConfig(
                    Enabled=True,
                    Comment=Sub("streamstack ${Environment}: web, API, static assets and video"),
                    PriceClass=price_class,
                    HttpVersion="http2and3",
                    IPV6Enabled=True,
                    DefaultRootObject="index.html",
                    Aliases=If("CustomDomain", [Sub("cdn.${DomainName}")], Ref(AWS_NO_VALUE)),
                    ViewerCertificate=If(
                        "CustomDomain",
                        cloudfront.ViewerCertificate(
                            AcmCertificateArn=certificate,
                            SslSupportMethod="sni-only",
                            MinimumProtocolVersion="TLSv1.2_2021",
                        ),
                        cloudfront.ViewerCertificate(CloudFrontDefaultCertificate=True),
                    ),
                    WebACLId=If("HasWebAcl", web_acl, Ref(AWS_NO_VALUE)),
                    Logging=cloudfront.Logging(
                        # CloudFront's documented form: <bucket>.s3.amazonaws.com
                        Bucket=Sub("${AccessLogsBucketName}.s3.amazonaws.com"),
                        IncludeCookies=False,
                        Prefix="cloudfront/",
                    ),
                    Origins=[self._alb_origin(), *self._bucket_origins()],
                    OriginGroups=self._static_failover(),
                    DefaultCacheBehavior=cloudfront.DefaultCacheBehavior(
                        TargetOriginId=ALB,
                        ViewerProtocolPolicy="redirect-to-https",
                        AllowedMethods=ALL_METHODS,
                        CachedMethods=READ_METHODS,
                        CachePolicyId=CACHING_DISABLED,
                        OriginRequestPolicyId=ALL_VIEWER_EXCEPT_HOST_HEADER,
                        ResponseHeadersPolicyId=Ref("SecurityHeadersPolicy"),
                    ),
                    CacheBehaviors=[
                        self._bucket_behavior(
                            "/static/*",
                            If("HasStaticReplica", STATIC_FAILOVER, STATIC),
                            CACHING_OPTIMIZED,
                            True,
                        ),
                        # Before /media/*: CloudFront takes the first pattern that matches.
                        self._bucket_behavior(
                            "/media/*.m3u8", MEDIA, Ref("HlsManifestCachePolicy"), True
                        ),
                        self._bucket_behavior(
                            "/media/*", MEDIA, Ref("HlsSegmentCachePolicy"), False
                        ),
                    ],
                    CustomErrorResponses=[
                        cloudfront.CustomErrorResponse(ErrorCode=code, ErrorCachingMinTTL=ttl)
                        for code, ttl in ERROR_CACHING_SECONDS.items()
                    ],
                ),
                Tags=self.tags("cf", "cdn"),
            )
        )
        self.suppress(
            distribution,
            checkov={
                "CKV_AWS_174": "With the edge stack's certificate the distribution requires "
                "TLSv1.2_2021 (sni-only); only without one, on CloudFront's default "
                "*.cloudfront.net certificate, CloudFront fixes the minimum "
                "protocol itself and it cannot be set.",
                "CKV_AWS_68": "The web ACL must live in us-east-1 (the edge stack) and "
                "arrives as the deploy-time parameter CdnWebAclArn; the plan of a protected "
                "environment refuses to deploy without it (make edge), only unprotected "
                "ones such as dev may run without WAF.",
            },
        )
        self.output("DistributionId", Ref("Distribution"), "ID of the CloudFront distribution")
        self.output(
            "DistributionDomainName",
            GetAtt("Distribution", "DomainName"),
            "Domain name of the distribution (*.cloudfront.net); cdn.<domain> is an alias of it",
        )
        self.output(
            "DistributionArn",
            self.distribution_arn(),
            "ARN of the distribution (the AWS:SourceArn bucket policies name)",
        )

    @staticmethod
    def distribution_arn() -> Sub:
        return Sub(
            "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${Distribution}"
        )

    def _alb_origin(self) -> cloudfront.Origin:
        alb_dns = self.wired(
            "AlbDnsName",
            "load-balancer",
            Type="String",
            Description="DNS name of the ALB (load-balancer tier).",
        )
        self.wired(
            "AlbArn",
            "load-balancer",
            Type="String",
            Description="ARN of the ALB (load-balancer tier): an internal one is the "
            "VPC origin's endpoint.",
        )
        alb_certificate = self.wired(
            "AlbCertificateArn",
            "dns",
            Type="String",
            Description="Certificate of the ALB's HTTPS listener, empty without one (dns "
            "tier). With one, CloudFront reaches the ALB over HTTPS as "
            "api.<domain>, the name the certificate covers.",
        )
        verify_secret = self.wired(
            "OriginVerifySecretArn",
            "load-balancer",
            Type="String",
            Description="Secret holding the X-Origin-Verify header value the ALB "
            "requires, empty when it requires none (load-balancer tier).",
        )
        internal = internal_alb(self)
        self.condition("AlbHttps", Not(Equals(alb_certificate, "")))
        self.condition("SendsOriginVerify", Not(Equals(verify_secret, "")))
        protocol = If("AlbHttps", "https-only", "http-only")
        self.add(
            cloudfront.VpcOrigin(
                "AlbVpcOrigin",
                Condition=internal,
                VpcOriginEndpointConfig=cloudfront.VpcOriginEndpointConfig(
                    Name=Sub("vpco-alb-${Environment}-${AWS::Region}"),
                    Arn=Ref("AlbArn"),
                    HTTPPort=80,
                    HTTPSPort=443,
                    OriginProtocolPolicy=protocol,
                    OriginSSLProtocols=["TLSv1.2"],
                ),
                Tags=self.tags("vpco", "alb"),
            )
        )
        self.output(
            "AlbVpcOriginId",
            If(internal, GetAtt("AlbVpcOrigin", "Id"), ""),
            "ID of the CloudFront VPC origin of the internal ALB; empty for an internet-facing ALB",
        )
        return cloudfront.Origin(
            Id=ALB,
            DomainName=If("AlbHttps", Sub("api.${DomainName}"), alb_dns),
            VpcOriginConfig=If(
                internal,
                cloudfront.VpcOriginConfig(
                    VpcOriginId=GetAtt("AlbVpcOrigin", "Id"),
                    OriginReadTimeout=30,
                    OriginKeepaliveTimeout=5,
                ),
                Ref(AWS_NO_VALUE),
            ),
            CustomOriginConfig=If(
                internal,
                Ref(AWS_NO_VALUE),
                cloudfront.CustomOriginConfig(
                    OriginProtocolPolicy=protocol,
                    HTTPPort=80,
                    HTTPSPort=443,
                    OriginSSLProtocols=["TLSv1.2"],
                    OriginReadTimeout=30,
                    OriginKeepaliveTimeout=5,
                ),
            ),
            OriginCustomHeaders=If(
                "SendsOriginVerify",
                [
                    cloudfront.OriginCustomHeader(
                        HeaderName=ORIGIN_HEADER,
                        # Resolved by CloudFormation at deploy time; never in the template.
                        # The secret is a plain generated string (no JSON key), resolved
                        # whole, exactly as the load balancer's listener rules resolve it.
                        HeaderValue=Sub("{{resolve:secretsmanager:${OriginVerifySecretArn}}}"),
                    )
                ],
                Ref(AWS_NO_VALUE),
            ),
        )

    def _bucket_origins(self) -> list:
        # The standby stack's static replica (deploy.py passes it); its bucket policy and
        # key let this distribution read (output DistributionArn).
        replica = standby_parameter(self, "StaticReplicaBucketDomainName")
        self.condition("HasStaticReplica", Not(Equals(replica, "")))

        def origin(origin_id, domain):
            return cloudfront.Origin(
                Id=origin_id,
                DomainName=domain,
                OriginAccessControlId=GetAtt("BucketOriginAccessControl", "Id"),
                # With OAC the legacy origin access identity stays empty.
                S3OriginConfig=cloudfront.S3OriginConfig(OriginAccessIdentity=""),
            )

        return [
            origin(STATIC, self.bucket_params["Static"]["DomainName"]),
            origin(MEDIA, self.bucket_params["Media"]["DomainName"]),
            If("HasStaticReplica", origin(STATIC_REPLICA, replica), Ref(AWS_NO_VALUE)),
        ]

    @staticmethod
    def _static_failover():
        group = cloudfront.OriginGroup(
            Id=STATIC_FAILOVER,
            FailoverCriteria=cloudfront.OriginGroupFailoverCriteria(
                StatusCodes=cloudfront.StatusCodes(
                    Quantity=len(FAILOVER_STATUS_CODES), Items=FAILOVER_STATUS_CODES
                )
            ),
            Members=cloudfront.OriginGroupMembers(
                Quantity=2,
                Items=[
                    cloudfront.OriginGroupMember(OriginId=STATIC),
                    cloudfront.OriginGroupMember(OriginId=STATIC_REPLICA),
                ],
            ),
        )
        return If(
            "HasStaticReplica",
            cloudfront.OriginGroups(Quantity=1, Items=[group]),
            Ref(AWS_NO_VALUE),
        )

    @staticmethod
    def _bucket_behavior(pattern: str, origin, cache_policy, compress: bool):
        return cloudfront.CacheBehavior(
            PathPattern=pattern,
            TargetOriginId=origin,
            ViewerProtocolPolicy="redirect-to-https",
            AllowedMethods=READ_METHODS,
            CachedMethods=READ_METHODS,
            Compress=compress,
            CachePolicyId=cache_policy,
            ResponseHeadersPolicyId=Ref("SecurityHeadersPolicy"),
        )

    # -- bucket policies -------------------------------------------------------------------
    def bucket_policies(self) -> None:
        for logical, params in self.bucket_params.items():
            statements = secure_bucket_statements(params["Arn"], "aws:kms", self.storage_key)
            statements.append(
                Statement(
                    Sid="CloudFrontOacRead",
                    Effect=Allow,
                    Principal=Principal("Service", "cloudfront.amazonaws.com"),
                    Action=[s3_actions.GetObject],
                    Resource=[Join("", [params["Arn"], "/*"])],
                    Condition=Condition(StringEquals("AWS:SourceArn", self.distribution_arn())),
                )
            )
            # <Name>BucketPolicy: the logical ids are a contract (a rename replaces the
            # policy), kept in the tier that names the distribution.
            self.add(
                s3.BucketPolicy(
                    f"{logical}BucketPolicy",
                    Bucket=params["Name"],
                    PolicyDocument=Policy(Version="2012-10-17", Statement=statements),
                )
            )
