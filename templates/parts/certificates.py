"""The platform's domain and its ACM certificates, validated through Route 53.

ACM can only see validation records in a zone that answers publicly: an existing,
delegated zone, or a new zone after its name servers were added at the parent domain.
Until then CloudFormation would wait for hours and fail, so certificates are a toggle
(`Certificates`) that the dns tier and the edge stack declare identically.
"""

from __future__ import annotations

from troposphere import And, Condition, Ref, Sub, certificatemanager

from templates.base import AWS_NO_VALUE, Equals, If, Not

CERTIFICATES_DESCRIPTION = (
    "Issue ACM certificates (api.<domain> for the ALB here, cdn.<domain> for CloudFront in "
    "the edge stack), validated through the Route 53 zone. Enable once the zone answers "
    "publicly: an existing delegated zone, or a new zone after its name servers "
    "(output HostedZoneNameServers) were added at the parent domain. Disabled: the ALB "
    "serves HTTP to CloudFront and CloudFront uses its default certificate."
)


def has_domain(tier):
    """The shared DomainName parameter and the condition HasDomain (it is not empty)."""
    domain = tier.shared_parameter("DomainName")
    tier.condition("HasDomain", Not(Equals(domain, "")))
    return domain


def certificates_toggle(tier) -> str:
    """The Certificates toggle and its condition CertificatesEnabled."""
    return tier.toggle("Certificates", "DNS", "disabled", CERTIFICATES_DESCRIPTION)


def issues_certificates(tier) -> str:
    """The condition IssueCertificates (a domain, and the Certificates toggle on): the
    dns tier then issues the ALB's certificate for api.<domain>, so the ALB serves HTTPS.
    Tiers that must know whether it will (without waiting for the dns tier) decide it
    from the same two parameters."""
    has_domain(tier)
    enabled = certificates_toggle(tier)
    return tier.condition("IssueCertificates", And(Condition("HasDomain"), Condition(enabled)))


def optional_zone_id(tier, name: str, description: str):
    """A hosted zone id parameter that may be empty."""
    return tier.parameter(
        name,
        "DNS",
        Type="String",
        Default="",
        AllowedPattern=r"^(Z[0-9A-Z]{1,32})?$",
        ConstraintDescription="empty, or a hosted zone id such as Z0123456789ABCDEFGHIJ",
        Description=description,
    )


def certificate(
    tier,
    logical: str,
    host: str,
    zone_id,
    purpose: str,
    condition: str,
    zone_condition: str | None = None,
) -> certificatemanager.Certificate:
    """An ACM certificate for <host>.<domain>, validated by a CNAME that CloudFormation
    creates in zone_id (only while zone_condition holds, when one is given; otherwise
    the stack waits for the CNAME to be created by hand)."""
    name = Sub(f"{host}.${{DomainName}}")
    options = [certificatemanager.DomainValidationOption(DomainName=name, HostedZoneId=zone_id)]
    return tier.add(
        certificatemanager.Certificate(
            logical,
            Condition=condition,
            DomainName=name,
            ValidationMethod="DNS",
            DomainValidationOptions=If(zone_condition, options, Ref(AWS_NO_VALUE))
            if zone_condition
            else options,
            CertificateTransparencyLoggingPreference="ENABLED",
            Tags=tier.tags("acm", purpose),
        )
    )
