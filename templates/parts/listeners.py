"""What the tiers around the ALB share: its scheme (the condition AlbInternal), the
HTTPS redirect, and the listener-rule conditions of the load-balancer and fleet tiers:
a path, and the origin-verify header CloudFront sends to an internet-facing ALB (its
value is a generated secret)."""

from __future__ import annotations

from troposphere import Equals, Sub
from troposphere import elasticloadbalancingv2 as elb

ORIGIN_HEADER = "X-Origin-Verify"


def internal_alb(tier) -> str:
    """The shared AlbScheme parameter and the condition AlbInternal (CloudFront reaches
    the ALB as a VPC origin); returns the condition's name."""
    scheme = tier.shared_parameter("AlbScheme")
    return tier.condition("AlbInternal", Equals(scheme, "internal"))


def https_redirect() -> elb.Action:
    """Port 80's answer when the ALB has a certificate: 301 to the same URL over HTTPS."""
    return elb.Action(
        Type="redirect",
        RedirectConfig=elb.RedirectConfig(
            Protocol="HTTPS",
            Port="443",
            Host="#{host}",
            Path="/#{path}",
            Query="#{query}",
            StatusCode="HTTP_301",
        ),
    )


def path_condition(pattern) -> elb.Condition:
    return elb.Condition(
        Field="path-pattern", PathPatternConfig=elb.PathPatternConfig(Values=[pattern])
    )


def origin_condition(secret: str) -> elb.Condition:
    """Requests carrying the origin-verify header; `secret` names the parameter or
    resource whose value is the secret's ARN (read by dynamic reference)."""
    return elb.Condition(
        Field="http-header",
        HttpHeaderConfig=elb.HttpHeaderConfig(
            HttpHeaderName=ORIGIN_HEADER, Values=[Sub("{{resolve:secretsmanager:${%s}}}" % secret)]
        ),
    )
