"""dns-records: the Route 53 alias records, cdn.<domain> to CloudFront and api.<domain>
to the ALB. A nested stack of its own, apart from dns, because it needs the ALB and the
distribution, which come after the certificate the ALB needs (templates/dns.py).

With a warm standby (ApiFailover, set by deploy.py when the standby stack runs the
application), api.<domain> is an alias of failover.api.<domain>, a Route 53 failover
pair: PRIMARY here (this ALB, healthy while the api has a healthy target in either of
its two target groups), SECONDARY in the standby stack (its ALB). An alias to another
name in the zone keeps api.<domain> the same record either way: switching failover on
or off is an update, never a delete and create of the name.
"""

from __future__ import annotations

from troposphere import And, Condition, If, Ref, Sub, cloudwatch, route53

from templates.base import TOGGLE, Equals, Not, Tier
from templates.parts.certificates import has_domain
from templates.parts.edge_outputs import edge_output_parameter
from templates.parts.standby import FAILOVER_HOST

# Route 53's hosted zone id for every CloudFront distribution alias.
CLOUDFRONT_HOSTED_ZONE_ID = "Z2FDTNDATAQYW2"

# Alias record types per name. The distribution serves IPv6; an AAAA alias of an
# IPv4-only ALB resolves to no address (clients use the A record) and starts answering
# the day the ALB becomes dual-stack.
ALIAS_RECORD_TYPES = {"cdn": ("A", "AAAA"), "api": ("A", "AAAA")}


