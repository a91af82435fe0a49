"""The `stackset:` params section: the worked example loads, and every kind of bad input
is reported on its own line naming the file, the key and what is allowed."""

from __future__ import annotations

import copy

import pytest

from streamstack import params as params_mod
from streamstack.errors import ParamsError
from streamstack.stacksets.config import StackSetConfig

BASE = {
    "stack_name": "streamstack-prod-global",
    "region": "us-west-2",
    "parameters": {"Environment": "prod"},
    "stackset": {
        "accounts": ["222222222222", "333333333333"],
        "regions": ["us-east-1", "us-west-2"],
    },
}


def with_stackset(**changes) -> dict:
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is None:
            data["stackset"].pop(key, None)
        else:
            data["stackset"][key] = value
    return data


def problems(parse_params, data) -> list[str]:
    with pytest.raises(ParamsError) as info:
        parse_params(data)
    return info.value.lines


def test_worked_example_loads_with_overrides_and_preferences(built):
    env = params_mod.load("prod-global", build_dir=built)
    config = env.sections["stackset"]
    assert isinstance(config, StackSetConfig)
    assert env.parameters["Environment"] == "prod"
    assert config.preferences.region_order[0] == "us-east-1"  # the canary
    assert config.overrides_for("333333333333", "us-east-1")["NatLayout"] == "single"
    assert config.overrides_for("222222222222", "us-east-1")["VpcCidr"] == "10.1.0.0/16"
    assert config.overrides_for("222222222222", "us-west-2") == {}


def test_defaults_are_the_careful_ones(parse_params):
    config = parse_params(BASE).sections["stackset"]
    api = config.preferences.api()
    assert api == {
        "RegionOrder": ["us-east-1", "us-west-2"],
        "RegionConcurrencyType": "SEQUENTIAL",
        "MaxConcurrentCount": 1,
        "FailureToleranceCount": 0,
        "ConcurrencyMode": "STRICT_FAILURE_TOLERANCE",
    }
    assert config.self_managed and config.call_as == "self" and config.name is None
    named = parse_params(with_stackset(name="streamstack-global", auto_deployment=None))
    assert named.sections["stackset"].name == "streamstack-global"


def test_percentages_reach_the_api_and_tolerance_rounds_down(parse_params):
    data = with_stackset(
        preferences={
            "max_concurrent_percentage": 25,
            "failure_tolerance_percentage": 10,
            "region_concurrency": "parallel",
            "concurrency_mode": "soft",
        }
    )
    prefs = parse_params(data).sections["stackset"].preferences
    api = prefs.api(["us-west-2"])
    assert api["MaxConcurrentPercentage"] == 25 and api["FailureTolerancePercentage"] == 10
    assert "MaxConcurrentCount" not in api and "FailureToleranceCount" not in api
    assert api["RegionOrder"] == ["us-west-2"]
    assert api["ConcurrencyMode"] == "SOFT_FAILURE_TOLERANCE"
    assert prefs.tolerated_failures(50) == 5 and prefs.tolerated_failures(9) == 0
    # an update also reaches instances in a region no longer targeted: it goes last
    assert prefs.api(["eu-west-1", "us-west-2", "us-east-1"])["RegionOrder"] == [
        "us-east-1",
        "us-west-2",
        "eu-west-1",
    ]


