"""`make cost ENV=x`: the monthly cost estimate of an environment, from its params file and
the built templates, priced with streamstack/prices.json (a dated on-demand price table
of one region; no maintained offline price source for these services installs from a
package registry, and the AWS Price List API needs credentials and the network).

What it counts comes from the built tier templates, decided for the environment's
parameter values (the same evaluator the deploy identity's proofs use): NAT gateways,
interface endpoints, Aurora instances or Serverless v2 ACUs, cache nodes, Fargate tasks
at their fewest and most, the ALB, the EC2 fleet, alarms (per metric), dashboards, keys,
secrets, AWS Backup's storage and copies, and the params' standby region (replicas, the
Aurora secondary, the warm application). Traffic is an assumption per environment
(ASSUMPTIONS, printed with the estimate): CloudFront and NAT data, stored media, logs,
database storage and I/O.

The estimate is a range: autoscaled tasks and Serverless v2 capacity at their minimum
and at their maximum, the rest the same in both. It is printed as a table and written
as Markdown to build/cost/<env>.md for the pull-request plan comment.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from streamstack import BUILD_DIR, PARAMS_DIR, ROOT, params
from streamstack.deploy import third_party_secrets
from streamstack.deploy.standby_settings import settings_of
from streamstack.errors import StreamstackError
from streamstack.identity.evaluate import Resolved
from templates.parts import third_party

PRICES = ROOT / "streamstack" / "prices.json"

# Traffic and data a template cannot know, per Environment value. Seed figures for prod
# (1 TB stored, 5 TB delivered) set its scale; staging and dev are a tenth and a hundredth.
ASSUMPTIONS = {
    "dev": dict(
        cdn_tb=0.05,
        media_gb=50,
        logs_gb=5,
        nat_gb=20,
        db_gb=10,
        db_io_million=5,
        alb_lcu=1,
        traces_million=0.0,
        queue_million=1,
    ),
    "staging": dict(
        cdn_tb=0.5,
        media_gb=200,
        logs_gb=30,
        nat_gb=100,
        db_gb=50,
        db_io_million=50,
        alb_lcu=2,
        traces_million=0.5,
        queue_million=5,
    ),
    "prod": dict(
        cdn_tb=5,
        media_gb=1000,
        logs_gb=200,
        nat_gb=500,
        db_gb=200,
        db_io_million=500,
        alb_lcu=10,
        traces_million=2,
        queue_million=50,
    ),
}
ASSUMPTION_TEXT = {
    "cdn_tb": "TB delivered by CloudFront",
    "media_gb": "GB stored in S3 (media, static, uploads, logs)",
    "logs_gb": "GB of logs ingested by CloudWatch",
    "nat_gb": "GB through the NAT gateways",
    "db_gb": "GB of Aurora storage",
    "db_io_million": "million Aurora I/O requests",
    "alb_lcu": "ALB LCUs on average",
    "traces_million": "million traces recorded by X-Ray",
    "queue_million": "million SQS requests",
}
# Fargate services: (name, autoscaled); the singleton scheduler always runs on FARGATE.
SERVICES = (("Api", True), ("Web", True), ("Worker", True), ("Scheduler", False))


@dataclass(frozen=True)
class Line:
    component: str
    configuration: str
    low: float
    high: float


@dataclass(frozen=True)
class Estimate:
    env: str
    region: str
    lines: list[Line]
    assumptions: dict
    prices: dict

    @property
    def low(self) -> float:
        return sum(line.low for line in self.lines)

    @property
    def high(self) -> float:
        return sum(line.high for line in self.lines)

    def table(self) -> str:
        width = max(len(line.component) for line in self.lines)
        conf = max(len(line.configuration) for line in self.lines)
        rows = [f"{'component':<{width}}  {'configuration':<{conf}}  {'USD/month':>19}"]
        for line in self.lines:
            rows.append(
                f"{line.component:<{width}}  {line.configuration:<{conf}}  {_range(line):>19}"
            )
        rows.append(f"{'total':<{width}}  {'':<{conf}}  {_range(self):>19}")
        return "\n".join(rows)

    def markdown(self) -> str:
        out = [
            f"### streamstack cost estimate: {self.env} ({self.region})",
            "",
            "| component | configuration | USD/month |",
            "| --- | --- | ---: |",
        ]
        out += [f"| {ln.component} | {ln.configuration} | {_range(ln)} |" for ln in self.lines]
        out += [
            f"| **total** | | **{_range(self)}** |",
            "",
            "Assumed traffic: "
            + ", ".join(f"{v:g} {ASSUMPTION_TEXT[k]}" for k, v in self.assumptions.items())
            + f". On-demand prices of {self.prices['as_of']} (streamstack/prices.json); "
            "ranges are autoscaling's fewest and most tasks and Serverless v2's minimum and "
            "maximum ACUs.",
            "",
        ]
        return "\n".join(out)


def _range(item) -> str:
    low, high = round(item.low), round(item.high)
    return f"{low:,}" if low == high else f"{low:,} - {high:,}"


def load_prices(path: Path = PRICES) -> dict:
    return json.loads(path.read_text())


def price_age_days(prices: dict, today: datetime.date | None = None) -> int:
    as_of = datetime.date.fromisoformat(prices["as_of"])
    return ((today or datetime.date.today()) - as_of).days


class Tree:
    """The built tier templates, resolved for the environment's values."""

    def __init__(self, build_dir: Path, values: dict[str, str], region: str) -> None:
        manifest = build_dir / "manifest.json"
        if not manifest.is_file():
            raise StreamstackError(f"{manifest} does not exist: run `make build` first")
        self.templates = {}
        for path in sorted((build_dir / "templates").glob("*.json")):
            self.templates[path.stem] = Resolved(
                json.loads(path.read_text()), values, region=region
            )

    def resources(self, tier: str, rtype: str) -> dict[str, dict]:
        """The tier's resources of rtype whose condition holds."""
        resolved = self.templates[tier]
        found = {}
        for logical, raw in resolved.raw.get("Resources", {}).items():
            if raw["Type"] != rtype:
                continue
            if "Condition" in raw and not resolved.condition(raw["Condition"]):
                continue
            found[logical] = raw
        return found

    def count(self, rtype: str) -> int:
        return sum(len(self.resources(tier, rtype)) for tier in self.tier_names())

    def tier_names(self) -> list[str]:
        """The nested tiers: every template but the root and the stand-alone stacks."""
        standalone = {"root", "bootstrap", "edge", "deploy-role", "stackset-role", "standby"}
        return [name for name in self.templates if name not in standalone]


