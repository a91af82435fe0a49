"""make cost: the estimate of each params file with a fixed price table, the price
table's shape and age, and the errors."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import pytest

from streamstack import ROOT, cost
from streamstack.errors import StreamstackError

FIXED = json.loads((Path(__file__).parent / "fixed_prices.json").read_text())


@pytest.fixture(scope="module")
def estimates(built):
    return {
        env: cost.estimate(env, prices=FIXED, build_dir=built) for env in ("dev", "staging", "prod")
    }


def by_component(estimate):
    return {line.component: line for line in estimate.lines}


# Totals by hand from the fixed table and the params files (730 h a month):
#   dev      NAT 1 x 32.85 + 0.9; Serverless 0.5-2 ACU x 87.6; one t4g.micro 11.7;
#            Fargate 1-2 tasks each, Spot-weighted; ALB 22.3; the rest under 20
#   staging  NAT 3 x 32.85 + 4.5; two instances x 0.5-8 ACU; two t4g.small 46.7;
#            Fargate 2-4 tasks; CloudFront 500 GB x 0.095
#   prod     NAT 121; 5 endpoints x 3 AZs 109.5; three r7g.large 604 + storage 120;
#            three r7g.large nodes 480; Fargate 3-10/3-10/4-20 on demand; CloudFront 530;
#            backups 144; the standby region 228-900 (Aurora secondary 0.5-8 ACU 64-721,
#            warm app 109)
@pytest.mark.parametrize(
    "env, low, high",
    [
        ("dev", (150, 220), (280, 380)),
        ("staging", (400, 550), (1600, 2100)),
        ("prod", (2800, 3400), (4400, 5100)),
    ],
)
def test_totals_within_the_hand_computed_range(estimates, env, low, high):
    estimate = estimates[env]
    assert low[0] <= estimate.low <= low[1]
    assert high[0] <= estimate.high <= high[1]


def test_what_is_counted_follows_each_environment(estimates):
    dev, staging, prod = (by_component(estimates[e]) for e in ("dev", "staging", "prod"))
    assert dev["NAT gateways"].configuration.startswith("1 (single)")
    assert prod["NAT gateways"].configuration.startswith("3 (per-az)")
    assert round(prod["NAT gateways"].low, 2) == round(3 * 730 * 0.045 + 500 * 0.045, 2)
    assert (
        "interface endpoints" not in dev and prod["interface endpoints"].low == 5 * 3 * 730 * 0.01
    )
    assert dev["Aurora Serverless v2"].low < dev["Aurora Serverless v2"].high
    assert prod["Aurora"].configuration.startswith("3 x db.r7g.large")
    assert round(prod["Aurora"].low) == round(3 * 730 * 0.276 + 200 * 0.10 + 500 * 0.20)
    assert prod["ElastiCache (redis)"].low == pytest.approx(3 * 730 * 0.219)
    assert "Spot-weighted" in staging["ECS Fargate"].configuration
    assert "X-Ray" not in dev  # Tracing is off in dev
    assert "EC2 fleet" not in prod  # the fleet is off
    # Fargate at prod's most: api 10 x 2048/4096, web 10 x 256/512, worker 20 x 1024/2048,
    # scheduler 512/1024, all on demand.
    vcpu, gb = 0.04048, 0.004445
    most = 730 * (
        10 * (2 * vcpu + 4 * gb)
        + 10 * (0.25 * vcpu + 0.5 * gb)
        + 20 * (1 * vcpu + 2 * gb)
        + (0.5 * vcpu + 1 * gb)
    )
    assert prod["ECS Fargate"].high == pytest.approx(most)


def test_the_fleet_counts_only_when_enabled(built):
    for toggle, expected in (("enabled", 1), ("disabled", 0)):
        tree = cost.Tree(built, {"Environment": "dev", "Fleet": toggle}, "us-west-2")
        assert len(tree.resources("fleet", "AWS::AutoScaling::AutoScalingGroup")) == expected


def test_markdown_for_the_pull_request_comment(estimates):
    text = estimates["staging"].markdown()
    assert text.startswith("### streamstack cost estimate: staging (us-west-2)")
    assert "| **total** |" in text and FIXED["as_of"] in text


def test_price_table_is_dated_and_fresh():
    prices = cost.load_prices()
    assert prices["region"] == "us-west-2" and prices["currency"] == "USD"
    assert set(prices) == set(FIXED), "the price table and the fixed test table differ in shape"
    age = cost.price_age_days(prices)
    assert 0 <= age <= prices["max_age_days"], (
        f"streamstack/prices.json is {age} days old (as_of {prices['as_of']}); refresh its "
        f"prices from the AWS Price List API and move as_of"
    )


def test_the_age_check_does_fail_on_an_old_table():
    old = {**FIXED, "as_of": "2020-01-01"}
    assert cost.price_age_days(old, datetime.date(2026, 12, 1)) > old["max_age_days"]


def test_every_class_the_templates_offer_has_a_price(rendered):
    params = rendered["data"]["Parameters"]
    assert set(params["DatabaseInstanceClass"]["AllowedValues"]) - {"db.serverless"} <= set(
        FIXED["aurora_instance_hour"]
    )
    assert set(params["CacheNodeType"]["AllowedValues"]) <= set(FIXED["cache_node_hour"])
    fleet = rendered["fleet"]["Parameters"]["FleetInstanceType"]["AllowedValues"]
    assert set(fleet) <= set(FIXED["ec2_instance_hour"])


def test_errors_name_the_problem(built):
    with pytest.raises(StreamstackError, match="StackSet environment"):
        cost.estimate("prod-global", prices=FIXED, build_dir=built)
    with pytest.raises(StreamstackError, match="holds eu-west-1 prices"):
        cost.estimate("dev", prices={**FIXED, "region": "eu-west-1"}, build_dir=built)


def test_make_cost_prints_the_table_and_writes_markdown(built):
    result = subprocess.run(
        [sys.executable, "-m", "streamstack.cost", "dev", "--build-dir", str(built)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("component")
    assert "total" in result.stdout and "written:" in result.stdout
    assert (built / "cost" / "dev.md").read_text().startswith("### streamstack cost")
    missing = subprocess.run(
        [sys.executable, "-m", "streamstack.cost"], capture_output=True, text=True, cwd=ROOT
    )
    assert missing.returncode == 2 and "which environment?" in missing.stderr


def test_backups_and_the_standby_region_are_priced_where_the_params_have_them(estimates):
    dev, staging, prod = (by_component(estimates[env]) for env in ("dev", "staging", "prod"))
    # dev: no standby, so no copies; 10 GB of database and 50 GB of objects backed up
    assert dev["AWS Backup"].low == pytest.approx(60 * 0.05)
    assert not [c for c in dev if c.startswith("standby")]
    # staging and prod copy every recovery point to the standby region
    assert staging["AWS Backup"].low == pytest.approx(250 * (0.05 * 2 + 0.02))
    assert prod["AWS Backup"].low == pytest.approx(1200 * (0.05 * 2 + 0.02))
    replicas = "standby (us-east-1): replicas"
    assert prod[replicas].low == pytest.approx(1000 * (0.023 + 0.02) + 1.0)
    # staging's standby holds data only; prod's runs a secondary and a warm application
    assert "standby (us-east-1): Aurora secondary" not in staging
    # one Serverless v2 reader of the standby's own class, 0.5-8 ACU (its defaults)
    secondary = prod["standby (us-east-1): Aurora secondary"]
    assert secondary.low == pytest.approx(730 * 0.5 * 0.12 + 200 * 0.1)
    assert secondary.high == pytest.approx(730 * 8 * 0.12 + 200 * 0.1)
    warm = prod["standby (us-east-1): warm application"]
    api, web = 2 * (0.5 * 0.04048 + 1 * 0.004445), 2 * (0.25 * 0.04048 + 0.5 * 0.004445)
    assert warm.low == pytest.approx(730 * (api + web + 0.0225 + 0.008 + 0.045))
