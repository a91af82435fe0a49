"""dns: the Route 53 zone and the ALB's certificate (tier `dns`), and the alias records
(tier `dns-records`). Both live here so all DNS is in one place; they are two nested
stacks because they sit at opposite ends of the dependency graph:

    dns          (no inputs) -> AlbCertificateArn -> load-balancer -> AlbDnsName -> dns-records
                                                     cdn -> DistributionDomainName -> dns-records

`dns` waits for nothing, so the certificate is issued (in parallel with network, data...)
before the load-balancer tier creates the HTTPS listener that needs it. `dns-records` waits for the
ALB and the distribution it points at.

Certificates are validated through DNS. ACM can only see validation records in a zone
that answers publicly: an existing, delegated zone, or a new zone after its name
servers were added at the parent domain. Until then CloudFormation would wait for
hours and fail, so certificates are a toggle (`Certificates`) that the edge stack
shares (its CloudFront certificate uses the same zone).
"""
from __future__ import annotations

from troposphere import And, Condition, GetAtt, Join, Ref, Sub, route53

from templates.base import Equals, If, Not, Tier
from templates.parts.certificates import (
    certificate, certificates_toggle, has_domain, optional_zone_id,
)
from templates.parts.edge_outputs import edge_output_parameter

# Route 53's hosted zone id for every CloudFront distribution alias.
CLOUDFRONT_HOSTED_ZONE_ID = "Z2FDTNDATAQYW2"

# Alias record types per name. The distribution serves IPv6; an AAAA alias of an
# IPv4-only ALB resolves to no address (clients use the A record) and starts answering
# the day the ALB becomes dual-stack.
ALIAS_RECORD_TYPES = {"cdn": ("A", "AAAA"), "api": ("A", "AAAA")}

class DnsTier(Tier):
    name = "dns"
    description = "Route 53 hosted zone (new or existing) and the ALB's ACM certificate"

    def build(self) -> None:
        self.domain = has_domain(self)
        self.zone()
        self.alb_certificate()

    # -- zone --------------------------------------------------------------------
    def zone(self) -> None:
        existing = optional_zone_id(
            self, "ExistingHostedZoneId",
            "Public hosted zone of DomainName that already exists (its records are added "
            "there). Empty: a new zone is created for DomainName. Ignored without a "
            "DomainName.")
        self.condition("CreateZone", And(Condition("HasDomain"), Equals(existing, "")))
        # A zone holds records and is delegated from its parent by its name servers: a
        # replacement would break resolution, so it is kept outside dev.
        self.add(self.stateful(route53.HostedZone(
            "HostedZone", Condition="CreateZone", Name=self.domain,
            HostedZoneConfig=route53.HostedZoneConfiguration(
                Comment=Sub("streamstack ${Environment}: public zone of ${DomainName}")),
            HostedZoneTags=self.tags("zone", "public"))))
        self.zone_id = If("CreateZone", Ref("HostedZone"), existing)
        self.output("HostedZoneId", If("HasDomain", self.zone_id, ""),
                    "ID of the public hosted zone of DomainName (created or existing); "
                    "empty without a domain")
        self.output("HostedZoneNameServers",
                    If("CreateZone", Join(",", GetAtt("HostedZone", "NameServers")), ""),
                    "Name servers of the created zone (comma-separated): add them as NS "
                    "records at the parent domain; empty for an existing zone or no domain")

    # -- certificate ----------------------------------------------------------------
    def alb_certificate(self) -> None:
        enabled = certificates_toggle(self)
        self.condition("IssueCertificates", And(Condition("HasDomain"), Condition(enabled)))
        certificate(self, "AlbCertificate", "api", self.zone_id, "api", "IssueCertificates")
        self.output("AlbCertificateArn", If("IssueCertificates", Ref("AlbCertificate"), ""),
                    "ARN of the regional ACM certificate for api.<domain> (the ALB's HTTPS "
                    "listener); empty without a domain or with Certificates disabled")




class DnsRecordsTier(Tier):
    """The alias records. A separate nested stack from `dns` because it needs the ALB and
    the distribution, which come after the certificate the ALB needs."""

    name = "dns-records"
    description = "Route 53 alias records: cdn.<domain> to CloudFront, api.<domain> to the ALB"

    def build(self) -> None:
        self.domain = has_domain(self)
        self.zone_id = self.parameter(
            "HostedZoneId", "Wiring", Type="String",
            Description="Hosted zone of DomainName, empty without one (dns tier).")
        certificate_arn = edge_output_parameter(self, "CdnCertificateArn")
        # CloudFront answers cdn.<domain> only when it has the certificate and alias.
        self.condition("CdnAlias", And(Condition("HasDomain"),
                                       Not(Equals(certificate_arn, ""))))
        self.cdn_records()
        self.api_records()

    def _records(self, host: str, condition: str, target: route53.AliasTarget,
                 what: str) -> None:
        """A and AAAA alias records for <host>.<domain>, and the name as an output."""
        name = Sub(f"{host}.${{DomainName}}")
        for record_type in ALIAS_RECORD_TYPES[host]:
            self.add(route53.RecordSetType(
                f"{host.capitalize()}Record{record_type}", Condition=condition,
                HostedZoneId=self.zone_id, Name=name, Type=record_type, AliasTarget=target))
        self.output(f"{host.capitalize()}RecordName", If(condition, name, ""), what)

    def cdn_records(self) -> None:
        target = self.parameter("DistributionDomainName", "Wiring", Type="String",
                                Description="Domain name of the distribution (cdn tier).")
        self._records("cdn", "CdnAlias", route53.AliasTarget(
            HostedZoneId=CLOUDFRONT_HOSTED_ZONE_ID, DNSName=target, EvaluateTargetHealth=False),
            "cdn.<domain>, the distribution's alias; empty without a domain and the edge "
            "certificate")

    def api_records(self) -> None:
        dns_name = self.parameter("AlbDnsName", "Wiring", Type="String",
                                  Description="DNS name of the ALB (load-balancer tier).")
        zone = self.parameter("AlbCanonicalHostedZoneId", "Wiring", Type="String",
                              Description="Route 53 zone id of the ALB's DNS name "
                                          "(load-balancer tier).")
        # Route 53 answers from a healthy load balancer only (no healthy target: no answer).
        self._records("api", "HasDomain", route53.AliasTarget(
            HostedZoneId=zone, DNSName=dns_name, EvaluateTargetHealth=True),
            "api.<domain>, alias of the ALB (CloudFront's origin name when the ALB has a "
            "certificate); empty without a domain")
