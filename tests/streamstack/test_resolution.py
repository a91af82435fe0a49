"""Build checks for what CloudFormation resolves in ways cfn-lint does not model: the
real tree passes them, and each class of mistake is caught."""

import copy
import json

import pytest

from streamstack import build, resolution, validation
from streamstack.errors import BuildError

SSM_AMI = "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"


@pytest.fixture(scope="module")
def tree(rendered):
    return copy.deepcopy(rendered)


def check(tree: dict) -> list[str]:
    return resolution.check({name: json.dumps(t) for name, t in tree.items()})


def test_the_real_tree_passes(rendered_text):
    assert resolution.check(rendered_text) == []


def test_ssm_typed_nested_parameter_fed_the_roots_resolved_value(tree):
    """The bug of the first local deploy: root and fleet both SSM-typed, so the fleet
    stack looked the AMI id up as a parameter name."""
    broken = copy.deepcopy(tree)
    broken["fleet"]["Parameters"]["FleetAmiId"]["Type"] = SSM_AMI
    assert broken["root"]["Parameters"]["FleetAmiId"]["Type"] == SSM_AMI
    (line,) = check(broken)
    assert line.startswith(
        f"root: FleetStack parameter FleetAmiId ({SSM_AMI}) is SSM-typed but "
        f"fed the root parameter FleetAmiId ({SSM_AMI}), a value already "
        "resolved"
    )


def test_ssm_typed_nested_parameter_fed_an_output(tree):
    broken = copy.deepcopy(tree)
    broken["compute"]["Parameters"]["VpcId"] = {
        "Type": "AWS::SSM::Parameter::Value<String>",
        "Description": "x",
    }
    broken["root"]["Resources"]["ComputeStack"]["Properties"]["Parameters"]["VpcId"] = {
        "Fn::GetAtt": ["NetworkStack", "Outputs.VpcId"]
    }
    (line,) = check(broken)
    assert "ComputeStack parameter VpcId" in line and "NetworkStack's output VpcId" in line


def test_ssm_typed_nested_parameter_may_take_a_name(tree):
    fine = copy.deepcopy(tree)
    fine["fleet"]["Parameters"]["FleetAmiId"]["Type"] = SSM_AMI
    fine["root"]["Parameters"]["FleetAmiId"] = {"Type": "String", "Description": "a name"}
    assert check(fine) == []


def test_aws_typed_parameter_fed_an_output_that_can_be_empty(tree):
    broken = copy.deepcopy(tree)
    broken["security"]["Outputs"]["FleetSecurityGroupId"]["Value"] = {
        "Fn::If": ["FleetOn", {"Ref": "FleetSecurityGroup"}, ""]
    }
    (line,) = check(broken)
    assert line.startswith(
        "root: FleetStack parameter FleetSecurityGroupId "
        "(AWS::EC2::SecurityGroup::Id) is an AWS-specific type"
    )
    assert "SecurityStack's output FleetSecurityGroupId can be empty" in line


def test_availability_zone_beyond_what_regions_offer(tree):
    broken = copy.deepcopy(tree)
    broken["network"]["Resources"]["AppSubnet3"]["Properties"]["AvailabilityZone"] = {
        "Fn::Select": [3, {"Fn::GetAZs": ""}]
    }
    (line,) = check(broken)
    assert line.startswith("network: Fn::Select [3, Fn::GetAZs] needs 4 Availability Zones")


def test_regions_with_too_few_zones_are_not_usable(monkeypatch):
    assert "us-west-1" not in validation.usable_regions()
    assert "us-west-2" in validation.usable_regions()
    monkeypatch.setattr(validation, "AZ_COUNTS", {})
    assert "us-west-1" in validation.usable_regions()


def test_the_build_fails_on_a_finding(monkeypatch, tmp_path):
    monkeypatch.setattr(resolution, "check", lambda templates: ["root: a finding"])
    with pytest.raises(BuildError, match="root: a finding"):
        build.run(build_dir=tmp_path, lint=False, scan=False, log=lambda *a: None)
