"""`make diagram`: the architecture picture, drawn from the built templates.

Reads build/manifest.json and build/templates/*.json (what `make build` wrote), and
draws every tier and stand-alone stack as a cluster holding its main resources with
AWS icons (the `diagrams` package), then the request and video data flows between
them. A flow is drawn only when both of its ends exist in the build, so the picture
follows the templates rather than a hand-kept list.

`picture()` decides what is drawn (clusters, nodes, flows) as plain data, which the tests
check; `source()` produces the Graphviz (dot) text with the diagrams package (the docs
extra) and `render()` writes docs/architecture.png and .svg with Debian's graphviz
(`dot`); `make diagram` installs both. The SVG embeds its icons, so it displays anywhere.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from streamstack import BUILD_DIR, ROOT

DOCS = ROOT / "docs"
BASENAME = "architecture"

# CloudFormation type -> (diagrams class "module.Class", label). A type whose label has
# "{n}" is drawn once per tier with the count; the others once per resource, labelled
# with the logical id.
SHOWN = {
    "AWS::EC2::VPC": ("network.VPC", "VPC"),
    "AWS::EC2::InternetGateway": ("network.InternetGateway", "internet gateway"),
    "AWS::EC2::NatGateway": ("network.NATGateway", "NAT gateways ({n})"),
    "AWS::EC2::VPCEndpoint": ("network.Endpoint", "VPC endpoints ({n})"),
    "AWS::EC2::FlowLog": ("network.VPCFlowLogs", "flow logs"),
    "AWS::EC2::SecurityGroup": ("network.Nacl", "security groups ({n})"),
    "AWS::KMS::Key": ("security.KeyManagementService", None),
    "AWS::S3::Bucket": ("storage.SimpleStorageServiceS3Bucket", None),
    "AWS::EFS::FileSystem": ("storage.ElasticFileSystemEFS", "EFS"),
    "AWS::RDS::DBCluster": ("database.Aurora", "Aurora"),
    "AWS::ElastiCache::ReplicationGroup": ("database.ElasticacheForRedis", "Redis / Valkey"),
    "AWS::DynamoDB::Table": ("database.Dynamodb", None),
    "AWS::SecretsManager::Secret": ("security.SecretsManager", "secrets ({n})"),
    "AWS::SQS::Queue": ("integration.SimpleQueueServiceSqsQueue", None),
    "AWS::Events::EventBus": ("integration.EventbridgeCustomEventBusResource", None),
    "AWS::Events::Rule": ("integration.EventbridgeRule", None),
    "AWS::ECS::Cluster": ("compute.ElasticContainerService", "ECS cluster"),
    "AWS::ECS::Service": ("compute.Fargate", None),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": ("network.ElbApplicationLoadBalancer", "ALB"),
    "AWS::AutoScaling::AutoScalingGroup": ("compute.EC2AutoScaling", None),
    "AWS::CloudFront::Distribution": ("network.CloudFront", "CloudFront"),
    "AWS::Route53::HostedZone": ("network.Route53HostedZone", "hosted zone"),
    "AWS::Route53::RecordSet": ("network.Route53", "records ({n})"),
    "AWS::CertificateManager::Certificate": ("security.CertificateManager", None),
    "AWS::WAFv2::WebACL": ("security.WAF", "WAF web ACL"),
    "AWS::Lambda::Function": ("compute.LambdaFunction", None),
    "AWS::MediaConvert::JobTemplate": ("media.ElementalMediaconvert", "MediaConvert"),
    "AWS::ApiGatewayV2::Api": ("network.APIGateway", "HTTP API"),
    "AWS::SNS::Topic": ("integration.SimpleNotificationServiceSnsTopic", "alarm topic"),
    "AWS::CloudWatch::Alarm": ("management.CloudwatchAlarm", "alarms ({n})"),
    "AWS::CloudWatch::CompositeAlarm": ("management.CloudwatchAlarm", "platform-health"),
    "AWS::CloudWatch::Dashboard": ("management.Cloudwatch", "dashboard"),
    # Only the deploy roles' templates hold managed policies (the derived ones).
    "AWS::IAM::ManagedPolicy": (
        "security.IdentityAndAccessManagementIamPermissions",
        "derived policies ({n})",
    ),
}

VIEWERS = "viewers"
REQUEST, VIDEO, OPS = "request", "video", "events / alarms"
COLOURS = {REQUEST: "#1f6feb", VIDEO: "#d1242f", OPS: "#8250df"}
TITLE = (
    "streamstack: one cluster per template of the build. Arrows: blue = requests, "
    "red = video (upload to HLS), purple = events and alarms"
)

# Flows between resources, each end "type" or "type#LogicalId"; drawn when both exist.
FLOWS = [
    (REQUEST, VIEWERS, "AWS::Route53::HostedZone", "DNS"),
    (REQUEST, VIEWERS, "AWS::CloudFront::Distribution", "HTTPS"),
    (REQUEST, "AWS::Route53::RecordSet", "AWS::CloudFront::Distribution", "cdn.<domain>"),
    (
        REQUEST,
        "AWS::Route53::RecordSet",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "api.<domain>",
    ),
    (REQUEST, "AWS::WAFv2::WebACL", "AWS::CloudFront::Distribution", "filters"),
    (
        REQUEST,
        "AWS::CloudFront::Distribution",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "dynamic",
    ),
    (REQUEST, "AWS::CloudFront::Distribution", "AWS::S3::Bucket#StaticBucket", "/static/*"),
    (REQUEST, "AWS::CloudFront::Distribution", "AWS::S3::Bucket#MediaBucket", "/media/*"),
    (
        REQUEST,
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::ECS::Service#ApiService",
        "/api/*",
    ),
    (REQUEST, "AWS::ElasticLoadBalancingV2::LoadBalancer", "AWS::ECS::Service#WebService", ""),
    (
        REQUEST,
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::AutoScaling::AutoScalingGroup",
        "fleet",
    ),
    (REQUEST, "AWS::ECS::Service#ApiService", "AWS::RDS::DBCluster", "SQL"),
    (REQUEST, "AWS::ECS::Service#ApiService", "AWS::ElastiCache::ReplicationGroup", "cache"),
    (REQUEST, "AWS::ECS::Service#ApiService", "AWS::SQS::Queue#JobsQueue", "jobs"),
    (REQUEST, "AWS::SQS::Queue#JobsQueue", "AWS::ECS::Service#WorkerService", "consume"),
    (REQUEST, VIEWERS, "AWS::ApiGatewayV2::Api", "metadata"),
    (REQUEST, "AWS::ApiGatewayV2::Api", "AWS::Lambda::Function#MetadataFunction", ""),
    (REQUEST, "AWS::Lambda::Function#MetadataFunction", "AWS::DynamoDB::Table", "videos"),
    (VIDEO, VIEWERS, "AWS::S3::Bucket#UploadsBucket", "upload"),
    (
        VIDEO,
        "AWS::S3::Bucket#UploadsBucket",
        "AWS::Events::Rule#UploadCreatedRule",
        "Object Created",
    ),
    (VIDEO, "AWS::Events::Rule#UploadCreatedRule", "AWS::Lambda::Function#TranscodeFunction", ""),
    (
        VIDEO,
        "AWS::Lambda::Function#TranscodeFunction",
        "AWS::MediaConvert::JobTemplate",
        "CreateJob",
    ),
    (VIDEO, "AWS::MediaConvert::JobTemplate", "AWS::S3::Bucket#MediaBucket", "HLS"),
    (OPS, "AWS::MediaConvert::JobTemplate", "AWS::Events::Rule#JobStateRule", "job state"),
    (OPS, "AWS::Events::Rule#JobStateRule", "AWS::Events::EventBus", ""),
    (OPS, "AWS::CloudWatch::Alarm", "AWS::SNS::Topic", ""),
    (OPS, "AWS::CloudWatch::CompositeAlarm", "AWS::SNS::Topic", ""),
]


@dataclass(frozen=True)
class Shown:
    node_id: str  # dot node id: <tier>.<logical or type>
    icon: str  # diagrams "module.Class"
    label: str


def load(build_dir: Path = BUILD_DIR) -> dict[str, dict]:
    """Tier and stand-alone templates of the last build, by name, in manifest order."""
    manifest_path = build_dir / "manifest.json"
    if not manifest_path.exists():
        raise SystemExit(f"{manifest_path} is missing: run `make build` first")
    manifest = json.loads(manifest_path.read_text())
    from templates import TIERS  # nesting order, for a stable left-to-right layout

    order = {tier.name: i for i, tier in enumerate(TIERS)}
    names = sorted(
        (n for n, e in manifest["templates"].items() if e["kind"] != "root"),
        key=lambda n: (order.get(n, len(order)), n),
    )
    return {
        name: json.loads((build_dir / manifest["templates"][name]["file"]).read_text())
        for name in names
    }


def shown_resources(tier: str, template: dict) -> list[tuple[str, Shown]]:
    """(type or type#logical, node) for the resources of one template worth drawing."""
    by_type: dict[str, list[str]] = {}
    for logical, resource in template.get("Resources", {}).items():
        if resource["Type"] in SHOWN:
            by_type.setdefault(resource["Type"], []).append(logical)
    shown = []
    for rtype in SHOWN:  # a stable order, independent of the template
        logicals = by_type.get(rtype)
        if not logicals:
            continue
        icon, label = SHOWN[rtype]
        if label and "{n}" in label or label and len(logicals) == 1:
            node = Shown(f"{tier}.{rtype.split('::')[-1]}", icon, label.format(n=len(logicals)))
            shown.append((rtype, node))
            shown.extend((f"{rtype}#{logical}", node) for logical in logicals)
        else:
            for logical in sorted(logicals):
                node = Shown(f"{tier}.{logical}", icon, _words(logical))
                shown.append((f"{rtype}#{logical}", node))
                shown.append((rtype, node))
    return shown


def _words(logical: str) -> str:
    """ApiService -> api service; TranscodeDeadLetterQueue -> transcode DLQ."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", logical).lower()
    return words.replace("dead letter queue", "DLQ")


def _node_class(icon: str):
    module, cls = icon.split(".")
    return getattr(__import__(f"diagrams.aws.{module}", fromlist=[cls]), cls)


@dataclass
class Picture:
    """What the picture shows, before any drawing: per template its nodes, and the flows
    whose two ends both exist. Pure data (no diagrams or graphviz needed)."""

    clusters: dict[str, list[Shown]]
    flows: list[tuple[str, str, str, str]]  # (flow, start node id, end node id, label)


def picture(templates: dict[str, dict]) -> Picture:
    ends: dict[str, str] = {VIEWERS: VIEWERS}
    clusters: dict[str, list[Shown]] = {}
    for tier, template in templates.items():
        nodes = clusters.setdefault(tier, [])
        for key, shown in shown_resources(tier, template):
            if shown not in nodes:
                nodes.append(shown)
            ends.setdefault(key, shown.node_id)
    flows = [
        (flow, ends[start], ends[end], label)
        for flow, start, end, label in FLOWS
        if start in ends and end in ends
    ]
    return Picture(clusters, flows)


def build_diagram(templates: dict[str, dict], filename: str):
    """The diagrams.Diagram of the build (not rendered); its .dot is the Graphviz graph.
    Needs the docs extra (the diagrams package)."""
    from diagrams import Cluster, Diagram, Edge, setdiagram
    from diagrams.aws.general import Users

    drawing = picture(templates)
    diagram = Diagram(
        TITLE,
        filename=filename,
        show=False,
        direction="TB",
        outformat=["png", "svg"],
        graph_attr={
            "pad": "0.5",
            "fontsize": "22",
            "splines": "spline",
            "nodesep": "0.8",
            "ranksep": "1.0",
        },
    )
    setdiagram(diagram)
    try:
        nodes: dict[str, object] = {VIEWERS: Users("viewers", nodeid=VIEWERS)}
        for tier, shown_nodes in drawing.clusters.items():
            with Cluster(tier):
                for shown in shown_nodes:
                    nodes[shown.node_id] = _node_class(shown.icon)(
                        shown.label, nodeid=shown.node_id
                    )
        for flow, start, end, label in drawing.flows:
            (
                nodes[start]
                >> Edge(label=label, color=COLOURS[flow], fontcolor=COLOURS[flow], style="bold")
                >> nodes[end]
            )
        return diagram
    finally:
        setdiagram(None)


def source(templates: dict[str, dict]) -> str:
    """The Graphviz source of the picture (needs the diagrams package, not graphviz)."""
    return build_diagram(templates, BASENAME).dot.source


def inline_images(svg: str) -> str:
    """Embed the icon files an SVG refers to, so it does not point into a venv."""

    def embed(match: re.Match) -> str:
        path = Path(match.group(2))
        data = base64.b64encode(path.read_bytes()).decode()
        return f'{match.group(1)}="data:image/png;base64,{data}"'

    return re.sub(r'(xlink:href|href)="(/[^"]+\.png)"', embed, svg)


def render(templates: dict[str, dict], out_dir: Path = DOCS) -> list[Path]:
    """Write <out_dir>/architecture.png and .svg (needs graphviz's `dot`)."""
    import shutil

    if shutil.which("dot") is None:
        raise SystemExit(
            "graphviz is not installed: `make diagram` installs it (apt-get install graphviz)"
        )
    diagram = build_diagram(templates, str(out_dir / BASENAME))
    written = []
    for fmt in ("png", "svg"):
        path = Path(
            diagram.dot.render(
                filename=BASENAME, directory=str(out_dir), format=fmt, cleanup=True, quiet=True
            )
        )
        if fmt == "svg":
            path.write_text(inline_images(path.read_text()))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR)
    parser.add_argument("--out-dir", type=Path, default=DOCS)
    parser.add_argument(
        "--source", action="store_true", help="print the Graphviz source instead of rendering"
    )
    args = parser.parse_args(argv)
    templates = load(args.build_dir)
    if args.source:
        print(source(templates))
        return 0
    for path in render(templates, args.out_dir):
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
