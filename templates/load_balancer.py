"""load-balancer: the ALB with its listeners, listener rules, the api/web target groups
and, for an internet-facing ALB, the origin verification. It reads only network,
security, storage and dns, so it (and CloudFront behind it, which reads AlbArn and
AlbDnsName) is created in parallel with Aurora and Redis:

    network, security, storage, dns -> load-balancer -> cdn, fleet, dns-records, compute

Traffic: CloudFront -> ALB -> api (/api/*) and web (everything else) tasks on AppPort in
the app subnets. AlbScheme decides where the ALB is:

- internal (the default; staging and prod accept nothing else): in the app subnets,
  reached only by CloudFront as a VPC origin. With a certificate it listens on HTTPS
  only (CloudFront connects as api.<domain>); without one on HTTP, which never leaves
  AWS's network.
- internet-facing (direct tests in dev): in the public subnets. With a certificate,
  HTTP redirects to HTTPS; without one, HTTP forwards. With AlbOriginVerify enabled, the
  serving listener forwards only requests carrying the X-Origin-Verify header whose
  value CloudFront sends (a generated secret), and answers 403 to everything else.

Each of api and web has two target groups, blue (<Name>TargetGroup) and green
(<Name>AlternateTargetGroup): its production rule forwards to both by weight (100/0 to
start) and a test rule, ahead of it, does the same for requests carrying the
release-test header. A blue/green release (compute tier, ReleaseStrategy) starts the new
revision in the other group, sends the test rule there first and then moves the
production weights over; a rolling release uses the blue group alone.
"""

from __future__ import annotations

from troposphere import And, GetAtt, If, Ref
from troposphere import Condition as IsTrue
from troposphere import elasticloadbalancingv2 as elb

from templates.base import Equals, Not, Tier
from templates.parts.listeners import (
    ORIGIN_HEADER,
    https_redirect,
    internal_alb,
    origin_condition,
    path_condition,
)
from templates.parts.secrets import generated_secret

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
# Requests with this header reach the new revision during a blue/green release, before
# production traffic does (test rules).
RELEASE_TEST_HEADER = "X-Release-Stage"
RELEASE_TEST_VALUE = "test"
# Metadata of the rules whose forward weights ECS owns during blue/green releases: a
# stack update of such a rule writes the template's weights back (the deploy plan marks
# it, streamstack/deploy/plans.py TRAFFIC_KEY).
TRAFFIC_KEY = "streamstack:TrafficManagedBy"
ORIGIN_VERIFY_NOT_ROTATED = (
    "CloudFront's origin header and the ALB's listener rules take the value when "
    "CloudFormation deploys them, so a rotation between deploys would lock CloudFront out. "
    "The secret exists only for an internet-facing ALB with AlbOriginVerify (a test "
    "setup); staging and prod use the VPC origin and have no secret."
)


