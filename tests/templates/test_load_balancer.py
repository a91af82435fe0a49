"""load-balancer tier: the ALB and its listeners, listener rules, origin verification
and the api/web target groups, in dev, staging and prod."""

import pytest

from tests.cfn import evaluate
from tests.conftest import assert_snapshot

CERT = "arn:aws:acm:us-west-2:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666"


@pytest.fixture(scope="module")
def lb(rendered, env):  # env: dev and prod (tests/conftest.py)
    return evaluate(rendered["load-balancer"], env)


def test_snapshot(rendered_text):
    assert_snapshot("load-balancer", rendered_text["load-balancer"])


ENVIRONMENTS = ["dev", "staging", "prod"]


def test_alb_internal_outside_dev_with_logs_and_protections(lb, env):
    props = lb.props("Alb")
    # dev's direct tests use seed 001's internet-facing ALB; elsewhere only CloudFront's
    # VPC origin reaches it, from inside the VPC.
    if env == "dev":
        assert props["Scheme"] == "internet-facing"
        assert props["Subnets"] == "<from:PublicSubnetIds>"
    else:
        assert props["Scheme"] == "internal"
        assert props["Subnets"] == "<from:AppSubnetIds>"
    assert props["Type"] == "application"
    assert props["SecurityGroups"] == ["<from:AlbSecurityGroupId>"]
    attributes = {a["Key"]: a["Value"] for a in props["LoadBalancerAttributes"]}
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["access_logs.s3.bucket"] == "<from:AccessLogsBucketName>"
    assert attributes["access_logs.s3.prefix"] == "alb"
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["routing.http.desync_mitigation_mode"] in ("defensive", "strictest")
    assert attributes["deletion_protection.enabled"] == ("false" if env == "dev" else "true")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_http_forwards_without_certificate(rendered, env):
    lb = evaluate(rendered["load-balancer"], env)
    (action,) = lb.props("HttpListener")["DefaultActions"]
    assert action == {"Type": "forward", "TargetGroupArn": {"Ref": "WebTargetGroup"}}
    assert "HttpsListener" not in lb.resources
    assert lb.outputs["AlbListenerArn"]["Value"] == {"Ref": "HttpListener"}


def test_certificate_redirects_http_of_an_internet_facing_alb_to_tls13_https(rendered):
    lb = evaluate(rendered["load-balancer"], "dev", {"AlbCertificateArn": CERT})
    (action,) = lb.props("HttpListener")["DefaultActions"]
    assert action["Type"] == "redirect"
    assert action["RedirectConfig"]["StatusCode"] == "HTTP_301"
    assert action["RedirectConfig"]["Protocol"] == "HTTPS"
    assert_tls13_https(lb)


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_an_internal_alb_with_a_certificate_listens_on_https_only(rendered, env):
    lb = evaluate(rendered["load-balancer"], env, {"AlbCertificateArn": CERT})
    assert "HttpListener" not in lb.resources
    assert_tls13_https(lb)


def assert_tls13_https(lb):
    https = lb.props("HttpsListener")
    assert https["Port"] == 443 and https["Protocol"] == "HTTPS"
    assert https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https["Certificates"] == [{"CertificateArn": CERT}]
    assert lb.outputs["AlbListenerArn"]["Value"] == {"Ref": "HttpsListener"}
    for rule in ("ApiListenerRule", "WebListenerRule"):
        assert lb.props(rule)["ListenerArn"] == {"Ref": "HttpsListener"}


def test_http_listener_suppressions_say_where_plain_http_is_served(rendered):
    skips = {
        s["id"]: s["comment"]
        for s in rendered["load-balancer"]["Resources"]["HttpListener"]["Metadata"]["checkov"][
            "skip"
        ]
    }
    assert set(skips) == {"CKV_AWS_2", "CKV_AWS_103"}
    assert "VPC origin" in skips["CKV_AWS_2"] and "refuse internet-facing" in skips["CKV_AWS_2"]


def test_rules_route_api_and_web(lb):
    api, web = lb.props("ApiListenerRule"), lb.props("WebListenerRule")
    assert api["Priority"] == 10 and web["Priority"] < 50000 and web["Priority"] > 10
    assert {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}} in api[
        "Conditions"
    ]
    for name, rule in (("Api", api), ("Web", web)):
        assert rule["Actions"] == [_weighted(name)]


def _weighted(name):
    """Both of the service's target groups, by weight: blue takes everything at first."""
    return {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [
                {"TargetGroupArn": {"Ref": f"{name}TargetGroup"}, "Weight": 100},
                {"TargetGroupArn": {"Ref": f"{name}AlternateTargetGroup"}, "Weight": 0},
            ]
        },
    }


def test_blue_green_pairs_of_target_groups_and_test_rules(lb, env):
    """The resources ECS's blue/green strategy needs exist in every environment (the
    compute tier decides whether releases use them): a second target group exactly like
    the first, and a test rule ahead of each production rule for the release-test header."""
    test_header = {
        "Field": "http-header",
        "HttpHeaderConfig": {"HttpHeaderName": "X-Release-Stage", "Values": ["test"]},
    }
    for name, priority in (("Api", 10), ("Web", 20)):
        blue, green = lb.props(f"{name}TargetGroup"), lb.props(f"{name}AlternateTargetGroup")
        assert {k: v for k, v in blue.items() if k != "Tags"} == {
            k: v for k, v in green.items() if k != "Tags"
        }
        production, test = lb.props(f"{name}ListenerRule"), lb.props(f"{name}TestListenerRule")
        assert test["Priority"] == priority - 1 == production["Priority"] - 1
        assert test["Actions"] == production["Actions"] == [_weighted(name)]
        assert test_header in test["Conditions"] and test_header not in production["Conditions"]
        assert [c for c in test["Conditions"] if c != test_header] == production["Conditions"]
        for rule in (f"{name}ListenerRule", f"{name}TestListenerRule"):
            metadata = rendered_metadata(lb, rule)
            assert metadata["streamstack:TrafficManagedBy"] == "ecs-blue-green"
            assert lb.outputs[f"{rule}Arn"]["Value"] == {"Ref": rule}
        for group in (f"{name}AlternateTargetGroupArn", f"{name}AlternateTargetGroupFullName"):
            assert group in lb.outputs


