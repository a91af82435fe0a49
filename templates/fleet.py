"""fleet (toggle, off by default): an EC2 design of the application tier beside the
Fargate services. An Auto Scaling group of Amazon Linux 2023 instances in the app subnets,
each running nginx (answering /health) with the CloudWatch agent shipping its logs,
behind its own target group and listener rule on the load-balancer tier's ALB listener.

Launch-template changes roll through the group one instance at a time
(AutoScalingRollingUpdate): a new instance must signal that /health answers before
the next old one goes, and a failed roll-out rolls back.
"""

from __future__ import annotations

from awacs import cloudwatch as cw_actions
from awacs import kms as kms_actions
from awacs import logs as logs_actions
from awacs import s3 as s3_actions
from awacs.aws import Allow, Condition, Statement, StringEquals
from troposphere import (
    Base64,
    GetAtt,
    Join,
    Ref,
    Select,
    Split,
    Sub,
    autoscaling,
    ec2,
)
from troposphere import (
    elasticloadbalancingv2 as elb,
)
from troposphere.policies import (
    AutoScalingRollingUpdate,
    CreationPolicy,
    ResourceSignal,
    UpdatePolicy,
)

from templates.base import LOG_RETENTION_DAYS, Equals, If, Tier
from templates.parts.iam import instance_profile, service_role
from templates.parts.listeners import ORIGIN_HEADER, origin_condition, path_condition
from templates.parts.logs import log_group

AL2023_AMI = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
INSTANCE_TYPES = [
    "t3.micro",
    "t3.small",
    "t3.medium",
    "t3.large",
    "m7i.large",
    "m7i.xlarge",
    "c7i.large",
    "c7i.xlarge",
]
METRICS_NAMESPACE = "StreamStack/Fleet"

# nginx answers /health and every other path; the CloudWatch agent ships nginx logs to
# the fleet's log group and memory/disk metrics; a timer copies rotated logs to the
# app-logs bucket; cfn-signal reports the instance healthy (or not) to CloudFormation.
USER_DATA = r"""#!/bin/bash
set -euo pipefail
signal() {
  /opt/aws/bin/cfn-signal -e "$1" --stack '${AWS::StackName}' \
    --resource FleetAutoScalingGroup --region '${AWS::Region}' || true
}
trap 'signal 1' ERR
dnf install -y nginx amazon-cloudwatch-agent aws-cfn-bootstrap

cat > /etc/nginx/nginx.conf <<'NGINX'
user nginx;
worker_processes auto;
error_log /var/log/nginx/error.log;
pid /run/nginx.pid;
events { worker_connections 1024; }
http {
  server_tokens off;
  log_format main '$remote_addr [$time_local] "$request" $status $body_bytes_sent '
                  '"$http_user_agent" "$http_x_forwarded_for" $request_time';
  access_log /var/log/nginx/access.log main;
  server {
    listen 80 default_server;
    location = /health { access_log off; default_type text/plain; return 200 "ok\n"; }
    location / { default_type text/plain; return 200 "streamstack fleet\n"; }
  }
}
NGINX

cat > /opt/aws/amazon-cloudwatch-agent/etc/fleet.json <<'AGENT'
{"logs": {"logs_collected": {"files": {"collect_list": [
   {"file_path": "/var/log/nginx/access.log", "log_group_name": "${FleetLogGroup}",
    "log_stream_name": "{instance_id}/nginx-access"},
   {"file_path": "/var/log/nginx/error.log", "log_group_name": "${FleetLogGroup}",
    "log_stream_name": "{instance_id}/nginx-error"}]}}},
 "metrics": {"namespace": "${Namespace}", "metrics_collected": {
   "mem": {"measurement": ["mem_used_percent"]},
   "disk": {"measurement": ["used_percent"], "resources": ["/"]}}}}
AGENT

cat > /usr/local/bin/ship-rotated-logs <<'SHIP'
#!/bin/bash
set -euo pipefail
token=$(curl -sf -X PUT http://169.254.169.254/latest/api/token \
  -H "X-aws-ec2-metadata-token-ttl-seconds: 60")
instance=$(curl -sf -H "X-aws-ec2-metadata-token: $token" \
  http://169.254.169.254/latest/meta-data/instance-id)
for file in /var/log/nginx/*.gz; do
  [ -e "$file" ] || continue
  aws s3 cp "$file" "s3://${AppLogsBucket}/fleet/$instance/" && rm -f "$file"
done
SHIP
chmod 0755 /usr/local/bin/ship-rotated-logs
cat > /etc/systemd/system/ship-rotated-logs.service <<'UNIT'
[Unit]
Description=Copy rotated nginx logs to the app-logs bucket
[Service]
Type=oneshot
ExecStart=/usr/local/bin/ship-rotated-logs
UNIT
cat > /etc/systemd/system/ship-rotated-logs.timer <<'UNIT'
[Unit]
Description=Copy rotated nginx logs to the app-logs bucket every hour
[Timer]
OnCalendar=hourly
RandomizedDelaySec=600
[Install]
WantedBy=timers.target
UNIT

systemctl daemon-reload
systemctl enable --now nginx ship-rotated-logs.timer
/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s \
  -c file:/opt/aws/amazon-cloudwatch-agent/etc/fleet.json
for attempt in $(seq 1 30); do
  curl -sf http://127.0.0.1/health >/dev/null && break
  sleep 2
done
curl -sf http://127.0.0.1/health >/dev/null
signal 0
"""


