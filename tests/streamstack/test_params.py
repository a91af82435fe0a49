"""params files: every kind of bad input is rejected with a line naming the file, the
key, what is wrong and what is allowed; good files load with string values."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from streamstack import PARAMS_DIR, ROOT
from streamstack import build as build_mod
from streamstack import params as params_mod
from streamstack.errors import ParamsError
from streamstack.params import load, params_path
from templates.base import DEPLOY_TIME_KEY

GOOD = yaml.safe_load((PARAMS_DIR / "dev.yaml").read_text())


@pytest.fixture(scope="module")
def root_spec(rendered):
    root = rendered["root"]
    return root["Parameters"], set(root["Metadata"][DEPLOY_TIME_KEY])


def write(tmp_path: Path, env: str, text: str) -> Path:
    path = tmp_path / f"{env}.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def variant(tmp_path, env="dev", drop=(), **changes):
    data = {k: v for k, v in GOOD.items() if k not in drop}
    params = dict(data["parameters"])
    for key, value in changes.pop("parameters", {}).items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    data["parameters"] = params
    data.update(changes)
    return write(tmp_path, env, yaml.safe_dump(data))


def reject(tmp_path, root_spec, env="dev") -> list[str]:
    params, deploy_time = root_spec
    with pytest.raises(ParamsError) as err:
        load(env, params_dir=tmp_path, template_parameters=params, deploy_time=deploy_time)
    for line in err.value.lines:
        assert line.startswith(f"{tmp_path}/{env}.yaml: "), line
    return err.value.lines


@pytest.fixture(scope="module")
def standalone(rendered_text):
    """What the params maps may set: bootstrap (with deploy-role) and edge."""
    return params_mod.standalone_declared(rendered_text)


def reject_maps(
    tmp_path, root_spec, standalone, section: str, values: dict, extra: dict | None = None
) -> list[str]:
    """A dev file whose `section` holds these values; the lines of the error."""
    data = dict(GOOD, **(extra or {}))
    data[section.split(".")[0]] = {
        **data.get(section.split(".")[0], {}),
        section.split(".")[1]: values,
    }
    write(tmp_path, "dev", yaml.safe_dump(data))
    params, deploy_time = root_spec
    with pytest.raises(ParamsError) as err:
        load(
            "dev",
            params_dir=tmp_path,
            template_parameters=params,
            deploy_time=deploy_time,
            standalone=standalone,
        )
    return err.value.lines


@pytest.mark.parametrize(
    "section,values,expected",
    [
        (
            "deploy.edge_parameters",
            {"WafRateLimit": "2000"},
            "deploy.edge_parameters.WafRateLimit: must be a number, got a string '2000'",
        ),
        (
            "deploy.edge_parameters",
            {"WafRateLimit": 5},
            "deploy.edge_parameters.WafRateLimit: 5 is below the minimum 10",
        ),
        (
            "deploy.edge_parameters",
            {"WafLogRetentionDays": 2},
            "deploy.edge_parameters.WafLogRetentionDays: 2 is not allowed; allowed: 1, 3, 5",
        ),
        (
            "deploy.edge_parameters",
            {"WafRateLimt": 100},
            "deploy.edge_parameters.WafRateLimt: is not a parameter of the edge template; did you "
            "mean WafRateLimit",
        ),
        (
            "deploy.edge_parameters",
            {"DomainName": "example.com"},
            "deploy.edge_parameters.DomainName: is shared with the root template: set "
            "parameters.DomainName instead",
        ),
        (
            "deploy.edge_parameters",
            {"HostedZoneId": "Z0123456789"},
            "deploy.edge_parameters.HostedZoneId: is resolved by deploy.py at deploy time",
        ),
        (
            "deploy.edge_parameters",
            {"DistributionId": "E2QWRUHAPOMQZL"},
            "deploy.edge_parameters.DistributionId: is resolved by deploy.py at deploy time",
        ),
        (
            "deploy.edge_parameters",
            ["WafRateLimit"],
            "deploy.edge_parameters: must be a mapping of parameter: value, not a list",
        ),
        (
            "deploy.bootstrap_parameters",
            {"GitHubOidc": "maybe"},
            "deploy.bootstrap_parameters.GitHubOidc: 'maybe' is not allowed; allowed: create, "
            "existing",
        ),
        (
            "deploy.bootstrap_parameters",
            {"EcrKeepImages": 1},
            "deploy.bootstrap_parameters.EcrKeepImages: 1 is below the minimum 5",
        ),
    ],
)
def test_stand_alone_template_parameters_are_checked_against_their_template(
    tmp_path, root_spec, standalone, section, values, expected
):
    lines = reject_maps(tmp_path, root_spec, standalone, section, values)
    assert len(lines) == 1 and expected in lines[0], lines


def test_stackset_bootstrap_parameters_are_checked_against_the_bootstrap_template(
    tmp_path, root_spec, standalone
):
    stackset = {
        "accounts": ["222222222222"],
        "regions": ["us-west-2"],
        "bootstrap_parameters": {"EcrUntaggedDays": 0},
    }
    lines = reject_maps(
        tmp_path,
        root_spec,
        standalone,
        "stackset.bootstrap_parameters",
        {"EcrUntaggedDays": 0},
        extra={"stackset": stackset},
    )
    assert any(
        "stackset.bootstrap_parameters.EcrUntaggedDays: 0 is below the minimum 1" in line
        for line in lines
    ), lines


def test_repo_params_files_load(root_spec):
    params, deploy_time = root_spec
    for env in ("dev", "staging", "prod"):
        loaded = load(env, template_parameters=params, deploy_time=deploy_time)
        assert loaded.parameters["Environment"] == env
        assert all(isinstance(v, str) for v in loaded.parameters.values())
        assert loaded.region == "us-west-2" and loaded.stack_name == f"streamstack-{env}"
    prod = load("prod", template_parameters=params, deploy_time=deploy_time)
    assert prod.parameters["FlowLogRetentionDays"] == "365"
    assert {"ParameterKey": "NatLayout", "ParameterValue": "per-az"} in prod.cfn_parameters()
    # the WAF log group keeps logs as long as the environment's other log groups
    assert prod.sections["deploy"].edge_parameters["WafLogRetentionDays"] == "365"
    dev = load("dev", template_parameters=params, deploy_time=deploy_time)
    assert dev.sections["deploy"].edge_parameters == {"WafLogRetentionDays": "1"}


ONE_PROBLEM = {
    "wrong type, number": (
        {"FlowLogRetentionDays": "thirty"},
        "parameters.FlowLogRetentionDays: must be a number, got a string 'thirty'",
    ),
    "number given for a string": (
        {"NatLayout": 3},
        "parameters.NatLayout: must be a string (quote it), got a number 3",
    ),
    "outside AllowedValues": (
        {"NatLayout": "three"},
        "parameters.NatLayout: 'three' is not allowed; allowed: single, per-az, none",
    ),
    "no NAT without interface endpoints": (
        {"NatLayout": "none"},
        "parameters.NatLayout: none leaves the app subnets no way to ECR, CloudWatch Logs or "
        "Secrets Manager: set InterfaceEndpoints: enabled too",
    ),
    "number outside AllowedValues": (
        {"FlowLogRetentionDays": 2},
        "2 is not allowed; allowed: 1, 3, 5, 7, 14",
    ),
    "below MinValue": (
        {"NoncurrentVersionExpirationDays": 0},
        "parameters.NoncurrentVersionExpirationDays: 0 is below the minimum 1",
    ),
    "unknown parameter": (
        {"NatLayuot": "single"},
        "parameters.NatLayuot: is not a parameter of the root template; did you mean NatLayout?",
    ),
    "deploy-time parameter": (
        {"CloudFrontPrefixListId": "pl-82a045eb"},
        "is resolved by deploy.py at deploy time",
    ),
}


@pytest.mark.parametrize("case", ONE_PROBLEM)
def test_one_bad_parameter_one_line(tmp_path, root_spec, case):
    changes, expected = ONE_PROBLEM[case]
    variant(tmp_path, parameters=changes)
    (line,) = reject(tmp_path, root_spec)
    assert expected in line


def test_missing_required_parameter(tmp_path, root_spec):
    variant(tmp_path, parameters={"Environment": None})
    lines = reject(tmp_path, root_spec)
    assert any(
        "parameters.Environment: is required (no default): one of dev, staging, prod" in line
        for line in lines
    )


def test_missing_setting(tmp_path, root_spec):
    variant(tmp_path, drop=("stack_name",))
    (line,) = reject(tmp_path, root_spec)
    assert line.endswith("stack_name: is missing")


def test_malformed_yaml(tmp_path, root_spec):
    write(tmp_path, "dev", "stack_name: x\nparameters:\n  NatLayout: [single\n")
    (line,) = reject(tmp_path, root_spec)
    assert "is not valid YAML (line" in line and "fix the syntax" in line


def test_bad_cidr(tmp_path, root_spec):
    variant(tmp_path, parameters={"VpcCidr": "10.0.0.0/33"})
    lines = reject(tmp_path, root_spec)
    assert any(
        "parameters.VpcCidr: '10.0.0.0/33' is not valid; expected an IPv4 CIDR block "
        "between /16 and /28" in line
        for line in lines
    )


def test_subnet_outside_the_vpc(tmp_path, root_spec):
    variant(tmp_path, parameters={"VpcCidr": "10.1.0.0/16"})
    lines = reject(tmp_path, root_spec)
    assert len(lines) == 9
    assert "parameters.AppSubnet1Cidr: 10.0.11.0/24 is outside VpcCidr 10.1.0.0/16" in lines[0]


def test_overlapping_subnets(tmp_path, root_spec):
    variant(tmp_path, parameters={"AppSubnet2Cidr": "10.0.11.0/24"})
    lines = reject(tmp_path, root_spec)
    assert any("overlaps AppSubnet1Cidr" in line for line in lines)


def test_empty_file(tmp_path, root_spec):
    write(tmp_path, "dev", "")
    (line,) = reject(tmp_path, root_spec)
    assert "is empty; it needs at least stack_name, region and parameters" in line


def test_not_a_mapping(tmp_path, root_spec):
    write(tmp_path, "dev", "- just\n- a list\n")
    (line,) = reject(tmp_path, root_spec)
    assert "must be a mapping of settings, not a list" in line


def test_unknown_environment(tmp_path):
    write(tmp_path, "dev", "x: 1\n")
    with pytest.raises(
        ParamsError,
        match=r"unknown environment 'qa': there is no .*qa.yaml "
        r"\(known: dev\)",
    ):
        params_path("qa", tmp_path)
    with pytest.raises(ParamsError, match="environment name '../dev' is not valid"):
        params_path("../dev", tmp_path)


def test_unknown_setting(tmp_path, root_spec):
    variant(tmp_path, stackname="oops")
    (line,) = reject(tmp_path, root_spec)
    assert "stackname: unknown setting; allowed:" in line


def test_account_id_must_be_twelve_quoted_digits(tmp_path, root_spec):
    variant(tmp_path, account_id=123456789012)
    (line,) = reject(tmp_path, root_spec)
    assert "account_id: 123456789012 is not a 12-digit account id in quotes" in line


def test_unsupported_region(tmp_path, root_spec):
    variant(tmp_path, region="us-west-9")
    (line,) = reject(tmp_path, root_spec)
    assert "region: 'us-west-9' is not a supported region; allowed:" in line


def test_two_zone_region_is_refused_with_the_reason(tmp_path, root_spec):
    """us-west-1 gives most accounts two Availability Zones; the network tier selects
    the third of Fn::GetAZs, so a stack there would fail."""
    variant(tmp_path, region="us-west-1")
    (line,) = reject(tmp_path, root_spec)
    assert line.endswith(
        "region: us-west-1 offers only 2 Availability Zones to most accounts "
        "and the network tier spreads over 3 (its subnets select the third "
        "zone of Fn::GetAZs); choose another region, e.g. us-west-2"
    )
    variant(tmp_path, region="us-west-9")
    (line,) = reject(tmp_path, root_spec)
    assert "us-west-1" not in line.split("allowed:")[1]


# dev's values that staging and prod refuse (below).
DEV_ONLY = {"AlbScheme": None, "UploadCorsOrigins": None}


def test_environment_must_match_the_file(tmp_path, root_spec):
    variant(tmp_path, env="staging", parameters={"Environment": "prod", **DEV_ONLY})
    (line,) = reject(tmp_path, root_spec, env="staging")
    assert "parameters.Environment: is 'prod' but this is the staging params file" in line


# -- what staging and prod refuse ------------------------------------------------------
DIGEST = "sha256:" + "0a" * 32


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_protected_environments_refuse_an_origin_in_clear_text(tmp_path, root_spec, env):
    (line,) = reject_lines(tmp_path, root_spec, env, AlbScheme="internet-facing")
    assert line.startswith(f"{tmp_path}/{env}.yaml: parameters.AlbScheme: internet-facing is ")
    assert "clear text" in line and "set AlbScheme: internal" in line


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_protected_environments_refuse_uploads_from_any_origin(tmp_path, root_spec, env):
    for origins in ("*", ["https://app.example.com", "*"]):
        (line,) = reject_lines(tmp_path, root_spec, env, UploadCorsOrigins=origins)
        assert f"{env}.yaml: parameters.UploadCorsOrigins: * is not allowed in {env}" in line
        assert "name the origins, e.g. https://app.example.com" in line


@pytest.mark.parametrize("env", ["staging", "prod"])
@pytest.mark.parametrize("name", ["ApiImage", "WebImage", "WorkerImage"])
def test_protected_environments_refuse_an_image_pinned_by_tag(tmp_path, root_spec, env, name):
    (line,) = reject_lines(tmp_path, root_spec, env, **{name: "docker.io/acme/api:1.4.2"})
    assert f"parameters.{name}: 'docker.io/acme/api:1.4.2' is pinned by tag" in line
    assert "pin it by digest" in line and f"ecr-api-{env}" in line


def test_an_image_in_another_environments_repository_is_pinned_by_tag(tmp_path, root_spec):
    image = "123456789012.dkr.ecr.us-west-2.amazonaws.com/ecr-api-staging:1.4.2"
    (line,) = reject_lines(tmp_path, root_spec, "prod", ApiImage=image)
    assert "is pinned by tag" in line


def test_an_image_of_the_platforms_repository_in_another_region_is_refused(tmp_path, root_spec):
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ecr-api-prod:1.4.2"
    (line,) = reject_lines(tmp_path, root_spec, "prod", ApiImage=image)
    assert "is in eu-west-1, not in this environment's region us-west-2" in line


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_protected_environments_accept_the_safe_values(tmp_path, root_spec, env):
    assert not reject_lines(
        tmp_path,
        root_spec,
        env,
        AlbScheme="internal",
        UploadCorsOrigins="https://app.example.com,https://www.example.com",
        ApiImage=f"docker.io/acme/api:1.4.2@{DIGEST}",
        WebImage=f"public.ecr.aws/acme/web@{DIGEST}",
        WorkerImage=f"123456789012.dkr.ecr.us-west-2.amazonaws.com/ecr-worker-{env}:1.4.2",
    )


def test_dev_may_serve_directly_upload_from_anywhere_and_use_tags(tmp_path, root_spec):
    variant(tmp_path, parameters={"ApiImage": "docker.io/acme/api:latest"})
    loaded = load(
        "dev", params_dir=tmp_path, template_parameters=root_spec[0], deploy_time=root_spec[1]
    )
    assert loaded.parameters["AlbScheme"] == "internet-facing"
    assert loaded.parameters["UploadCorsOrigins"] == "*"


def test_every_protected_problem_is_one_line_at_once(tmp_path, root_spec):
    lines = reject_lines(
        tmp_path,
        root_spec,
        "prod",
        AlbScheme="internet-facing",
        UploadCorsOrigins="*",
        WebImage="nginx:1.27",
    )
    assert [line.split(": ")[1] for line in lines] == [
        "parameters.AlbScheme",
        "parameters.UploadCorsOrigins",
        "parameters.WebImage",
    ]
    assert all("\n" not in line for line in lines)


def reject_lines(tmp_path, root_spec, env, **parameters) -> list[str]:
    """The problem lines of a staging/prod variant of dev's file (empty: it loads)."""
    variant(tmp_path, env=env, parameters={"Environment": env, **DEV_ONLY, **parameters})
    try:
        load(env, params_dir=tmp_path, template_parameters=root_spec[0], deploy_time=root_spec[1])
    except ParamsError as err:
        return err.lines
    return []


