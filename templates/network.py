"""network: VPC, three AZs x public/app/data subnets, IGW, NAT, routes, VPC endpoints.

The data subnets are isolated: their route tables have no route out of the VPC (no NAT,
no internet gateway). Aurora and ElastiCache answer only clients inside the VPC and
need nothing outside it; what else reaches AWS from there goes through the S3 and
DynamoDB gateway endpoints on those tables.

Flow logs live in the security tier (they need the logs key, and security already
reads this tier's VPC; the reverse dependency would be a cycle). The endpoints
security group lives here beside the interface endpoints for the same reason.
"""

from __future__ import annotations

from troposphere import GetAtt, GetAZs, Join, Ref, Select, Sub, ec2

from templates.base import AWS_NO_VALUE, CIDR_PATTERN, Equals, If, Not, Tier
from templates.parts.regions import AZS

LAYERS = {  # layer -> (default third octets, purpose)
    "Public": ((1, 2, 3), "load balancers and NAT gateways"),
    "App": ((11, 12, 13), "ECS tasks, EC2 fleet, EFS mount targets, interface endpoints"),
    "Data": ((21, 22, 23), "Aurora, ElastiCache; isolated, no route out of the VPC"),
}
GATEWAY_ENDPOINTS = ("s3", "dynamodb")
INTERFACE_ENDPOINTS = ("ecr.api", "ecr.dkr", "logs", "secretsmanager", "sts")


