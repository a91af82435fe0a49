"""The edge stack's outputs as the root receives them: deploy.py reads them from the
edge stack in us-east-1 and passes them as deploy-time parameters, declared the same
way by every tier that reads them (no export crosses regions)."""

from __future__ import annotations

EDGE_OUTPUTS = {
    "CdnCertificateArn": (
        r"^(arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate/[0-9a-f-]+)?$",
        "ACM certificate for cdn.<domain> in us-east-1 (edge stack output, passed by "
        "deploy.py). Empty: CloudFront uses its default certificate and no alias.",
    ),
    "CdnWebAclArn": (
        r"^(arn:aws[a-z-]*:wafv2:us-east-1:[0-9]{12}:global/webacl/[^\s]+)?$",
        "CloudFront-scope WAF web ACL (edge stack output, passed by deploy.py). Empty: "
        "the distribution runs without WAF.",
    ),
}


def edge_output_parameter(tier, name: str):
    """A parameter fed by the edge stack's output `name` (deploy.py resolves it)."""
    pattern, description = EDGE_OUTPUTS[name]
    return tier.from_other_stack(name, pattern, description, "empty, or an ARN in us-east-1")