def estimate(
    env: str,
    *,
    params_dir: Path = PARAMS_DIR,
    build_dir: Path = BUILD_DIR,
    prices: dict | None = None,
) -> Estimate:
    prices = prices or load_prices()
    env_params = params.load(env, params_dir=params_dir, build_dir=build_dir)
    if env_params.sections.get("stackset") is not None:
        raise StreamstackError(
            f"{env} is a StackSet environment: estimate one of its accounts and regions "
            "with a params file of its own"
        )
    if env_params.region != prices["region"]:
        raise StreamstackError(
            f"params/{env}.yaml deploys to {env_params.region}, but streamstack/prices.json "
            f"holds {prices['region']} prices: add that region's table"
        )
    root_defaults = {
        name: str(spec["Default"])
        for name, spec in params.root_parameters(build_dir)[0].items()
        if "Default" in spec
    }
    values = {**root_defaults, **env_params.parameters}
    # The third-party secrets the params file declares exist once deployed.
    declared = env_params.sections.get(third_party_secrets.SECTION, {})
    for slot, name in third_party_secrets.assign_slots(declared, {}).items():
        values[third_party.name_parameter(slot)] = name
    tree = Tree(build_dir, values, env_params.region)
    assumptions = ASSUMPTIONS[values["Environment"]]
    lines = _lines(values, tree, prices, assumptions, settings_of(env_params))
    return Estimate(env, env_params.region, lines, assumptions, prices)