class NetworkTier(Tier):
    name = "network"
    description = "VPC, subnets in three AZs, internet and NAT gateways, routes, VPC endpoints"

    def build(self) -> None:
        self.vpc()
        self.subnets()
        self.internet_gateway()
        self.nat_gateways()
        self.private_routes()
        self.isolated_routes()
        self.gateway_endpoints()
        self.interface_endpoints()

    # -- VPC ---------------------------------------------------------------------
    def vpc(self) -> None:
        cidr = self.parameter(
            "VpcCidr",
            "Network",
            "VPC CIDR",
            Type="String",
            Default="10.0.0.0/16",
            AllowedPattern=CIDR_PATTERN,
            ConstraintDescription="an IPv4 CIDR block between /16 and /28, e.g. 10.0.0.0/16",
            Description="IPv4 CIDR of the VPC. Give each region of a StackSet its own block "
            "so the VPCs can be peered.",
        )
        self.add(
            ec2.VPC(
                "Vpc",
                CidrBlock=cidr,
                EnableDnsHostnames=True,
                EnableDnsSupport=True,
                Tags=self.tags("vpc", "main"),
            )
        )
        self.output("VpcId", Ref("Vpc"), "ID of the VPC")
        self.output("VpcCidr", GetAtt("Vpc", "CidrBlock"), "IPv4 CIDR block of the VPC")

    def subnets(self) -> None:
        for layer, (octets, purpose) in LAYERS.items():
            for az, octet in zip(AZS, octets, strict=True):
                cidr = self.parameter(
                    f"{layer}Subnet{az}Cidr",
                    "Network",
                    Type="String",
                    Default=f"10.0.{octet}.0/24",
                    AllowedPattern=CIDR_PATTERN,
                    ConstraintDescription="an IPv4 CIDR block inside VpcCidr",
                    Description=f"CIDR of the {layer.lower()} subnet in AZ {az} ({purpose}).",
                )
                self.add(
                    ec2.Subnet(
                        f"{layer}Subnet{az}",
                        VpcId=Ref("Vpc"),
                        CidrBlock=cidr,
                        AvailabilityZone=Select(az - 1, GetAZs("")),
                        # No subnet hands out public IPs: the ALB and NAT use their own addresses.
                        MapPublicIpOnLaunch=False,
                        Tags=self.tags("subnet", f"{layer.lower()}-{az}", Tier=layer.lower()),
                    )
                )
            ids = [Ref(f"{layer}Subnet{az}") for az in AZS]
            self.output(
                f"{layer}SubnetIds",
                Join(",", ids),
                f"Comma-separated IDs of the three {layer.lower()} subnets ({purpose})",
            )
            for az in AZS:
                self.output(
                    f"{layer}Subnet{az}Id",
                    Ref(f"{layer}Subnet{az}"),
                    f"ID of the {layer.lower()} subnet in AZ {az}",
                )

    # -- internet access ---------------------------------------------------------
    def internet_gateway(self) -> None:
        self.add(ec2.InternetGateway("InternetGateway", Tags=self.tags("igw", "main")))
        self.add(
            ec2.VPCGatewayAttachment(
                "InternetGatewayAttachment",
                VpcId=Ref("Vpc"),
                InternetGatewayId=Ref("InternetGateway"),
            )
        )
        self.add(
            ec2.RouteTable("PublicRouteTable", VpcId=Ref("Vpc"), Tags=self.tags("rtb", "public"))
        )
        self.add(
            ec2.Route(
                "PublicDefaultRoute",
                DependsOn="InternetGatewayAttachment",
                RouteTableId=Ref("PublicRouteTable"),
                DestinationCidrBlock="0.0.0.0/0",
                GatewayId=Ref("InternetGateway"),
            )
        )
        for az in AZS:
            self.add(
                ec2.SubnetRouteTableAssociation(
                    f"PublicSubnet{az}RouteTableAssociation",
                    SubnetId=Ref(f"PublicSubnet{az}"),
                    RouteTableId=Ref("PublicRouteTable"),
                )
            )
        self.output("InternetGatewayId", Ref("InternetGateway"), "ID of the internet gateway")
        self.output("PublicRouteTableId", Ref("PublicRouteTable"), "ID of the public route table")

    def nat_gateways(self) -> None:
        layout = self.parameter(
            "NatLayout",
            "Network",
            "NAT gateway layout",
            Type="String",
            AllowedValues=["single", "per-az", "none"],
            Default="single",
            Description="single: one NAT gateway in AZ 1 for every private subnet (cheap, "
            "one AZ's failure cuts egress). per-az: one per AZ (highly available). "
            "none: no NAT gateway and no internet egress from the app and data "
            "subnets; they reach S3 and DynamoDB through the gateway endpoints and "
            "other AWS services only through InterfaceEndpoints (images from ECR).",
        )
        self.condition("HasNat", Not(Equals(layout, "none")))
        self.condition("NatPerAz", Equals(layout, "per-az"))
        for az in AZS:
            condition = "HasNat" if az == 1 else "NatPerAz"
            self.add(
                ec2.EIP(
                    f"NatEip{az}",
                    Condition=condition,
                    Domain="vpc",
                    DependsOn="InternetGatewayAttachment",
                    Tags=self.tags("eip", f"nat-{az}"),
                )
            )
            self.add(
                ec2.NatGateway(
                    f"NatGateway{az}",
                    Condition=condition,
                    AllocationId=GetAtt(f"NatEip{az}", "AllocationId"),
                    SubnetId=Ref(f"PublicSubnet{az}"),
                    Tags=self.tags("nat", str(az)),
                )
            )
        self.output(
            "NatGatewayIds",
            If(
                "HasNat",
                Join(
                    ",",
                    [
                        Ref("NatGateway1"),
                        If("NatPerAz", Ref("NatGateway2"), Ref(AWS_NO_VALUE)),
                        If("NatPerAz", Ref("NatGateway3"), Ref(AWS_NO_VALUE)),
                    ],
                ),
                "",
            ),
            "Comma-separated IDs of the NAT gateways (one, one per AZ, or empty)",
        )
        self.output(
            "NatPublicIps",
            If(
                "HasNat",
                Join(
                    ",",
                    [
                        Ref("NatEip1"),
                        If("NatPerAz", Ref("NatEip2"), Ref(AWS_NO_VALUE)),
                        If("NatPerAz", Ref("NatEip3"), Ref(AWS_NO_VALUE)),
                    ],
                ),
                "",
            ),
            "Public IPs the private subnets egress from (for allow-lists elsewhere; "
            "empty without NAT)",
        )

    def private_routes(self) -> None:
        """One private route table per AZ for that AZ's app subnet; its default route goes
        to the AZ's NAT gateway (or the only one), none without NAT."""
        for az in AZS:
            self.add(
                ec2.RouteTable(
                    f"PrivateRouteTable{az}",
                    VpcId=Ref("Vpc"),
                    Tags=self.tags("rtb", f"private-{az}"),
                )
            )
            nat = (
                Ref("NatGateway1")
                if az == 1
                else If("NatPerAz", Ref(f"NatGateway{az}"), Ref("NatGateway1"))
            )
            self.add(
                ec2.Route(
                    f"PrivateDefaultRoute{az}",
                    Condition="HasNat",
                    RouteTableId=Ref(f"PrivateRouteTable{az}"),
                    DestinationCidrBlock="0.0.0.0/0",
                    NatGatewayId=nat,
                )
            )
            self._associate("App", az, f"PrivateRouteTable{az}")
        self.output(
            "PrivateRouteTableIds",
            Join(",", [Ref(f"PrivateRouteTable{az}") for az in AZS]),
            "Comma-separated IDs of the per-AZ private route tables (app subnets)",
        )

    def isolated_routes(self) -> None:
        """One route table per AZ for that AZ's data subnet, with no route out of the VPC:
        only the local route and the gateway endpoints."""
        for az in AZS:
            self.add(
                ec2.RouteTable(
                    f"DataRouteTable{az}",
                    VpcId=Ref("Vpc"),
                    Tags=self.tags("rtb", f"data-{az}", Isolation="no-internet-route"),
                )
            )
            self._associate("Data", az, f"DataRouteTable{az}")
        self.output(
            "DataRouteTableIds",
            Join(",", [Ref(f"DataRouteTable{az}") for az in AZS]),
            "Comma-separated IDs of the per-AZ route tables of the isolated data subnets",
        )

    def _associate(self, layer: str, az: int, table: str) -> None:
        self.add(
            ec2.SubnetRouteTableAssociation(
                f"{layer}Subnet{az}RouteTableAssociation",
                SubnetId=Ref(f"{layer}Subnet{az}"),
                RouteTableId=Ref(table),
            )
        )

    # -- endpoints ---------------------------------------------------------------
    def gateway_endpoints(self) -> None:
        for service in GATEWAY_ENDPOINTS:
            logical = f"{service.capitalize()}GatewayEndpoint"
            self.add(
                ec2.VPCEndpoint(
                    logical,
                    VpcId=Ref("Vpc"),
                    VpcEndpointType="Gateway",
                    ServiceName=Sub(f"com.amazonaws.${{AWS::Region}}.{service}"),
                    RouteTableIds=[
                        Ref(f"{table}RouteTable{az}") for table in ("Private", "Data") for az in AZS
                    ],
                )
            )
            self.output(f"{logical}Id", Ref(logical), f"ID of the {service} gateway endpoint")

    def interface_endpoints(self) -> None:
        enabled = self.toggle(
            "InterfaceEndpoints",
            "Network",
            "disabled",
            "enabled: private interface endpoints for ECR, CloudWatch Logs, Secrets Manager "
            "and STS in the app subnets (about 7 USD per endpoint per AZ per month); "
            "disabled: that traffic leaves through NAT.",
        )
        self.add(
            ec2.SecurityGroup(
                "EndpointsSecurityGroup",
                Condition=enabled,
                VpcId=Ref("Vpc"),
                GroupDescription="Interface VPC endpoints: HTTPS from inside the VPC",
                # A rule that matches nothing replaces the default allow-all egress:
                # endpoints never start connections.
                SecurityGroupEgress=[
                    ec2.SecurityGroupRule(
                        IpProtocol="icmp",
                        FromPort=252,
                        ToPort=86,
                        CidrIp="255.255.255.255/32",
                        Description="Disallow all egress",
                    )
                ],
                Tags=self.tags("sg", "endpoints"),
            )
        )
        self.add(
            ec2.SecurityGroupIngress(
                "EndpointsIngressHttpsFromVpc",
                Condition=enabled,
                GroupId=Ref("EndpointsSecurityGroup"),
                IpProtocol="tcp",
                FromPort=443,
                ToPort=443,
                CidrIp=GetAtt("Vpc", "CidrBlock"),
                Description="HTTPS from inside the VPC",
            )
        )
        for service in INTERFACE_ENDPOINTS:
            logical = "".join(p.capitalize() for p in service.split(".")) + "InterfaceEndpoint"
            self.add(
                ec2.VPCEndpoint(
                    logical,
                    Condition=enabled,
                    VpcId=Ref("Vpc"),
                    VpcEndpointType="Interface",
                    ServiceName=Sub(f"com.amazonaws.${{AWS::Region}}.{service}"),
                    PrivateDnsEnabled=True,
                    SubnetIds=[Ref(f"AppSubnet{az}") for az in AZS],
                    SecurityGroupIds=[Ref("EndpointsSecurityGroup")],
                )
            )
        self.output(
            "EndpointsSecurityGroupId",
            If(enabled, Ref("EndpointsSecurityGroup"), ""),
            "ID of the interface endpoints' security group (empty when disabled)",
        )