@pytest.mark.parametrize(
    "changes, key, words",
    [
        (
            {"regions": ["us-west-2", "mars-north-1"]},
            "stackset.regions[1]",
            "'mars-north-1' is not a supported region; allowed: af-south-1",
        ),
        ({"regions": ["us-west-2", "us-west-2"]}, "stackset.regions[1]", "listed twice"),
        (
            {"regions": ["us-west-2", "us-west-1"]},
            "stackset.regions[1]",
            "us-west-1 offers only 2 Availability Zones to most accounts",
        ),
        ({"regions": None}, "stackset.regions", "is missing"),
        ({"accounts": ["12345"]}, "stackset.accounts[0]", "is not a 12-digit account id"),
        ({"accounts": [222222222222]}, "stackset.accounts[0]", "quote it"),
        ({"accounts": []}, "stackset.accounts", "is empty"),
        ({"colour": "blue"}, "stackset.colour", "unknown setting; allowed: name, permission_model"),
        (
            {"permission_model": "magic"},
            "stackset.permission_model",
            "'magic' is not allowed; allowed: self-managed, service-managed",
        ),
        ({"call_as": "delegated-admin"}, "stackset.call_as", "works only with permission_model"),
        (
            {"organizational_units": ["ou-ab12-cd345678"]},
            "stackset.organizational_units",
            "applies only to service-managed stack sets; remove it, or set permission_model: "
            "service-managed",
        ),
        (
            {"auto_deployment": {"enabled": True}},
            "stackset.auto_deployment",
            "applies only to service-managed stack sets",
        ),
        (
            {"preferences": {"failure_tolerance_count": 1, "failure_tolerance_percentage": 10}},
            "stackset.preferences.failure_tolerance_*",
            "set either failure_tolerance_count or failure_tolerance_percentage, not both",
        ),
        (
            {"preferences": {"max_concurrent_count": 1, "max_concurrent_percentage": 10}},
            "stackset.preferences.max_concurrent_*",
            "not both",
        ),
        (
            {"preferences": {"max_concurrent_percentage": 150}},
            "stackset.preferences.max_concurrent_percentage",
            "150 is out of range; allowed: 1 to 100",
        ),
        (
            {"preferences": {"max_concurrent_count": 0}},
            "stackset.preferences.max_concurrent_count",
            "0 is out of range; allowed: 1 or more",
        ),
        (
            {"preferences": {"failure_tolerance_count": "2"}},
            "stackset.preferences.failure_tolerance_count",
            "must be a whole number",
        ),
        (
            {"preferences": {"region_order": ["us-west-2"]}},
            "stackset.preferences.region_order",
            "must list each of the regions exactly once",
        ),
        (
            {"preferences": {"region_concurrency": "sideways"}},
            "stackset.preferences.region_concurrency",
            "allowed: sequential, parallel",
        ),
        ({"preferences": {"speed": 3}}, "stackset.preferences.speed", "unknown setting"),
        (
            {"overrides": {"regions": {"eu-west-1": {"VpcCidr": "10.2.0.0/16"}}}},
            "stackset.overrides.regions.eu-west-1",
            "is not one of the stack set's regions",
        ),
        (
            {"overrides": {"regions": {"us-east-1": {"VpcCidr": "10.1.0.0/16"}}}},
            "stackset.overrides.regions.us-east-1.AppSubnet1Cidr",
            "10.0.11.0/24 is outside VpcCidr 10.1.0.0/16",
        ),
        (
            {"overrides": {"regions": {"us-east-1": {"NatLayot": "single"}}}},
            "stackset.overrides.regions.us-east-1.NatLayot",
            "did you mean NatLayout?",
        ),
        (
            {"overrides": {"regions": {"us-east-1": {"ArtifactBaseUrl": "https://x"}}}},
            "stackset.overrides.regions.us-east-1.ArtifactBaseUrl",
            "resolved by deploy.py",
        ),
        (
            {"overrides": {"accounts": {"444444444444": {"NatLayout": "single"}}}},
            "stackset.overrides.accounts.444444444444",
            "is not one of the stack set's accounts",
        ),
        (
            {"overrides": {"accounts": {"222222222222": {"NatLayout": "triple"}}}},
            "stackset.overrides.accounts.222222222222.NatLayout",
            "'triple' is not allowed; allowed: single, per-az",
        ),
    ],
)
def test_bad_stackset_settings_are_named(parse_params, changes, key, words):
    lines = problems(parse_params, with_stackset(**changes))
    matching = [line for line in lines if f": {key}: " in line]
    assert matching, lines
    assert words in matching[0]
    assert matching[0].startswith("prod-global.yaml: ") or "prod-global.yaml: " in matching[0]


def test_an_account_problem_is_reported_once_not_once_per_region(parse_params):
    lines = problems(
        parse_params,
        with_stackset(overrides={"accounts": {"222222222222": {"NatLayout": "triple"}}}),
    )
    assert len([line for line in lines if "NatLayout" in line]) == 1


def test_account_override_is_checked_against_its_regions_network(parse_params):
    """A subnet that fits us-west-2's VPC but not us-east-1's overridden one."""
    data = with_stackset(
        overrides={
            "regions": {
                "us-east-1": {
                    "VpcCidr": "10.1.0.0/16",
                    **{
                        f"{layer}Subnet{i}Cidr": f"10.1.{base + i}.0/24"
                        for layer, base in (("Public", 0), ("App", 10), ("Data", 20))
                        for i in (1, 2, 3)
                    },
                }
            },
            "accounts": {"222222222222": {"AppSubnet1Cidr": "10.0.99.0/24"}},
        }
    )
    lines = problems(parse_params, data)
    assert any(
        "stackset.overrides.accounts.222222222222.AppSubnet1Cidr: 10.0.99.0/24 is "
        "outside VpcCidr 10.1.0.0/16" in line
        for line in lines
    ), lines