class LoadBalancerTier(Tier):
    name = "load-balancer"
    description = "ALB (internal or internet-facing), listeners, api/web target groups"

    def build(self) -> None:
        self.inputs()
        self.load_balancer()
        self.target_groups()
        self.listeners()

    # -- inputs (network, security, storage, dns only: no wait for the data tier) ----
    def inputs(self) -> None:
        self.vpc = self.wired(
            "VpcId",
            "network",
            Type="AWS::EC2::VPC::Id",
            Description="VPC of the target groups (network tier).",
        )
        self.public_subnets = self.wired(
            "PublicSubnetIds",
            "network",
            Type="List<AWS::EC2::Subnet::Id>",
            Description="Public subnets of an internet-facing ALB (network tier).",
        )
        self.app_subnets = self.wired(
            "AppSubnetIds",
            "network",
            Type="List<AWS::EC2::Subnet::Id>",
            Description="App subnets of an internal ALB (network tier).",
        )
        self.alb_sg = self.wired(
            "AlbSecurityGroupId",
            "security",
            Type="AWS::EC2::SecurityGroup::Id",
            Description="Security group of the ALB (security tier).",
        )
        self.data_key = self.wired(
            "DataKeyArn",
            "security",
            Description="Data KMS key (security tier): the origin-verify secret.",
        )
        self.access_logs_bucket = self.wired(
            "AccessLogsBucketName",
            "storage",
            Description="Bucket receiving ALB access logs (storage tier).",
        )
        self.app_port = self.shared_parameter("AppPort")
        self.internal = internal_alb(self)

    # -- load balancer -----------------------------------------------------------
    def load_balancer(self) -> None:
        alb = elb.LoadBalancer(
            "Alb",
            Type="application",
            Scheme=Ref("AlbScheme"),
            IpAddressType="ipv4",
            Subnets=If(self.internal, self.app_subnets, self.public_subnets),
            SecurityGroups=[self.alb_sg],
            LoadBalancerAttributes=[
                elb.LoadBalancerAttributes(Key=k, Value=v)
                for k, v in (
                    ("access_logs.s3.enabled", "true"),
                    ("access_logs.s3.bucket", self.access_logs_bucket),
                    ("access_logs.s3.prefix", "alb"),
                    ("routing.http.drop_invalid_header_fields.enabled", "true"),
                    ("routing.http.desync_mitigation_mode", "defensive"),
                    ("deletion_protection.enabled", self.if_dev("false", "true")),
                )
            ],
            Tags=self.tags("alb", "web"),
        )
        self.add(alb)
        self.output("AlbArn", Ref("Alb"), "ARN of the application load balancer")
        self.output("AlbDnsName", GetAtt("Alb", "DNSName"), "DNS name of the ALB")
        self.output(
            "AlbCanonicalHostedZoneId",
            GetAtt("Alb", "CanonicalHostedZoneID"),
            "Hosted zone of the ALB (Route 53 alias records)",
        )
        self.output(
            "AlbFullName",
            GetAtt("Alb", "LoadBalancerFullName"),
            "app/<name>/<id> of the ALB (CloudWatch dimension LoadBalancer)",
        )

    def target_groups(self) -> None:
        interval = self.parameter(
            "HealthCheckIntervalSeconds",
            "Compute",
            Type="Number",
            Default=30,
            MinValue=5,
            MaxValue=300,
            Description="Seconds between ALB health checks of a task (/health).",
        )
        delay = self.parameter(
            "DeregistrationDelaySeconds",
            "Compute",
            Type="Number",
            Default=60,
            MinValue=0,
            MaxValue=3600,
            Description="Seconds the ALB drains in-flight requests from a stopping task.",
        )
        stickiness = self.toggle(
            "TargetStickiness",
            "Compute",
            "disabled",
            "enabled: a viewer sticks to one web/api task for a day (lb_cookie); "
            "disabled: every request is balanced.",
        )
        for name in ("Api", "Web"):
            for variant, colour in (("", "blue"), ("Alternate", "green")):
                logical = f"{name}{variant}TargetGroup"
                self.add(
                    elb.TargetGroup(
                        logical,
                        TargetType="ip",
                        Protocol="HTTP",
                        ProtocolVersion="HTTP1",
                        Port=self.app_port,
                        VpcId=self.vpc,
                        HealthCheckEnabled=True,
                        HealthCheckPath="/health",
                        HealthCheckProtocol="HTTP",
                        HealthCheckIntervalSeconds=interval,
                        HealthCheckTimeoutSeconds=5,
                        HealthyThresholdCount=2,
                        UnhealthyThresholdCount=2,
                        Matcher=elb.Matcher(HttpCode="200"),
                        TargetGroupAttributes=[
                            elb.TargetGroupAttribute(Key=k, Value=v)
                            for k, v in (
                                ("deregistration_delay.timeout_seconds", delay),
                                ("stickiness.enabled", If(stickiness, "true", "false")),
                                ("stickiness.type", "lb_cookie"),
                                ("stickiness.lb_cookie.duration_seconds", "86400"),
                            )
                        ],
                        Tags=self.tags("tg", name.lower() + ("-green" if variant else "")),
                    )
                )
                self.output(
                    f"{logical}Arn",
                    Ref(logical),
                    f"ARN of the {name.lower()} target group ({colour})",
                )
                self.output(
                    f"{logical}FullName",
                    GetAtt(logical, "TargetGroupFullName"),
                    f"targetgroup/<name>/<id> of the {name.lower()} target group ({colour}; "
                    "CloudWatch dimension TargetGroup)",
                )

    def listeners(self) -> None:
        certificate = self.wired(
            "AlbCertificateArn",
            "dns",
            group="Compute",
            Default="",
            AllowedPattern=r"^(arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+)?$",
            ConstraintDescription="empty, or an ACM certificate ARN in the ALB's region",
            Description="ACM certificate of the ALB (the dns tier issues it when a domain is "
            "set). Set: HTTPS on 443 (TLS 1.3/1.2); an internet-facing ALB redirects HTTP "
            "to it, an internal one has no HTTP listener. Empty: HTTP on 80 forwards.",
        )
        verify = self.toggle(
            "AlbOriginVerify",
            "Compute",
            "disabled",
            f"enabled: an internet-facing ALB forwards only requests carrying the "
            f"{ORIGIN_HEADER} header with the generated secret CloudFront sends, and answers "
            "403 to any other. disabled: it serves anyone (direct tests). An internal ALB "
            "needs no header: only CloudFront's VPC origin reaches it.",
        )
        self.condition("HasCertificate", Not(Equals(certificate, "")))
        # A shared secret only stands in for a network boundary: an internal ALB has one.
        verify = self.condition("VerifyOrigin", And(Not(IsTrue(self.internal)), IsTrue(verify)))
        # Internal and HTTPS: CloudFront's VPC origin uses 443 only, port 80 stays closed.
        self.condition("ServesHttp", Not(And(IsTrue(self.internal), IsTrue("HasCertificate"))))
        secret = generated_secret(
            self,
            "OriginVerifySecret",
            "origin-verify",
            f"Value of the {ORIGIN_HEADER} header CloudFront sends to the ALB",
            self.data_key,
            length=48,
            retain=False,
            # The standby region's ALB checks the same header.
            replicated=True,
        )
        secret.Condition = verify
        secret.Metadata = {"streamstack:NotRotated": ORIGIN_VERIFY_NOT_ROTATED}
        self.output(
            "OriginVerifySecretArn",
            If(verify, Ref("OriginVerifySecret"), ""),
            f"ARN of the secret whose value CloudFront sends as {ORIGIN_HEADER}; empty "
            "when the ALB requires no header (internal, or AlbOriginVerify disabled)",
        )
        self.output(
            "OriginVerifyEnforced",
            If(verify, "true", "false"),
            f"true when the ALB's listener rules require {ORIGIN_HEADER} (the fleet "
            "tier adds the same condition to its rule)",
        )

        forbidden = elb.Action(
            Type="fixed-response",
            FixedResponseConfig=elb.FixedResponseConfig(
                StatusCode="403", ContentType="text/plain", MessageBody="Forbidden"
            ),
        )
        forward_web = elb.Action(Type="forward", TargetGroupArn=Ref("WebTargetGroup"))
        serve = If(verify, [forbidden], [forward_web])
        http = elb.Listener(
            "HttpListener",
            Condition="ServesHttp",
            LoadBalancerArn=Ref("Alb"),
            Port=80,
            Protocol="HTTP",
            DefaultActions=If(
                "HasCertificate",
                [https_redirect()],
                serve,
            ),
        )
        self.add(
            self.suppress(
                http,
                checkov={
                    "CKV_AWS_2": "Port 80 serves plain HTTP only without a certificate: on an "
                    "internal ALB that only CloudFront's VPC origin reaches inside AWS's "
                    "network, or on dev's internet-facing test ALB (staging and prod "
                    "refuse internet-facing); with a certificate it redirects to HTTPS or "
                    "does not exist.",
                    "CKV_AWS_103": "Plain HTTP has no TLS version; it is served only where "
                    "CKV_AWS_2's reason says, and HTTPS uses TLS 1.2 at least.",
                },
            )
        )
        self.add(
            elb.Listener(
                "HttpsListener",
                Condition="HasCertificate",
                LoadBalancerArn=Ref("Alb"),
                Port=443,
                Protocol="HTTPS",
                SslPolicy=TLS_POLICY,
                Certificates=[elb.Certificate(CertificateArn=certificate)],
                DefaultActions=serve,
            )
        )
        serving = If("HasCertificate", Ref("HttpsListener"), Ref("HttpListener"))
        origin = origin_condition("OriginVerifySecret")
        test = elb.Condition(
            Field="http-header",
            HttpHeaderConfig=elb.HttpHeaderConfig(
                HttpHeaderName=RELEASE_TEST_HEADER, Values=[RELEASE_TEST_VALUE]
            ),
        )
        for name, priority, pattern in (("Api", 10, "/api/*"), ("Web", 20, "/*")):
            path = path_condition(pattern)
            # ECS moves these weights during a blue/green release; they start on blue.
            forward = [
                elb.ListenerRuleAction(
                    Type="forward",
                    ForwardConfig=elb.ForwardConfig(
                        TargetGroups=[
                            elb.TargetGroupTuple(
                                TargetGroupArn=Ref(f"{name}TargetGroup"), Weight=100
                            ),
                            elb.TargetGroupTuple(
                                TargetGroupArn=Ref(f"{name}AlternateTargetGroup"), Weight=0
                            ),
                        ]
                    ),
                )
            ]
            for kind, rule_priority, conditions in (
                ("", priority, [path]),
                ("Test", priority - 1, [path, test]),
            ):
                logical = f"{name}{kind}ListenerRule"
                self.add(
                    elb.ListenerRule(
                        logical,
                        ListenerArn=serving,
                        Priority=rule_priority,
                        Conditions=If(verify, [*conditions, origin], conditions),
                        Actions=forward,
                        Metadata={TRAFFIC_KEY: "ecs-blue-green"},
                    )
                )
                self.output(
                    f"{logical}Arn",
                    Ref(logical),
                    f"ARN of the {name.lower()} "
                    + ("test rule (requests with the release-test header)" if kind else "rule")
                    + "; ECS moves its weights during a blue/green release",
                )
        self.output(
            "AlbListenerArn",
            serving,
            "ARN of the listener that serves traffic (HTTPS with a certificate, else "
            "HTTP); rules 9 and 10 (api), 19 and 20 (web) are taken",
        )
