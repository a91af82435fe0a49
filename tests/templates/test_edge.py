"""edge stack (stand-alone, us-east-1): WAF web ACL, its logging, and the CloudFront
certificate, in dev and prod and with a domain, zone and the toggles turned on."""

import pytest

from templates import STANDALONE, TIERS
from templates.edge import EdgeTier
from tests.cfn import evaluate, statements
from tests.conftest import assert_snapshot

MANAGED = {
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
}


@pytest.fixture(scope="module")
def edge(rendered, env):
    return evaluate(rendered["edge"], env)


def _rules(ev):
    return {r["Name"]: r for r in ev.props("WebAcl")["Rules"]}


def test_snapshot(rendered_text):
    assert_snapshot("edge", rendered_text["edge"])


def test_stand_alone_not_nested(rendered):
    assert EdgeTier in STANDALONE and EdgeTier not in TIERS
    assert "EdgeStack" not in rendered["root"]["Resources"]
    assert not rendered["edge"].get("Outputs", {}).keys() & rendered["root"]["Outputs"].keys()


def test_cloudfront_scope_allow_by_default(edge):
    acl = edge.props("WebAcl")
    assert acl["Scope"] == "CLOUDFRONT"
    assert acl["DefaultAction"] == {"Allow": {}}
    assert acl["VisibilityConfig"]["CloudWatchMetricsEnabled"] is True
    assert edge.outputs["CdnWebAclArn"]["Value"] == {"Fn::GetAtt": ["WebAcl", "Arn"]}


def test_managed_rule_groups_enforce(edge):
    managed = {
        r["Statement"]["ManagedRuleGroupStatement"]["Name"]: r
        for r in _rules(edge).values()
        if "ManagedRuleGroupStatement" in r["Statement"]
    }
    assert set(managed) == MANAGED  # bot control is off by default
    for rule in managed.values():
        assert rule["Statement"]["ManagedRuleGroupStatement"]["VendorName"] == "AWS"
        assert rule["OverrideAction"] == {"None": {}}  # the groups' own block actions apply
        assert rule["VisibilityConfig"]["SampledRequestsEnabled"] is True


def test_rate_limit_per_ip_blocks(edge):
    rule = _rules(edge)["rate-limit-per-ip"]
    assert rule["Action"] == {"Block": {}}
    assert rule["Statement"]["RateBasedStatement"] == {
        "Limit": "2000",
        "AggregateKeyType": "IP",
        "EvaluationWindowSec": 300,
    }


def test_rate_limit_is_a_parameter(rendered, env):
    ev = evaluate(rendered["edge"], env, {"WafRateLimit": "500"})
    assert _rules(ev)["rate-limit-per-ip"]["Statement"]["RateBasedStatement"]["Limit"] == "500"


def test_bot_control_only_when_enabled(rendered, env):
    ev = evaluate(rendered["edge"], env, {"BotControl": "enabled"})
    rule = _rules(ev)["bot-control"]
    statement = rule["Statement"]["ManagedRuleGroupStatement"]
    assert statement["Name"] == "AWSManagedRulesBotControlRuleSet"
    assert statement["ManagedRuleGroupConfigs"] == [
        {"AWSManagedRulesBotControlRuleSet": {"InspectionLevel": "COMMON"}}
    ]
    priorities = [r["Priority"] for r in ev.props("WebAcl")["Rules"]]
    assert len(priorities) == len(set(priorities)) == 5


def test_logs_blocked_requests_to_an_encrypted_waf_log_group(edge, env):
    group = edge.resources["WafLogGroup"]
    assert group["Properties"]["LogGroupName"] == {"Fn::Sub": "aws-waf-logs-cdn-${Environment}"}
    assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["EdgeLogKey", "Arn"]}
    assert group["Properties"]["RetentionInDays"] == "30"
    assert group["DeletionPolicy"] == ("Delete" if env == "dev" else "Retain")
    logging = edge.props("WebAclLogging")
    assert logging["ResourceArn"] == {"Fn::GetAtt": ["WebAcl", "Arn"]}
    # The log group ARN without GetAtt's ":*" suffix, which WAF rejects.
    assert logging["LogDestinationConfigs"] == [
        {
            "Fn::Sub": (
                "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:"
                "log-group:${WafLogGroup}"
            )
        }
    ]
    assert [f["SingleHeader"]["Name"] for f in logging["RedactedFields"]] == [
        "authorization",
        "cookie",
    ]
    log_filter = logging["LoggingFilter"]
    assert log_filter["DefaultBehavior"] == "DROP"
    (keep,) = log_filter["Filters"]
    assert keep["Behavior"] == "KEEP"
    assert {"BLOCK", "COUNT"} <= {c["ActionCondition"]["Action"] for c in keep["Conditions"]}


