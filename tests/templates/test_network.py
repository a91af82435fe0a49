"""network tier: properties that matter, in dev and prod, plus a snapshot."""

import pytest

from tests.cfn import evaluate
from tests.conftest import assert_snapshot


@pytest.fixture(scope="module")
def net(rendered, env):
    return evaluate(rendered["network"], env)


def test_snapshot(rendered_text):
    assert_snapshot("network", rendered_text["network"])


def test_vpc_has_dns_and_default_cidr(net):
    vpc = net.props("Vpc")
    assert vpc["EnableDnsHostnames"] is True and vpc["EnableDnsSupport"] is True
    assert vpc["CidrBlock"] == "10.0.0.0/16"


def test_three_layers_of_three_subnets_in_distinct_azs(net):
    subnets = net.of_type("AWS::EC2::Subnet")
    assert len(subnets) == 9
    expected = {
        f"{layer}Subnet{az}": f"10.0.{base + az - 1}.0/24"
        for layer, base in (("Public", 1), ("App", 11), ("Data", 21))
        for az in (1, 2, 3)
    }
    assert {k: v["Properties"]["CidrBlock"] for k, v in subnets.items()} == expected
    for layer in ("Public", "App", "Data"):
        azs = [net.props(f"{layer}Subnet{az}")["AvailabilityZone"] for az in (1, 2, 3)]
        assert [a["Fn::Select"][0] for a in azs] == [0, 1, 2]
        assert all(a["Fn::Select"][1] == {"Fn::GetAZs": ""} for a in azs)


def test_no_subnet_maps_public_ips(net):
    assert all(
        s["Properties"]["MapPublicIpOnLaunch"] is False
        for s in net.of_type("AWS::EC2::Subnet").values()
    )


def test_nat_one_in_dev_one_per_az_in_prod(net, env):
    nats = net.of_type("AWS::EC2::NatGateway")
    eips = net.of_type("AWS::EC2::EIP")
    count = 1 if env == "dev" else 3
    assert len(nats) == count and len(eips) == count
    assert {n["Properties"]["SubnetId"]["Ref"] for n in nats.values()} == {
        f"PublicSubnet{az}" for az in range(1, count + 1)
    }


def test_private_route_per_az_points_at_the_right_nat(net, env):
    for az in (1, 2, 3):
        route = net.props(f"PrivateDefaultRoute{az}")
        assert route["RouteTableId"] == {"Ref": f"PrivateRouteTable{az}"}
        assert route["DestinationCidrBlock"] == "0.0.0.0/0"
        expected = "NatGateway1" if env == "dev" else f"NatGateway{az}"
        assert route["NatGatewayId"] == {"Ref": expected}
        assoc = net.props(f"AppSubnet{az}RouteTableAssociation")
        assert assoc["RouteTableId"] == {"Ref": f"PrivateRouteTable{az}"}


@pytest.mark.parametrize("layout", ["single", "per-az", "none"])
def test_data_subnets_have_no_route_out_of_the_vpc(rendered, env, layout):
    """Seed 004's isolated layer: whatever the NAT layout, no route of a data subnet's
    route table leaves the VPC except through the gateway endpoints."""
    ev = evaluate(rendered["network"], env, {"NatLayout": layout})
    for az in (1, 2, 3):
        table = ev.props(f"DataSubnet{az}RouteTableAssociation")["RouteTableId"]["Ref"]
        assert table == f"DataRouteTable{az}"
        routes = [
            r["Properties"]
            for r in ev.of_type("AWS::EC2::Route").values()
            if r["Properties"]["RouteTableId"] == {"Ref": table}
        ]
        assert routes == [], f"{table} has routes {routes}"
        assert {ev.props(f"AppSubnet{az}RouteTableAssociation")["RouteTableId"]["Ref"]} != {table}
    endpoints = [
        e["Properties"]
        for e in ev.of_type("AWS::EC2::VPCEndpoint").values()
        if e["Properties"]["VpcEndpointType"] == "Gateway"
    ]
    for props in endpoints:
        assert {"Ref": "DataRouteTable1"} in props["RouteTableIds"]


