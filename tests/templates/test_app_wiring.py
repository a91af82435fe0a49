"""The application tiers against docs/wiring.md, and their place in the nested-stack
dependency graph (a tier waits only for what it reads)."""

import re
from pathlib import Path

import pytest

from templates.root import dependencies

WIRING = Path(__file__).resolve().parents[2] / "docs" / "wiring.md"
APP_TIERS = ("data", "messaging", "load-balancer", "compute", "fleet")


def contract() -> dict[str, tuple[list[str], list[str]]]:
    """tier -> (parameters it reads, outputs it produces), from the wiring table."""
    rows = {}
    for line in WIRING.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] in APP_TIERS:
            rows[cells[0]] = tuple(_names(c) for c in cells[1:])
    return rows


def _names(cell: str) -> list[str]:
    cell = re.sub(r"\([^)]*\)", "", cell)
    return [n.strip() for n in re.split(r"[,;]", cell) if re.fullmatch(r"[A-Z]\w+", n.strip())]


@pytest.mark.parametrize("tier", APP_TIERS)
def test_tier_produces_every_contract_output(rendered, tier):
    reads, outputs = contract()[tier]
    assert outputs, "the wiring table has no outputs for this tier"
    assert sorted(set(outputs) - set(rendered[tier]["Outputs"])) == []


@pytest.mark.parametrize("tier", ["data", "messaging", "fleet"])
def test_tier_reads_its_inputs_under_the_contract_names(rendered, tier):
    reads, _ = contract()[tier]
    assert sorted(set(reads) - set(rendered[tier]["Parameters"])) == []


def test_load_balancer_reads_the_certificate_as_a_plain_compute_parameter(rendered):
    spec = rendered["load-balancer"]["Parameters"]["AlbCertificateArn"]
    assert spec["Default"] == ""
    groups = rendered["load-balancer"]["Metadata"]["AWS::CloudFormation::Interface"][
        "ParameterGroups"
    ]
    group = next(g["Label"]["default"] for g in groups if "AlbCertificateArn" in g["Parameters"])
    assert group == "Compute"


@pytest.fixture(scope="module")
def graph(children):
    return dependencies(children)


def test_data_and_messaging_start_early(graph):
    # Aurora and ElastiCache start as soon as the keys and subnets exist.
    assert graph["data"] == ["network", "security"]
    assert graph["messaging"] == ["security"]


def test_load_balancer_waits_only_for_network_security_storage_and_dns(graph):
    assert graph["load-balancer"] == ["dns", "network", "security", "storage"]


def test_compute_waits_only_for_what_it_reads(graph):
    assert set(graph["compute"]) <= {
        "network",
        "security",
        "storage",
        "data",
        "messaging",
        "load-balancer",
        "api",
    }
    assert {"load-balancer", "data", "messaging", "api"} <= set(graph["compute"])
    # The metadata API (the task role may invoke it) waits for nothing compute does not
    # already wait for, so it only adds its own short creation to compute's start.
    assert set(graph["api"]) <= set(graph["compute"]) - {"api"}


def test_cdn_reads_the_alb_from_the_load_balancer_not_from_compute(graph):
    assert "load-balancer" in graph["cdn"]
    assert not {"compute", "data"} & set(graph["cdn"])


def test_fleet_waits_for_the_listener_not_for_data(graph):
    assert "load-balancer" in graph["fleet"]
    assert not {"compute", "data", "messaging"} & set(graph["fleet"])


@pytest.mark.parametrize("tier", APP_TIERS)
def test_every_parameter_is_documented(rendered, tier):
    text = (WIRING.parent / "tiers.md").read_text()
    groups = rendered[tier]["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    documented = [
        p
        for g in groups
        if g["Label"]["default"] not in ("Wiring", "Environment")
        for p in g["Parameters"]
    ]
    assert [p for p in documented if f"`{p}`" not in text] == []
