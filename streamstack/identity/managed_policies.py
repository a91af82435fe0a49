"""The AWS managed policies the platform's roles attach, as AWS publishes them.

The workload boundary must allow what these grant, so the boundary is derived from
their documents too. Only policies listed here may be attached (the execution role's
iam:PolicyARN condition names exactly the attached ones); attaching another one fails
the build until its document is added here.

Source: the IAM console's "Policy versions" of each policy (AWS managed policies change
rarely and keep their name; compare the default version when AWS announces an update).
"""

from __future__ import annotations

import re

DOCUMENTS = {
    # Version v1 (2019-05-14 onwards): Enhanced Monitoring writes OS metrics to the
    # RDSOSMetrics log group.
    "service-role/AmazonRDSEnhancedMonitoringRole": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EnableCreationAndManagementOfRDSCloudwatchLogGroups",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:PutRetentionPolicy"],
                "Resource": ["arn:aws:logs:*:*:log-group:RDS*"],
            },
            {
                "Sid": "EnableCreationAndManagementOfRDSCloudwatchLogStreams",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                    "logs:GetLogEvents",
                ],
                "Resource": ["arn:aws:logs:*:*:log-group:RDS*:log-stream:*"],
            },
        ],
    },
}
_AWS_MANAGED = re.compile(r"^arn:(?:\$\{AWS::Partition\}|aws[a-z-]*):iam::aws:policy/(.+)$")


def document(arn: str | None) -> dict:
    """The policy document of an AWS managed policy ARN (literal or Fn::Sub text)."""
    match = _AWS_MANAGED.match(arn or "")
    if match is None or match.group(1) not in DOCUMENTS:
        raise ValueError(
            f"managed policy {arn} has no document in "
            "streamstack/identity/managed_policies.py: add it, so the workload "
            "boundary allows what it grants"
        )
    return DOCUMENTS[match.group(1)]