def test_log_key_rotates_and_serves_only_waf_log_groups(edge, env):
    key = edge.resources["EdgeLogKey"]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == ("Delete" if env == "dev" else "Retain")
    st = statements(key["Properties"]["KeyPolicy"])
    logs_use = st["CloudWatchLogsUse"]
    assert logs_use["Principal"] == {"Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}}
    assert logs_use["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:"
        "log-group:aws-waf-logs-*"
    }


def test_no_certificate_without_domain_or_toggle(edge):
    assert "CdnCertificate" not in edge.resources
    assert edge.outputs["CdnCertificateArn"]["Value"] == ""


def test_certificate_validated_through_the_zone_when_given(rendered, env):
    ev = evaluate(
        rendered["edge"],
        env,
        {"DomainName": "example.org", "Certificates": "enabled", "HostedZoneId": "Z0123456789ABC"},
    )
    cert = ev.props("CdnCertificate")
    assert cert["DomainName"] == {"Fn::Sub": "cdn.${DomainName}"}
    assert cert["ValidationMethod"] == "DNS"
    assert cert["DomainValidationOptions"] == [
        {"DomainName": {"Fn::Sub": "cdn.${DomainName}"}, "HostedZoneId": "Z0123456789ABC"}
    ]
    assert ev.outputs["CdnCertificateArn"]["Value"] == {"Ref": "CdnCertificate"}


def test_certificate_without_zone_waits_for_manual_validation(rendered, env):
    ev = evaluate(rendered["edge"], env, {"DomainName": "example.org", "Certificates": "enabled"})
    cert = ev.props("CdnCertificate")
    assert cert["ValidationMethod"] == "DNS" and "DomainValidationOptions" not in cert


def test_domain_and_certificates_declared_as_in_the_dns_tier(rendered):
    """deploy.py passes the params file's values of both to the edge stack too."""
    for name in ("DomainName", "Certificates"):
        assert rendered["edge"]["Parameters"][name] == rendered["dns"]["Parameters"][name]


# -- CloudFront alarm (the root outside us-east-1) --------------------------------------
def test_no_alarm_or_topic_without_a_distribution(edge):
    assert not {
        "AlarmTopic",
        "AlarmTopicPolicy",
        "AlarmEmailSubscription",
        "CloudFront5xxRateAlarm",
    } & set(edge.resources)
    assert edge.outputs["EdgeCloudFront5xxRateAlarmName"]["Value"] == ""
    assert edge.outputs["EdgeAlarmTopicArn"]["Value"] == ""


def test_cloudfront_alarm_notifies_an_encrypted_topic_of_its_own_region(rendered, env):
    ev = evaluate(rendered["edge"], env, {"DistributionId": "E2QWRUHAPOMQZL"})
    alarm = ev.props("CloudFront5xxRateAlarm")
    assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlarmTopic"}]
    (query,) = alarm["Metrics"]
    stat = query["MetricStat"]
    assert stat["Metric"]["Namespace"] == "AWS/CloudFront"
    assert stat["Metric"]["MetricName"] == "5xxErrorRate"
    assert {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]} == {
        "DistributionId": "E2QWRUHAPOMQZL",
        "Region": "Global",
    }
    assert alarm["Threshold"] == 5 and alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmName"] == {"Fn::Sub": "alarm-cloudfront-5xx-rate-${Environment}"}
    assert ev.props("AlarmTopic")["KmsMasterKeyId"] == {"Fn::GetAtt": ["EdgeLogKey", "Arn"]}
    policy = statements(ev.props("AlarmTopicPolicy")["PolicyDocument"])
    assert policy["CloudWatchAlarmsOfThisAccount"]["Principal"] == {
        "Service": "cloudwatch.amazonaws.com"
    }
    assert policy["DenyInsecureTransport"]["Effect"] == "Deny"
    key = statements(ev.props("EdgeLogKey")["KeyPolicy"])["CloudWatchAlarmsUse"]
    assert key["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert set(key["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert key["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert "AlarmEmailSubscription" not in ev.resources  # no address, no subscription


def test_alarm_email_subscribes_only_where_the_alarm_exists(rendered):
    ev = evaluate(
        rendered["edge"],
        "prod",
        {"DistributionId": "E2QWRUHAPOMQZL", "AlarmEmail": "ops@example.com"},
    )
    assert ev.props("AlarmEmailSubscription")["Endpoint"] == "ops@example.com"
    ev = evaluate(rendered["edge"], "prod", {"AlarmEmail": "ops@example.com"})
    assert "AlarmEmailSubscription" not in ev.resources


def test_alarm_email_declared_as_in_the_observability_tier(rendered):
    """deploy.py passes the params file's AlarmEmail to the edge stack as well."""
    assert (
        rendered["edge"]["Parameters"]["AlarmEmail"]
        == rendered["observability"]["Parameters"]["AlarmEmail"]
    )