class FleetTier(Tier):
    name = "fleet"
    description = "Optional EC2 Auto Scaling group behind the ALB (Amazon Linux 2023, nginx)"

    def build(self) -> None:
        self.enabled = self.toggle(
            "Fleet",
            "Fleet",
            "disabled",
            "enabled: an EC2 Auto Scaling group behind the ALB on "
            "FleetPathPattern, reaching Aurora like the tasks; disabled: no instances. Off "
            "in every params file: the Fargate services are the application tier, and the "
            "fleet an alternative design kept deployable.",
        )
        self.app_subnets = self.wired(
            "AppSubnetIds",
            "network",
            Type="List<AWS::EC2::Subnet::Id>",
            Description="App subnets of the instances (network tier).",
        )
        self.vpc = self.wired(
            "VpcId",
            "network",
            Type="AWS::EC2::VPC::Id",
            Description="VPC of the target group (network tier).",
        )
        self.security_group = self.wired(
            "FleetSecurityGroupId",
            "security",
            Type="AWS::EC2::SecurityGroup::Id",
            Description="Security group of the instances: port 80 from the ALB (security tier).",
        )
        self.logs_bucket = self.wired(
            "AppLogsBucketArn",
            "storage",
            Type="String",
            Description="ARN of the app-logs bucket (storage tier).",
        )
        self.storage_key = self.wired(
            "StorageKeyArn",
            "security",
            Type="String",
            Description="ARN of the storage KMS key (security tier): bucket and log group.",
        )
        self.log_group()
        self.role()
        self.launch_template()
        self.load_balancing()
        self.group()

    def _output(self, name: str, value, description: str) -> None:
        self.output(name, If(self.enabled, value, ""), f"{description} (empty when disabled)")

    # -- logs and role -----------------------------------------------------------
    def log_group(self) -> None:
        retention = self.parameter(
            "FleetLogRetentionDays",
            "Fleet",
            Type="Number",
            AllowedValues=LOG_RETENTION_DAYS,
            Default=30,
            Description="Days to keep the instances' nginx logs in CloudWatch.",
        )
        log_group(
            self, "FleetLogGroup", "fleet", retention, self.storage_key, Condition=self.enabled
        )

    def role(self) -> None:
        log_group = GetAtt("FleetLogGroup", "Arn")
        role = service_role(
            self,
            "FleetRole",
            "ec2.amazonaws.com",
            "fleet",
            [
                Statement(
                    Sid="WriteAppLogs",
                    Effect=Allow,
                    Action=[s3_actions.PutObject],
                    Resource=[Join("", [self.logs_bucket, "/fleet/*"])],
                ),
                Statement(
                    Sid="OwnLogGroup",
                    Effect=Allow,
                    Action=[
                        logs_actions.CreateLogGroup,
                        logs_actions.CreateLogStream,
                        logs_actions.PutLogEvents,
                        logs_actions.DescribeLogStreams,
                    ],
                    Resource=[log_group],
                ),
                # PutMetricData has no resource-level permissions; the namespace condition
                # keeps the instances to their own metrics.
                Statement(
                    Sid="OwnMetrics",
                    Effect=Allow,
                    Action=[cw_actions.PutMetricData],
                    Resource=["*"],
                    Condition=Condition(StringEquals("cloudwatch:namespace", METRICS_NAMESPACE)),
                ),
                Statement(
                    Sid="StorageKey",
                    Effect=Allow,
                    Action=[kms_actions.Decrypt, kms_actions.GenerateDataKey],
                    Resource=[self.storage_key],
                ),
            ],
            policy_name="fleet-instance",
            condition=self.enabled,
            MaxSessionDuration=3600,
        )
        self.suppress(
            role,
            checkov={
                "CKV_AWS_111": "cloudwatch:PutMetricData has no resource-level permissions; it "
                f"is limited to the {METRICS_NAMESPACE} namespace by condition."
            },
        )
        instance_profile(self, "FleetInstanceProfile", "FleetRole", condition=self.enabled)
        self._output("FleetRoleArn", GetAtt("FleetRole", "Arn"), "ARN of the instances' role")

    # -- instances ---------------------------------------------------------------
    def launch_template(self) -> None:
        # The root resolves the SSM parameter on every deploy and passes the AMI id here:
        # a new AMI changes this stack's parameter, so the launch template and the group
        # roll. (Declared SSM-typed here too, the id would be looked up as a name.)
        ami = self.parameter(
            "FleetAmiId",
            "Fleet",
            Type="AWS::EC2::Image::Id",
            Description="AMI of the instances, resolved by the root stack from its "
            "FleetAmiId SSM parameter on every deploy.",
            root=dict(
                Type="AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
                Default=AL2023_AMI,
                Description="SSM parameter naming the fleet's AMI (default: the public "
                "parameter of the latest Amazon Linux 2023, x86_64). Resolved on "
                "every deploy: a new AMI rolls through the group.",
            ),
        )
        instance_type = self.parameter(
            "FleetInstanceType",
            "Fleet",
            Type="String",
            AllowedValues=INSTANCE_TYPES,
            Default="t3.micro",
            Description="Instance type (x86_64, to match the AMI).",
        )
        bucket_name = Select(5, Split(":", self.logs_bucket))
        self.add(
            ec2.LaunchTemplate(
                "FleetLaunchTemplate",
                Condition=self.enabled,
                LaunchTemplateData=ec2.LaunchTemplateData(
                    ImageId=ami,
                    InstanceType=instance_type,
                    IamInstanceProfile=ec2.IamInstanceProfile(
                        Arn=GetAtt("FleetInstanceProfile", "Arn")
                    ),
                    SecurityGroupIds=[self.security_group],
                    MetadataOptions=ec2.MetadataOptions(
                        HttpEndpoint="enabled",
                        HttpTokens="required",
                        HttpPutResponseHopLimit=1,
                        InstanceMetadataTags="disabled",
                    ),
                    # The AWS-managed EBS key: a customer key would need a key-policy grant
                    # for the Auto Scaling service-linked role.
                    BlockDeviceMappings=[
                        ec2.LaunchTemplateBlockDeviceMapping(
                            DeviceName="/dev/xvda",
                            Ebs=ec2.EBSBlockDevice(
                                VolumeType="gp3",
                                VolumeSize=8,
                                Encrypted=True,
                                DeleteOnTermination=True,
                            ),
                        )
                    ],
                    Monitoring=ec2.Monitoring(Enabled=True),
                    UserData=Base64(
                        Sub(USER_DATA, AppLogsBucket=bucket_name, Namespace=METRICS_NAMESPACE)
                    ),
                    TagSpecifications=[
                        ec2.TagSpecifications(ResourceType=kind, Tags=self.tags(prefix, "fleet"))
                        for kind, prefix in (("instance", "ec2"), ("volume", "ebs"))
                    ],
                ),
                TagSpecifications=[
                    ec2.TagSpecifications(
                        ResourceType="launch-template", Tags=self.tags("lt", "fleet")
                    )
                ],
            )
        )

    def load_balancing(self) -> None:
        listener = self.wired(
            "AlbListenerArn",
            "load-balancer",
            Type="String",
            Description="The ALB's serving listener (load-balancer tier).",
        )
        # Read through the dynamic reference below.
        self.wired(
            "OriginVerifySecretArn",
            "load-balancer",
            Type="String",
            Description=f"Secret holding the {ORIGIN_HEADER} value (load-balancer tier).",
        )
        enforced = self.wired(
            "OriginVerifyEnforced",
            "load-balancer",
            Type="String",
            AllowedValues=["true", "false"],
            Description=f"Whether the ALB requires {ORIGIN_HEADER} (load-balancer tier).",
        )
        pattern = self.parameter(
            "FleetPathPattern",
            "Fleet",
            Type="String",
            Default="/fleet/*",
            AllowedPattern=r"^/[A-Za-z0-9_.~*/?-]*$",
            Description="Path pattern the ALB sends to the fleet (rule FleetRulePriority, "
            "ahead of the api (10) and web (20) rules).",
        )
        priority = self.parameter(
            "FleetRulePriority",
            "Fleet",
            Type="Number",
            Default=5,
            MinValue=1,
            MaxValue=9,
            Description="Priority of the fleet's listener rule; 1-9 stay ahead of api and web.",
        )
        self.condition("FleetOriginVerify", Equals(enforced, "true"))
        self.add(
            elb.TargetGroup(
                "FleetTargetGroup",
                Condition=self.enabled,
                TargetType="instance",
                Protocol="HTTP",
                Port=80,
                VpcId=self.vpc,
                HealthCheckEnabled=True,
                HealthCheckPath="/health",
                HealthCheckProtocol="HTTP",
                HealthCheckIntervalSeconds=30,
                HealthCheckTimeoutSeconds=5,
                HealthyThresholdCount=2,
                UnhealthyThresholdCount=2,
                Matcher=elb.Matcher(HttpCode="200"),
                TargetGroupAttributes=[
                    elb.TargetGroupAttribute(Key="deregistration_delay.timeout_seconds", Value="60")
                ],
                Tags=self.tags("tg", "fleet"),
            )
        )
        path = path_condition(pattern)
        origin = origin_condition("OriginVerifySecretArn")
        self.add(
            elb.ListenerRule(
                "FleetListenerRule",
                Condition=self.enabled,
                ListenerArn=listener,
                Priority=priority,
                Conditions=If("FleetOriginVerify", [path, origin], [path]),
                Actions=[
                    elb.ListenerRuleAction(Type="forward", TargetGroupArn=Ref("FleetTargetGroup"))
                ],
            )
        )
        self._output(
            "FleetTargetGroupArn", Ref("FleetTargetGroup"), "ARN of the fleet's target group"
        )
        self._output(
            "FleetTargetGroupFullName",
            GetAtt("FleetTargetGroup", "TargetGroupFullName"),
            "targetgroup/<name>/<id> of the fleet's target group (CloudWatch)",
        )

    def group(self) -> None:
        minimum = self.parameter(
            "FleetMinSize",
            "Fleet",
            Type="Number",
            Default=3,
            MinValue=0,
            MaxValue=100,
            Description="Fewest instances.",
        )
        maximum = self.parameter(
            "FleetMaxSize",
            "Fleet",
            Type="Number",
            Default=20,
            MinValue=1,
            MaxValue=100,
            Description="Most instances; keep it above FleetMinSize so a rolling update can "
            "add a new instance before removing an old one.",
        )
        desired = self.parameter(
            "FleetDesiredCapacity",
            "Fleet",
            Type="Number",
            Default=3,
            MinValue=0,
            MaxValue=100,
            Description="Instances at creation (autoscaling moves it after).",
        )
        group = autoscaling.AutoScalingGroup(
            "FleetAutoScalingGroup",
            Condition=self.enabled,
            DependsOn=["FleetListenerRule"],
            VPCZoneIdentifier=self.app_subnets,
            LaunchTemplate=autoscaling.LaunchTemplateSpecification(
                LaunchTemplateId=Ref("FleetLaunchTemplate"),
                Version=GetAtt("FleetLaunchTemplate", "LatestVersionNumber"),
            ),
            MinSize=minimum,
            MaxSize=maximum,
            DesiredCapacity=desired,
            HealthCheckType="ELB",
            HealthCheckGracePeriod=300,
            TargetGroupARNs=[Ref("FleetTargetGroup")],
            MetricsCollection=[autoscaling.MetricsCollection(Granularity="1Minute")],
            Tags=[autoscaling.Tag("Name", self.physical_name("asg", "fleet"), False)],
            CreationPolicy=CreationPolicy(
                ResourceSignal=ResourceSignal(Count=desired, Timeout="PT15M")
            ),
            UpdatePolicy=UpdatePolicy(
                AutoScalingRollingUpdate=AutoScalingRollingUpdate(
                    MinInstancesInService=minimum,
                    MaxBatchSize=1,
                    PauseTime="PT15M",
                    WaitOnResourceSignals=True,
                    SuspendProcesses=[
                        "HealthCheck",
                        "ReplaceUnhealthy",
                        "AZRebalance",
                        "AlarmNotification",
                        "ScheduledActions",
                    ],
                )
            ),
        )
        self.add(group)
        self.add(
            autoscaling.ScalingPolicy(
                "FleetCpuScaling",
                Condition=self.enabled,
                AutoScalingGroupName=Ref("FleetAutoScalingGroup"),
                PolicyType="TargetTrackingScaling",
                TargetTrackingConfiguration=autoscaling.TargetTrackingConfiguration(
                    PredefinedMetricSpecification=autoscaling.PredefinedMetricSpecification(
                        PredefinedMetricType="ASGAverageCPUUtilization"
                    ),
                    TargetValue=70,
                ),
            )
        )
        self._output(
            "FleetAutoScalingGroupName",
            Ref("FleetAutoScalingGroup"),
            "Name of the fleet's Auto Scaling group",
        )
        self._output(
            "FleetAutoScalingGroupArn",
            GetAtt("FleetAutoScalingGroup", "AutoScalingGroupARN"),
            "ARN of the fleet's Auto Scaling group",
        )