def _lines(values: dict, tree: Tree, p: dict, a: dict, standby=None) -> list[Line]:
    hours = p["hours_per_month"]
    lines = []

    def fixed(component, configuration, amount):
        lines.append(Line(component, configuration, amount, amount))

    # -- network ---------------------------------------------------------------------
    nats = len(tree.resources("network", "AWS::EC2::NatGateway"))
    if nats:
        fixed(
            "NAT gateways",
            f"{nats} ({values['NatLayout']}), {a['nat_gb']:g} GB",
            nats * hours * p["nat_gateway_hour"] + a["nat_gb"] * p["nat_gateway_gb"],
        )
    interface = [
        r
        for r in tree.resources("network", "AWS::EC2::VPCEndpoint").values()
        if r["Properties"].get("VpcEndpointType") == "Interface"
    ]
    if interface:
        fixed(
            "interface endpoints",
            f"{len(interface)} x 3 AZs",
            len(interface) * 3 * hours * p["interface_endpoint_az_hour"],
        )
    # -- data ------------------------------------------------------------------------
    instances = len(tree.resources("data", "AWS::RDS::DBInstance"))
    storage = (
        a["db_gb"] * p["aurora_storage_gb_month"] + a["db_io_million"] * p["aurora_io_million"]
    )
    cls = values["DatabaseInstanceClass"]
    if cls == "db.serverless":
        low_acu, high_acu = (
            float(values["DatabaseMinCapacity"]),
            float(values["DatabaseMaxCapacity"]),
        )
        lines.append(
            Line(
                "Aurora Serverless v2",
                f"{instances} instance(s), {low_acu:g}-{high_acu:g} ACU, {a['db_gb']:g} GB",
                instances * low_acu * hours * p["aurora_acu_hour"] + storage,
                instances * high_acu * hours * p["aurora_acu_hour"] + storage,
            )
        )
    else:
        fixed(
            "Aurora",
            f"{instances} x {cls}, {a['db_gb']:g} GB",
            instances * hours * _price(p["aurora_instance_hour"], cls) + storage,
        )
    node = values["CacheNodeType"]
    nodes = 1 + int(values["CacheReplicas"])
    discount = p["valkey_discount"] if values.get("CacheEngine") == "valkey" else 0
    fixed(
        f"ElastiCache ({values.get('CacheEngine', 'redis')})",
        f"{nodes} x {node}",
        nodes * hours * _price(p["cache_node_hour"], node) * (1 - discount),
    )
    # -- compute ---------------------------------------------------------------------
    spot = values["CapacityStrategy"] == "spot-weighted"
    low = high = 0.0
    described = []
    for name, scaled in SERVICES:
        cpu, memory = (int(x) for x in values[f"{name}TaskSize"].split("/"))
        per_task = hours * (
            cpu / 1024 * p["fargate_vcpu_hour"] + memory / 1024 * p["fargate_gb_hour"]
        )
        fewest = int(values[f"{name}MinTasks"]) if scaled else 1
        most = int(values[f"{name}MaxTasks"]) if scaled else 1
        low += _tasks(fewest, per_task, spot and scaled, p)
        high += _tasks(most, per_task, spot and scaled, p)
        described.append(f"{name.lower()} {fewest}-{most}" if scaled else f"{name.lower()} 1")
    lines.append(
        Line(
            "ECS Fargate",
            ", ".join(described) + (" (Spot-weighted)" if spot else ""),
            low,
            high,
        )
    )
    if tree.resources("fleet", "AWS::AutoScaling::AutoScalingGroup"):
        kind = values["FleetInstanceType"]
        per = hours * _price(p["ec2_instance_hour"], kind) + 8 * p["ebs_gp3_gb_month"]
        lines.append(
            Line(
                "EC2 fleet",
                f"{values['FleetMinSize']}-{values['FleetMaxSize']} x {kind}",
                int(values["FleetMinSize"]) * per,
                int(values["FleetMaxSize"]) * per,
            )
        )
    fixed(
        "Application Load Balancer",
        f"1, {a['alb_lcu']:g} LCU",
        hours * (p["alb_hour"] + a["alb_lcu"] * p["alb_lcu_hour"]),
    )
    # -- edge and storage ----------------------------------------------------------------
    if tree.resources("cdn", "AWS::CloudFront::Distribution"):
        price_class = values["PriceClass"]
        gb = a["cdn_tb"] * 1000
        requests = gb * 1000  # about 1 MB per request (HLS segments, assets)
        fixed(
            "CloudFront",
            f"{a['cdn_tb']:g} TB, {price_class}",
            gb * p["cloudfront_gb"][price_class]
            + requests / 10000 * p["cloudfront_https_10k_requests"],
        )
    fixed("S3", f"{a['media_gb']:g} GB", a["media_gb"] * p["s3_standard_gb_month"])
    # -- operations --------------------------------------------------------------------
    fixed(
        "CloudWatch Logs",
        f"{a['logs_gb']:g} GB ingested",
        a["logs_gb"] * (p["logs_ingest_gb"] + p["logs_store_gb_month"]),
    )
    metrics = 0
    alarms = 0
    for tier in tree.tier_names():
        for raw in tree.resources(tier, "AWS::CloudWatch::Alarm").values():
            alarms += 1
            metrics += max(
                1, sum(1 for q in raw["Properties"].get("Metrics", []) if "MetricStat" in q)
            )
    dashboards = tree.count("AWS::CloudWatch::Dashboard")
    fixed(
        "CloudWatch alarms and dashboards",
        f"{alarms} alarms ({metrics} metrics), {dashboards} dashboard(s)",
        metrics * p["alarm_metric_month"] + dashboards * p["dashboard_month"],
    )
    if values.get("Tracing", "enabled") == "enabled" and a["traces_million"]:
        fixed(
            "X-Ray",
            f"{a['traces_million']:g} M traces",
            a["traces_million"] * p["xray_million_traces"],
        )
    _recovery_lines(values, tree, p, a, standby, fixed, lines)
    keys, secrets = tree.count("AWS::KMS::Key"), tree.count("AWS::SecretsManager::Secret")
    fixed(
        "KMS keys, secrets, SQS",
        f"{keys} keys, {secrets} secrets, {a['queue_million']:g} M requests",
        keys * p["kms_key_month"]
        + secrets * p["secret_month"]
        + a["queue_million"] * p["sqs_million_requests"],
    )
    return lines