class DnsRecordsTier(Tier):
    name = "dns-records"
    description = "Route 53 alias records: cdn.<domain> to CloudFront, api.<domain> to the ALB"

    def build(self) -> None:
        self.domain = has_domain(self)
        self.zone_id = self.wired(
            "HostedZoneId",
            "dns",
            Type="String",
            Description="Hosted zone of DomainName, empty without one (dns tier).",
        )
        certificate_arn = edge_output_parameter(self, "CdnCertificateArn")
        # CloudFront answers cdn.<domain> only when it has the certificate and alias.
        self.condition("CdnAlias", And(Condition("HasDomain"), Not(Equals(certificate_arn, ""))))
        self.cdn_records()
        self.failover()
        self.api_records()

    def _records(self, host: str, condition: str, target: route53.AliasTarget, what: str) -> None:
        """A and AAAA alias records for <host>.<domain>, and the name as an output."""
        name = Sub(f"{host}.${{DomainName}}")
        for record_type in ALIAS_RECORD_TYPES[host]:
            self.add(
                route53.RecordSetType(
                    f"{host.capitalize()}Record{record_type}",
                    Condition=condition,
                    HostedZoneId=self.zone_id,
                    Name=name,
                    Type=record_type,
                    AliasTarget=target,
                )
            )
        self.output(f"{host.capitalize()}RecordName", If(condition, name, ""), what)

    def cdn_records(self) -> None:
        target = self.wired(
            "DistributionDomainName",
            "cdn",
            Type="String",
            Description="Domain name of the distribution (cdn tier).",
        )
        self._records(
            "cdn",
            "CdnAlias",
            route53.AliasTarget(
                HostedZoneId=CLOUDFRONT_HOSTED_ZONE_ID, DNSName=target, EvaluateTargetHealth=False
            ),
            "cdn.<domain>, the distribution's alias; empty without a domain and the edge "
            "certificate",
        )

    def api_records(self) -> None:
        dns_name = self.wired(
            "AlbDnsName",
            "load-balancer",
            Type="String",
            Description="DNS name of the ALB (load-balancer tier).",
        )
        zone = self.wired(
            "AlbCanonicalHostedZoneId",
            "load-balancer",
            Type="String",
            Description="Route 53 zone id of the ALB's DNS name (load-balancer tier).",
        )
        alb = route53.AliasTarget(HostedZoneId=zone, DNSName=dns_name, EvaluateTargetHealth=True)
        for record_type in ALIAS_RECORD_TYPES["api"]:
            self.add(
                route53.RecordSetType(
                    f"ApiFailoverRecord{record_type}",
                    Condition="Failover",
                    HostedZoneId=self.zone_id,
                    Name=self.failover_name,
                    Type=record_type,
                    SetIdentifier=Sub("primary-${AWS::Region}"),
                    Failover="PRIMARY",
                    HealthCheckId=Ref("ApiHealthCheck"),
                    AliasTarget=alb,
                )
            )
        # Route 53 answers from a healthy load balancer only (no healthy target: no answer).
        self._records(
            "api",
            "HasDomain",
            If(
                "Failover",
                route53.AliasTarget(
                    HostedZoneId=self.zone_id,
                    DNSName=self.failover_name,
                    EvaluateTargetHealth=True,
                ),
                alb,
            ),
            "api.<domain>, alias of the ALB, or of the failover pair with a warm standby "
            "(CloudFront's origin name when the ALB has a certificate); empty without a "
            "domain",
        )

    def failover(self) -> None:
        enabled = self.parameter(
            "ApiFailover",
            "Wiring",
            deploy_time=True,
            Type="String",
            AllowedValues=TOGGLE,
            Default="disabled",
            Description="enabled when the standby stack runs the application (deploy.py sets "
            "it from params standby): api.<domain> fails over to the standby ALB.",
        )
        self.condition("Failover", And(Condition("HasDomain"), Equals(enabled, "enabled")))
        self.failover_name = Sub(f"{FAILOVER_HOST}.${{DomainName}}")
        self.health_check()
        self.output(
            "ApiHealthCheckId",
            If("Failover", Ref("ApiHealthCheck"), ""),
            'Route 53 health check of the primary ("" without a warm standby)',
        )
        self.output(
            "ApiFailoverRecordName",
            If("Failover", self.failover_name, ""),
            "Failover name api.<domain> aliases; the standby stack adds its SECONDARY record "
            '("" without a warm standby)',
        )

    def health_check(self) -> None:
        """ApiHealthCheck: healthy while the api has a healthy target in either of its
        target groups (a blue/green release moves it from one to the other). Route 53
        reads only single-metric alarms, so each group has its own alarm and health
        check, and a calculated check wants one of the two healthy."""
        alb = self.wired(
            "AlbFullName",
            "load-balancer",
            Type="String",
            Description="app/<name>/<id> of the ALB (load-balancer tier): the alarms' "
            "LoadBalancer dimension.",
        )
        children = []
        for logical, colour in (("ApiTargetGroup", "blue"), ("ApiAlternateTargetGroup", "green")):
            group = self.wired(
                f"{logical}FullName",
                "load-balancer",
                Type="String",
                Description=f"targetgroup/<name>/<id> of the api's {colour} target group "
                "(load-balancer tier).",
            )
            alarm = f"Api{colour.capitalize()}NoHealthyTargetAlarm"
            self.add(
                cloudwatch.Alarm(
                    alarm,
                    Condition="Failover",
                    AlarmName=self.physical_name("alarm", f"api-{colour}-no-healthy-target"),
                    AlarmDescription=f"The api's {colour} target group has no healthy target "
                    "(read by Route 53's failover health check; notifies nobody)",
                    Namespace="AWS/ApplicationELB",
                    MetricName="HealthyHostCount",
                    Dimensions=[
                        cloudwatch.MetricDimension(Name="LoadBalancer", Value=alb),
                        cloudwatch.MetricDimension(Name="TargetGroup", Value=group),
                    ],
                    Statistic="Minimum",
                    Period=60,
                    EvaluationPeriods=2,
                    Threshold=1,
                    ComparisonOperator="LessThanThreshold",
                    # A group without data has no healthy target.
                    TreatMissingData="breaching",
                )
            )
            check = f"Api{colour.capitalize()}HealthCheck"
            self.add(
                route53.HealthCheck(
                    check,
                    Condition="Failover",
                    HealthCheckConfig=route53.HealthCheckConfig(
                        Type="CLOUDWATCH_METRIC",
                        AlarmIdentifier=route53.AlarmIdentifier(
                            Name=Ref(alarm), Region=Ref("AWS::Region")
                        ),
                        # Without data (a metric gap) Route 53 keeps the last state it saw.
                        InsufficientDataHealthStatus="LastKnownStatus",
                    ),
                    HealthCheckTags=self.tags("healthcheck", f"api-{colour}"),
                )
            )
            children.append(Ref(check))
        self.add(
            route53.HealthCheck(
                "ApiHealthCheck",
                Condition="Failover",
                HealthCheckConfig=route53.HealthCheckConfig(
                    Type="CALCULATED", ChildHealthChecks=children, HealthThreshold=1
                ),
                HealthCheckTags=self.tags("healthcheck", "api-primary"),
            )
        )
