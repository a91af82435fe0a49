"""dns-records: the Route 53 alias records, cdn.<domain> to CloudFront and api.<domain>
to the ALB. A nested stack of its own, apart from dns, because it needs the ALB and the
distribution, which come after the certificate the ALB needs (templates/dns.py).
"""

from __future__ import annotations

from troposphere import And, Condition, If, Sub, route53

from templates.base import Equals, Not, Tier
from templates.parts.certificates import has_domain
from templates.parts.edge_outputs import edge_output_parameter

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
        # Route 53 answers from a healthy load balancer only (no healthy target: no answer).
        self._records(
            "api",
            "HasDomain",
            route53.AliasTarget(HostedZoneId=zone, DNSName=dns_name, EvaluateTargetHealth=True),
            "api.<domain>, alias of the ALB (CloudFront's origin name when the ALB has a "
            "certificate); empty without a domain",
        )