def _recovery_lines(values, tree, p, a, standby, fixed, lines) -> None:
    """AWS Backup's storage (and its copies), and the standby region's stack."""
    hours = p["hours_per_month"]
    backed_up = a["db_gb"] + a["media_gb"]
    if tree.resources("backup", "AWS::Backup::BackupPlan"):
        copies = standby is not None and values["Environment"] != "dev"
        fixed(
            "AWS Backup",
            f"{backed_up:g} GB" + (", copied to the standby region" if copies else ""),
            backed_up * p["backup_warm_gb_month"] * (2 if copies else 1)
            + (backed_up * p["inter_region_gb"] if copies else 0),
        )
    if standby is None:
        return
    template = tree.templates["standby"].raw["Parameters"]
    defaults = {k: str(v["Default"]) for k, v in template.items() if "Default" in v}
    given = {**defaults, **{k: str(v) for k, v in standby.parameters.items()}}
    region = standby.region
    fixed(
        f"standby ({region}): replicas",
        f"{a['media_gb']:g} GB replicated, its key",
        a["media_gb"] * (p["s3_standard_gb_month"] + p["inter_region_gb"]) + p["kms_key_month"],
    )
    if values.get("AuroraGlobalDatabase") == "enabled":
        readers = int(given["StandbyDatabaseInstances"])
        cls = given["StandbyDatabaseInstanceClass"]
        storage = a["db_gb"] * p["aurora_storage_gb_month"]
        if cls == "db.serverless":
            low_acu = float(given["StandbyDatabaseMinCapacity"])
            high_acu = float(given["StandbyDatabaseMaxCapacity"])
            lines.append(
                Line(
                    f"standby ({region}): Aurora secondary",
                    f"{readers} x {low_acu:g}-{high_acu:g} ACU, {a['db_gb']:g} GB",
                    readers * low_acu * hours * p["aurora_acu_hour"] + storage,
                    readers * high_acu * hours * p["aurora_acu_hour"] + storage,
                )
            )
        else:
            fixed(
                f"standby ({region}): Aurora secondary",
                f"{readers} x {cls}, {a['db_gb']:g} GB",
                readers * hours * _price(p["aurora_instance_hour"], cls) + storage,
            )
    if given["StandbyApplication"] == "enabled":
        amount, described = 0.0, []
        for name in ("Api", "Web"):
            cpu, memory = (int(x) for x in given[f"Standby{name}TaskSize"].split("/"))
            count = int(given[f"Standby{name}Tasks"])
            amount += (
                count
                * hours
                * (cpu / 1024 * p["fargate_vcpu_hour"] + memory / 1024 * p["fargate_gb_hour"])
            )
            described.append(f"{name.lower()} {count}")
        nat = given["StandbyNat"] == "single"
        fixed(
            f"standby ({region}): warm application",
            ", ".join(described) + ", its ALB" + (", 1 NAT gateway" if nat else ""),
            amount
            + hours * (p["alb_hour"] + p["alb_lcu_hour"])
            + (hours * p["nat_gateway_hour"] if nat else 0),
        )


def _tasks(count: int, per_task: float, spot: bool, p: dict) -> float:
    """Monthly cost of `count` tasks; spot-weighted runs the first on FARGATE and the
    rest 1:3 on FARGATE and FARGATE_SPOT."""
    if not spot or count <= 1:
        return count * per_task
    rest = count - 1
    return per_task * (1 + rest / 4 + rest * 3 / 4 * (1 - p["fargate_spot_discount"]))


def _price(table: dict, key: str) -> float:
    if key not in table:
        raise StreamstackError(
            f"streamstack/prices.json has no price for {key}: add it (and move as_of)"
        )
    return table[key]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streamstack.cost", description=__doc__)
    parser.add_argument("env", nargs="?", help="environment (params/ENV.yaml)")
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        if not args.env:
            raise StreamstackError(
                "which environment? give ENV (e.g. `make cost ENV=prod`); known: "
                + ", ".join(params.known_environments())
            )
        result = estimate(args.env, build_dir=args.build_dir)
    except StreamstackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    age = price_age_days(result.prices)
    print(result.table())
    print(
        "\nassumed: "
        + ", ".join(f"{v:g} {ASSUMPTION_TEXT[k]}" for k, v in result.assumptions.items())
    )
    print(
        f"prices: {result.prices['region']} on-demand of {result.prices['as_of']} ({age} days old)"
    )
    out = args.build_dir / "cost" / f"{args.env}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(result.markdown())
    print(f"written: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
