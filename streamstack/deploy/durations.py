"""How long CloudFormation takes per resource: a table of typical seconds per type to
start with, replaced type by type by what this environment's own deploys measured
(kept in the artifact bucket with the plans, streamstack/deploy/history.py).

The table holds what these types usually take in CloudFormation (its own waits
included: an ECS service waits for its tasks to be stable, a certificate for DNS
validation, a record set for Route 53 to be in sync). It is a starting point for the
estimate, not a promise; the measured medians take over after the first deploys.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

CREATE, UPDATE, DELETE = "create", "update", "delete"
OPERATIONS = (CREATE, UPDATE, DELETE)
# Samples kept per type and operation; the estimate uses their median.
KEEP = 5

# type -> seconds to (create, update, delete)
TABLE: dict[str, tuple[int, int, int]] = {
    "AWS::ApiGatewayV2::Api": (5, 5, 5),
    "AWS::ApiGatewayV2::Integration": (3, 3, 3),
    "AWS::ApiGatewayV2::Route": (3, 3, 3),
    "AWS::ApiGatewayV2::Stage": (5, 5, 5),
    "AWS::ApplicationAutoScaling::ScalableTarget": (30, 30, 30),
    "AWS::ApplicationAutoScaling::ScalingPolicy": (10, 10, 10),
    "AWS::AutoScaling::AutoScalingGroup": (240, 300, 240),
    "AWS::AutoScaling::ScalingPolicy": (10, 10, 5),
    "AWS::Backup::BackupPlan": (5, 5, 5),
    "AWS::Backup::BackupSelection": (10, 10, 10),
    "AWS::Backup::BackupVault": (10, 5, 10),
    "AWS::Backup::RestoreTestingPlan": (5, 5, 5),
    "AWS::Backup::RestoreTestingSelection": (5, 5, 5),
    "AWS::Budgets::Budget": (5, 5, 5),
    "AWS::CE::AnomalyMonitor": (10, 10, 5),
    "AWS::CE::AnomalySubscription": (10, 10, 5),
    "AWS::CertificateManager::Certificate": (240, 30, 10),
    # the database-user function: one Lambda invocation that signs in to Aurora
    "AWS::CloudFormation::CustomResource": (30, 30, 15),
    "AWS::CloudFormation::Stack": (15, 15, 15),  # the nested stack's own events
    "AWS::CloudFront::CachePolicy": (5, 5, 5),
    "AWS::CloudFront::Distribution": (360, 360, 900),  # deleting disables it first
    "AWS::CloudFront::OriginAccessControl": (5, 5, 5),
    "AWS::CloudFront::ResponseHeadersPolicy": (5, 5, 5),
    "AWS::CloudFront::VpcOrigin": (300, 300, 300),  # deployed to the edge like a distribution
    "AWS::CloudWatch::Alarm": (5, 5, 5),
    "AWS::CloudWatch::CompositeAlarm": (5, 5, 5),
    "AWS::CloudWatch::Dashboard": (5, 5, 5),
    "AWS::DynamoDB::Table": (30, 30, 30),
    "AWS::EC2::EIP": (10, 10, 10),
    "AWS::EC2::FlowLog": (15, 10, 10),
    "AWS::EC2::InternetGateway": (15, 15, 15),
    "AWS::EC2::LaunchTemplate": (5, 5, 5),
    "AWS::EC2::NatGateway": (110, 110, 60),
    "AWS::EC2::Route": (5, 5, 5),
    "AWS::EC2::RouteTable": (5, 5, 5),
    "AWS::EC2::SecurityGroup": (10, 10, 30),  # a delete waits for network interfaces
    "AWS::EC2::SecurityGroupEgress": (5, 5, 5),
    "AWS::EC2::SecurityGroupIngress": (5, 5, 5),
    "AWS::EC2::Subnet": (10, 10, 10),
    "AWS::EC2::SubnetRouteTableAssociation": (5, 5, 5),
    "AWS::EC2::VPC": (15, 10, 10),
    "AWS::EC2::VPCEndpoint": (90, 60, 90),
    "AWS::EC2::VPCGatewayAttachment": (20, 20, 20),
    "AWS::ECR::Repository": (5, 5, 5),
    "AWS::ECS::Cluster": (15, 10, 15),
    "AWS::ECS::Service": (180, 300, 180),  # waits for its tasks to be stable
    "AWS::ECS::TaskDefinition": (5, 5, 5),
    "AWS::EFS::AccessPoint": (10, 10, 10),
    "AWS::EFS::FileSystem": (15, 10, 15),
    "AWS::EFS::MountTarget": (90, 30, 90),
    "AWS::ElastiCache::ParameterGroup": (5, 5, 5),
    "AWS::ElastiCache::ReplicationGroup": (720, 900, 600),
    "AWS::ElastiCache::SubnetGroup": (5, 5, 5),
    "AWS::ElasticLoadBalancingV2::Listener": (5, 5, 5),
    "AWS::ElasticLoadBalancingV2::ListenerRule": (5, 5, 5),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": (180, 30, 30),
    "AWS::ElasticLoadBalancingV2::TargetGroup": (10, 10, 10),
    "AWS::Events::Archive": (20, 10, 10),
    "AWS::Events::EventBus": (5, 5, 5),
    "AWS::Events::Rule": (10, 10, 10),
    "AWS::IAM::InstanceProfile": (120, 60, 60),
    "AWS::IAM::ManagedPolicy": (15, 15, 10),
    "AWS::IAM::OIDCProvider": (5, 5, 5),
    "AWS::IAM::Role": (15, 15, 10),
    "AWS::KMS::Alias": (5, 5, 5),
    "AWS::KMS::Key": (15, 10, 10),
    "AWS::Lambda::Function": (20, 15, 10),
    "AWS::Lambda::Permission": (5, 5, 5),
    "AWS::Logs::LogGroup": (5, 5, 5),
    "AWS::Logs::MetricFilter": (5, 5, 5),
    "AWS::MediaConvert::JobTemplate": (5, 5, 5),
    "AWS::RDS::DBCluster": (300, 300, 300),
    "AWS::RDS::DBClusterParameterGroup": (10, 10, 5),
    "AWS::RDS::DBInstance": (600, 900, 420),
    "AWS::RDS::DBParameterGroup": (10, 10, 5),
    "AWS::RDS::DBSubnetGroup": (5, 5, 5),
    # turning the cluster into a global database's primary
    "AWS::RDS::GlobalCluster": (180, 60, 120),
    "AWS::Route53::HealthCheck": (10, 10, 10),
    "AWS::Route53::HostedZone": (60, 10, 60),
    "AWS::Route53::RecordSet": (60, 60, 60),  # waits for Route 53 to be in sync
    "AWS::S3::Bucket": (25, 15, 20),
    "AWS::S3::BucketPolicy": (5, 5, 5),
    "AWS::SNS::Subscription": (5, 5, 5),
    "AWS::SNS::Topic": (10, 10, 10),
    "AWS::SNS::TopicPolicy": (5, 5, 5),
    "AWS::SQS::Queue": (30, 10, 60),
    "AWS::SQS::QueuePolicy": (5, 5, 5),
    "AWS::Scheduler::Schedule": (5, 5, 5),
    "AWS::SecretsManager::RotationSchedule": (10, 10, 5),  # no rotation on create
    "AWS::SecretsManager::Secret": (10, 10, 10),
    "AWS::WAFv2::LoggingConfiguration": (10, 10, 10),
    "AWS::WAFv2::WebACL": (15, 15, 15),
}
DEFAULT = (15, 10, 10)  # a type the table does not know yet


def _types(count: int) -> str:
    return f"{count} resource type{'' if count == 1 else 's'}"


@dataclass
class Durations:
    """Seconds per type and operation: measured medians where this environment has
    them, else the table. measured: type -> operation -> samples (seconds)."""

    measured: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    environment: str = ""
    used: dict[str, str] = field(default_factory=dict, init=False)  # type -> its source

    def seconds(self, resource_type: str, operation: str) -> float:
        samples = self.measured.get(resource_type, {}).get(operation)
        if samples:
            self.used[resource_type] = "measured"
            return float(statistics.median(samples))
        self.used.setdefault(resource_type, "table")
        return float(TABLE.get(resource_type, DEFAULT)[OPERATIONS.index(operation)])

    def source(self) -> str:
        """Where the estimate's numbers came from, for the plan."""
        measured = sum(1 for s in self.used.values() if s == "measured")
        table = len(self.used) - measured
        if not measured:
            return (
                f"{_types(table)} from the repository's table (no deploy of "
                f"{self.environment or 'this environment'} measured yet)"
            )
        return (
            f"{_types(measured)} measured by {self.environment}'s own deploys, "
            f"{_types(table)} from the repository's table"
        )

    def record(self, samples: list[tuple[str, str, float]]) -> None:
        """Add (type, operation, seconds) measurements, keeping the newest KEEP."""
        for resource_type, operation, seconds in samples:
            kept = self.measured.setdefault(resource_type, {}).setdefault(operation, [])
            kept.append(round(seconds, 1))
            del kept[:-KEEP]

    def to_json(self) -> dict:
        return {"version": 1, "environment": self.environment, "types": self.measured}

    @classmethod
    def from_json(cls, data, environment: str = "") -> Durations:
        """Tolerant of anything malformed: bad entries are dropped, never trusted."""
        measured: dict[str, dict[str, list[float]]] = {}
        types = data.get("types") if isinstance(data, dict) else None
        for resource_type, operations in (types or {}).items():
            if not isinstance(operations, dict):
                continue
            for operation, samples in operations.items():
                if operation not in OPERATIONS or not isinstance(samples, list):
                    continue
                good = [
                    float(s)
                    for s in samples
                    if isinstance(s, (int, float)) and not isinstance(s, bool) and 0 <= s < 86400
                ]
                if good:
                    measured.setdefault(str(resource_type), {})[operation] = good[-KEEP:]
        return cls(measured, environment)