def test_service_managed_targets_ous(parse_params):
    data = with_stackset(
        permission_model="service-managed",
        accounts=None,
        organizational_units=["ou-ab12-cd345678", "r-ab12"],
        call_as="delegated-admin",
        auto_deployment={"enabled": True, "retain_stacks_on_account_removal": False},
    )
    config = parse_params(data).sections["stackset"]
    assert config.organizational_units == ("ou-ab12-cd345678", "r-ab12")
    assert config.call_as_api == "DELEGATED_ADMIN" and config.auto_deployment == (True, False)


@pytest.mark.parametrize(
    "changes, key, words",
    [
        (
            {"organizational_units": ["ou-XY"]},
            "stackset.organizational_units[0]",
            "is not an OU id like ou-ab12-cd345678",
        ),
        (
            {
                "organizational_units": ["ou-ab12-cd345678"],
                "overrides": {"accounts": {"222222222222": {"NatLayout": "single"}}},
            },
            "stackset.overrides.accounts",
            "need self-managed account targets",
        ),
        (
            {"organizational_units": ["ou-ab12-cd345678"], "accounts": ["222222222222"]},
            "stackset.accounts",
            "applies only to self-managed stack sets",
        ),
        (
            {"organizational_units": ["ou-ab12-cd345678"], "execution_role_name": "X"},
            "stackset.execution_role_name",
            "applies only to self-managed",
        ),
        (
            {"organizational_units": ["ou-ab12-cd345678"], "auto_deployment": {"enabled": "yes"}},
            "stackset.auto_deployment.enabled",
            "must be true or false",
        ),
        ({}, "stackset.organizational_units", "is missing"),
    ],
)
def test_bad_service_managed_settings(parse_params, changes, key, words):
    data = with_stackset(**{"permission_model": "service-managed", "accounts": None, **changes})
    lines = problems(parse_params, data)
    matching = [line for line in lines if f": {key}: " in line]
    assert matching and words in matching[0], lines


def web_acl(account: str, name: str = "waf-cdn-prod") -> str:
    return f"arn:aws:wafv2:us-east-1:{account}:global/webacl/{name}/0a1b2c3d-1111-2222"


def test_web_acls_are_per_target_account_overrides(parse_params):
    acls = {"222222222222": web_acl("222222222222"), "333333333333": web_acl("333333333333")}
    config = parse_params(with_stackset(web_acls=acls)).sections["stackset"]
    assert config.web_acls == acls
    assert config.accounts_without_web_acl() == []
    for account, arn in acls.items():
        for region in ("us-east-1", "us-west-2"):
            assert config.overrides_for(account, region)["CdnWebAclArn"] == arn


def test_a_target_without_a_web_acl_is_named(parse_params):
    data = with_stackset(web_acls={"222222222222": web_acl("222222222222")})
    config = parse_params(data).sections["stackset"]
    assert config.accounts_without_web_acl() == ["333333333333"]
    assert "CdnWebAclArn" not in config.overrides_for("333333333333", "us-east-1")


@pytest.mark.parametrize(
    "acls,message",
    [
        (
            {"222222222222": web_acl("444444444444")},
            "stackset.web_acls.222222222222: names a web ACL of account 444444444444",
        ),
        (
            {"222222222222": web_acl("222222222222").replace("us-east-1", "eu-west-1")},
            "stackset.web_acls.222222222222: 'arn:aws:wafv2:eu-west-1:",
        ),
        (
            {"444444444444": web_acl("444444444444")},
            "stackset.web_acls.444444444444: is not one of the stack set's accounts",
        ),
        ("arn", "stackset.web_acls: must be a mapping"),
    ],
)
def test_bad_web_acls(parse_params, acls, message):
    (line,) = problems(parse_params, with_stackset(web_acls=acls))
    assert message in line


def test_ou_targets_cannot_name_web_acls(parse_params):
    data = with_stackset(
        permission_model="service-managed",
        accounts=None,
        organizational_units=["ou-ab12-cd345678"],
        web_acls={"222222222222": web_acl("222222222222")},
    )
    lines = problems(parse_params, data)
    assert any("per-account web ACLs need self-managed account targets" in x for x in lines)
