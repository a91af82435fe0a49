"""dns-records tier: alias records for cdn.<domain> and api.<domain>, in dev and prod."""

import pytest

from tests.cfn import evaluate
from tests.conftest import assert_snapshot

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-aaaa-bbbb-cccc-0123456789ab"


@pytest.fixture(scope="module")
def template(rendered):
    return rendered["dns-records"]


def test_snapshot(rendered_text):
    assert_snapshot("dns-records", rendered_text["dns-records"])


def test_reads_exactly_the_contracted_inputs(template):
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    wiring = {p for g in groups if g["Label"]["default"] == "Wiring" for p in g["Parameters"]}
    assert wiring == {
        "HostedZoneId",
        "DistributionDomainName",
        "AlbDnsName",
        "AlbCanonicalHostedZoneId",
        "CdnCertificateArn",
        "ApiFailover",
        "AlbFullName",
        "ApiTargetGroupFullName",
        "ApiAlternateTargetGroupFullName",
    }
    assert sorted(template["Metadata"]["streamstack:DeployTimeParameters"]) == [
        "ApiFailover",
        "CdnCertificateArn",
    ]


def test_no_records_without_a_domain(template):
    ev = evaluate(template, "prod", {"DomainName": "", "CdnCertificateArn": CERT})
    assert ev.resources == {}
    assert ev.outputs["CdnRecordName"]["Value"] == ev.outputs["ApiRecordName"]["Value"] == ""


def test_api_alias_a_and_aaaa_to_the_alb_with_target_health(template, env):
    ev = evaluate(template, env, {"DomainName": "example.org"})
    for record_type in ("A", "AAAA"):
        props = ev.props(f"ApiRecord{record_type}")
        assert props["Type"] == record_type
        assert props["Name"] == {"Fn::Sub": "api.${DomainName}"}
        assert props["HostedZoneId"] == "<from:HostedZoneId>"
        assert props["AliasTarget"] == {
            "DNSName": "<from:AlbDnsName>",
            "HostedZoneId": "<from:AlbCanonicalHostedZoneId>",
            "EvaluateTargetHealth": True,
        }
    assert ev.outputs["ApiRecordName"]["Value"] == {"Fn::Sub": "api.${DomainName}"}


def test_cdn_alias_only_with_the_edge_certificate(template, env):
    ev = evaluate(template, env, {"DomainName": "example.org"})
    assert not [r for r in ev.resources if r.startswith("CdnRecord")]
    assert ev.outputs["CdnRecordName"]["Value"] == ""


def test_cdn_alias_a_and_aaaa_to_cloudfront(template, env):
    ev = evaluate(template, env, {"DomainName": "example.org", "CdnCertificateArn": CERT})
    for record_type in ("A", "AAAA"):
        props = ev.props(f"CdnRecord{record_type}")
        assert props["Type"] == record_type
        assert props["Name"] == {"Fn::Sub": "cdn.${DomainName}"}
        assert props["AliasTarget"] == {
            "DNSName": "<from:DistributionDomainName>",
            "HostedZoneId": "Z2FDTNDATAQYW2",
            "EvaluateTargetHealth": False,
        }
    assert ev.outputs["CdnRecordName"]["Value"] == {"Fn::Sub": "cdn.${DomainName}"}


def test_dev_domain_gets_the_api_record(template):
    """dev's params name a test zone: the api record exists there from the start."""
    ev = evaluate(template, "dev")
    assert {"ApiRecordA", "ApiRecordAAAA"} <= set(ev.resources)