def rendered_metadata(lb, logical):
    return lb.raw["Resources"][logical]["Metadata"]


HEADER = {
    "Field": "http-header",
    "HttpHeaderConfig": {
        "HttpHeaderName": "X-Origin-Verify",
        "Values": [{"Fn::Sub": "{{resolve:secretsmanager:${OriginVerifySecret}}}"}],
    },
}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_origin_verify_secret_where_the_params_need_none(rendered, env):
    """dev serves directly (AlbOriginVerify disabled); staging and prod are internal: a
    VPC origin needs no shared secret, so none exists to leak or to rotate."""
    lb = evaluate(rendered["load-balancer"], env)
    assert "OriginVerifySecret" not in lb.resources
    assert lb.outputs["OriginVerifySecretArn"]["Value"] == ""
    assert lb.outputs["OriginVerifyEnforced"]["Value"] == "false"
    (default,) = lb.props("HttpListener")["DefaultActions"]
    assert default["Type"] == "forward"
    for rule in (
        "ApiListenerRule",
        "WebListenerRule",
        "ApiTestListenerRule",
        "WebTestListenerRule",
    ):
        assert HEADER not in lb.props(rule)["Conditions"]


def test_an_internet_facing_alb_may_require_the_origin_header(rendered):
    lb = evaluate(rendered["load-balancer"], "dev", {"AlbOriginVerify": "enabled"})
    (default,) = lb.props("HttpListener")["DefaultActions"]
    assert default["Type"] == "fixed-response"
    assert default["FixedResponseConfig"]["StatusCode"] == "403"
    for rule in (
        "ApiListenerRule",
        "WebListenerRule",
        "ApiTestListenerRule",
        "WebTestListenerRule",
    ):
        assert HEADER in lb.props(rule)["Conditions"]
    assert lb.outputs["OriginVerifyEnforced"]["Value"] == "true"
    assert lb.outputs["OriginVerifySecretArn"]["Value"] == {"Ref": "OriginVerifySecret"}
    secret = lb.props("OriginVerifySecret")
    assert secret["KmsKeyId"] == "<from:DataKeyArn>"
    assert secret["GenerateSecretString"]["ExcludePunctuation"] is True
    # Why it does not rotate sits next to it.
    reason = lb.resources["OriginVerifySecret"]["Metadata"]["streamstack:NotRotated"]
    assert "deploy" in reason and "VPC origin" in reason


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_an_internal_alb_ignores_the_origin_header_toggle(rendered, env):
    lb = evaluate(rendered["load-balancer"], env, {"AlbOriginVerify": "enabled"})
    assert "OriginVerifySecret" not in lb.resources
    assert lb.outputs["OriginVerifyEnforced"]["Value"] == "false"


def test_target_groups(lb, env):
    for name in ("Api", "Web", "ApiAlternate", "WebAlternate"):
        props = lb.props(f"{name}TargetGroup")
        assert props["TargetType"] == "ip"
        assert props["Port"] == "8000"
        assert props["HealthCheckPath"] == "/health"
        assert props["HealthyThresholdCount"] == props["UnhealthyThresholdCount"] == 2
        assert props["HealthCheckIntervalSeconds"] == ("15" if env == "dev" else "30")
        attributes = {a["Key"]: a["Value"] for a in props["TargetGroupAttributes"]}
        assert attributes["deregistration_delay.timeout_seconds"] == (
            "10" if env == "dev" else "300"
        )
        assert attributes["stickiness.enabled"] == ("false" if env == "dev" else "true")


def test_contract_outputs(rendered):
    assert {
        "AlbArn",
        "AlbDnsName",
        "AlbCanonicalHostedZoneId",
        "AlbFullName",
        "AlbListenerArn",
        "ApiTargetGroupArn",
        "ApiTargetGroupFullName",
        "WebTargetGroupArn",
        "WebTargetGroupFullName",
        *(
            f"{name}{suffix}"
            for name in ("Api", "Web")
            for suffix in (
                "AlternateTargetGroupArn",
                "AlternateTargetGroupFullName",
                "ListenerRuleArn",
                "TestListenerRuleArn",
            )
        ),
        "OriginVerifySecretArn",
        "OriginVerifyEnforced",
    } == set(rendered["load-balancer"]["Outputs"])


def test_reads_nothing_of_the_data_tier(rendered):
    """Only network, security, storage and dns outputs: CloudFront need not wait for Aurora."""
    groups = rendered["load-balancer"]["Metadata"]["AWS::CloudFormation::Interface"][
        "ParameterGroups"
    ]
    wiring = next(g["Parameters"] for g in groups if g["Label"]["default"] == "Wiring")
    assert sorted(wiring) == [
        "AccessLogsBucketName",
        "AlbSecurityGroupId",
        "AppSubnetIds",
        "DataKeyArn",
        "PublicSubnetIds",
        # The origin-verify secret's replica in the standby region (from the standby stack).
        "StandbyKeyArn",
        "StandbyRegion",
        "VpcId",
    ]
