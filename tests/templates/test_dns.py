"""dns tier: the zone (created or existing) and the ALB certificate, in dev and prod,
and with an existing zone and certificates turned on."""

import pytest

from tests.cfn import evaluate
from tests.conftest import assert_snapshot

DEV_DOMAIN = "streaming-platform-dev.example.com"


@pytest.fixture(scope="module")
def dns(rendered, env):
    return evaluate(rendered["dns"], env)


def test_snapshot(rendered_text):
    assert_snapshot("dns", rendered_text["dns"])


def test_waits_for_no_other_tier(rendered):
    """Nothing is wired in: the certificate can exist before the load balancer needs it."""
    groups = rendered["dns"]["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    assert "Wiring" not in [g["Label"]["default"] for g in groups]


def test_certificate_before_load_balancer_records_after_cdn(children):
    """dns waits for nothing; the load balancer waits for its certificate; the records wait for
    the ALB and the distribution they point at."""
    from templates.root import dependencies

    graph = dependencies(children)
    assert graph["dns"] == []
    assert "dns" in graph["load-balancer"]
    assert set(graph["cdn"]) == {"security", "storage", "dns", "load-balancer"}
    assert set(graph["dns-records"]) == {"dns", "load-balancer", "cdn"}


def test_edge_values_reach_the_root_as_deploy_time_parameters(rendered):
    from templates.base import DEPLOY_TIME_KEY

    root = rendered["root"]
    for name in ("CdnCertificateArn", "CdnWebAclArn"):
        assert name in root["Metadata"][DEPLOY_TIME_KEY]
        assert root["Parameters"][name]["Default"] == ""
    # one root parameter feeds both readers of the certificate
    for stack in ("CdnStack", "DnsRecordsStack"):
        assert root["Resources"][stack]["Properties"]["Parameters"]["CdnCertificateArn"] == {
            "Ref": "CdnCertificateArn"
        }


def test_dev_creates_its_test_zone_kept_only_outside_dev(dns, env):
    if env == "prod":  # no domain in prod's params yet: no DNS at all
        assert dns.resources == {}
        assert dns.outputs["HostedZoneId"]["Value"] == ""
        assert dns.outputs["HostedZoneNameServers"]["Value"] == ""
        return
    zone = dns.resources["HostedZone"]
    assert zone["Properties"]["Name"] == DEV_DOMAIN
    assert zone["DeletionPolicy"] == zone["UpdateReplacePolicy"] == "Delete"
    assert dns.outputs["HostedZoneId"]["Value"] == {"Ref": "HostedZone"}
    assert dns.outputs["HostedZoneNameServers"]["Value"] == {
        "Fn::Join": [",", {"Fn::GetAtt": ["HostedZone", "NameServers"]}]
    }


def test_zone_retained_outside_dev(rendered):
    zone = evaluate(rendered["dns"], "prod", {"DomainName": "example.org"}).resources["HostedZone"]
    assert zone["DeletionPolicy"] == zone["UpdateReplacePolicy"] == "Retain"


def test_no_certificate_until_enabled(dns):
    assert "AlbCertificate" not in dns.resources
    assert dns.outputs["AlbCertificateArn"]["Value"] == ""


def test_existing_zone_is_used_not_created(rendered, env):
    ev = evaluate(
        rendered["dns"],
        env,
        {
            "DomainName": "example.org",
            "ExistingHostedZoneId": "Z0123456789ABC",
            "Certificates": "enabled",
        },
    )
    assert "HostedZone" not in ev.resources
    assert ev.outputs["HostedZoneId"]["Value"] == "Z0123456789ABC"
    assert ev.outputs["HostedZoneNameServers"]["Value"] == ""
    cert = ev.props("AlbCertificate")
    assert cert["DomainValidationOptions"] == [
        {"DomainName": {"Fn::Sub": "api.${DomainName}"}, "HostedZoneId": "Z0123456789ABC"}
    ]


def test_certificate_for_api_validated_through_the_new_zone(rendered, env):
    ev = evaluate(rendered["dns"], env, {"DomainName": "example.org", "Certificates": "enabled"})
    cert = ev.props("AlbCertificate")
    assert cert["DomainName"] == {"Fn::Sub": "api.${DomainName}"}
    assert cert["ValidationMethod"] == "DNS"
    assert cert["DomainValidationOptions"][0]["HostedZoneId"] == {"Ref": "HostedZone"}
    assert cert["CertificateTransparencyLoggingPreference"] == "ENABLED"
    assert ev.outputs["AlbCertificateArn"]["Value"] == {"Ref": "AlbCertificate"}


def test_certificates_toggle_without_domain_creates_nothing(rendered, env):
    ev = evaluate(rendered["dns"], env, {"DomainName": "", "Certificates": "enabled"})
    assert ev.resources == {}
    assert ev.outputs["AlbCertificateArn"]["Value"] == ""


def test_domain_pattern_rejects_upper_case_and_trailing_dot(rendered):
    import re

    pattern = re.compile(rendered["dns"]["Parameters"]["DomainName"]["AllowedPattern"])
    assert pattern.match(DEV_DOMAIN) and pattern.match("")
    assert not pattern.match("Example.com") and not pattern.match("example.com.")


@pytest.mark.parametrize("tier", ["dns", "cdn", "dns-records"])
def test_delivery_tiers_keep_the_wiring_contract(rendered, tier):
    """Every input and output docs/wiring.md names for the tier, under that name."""
    from tests.templates.test_app_wiring import WIRING, _names

    ((reads, outputs),) = [
        (_names(cells[1]), _names(cells[2]))
        for cells in (
            [c.strip() for c in line.strip().strip("|").split("|")]
            for line in WIRING.read_text().splitlines()
        )
        if cells[0] == tier
    ]
    assert reads and outputs
    assert sorted(set(reads) - set(rendered[tier]["Parameters"])) == []
    assert sorted(set(outputs) - set(rendered[tier]["Outputs"])) == []
