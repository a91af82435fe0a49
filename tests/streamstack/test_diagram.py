"""The architecture picture: what it shows is decided from the templates (plain data, no
diagrams package or graphviz needed), every tier and stand-alone stack of the build is
a cluster in it, flows are drawn only between resources that exist, and the committed
picture is current and self-contained. With the docs extra installed, the Graphviz
source is checked too."""

import html
import json
import re

import pytest

from streamstack import diagram
from templates import DEPLOY_ROLES, STANDALONE, TIERS


@pytest.fixture(scope="module")
def templates(rendered):
    return {name: t for name, t in rendered.items() if name != "root"}


@pytest.fixture(scope="module")
def picture(templates):
    return diagram.picture(templates)


@pytest.fixture(scope="module")
def source(templates):
    pytest.importorskip("diagrams", reason="the docs extra (make diagram) draws the source")
    return diagram.source(templates)


def test_every_template_of_the_build_is_a_cluster_of_the_picture(picture):
    assert set(picture.clusters) == (
        {t.name for t in TIERS} | {s.name for s in STANDALONE + DEPLOY_ROLES}
    )


def test_main_resources_have_aws_icons_and_every_tier_shows_one(picture, templates):
    modules = {
        "network",
        "security",
        "storage",
        "database",
        "integration",
        "compute",
        "media",
        "management",
    }
    nodes = [node for shown in picture.clusters.values() for node in shown]
    assert nodes and all(node.icon.split(".")[0] in modules for node in nodes)
    assert {tier for tier, shown in picture.clusters.items() if shown} == set(templates)


def test_picture_flows_only_between_existing_nodes(picture):
    declared = {node.node_id for shown in picture.clusters.values() for node in shown}
    edges = {(start, end) for _, start, end, _ in picture.flows}
    assert all(a in declared | {"viewers"} and b in declared for a, b in edges)
    assert ("viewers", "storage.UploadsBucket") in edges
    assert ("storage.UploadsBucket", "media.UploadCreatedRule") in edges
    assert ("media.TranscodeFunction", "media.JobTemplate") in edges
    assert ("media.JobTemplate", "storage.MediaBucket") in edges


def test_a_picture_without_a_tier_has_none_of_its_flows(templates):
    without_media = diagram.picture({k: v for k, v in templates.items() if k != "media"})
    assert "media" not in without_media.clusters
    assert not [f for f in without_media.flows if "media." in f[1] + f[2]]


def clusters(text):
    return set(re.findall(r'subgraph "?cluster_([\w-]+)"?', text))


def test_every_template_of_the_build_is_a_cluster(source):
    expected = {t.name for t in TIERS} | {s.name for s in STANDALONE + DEPLOY_ROLES}
    assert clusters(source) == expected


def test_main_resources_drawn_with_aws_icons(source, templates):
    nodes = re.findall(r'^\s*"?([\w.-]+)"? \[label=.*image="([^"]+)"', source, re.M)
    assert nodes, source[:500]
    assert all(
        path.endswith(".png") and "/resources/aws/" in path
        for node, path in nodes
        if node != "viewers"
    )
    # Every tier shows at least one resource.
    tiers_with_nodes = {node.split(".")[0] for node, _ in nodes if "." in node}
    assert tiers_with_nodes == set(templates)


def test_flows_only_between_existing_resources(source):
    edges = re.findall(r'^\s*"?([\w.-]+)"? -> "?([\w.-]+)"?', source, re.M)
    declared = set(re.findall(r'^\s*"?([\w.-]+)"? \[label=', source, re.M))
    assert edges
    assert all(a in declared and b in declared for a, b in edges)
    # The video flow of the media tier is drawn end to end.
    assert ("viewers", "storage.UploadsBucket") in edges
    assert ("storage.UploadsBucket", "media.UploadCreatedRule") in edges
    assert ("media.TranscodeFunction", "media.JobTemplate") in edges
    assert ("media.JobTemplate", "storage.MediaBucket") in edges


def test_a_flow_to_a_missing_tier_is_left_out(source, templates):
    without_media = {k: v for k, v in templates.items() if k != "media"}
    text = diagram.source(without_media)
    assert "cluster_media" not in text and "UploadCreatedRule" not in text


def test_source_is_deterministic(templates, source):
    assert diagram.source(templates) == source


def test_committed_picture_shows_every_tier_and_embeds_its_icons():
    """docs/architecture.svg is regenerated (`make diagram`) whenever tiers change."""
    svg = (diagram.DOCS / "architecture.svg").read_text()
    assert clusters_in_svg(svg) >= {t.name for t in TIERS} | {s.name for s in STANDALONE}
    assert (diagram.DOCS / "architecture.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r'href="/', svg), "the SVG must not point into a local venv"


def clusters_in_svg(svg):
    return {html.unescape(t) for t in re.findall(r"<title>cluster_([^<]+)</title>", svg)}


def test_load_reads_the_build_in_nesting_order(tmp_path, templates):
    (tmp_path / "templates").mkdir()
    entries = {}
    for name, template in {**templates, "root": {}}.items():
        (tmp_path / "templates" / f"{name}.json").write_text(json.dumps(template))
        entries[name] = {
            "file": f"templates/{name}.json",
            "kind": "root" if name == "root" else "tier",
        }
    (tmp_path / "manifest.json").write_text(json.dumps({"templates": entries}))
    loaded = diagram.load(tmp_path)
    assert list(loaded)[: len(TIERS)] == [t.name for t in TIERS]
    assert "root" not in loaded


def test_load_without_a_build_says_what_to_run(tmp_path):
    with pytest.raises(SystemExit, match="make build"):
        diagram.load(tmp_path)


def test_inline_images_embeds_local_pngs(tmp_path):
    icon = tmp_path / "icon.png"
    icon.write_bytes(b"\x89PNG fake")
    svg = f'<image xlink:href="{icon}" width="10"/>'
    out = diagram.inline_images(svg)
    assert str(tmp_path) not in out and 'xlink:href="data:image/png;base64,' in out