def test_public_route_through_internet_gateway(net):
    route = net.resources["PublicDefaultRoute"]
    assert route["Properties"]["GatewayId"] == {"Ref": "InternetGateway"}
    assert route["DependsOn"] == "InternetGatewayAttachment"
    for az in (1, 2, 3):
        assert net.props(f"PublicSubnet{az}RouteTableAssociation")["RouteTableId"] == {
            "Ref": "PublicRouteTable"
        }


def test_gateway_endpoints_on_every_private_route_table(net):
    gateways = {
        k: v["Properties"]
        for k, v in net.of_type("AWS::EC2::VPCEndpoint").items()
        if v["Properties"]["VpcEndpointType"] == "Gateway"
    }
    assert set(gateways) == {"S3GatewayEndpoint", "DynamodbGatewayEndpoint"}
    for props in gateways.values():
        assert props["RouteTableIds"] == [
            {"Ref": f"{table}RouteTable{az}"} for table in ("Private", "Data") for az in (1, 2, 3)
        ]


def test_interface_endpoints_only_when_enabled(net, env):
    interfaces = {
        k: v["Properties"]
        for k, v in net.of_type("AWS::EC2::VPCEndpoint").items()
        if v["Properties"]["VpcEndpointType"] == "Interface"
    }
    if env == "dev":
        assert interfaces == {} and "EndpointsSecurityGroup" not in net.resources
        return
    services = sorted(p["ServiceName"]["Fn::Sub"].split("}.", 1)[1] for p in interfaces.values())
    assert services == sorted(["ecr.api", "ecr.dkr", "logs", "secretsmanager", "sts"])
    for props in interfaces.values():
        assert props["PrivateDnsEnabled"] is True
        assert props["SecurityGroupIds"] == [{"Ref": "EndpointsSecurityGroup"}]
        assert props["SubnetIds"] == [{"Ref": f"AppSubnet{az}"} for az in (1, 2, 3)]
    ingress = net.props("EndpointsIngressHttpsFromVpc")
    assert (ingress["FromPort"], ingress["ToPort"]) == (443, 443)
    assert ingress["CidrIp"] == {"Fn::GetAtt": ["Vpc", "CidrBlock"]}


def test_outputs_expose_every_id(net):
    for name in [
        "VpcId",
        "VpcCidr",
        "InternetGatewayId",
        "NatGatewayIds",
        "PublicRouteTableId",
        "PrivateRouteTableIds",
        "DataRouteTableIds",
        "PublicSubnetIds",
        "AppSubnetIds",
        "DataSubnetIds",
        "S3GatewayEndpointId",
        "DynamodbGatewayEndpointId",
        "EndpointsSecurityGroupId",
        *[f"{layer}Subnet{az}Id" for layer in ("Public", "App", "Data") for az in (1, 2, 3)],
    ]:
        assert net.outputs[name]["Description"], name


def test_nat_outputs_list_one_or_three(net, env):
    joined = net.outputs["NatGatewayIds"]["Value"]["Fn::Join"][1]
    assert len(joined) == (1 if env == "dev" else 3)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_nat_layout_none_has_no_nat_and_no_default_route(rendered, env):
    """none: no EIP, NAT gateway or private default route; the app and data subnets keep
    their route tables (gateway endpoints) and the outputs are empty."""
    net = evaluate(rendered["network"], env, {"NatLayout": "none"})
    assert net.of_type("AWS::EC2::NatGateway") == {}
    assert net.of_type("AWS::EC2::EIP") == {}
    assert not [k for k in net.resources if k.startswith("PrivateDefaultRoute")]
    assert len(net.of_type("AWS::EC2::RouteTable")) == 7
    for az in (1, 2, 3):
        assert net.props(f"AppSubnet{az}RouteTableAssociation")["RouteTableId"] == {
            "Ref": f"PrivateRouteTable{az}"
        }
    assert net.outputs["NatGatewayIds"]["Value"] == ""
    assert net.outputs["NatPublicIps"]["Value"] == ""
    assert {
        k
        for k, v in net.of_type("AWS::EC2::VPCEndpoint").items()
        if v["Properties"]["VpcEndpointType"] == "Gateway"
    } == {"S3GatewayEndpoint", "DynamodbGatewayEndpoint"}