def test_bad_tags(tmp_path, root_spec):
    variant(tmp_path, tags={"aws:owner": "x", "Team": 7})
    lines = reject(tmp_path, root_spec)
    assert len(lines) == 2
    assert any("tags.aws:owner: is not a valid tag key" in line for line in lines)
    assert any("tags.Team: must be a string" in line for line in lines)


def test_every_problem_is_reported_at_once(tmp_path, root_spec):
    variant(tmp_path, region="mars-1", parameters={"NatLayout": "x", "FlowLogRetentionDays": "y"})
    assert len(reject(tmp_path, root_spec)) == 3


def test_cli_prints_one_line_errors_without_traceback(tmp_path):
    params_dir = tmp_path / "params"
    params_dir.mkdir()
    variant(params_dir, parameters={"NatLayout": "three"})
    proc = subprocess.run(
        [
            sys.executable,
            "build.py",
            "--no-lint",
            "--no-scan",
            "--params-dir",
            str(params_dir),
            "--build-dir",
            str(tmp_path / "build"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        f"error: {params_dir}/dev.yaml: parameters.NatLayout: 'three' is not allowed; "
        "allowed: single, per-az, none"
    )


# -- standby: the region the platform recovers into --------------------------------------
@pytest.mark.parametrize(
    "standby,parameters,expected",
    [
        (
            {"region": "us-west-2"},
            {},
            "standby.region: is us-west-2, the platform's own region: a standby must survive "
            "the loss of that region; choose another",
        ),
        ({"region": "us-east-9"}, {}, "standby.region: 'us-east-9' is not a supported region"),
        (
            {"region": "us-west-1"},
            {},
            "standby.region: us-west-1 offers only 2 Availability Zones",
        ),
        ({}, {}, "standby.region: is missing: the region the standby stack lives in"),
        (
            {"region": "us-east-1", "regoin": "x"},
            {},
            "standby.regoin: unknown setting; allowed: region, parameters",
        ),
        (
            {"region": "us-east-1"},
            {"AuroraGlobalDatabase": "enabled"},
            "parameters.AuroraGlobalDatabase: is enabled outside prod",
        ),
        (
            {"region": "us-east-1", "parameters": {"StandbyApiTasks": 0}},
            {},
            "standby.parameters.StandbyApiTasks: 0 is below the minimum 1",
        ),
        (
            {"region": "us-east-1", "parameters": {"StandbyApplication": "on"}},
            {},
            "standby.parameters.StandbyApplication: 'on' is not allowed; allowed: enabled, "
            "disabled",
        ),
        (
            {"region": "us-east-1", "parameters": {"GlobalClusterIdentifier": "x"}},
            {},
            "standby.parameters.GlobalClusterIdentifier: is resolved by deploy.py at deploy time",
        ),
        (
            {"region": "us-east-1", "parameters": {"DomainName": "example.com"}},
            {},
            "standby.parameters.DomainName: is shared with the root template: set "
            "parameters.DomainName instead",
        ),
    ],
)
def test_standby_problems_are_one_line_each(
    tmp_path, root_spec, standalone, standby, parameters, expected
):
    data = dict(GOOD, standby=standby, parameters={**GOOD["parameters"], **parameters})
    write(tmp_path, "dev", yaml.safe_dump(data))
    params, deploy_time = root_spec
    with pytest.raises(ParamsError) as err:
        load(
            "dev",
            params_dir=tmp_path,
            template_parameters=params,
            deploy_time=deploy_time,
            standalone=standalone,
        )
    assert len(err.value.lines) == 1 and expected in err.value.lines[0], err.value.lines


def test_a_global_database_needs_a_standby_region(tmp_path, root_spec):
    prod = yaml.safe_load((PARAMS_DIR / "prod.yaml").read_text())
    prod.pop("standby")
    write(tmp_path, "prod", yaml.safe_dump(prod))
    (line,) = reject(tmp_path, root_spec, env="prod")
    assert line.endswith(
        "parameters.AuroraGlobalDatabase: is enabled, but a global database needs a standby "
        "region for its secondary: add standby: {region: ...} or set it to disabled"
    )


def test_a_stackset_environment_has_no_standby(tmp_path, root_spec):
    data = yaml.safe_load((PARAMS_DIR / "prod-global.yaml").read_text())
    data["standby"] = {"region": "us-east-1"}
    write(tmp_path, "prod-global", yaml.safe_dump(data))
    lines = reject(tmp_path, root_spec, env="prod-global")
    assert any("standby: a StackSet environment deploys its instances" in line for line in lines)


def test_the_standby_region_is_linted(tmp_path):
    write(tmp_path, "prod", "region: us-west-2\nstandby: {region: ap-south-2}\n")
    assert "ap-south-2" in build_mod.lint_regions(tmp_path)
