"""Root outputs: at least 40, each described, covering the required list
(docs/requirements.md, outputs: every entry's tier is nested and outputs it through the
root), and nothing secret among them."""

import json
import re

import pytest

from templates import TIERS

# The required outputs, item by item: (what is asked for, owning tier, output names).
REQUIRED_OUTPUTS = [
    ("VPC ID and CIDR block", "network", ["VpcId", "VpcCidr"]),
    (
        "public and private subnet ID lists",
        "network",
        ["PublicSubnetIds", "AppSubnetIds", "DataSubnetIds"],
    ),
    ("Internet Gateway and NAT Gateway IDs", "network", ["InternetGatewayId", "NatGatewayIds"]),
    (
        "security group IDs for ALB, EC2 and Aurora",
        "security",
        [
            "AlbSecurityGroupId",
            "AppSecurityGroupId",
            "FleetSecurityGroupId",
            "DatabaseSecurityGroupId",
        ],
    ),
    (
        "S3 bucket names and ARNs",
        "storage",
        [f"{b}Bucket{a}" for b in ("Static", "AppLogs", "AccessLogs") for a in ("Name", "Arn")],
    ),
    (
        "KMS key IDs and ARNs",
        "security",
        ["DataKeyId", "DataKeyArn", "StorageKeyId", "StorageKeyArn"],
    ),
    (
        "Aurora cluster ID, endpoint and reader endpoint",
        "data",
        ["DbClusterIdentifier", "DbEndpoint", "DbReaderEndpoint"],
    ),
    (
        "ALB ARN, DNS name and target group ARN",
        "load-balancer",
        ["AlbArn", "AlbDnsName", "ApiTargetGroupArn"],
    ),
    (
        "Auto Scaling Group name and ARN",
        "fleet",
        ["FleetAutoScalingGroupName", "FleetAutoScalingGroupArn"],
    ),
    (
        "CloudFront distribution ID and domain name",
        "cdn",
        ["DistributionId", "DistributionDomainName"],
    ),
    ("Route 53 hosted zone ID and name servers", "dns", ["HostedZoneId", "HostedZoneNameServers"]),
    ("IAM role ARN for EC2 instances", "fleet", ["FleetRoleArn"]),
    (
        "CloudWatch alarm names",
        "observability",
        [
            "FleetCpuAlarmName",
            "AlbUnhealthyTargetsAlarmName",
            "AuroraCpuAlarmName",
            "Alb5xxRateAlarmName",
            "PlatformHealthAlarmName",
        ],
    ),
    ("SNS topic ARN", "observability", ["AlarmTopicArn"]),
]
NESTED = {tier.name for tier in TIERS}


@pytest.fixture(scope="module")
def outputs(rendered):
    return rendered["root"]["Outputs"]


def test_at_least_40_outputs_each_with_a_description(outputs):
    assert len(outputs) >= 40
    for name, output in outputs.items():
        assert len(output["Description"]) >= 10, name


@pytest.mark.parametrize(
    "what, tier, names", REQUIRED_OUTPUTS, ids=[s[0] for s in REQUIRED_OUTPUTS]
)
def test_required_outputs(outputs, rendered, what, tier, names):
    assert tier in NESTED, f"the {tier} tier that owns {what} is not nested in the root"
    assert [n for n in names if n not in outputs] == [], what
    for name in names:
        assert outputs[name]["Value"] == {
            "Fn::GetAtt": [
                "".join(p.capitalize() for p in tier.split("-")) + "Stack",
                f"Outputs.{name}",
            ]
        }


SECRET_NAME = re.compile(r"(Password|Token|SecretString|SecretValue|PrivateKey)", re.I)


def test_nothing_secret_is_an_output(rendered):
    for name in NESTED:
        for output_name, output in rendered[name].get("Outputs", {}).items():
            assert not SECRET_NAME.search(output_name), (name, output_name)
            value = json.dumps(output["Value"])
            assert "resolve:secretsmanager" not in value, (name, output_name)
            assert "SecretString" not in value and "MasterUserPassword" not in value
            # A secret's ARN is fine; the secret itself never is.
            if "Secret" in output_name:
                assert output_name.endswith("Arn"), (name, output_name)
