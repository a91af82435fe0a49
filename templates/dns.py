"""dns: the Route 53 zone and the ALB's certificate. The alias records are the
dns-records tier (templates/dns_records.py): the two sit at opposite ends of the
dependency graph:

    dns          (no inputs) -> AlbCertificateArn -> load-balancer -> AlbDnsName -> dns-records
                                                     cdn -> DistributionDomainName -> dns-records

`dns` waits for nothing, so the certificate is issued (in parallel with network, data...)
before the load-balancer tier creates the HTTPS listener that needs it. `dns-records` waits for the
ALB and the distribution it points at.

Certificates are validated through DNS and are a toggle (`Certificates`) that the edge
stack shares (its CloudFront certificate uses the same zone); why, in
templates/parts/certificates.py.
"""

from __future__ import annotations

from troposphere import And, Condition, GetAtt, Join, Ref, Sub, route53

from templates.base import Equals, If, Tier
from templates.parts.certificates import (
    certificate,
    has_domain,
    issues_certificates,
    optional_zone_id,
)


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
            self,
            "ExistingHostedZoneId",
            "Public hosted zone of DomainName that already exists (its records are added "
            "there). Empty: a new zone is created for DomainName. Ignored without a "
            "DomainName.",
        )
        self.condition("CreateZone", And(Condition("HasDomain"), Equals(existing, "")))
        # A zone holds records and is delegated from its parent by its name servers: a
        # replacement would break resolution, so it is kept outside dev.
        self.add(
            self.stateful(
                route53.HostedZone(
                    "HostedZone",
                    Condition="CreateZone",
                    Name=self.domain,
                    HostedZoneConfig=route53.HostedZoneConfiguration(
                        Comment=Sub("streamstack ${Environment}: public zone of ${DomainName}")
                    ),
                    HostedZoneTags=self.tags("zone", "public"),
                )
            )
        )
        self.zone_id = If("CreateZone", Ref("HostedZone"), existing)
        self.output(
            "HostedZoneId",
            If("HasDomain", self.zone_id, ""),
            "ID of the public hosted zone of DomainName (created or existing); "
            "empty without a domain",
        )
        self.output(
            "HostedZoneNameServers",
            If("CreateZone", Join(",", GetAtt("HostedZone", "NameServers")), ""),
            "Name servers of the created zone (comma-separated): add them as NS "
            "records at the parent domain; empty for an existing zone or no domain",
        )

    # -- certificate ----------------------------------------------------------------
    def alb_certificate(self) -> None:
        issues_certificates(self)
        certificate(self, "AlbCertificate", "api", self.zone_id, "api", "IssueCertificates")
        self.output(
            "AlbCertificateArn",
            If("IssueCertificates", Ref("AlbCertificate"), ""),
            "ARN of the regional ACM certificate for api.<domain> (the ALB's HTTPS "
            "listener); empty without a domain or with Certificates disabled",
        )
