"""edge (stand-alone, us-east-1): what CloudFront can only take from us-east-1 — the
CloudFront-scope WAF web ACL and the certificate for cdn.<domain>.

deploy.py deploys this stack to us-east-1 and passes its outputs CdnWebAclArn and
CdnCertificateArn to the root's deploy-time parameters of the same names (the cdn and
dns-records tiers read them); no exports cross the regions.

CloudFront alarm: CloudFront publishes its metrics only in us-east-1, and an alarm
watches its own region. Where the root runs elsewhere, deploy.py passes the root's
DistributionId here (on the `make edge` after the root exists) and this stack carries
the CloudFront 5xx alarm with its own alarm topic (an alarm notifies a topic of its own
region). Where the root runs in us-east-1, its observability tier has the alarm.

Web ACL: AWS managed rule groups (IP reputation, common, known bad inputs; bot control
as a toggle, it is billed per request) and a per-IP rate limit, with blocked and counted
requests logged to an aws-waf-logs-* log group encrypted with a key of this stack (the
platform's keys live in the platform's region).
"""

from __future__ import annotations

from awacs import kms as kms_actions
from awacs.aws import Allow, Condition, Principal, Statement, StringEquals
from troposphere import And, Equals, GetAtt, If, Not, Ref, Sub, logs, wafv2
from troposphere import Condition as IsTrue

from templates.base import AWS_NO_VALUE, LOG_RETENTION_DAYS, Tier, arn
from templates.parts.alarms import add_alarm, alarm_topic, cloudfront_5xx_alarm
from templates.parts.certificates import (
    certificate,
    certificates_toggle,
    has_domain,
    optional_zone_id,
)
from templates.parts.keys import customer_key, logs_use_statement

WAF_LOG_PREFIX = "aws-waf-logs-"

# name -> (priority, metric). Priorities leave room for rules added between them.
MANAGED_RULE_GROUPS = {
    "AWSManagedRulesAmazonIpReputationList": (10, "ip-reputation"),
    "AWSManagedRulesCommonRuleSet": (30, "common"),
    "AWSManagedRulesKnownBadInputsRuleSet": (40, "known-bad-inputs"),
}
RATE_LIMIT_PRIORITY = 20
BOT_CONTROL_PRIORITY = 50

# Request headers that carry credentials never reach the logs.
REDACTED_HEADERS = ("authorization", "cookie")
# Logged: what WAF did not simply allow. Allowed requests are already in the CloudFront
# access logs; logging every video segment request twice would cost more than the CDN.
LOGGED_ACTIONS = ("BLOCK", "COUNT", "CAPTCHA", "CHALLENGE", "EXCLUDED_AS_COUNT")


def visibility(metric: str) -> wafv2.VisibilityConfig:
    return wafv2.VisibilityConfig(
        CloudWatchMetricsEnabled=True,
        SampledRequestsEnabled=True,
        MetricName=Sub(f"{metric}-${{Environment}}"),
    )


class EdgeTier(Tier):
    name = "edge"
    description = (
        "CloudFront-scope WAF web ACL and the CloudFront certificate (stand-alone, us-east-1)"
    )
    nested = False

    def build(self) -> None:
        self.log_key()
        self.web_acl()
        self.web_acl_logging()
        self.cdn_certificate()
        self.cloudfront_alarm()

    # -- log encryption -------------------------------------------------------------
    def log_key(self) -> None:
        customer_key(
            self,
            "EdgeLogKey",
            "edge",
            "streamstack edge key (${Environment}): WAF logs and the CloudFront alarm "
            "topic in us-east-1",
            [
                logs_use_statement(arn("logs", f"log-group:{WAF_LOG_PREFIX}*")),
                # The CloudFront alarm publishes to the encrypted alarm topic.
                Statement(
                    Sid="CloudWatchAlarmsUse",
                    Effect=Allow,
                    Principal=Principal("Service", "cloudwatch.amazonaws.com"),
                    Action=[kms_actions.Decrypt, kms_actions.GenerateDataKey],
                    Resource=["*"],
                    Condition=Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId"))),
                ),
            ],
        )

    # -- web ACL ---------------------------------------------------------------------
    def web_acl(self) -> None:
        rate_limit = self.parameter(
            "WafRateLimit",
            "Edge",
            Type="Number",
            Default=2000,
            MinValue=10,
            MaxValue=2000000000,
            Description="Requests one client IP may send in 5 minutes before the web ACL "
            "blocks it (players fetch a segment every few seconds; 2000 leaves "
            "room for several viewers behind one NAT).",
        )
        bot_control = self.toggle(
            "BotControl",
            "Edge",
            "disabled",
            "AWS managed Bot Control rule group (common level) on the web ACL. Billed per "
            "request on top of WAF: enable where scraping or credential stuffing matters.",
        )
        rules = [
            self._managed_rule(name, priority, metric)
            for name, (priority, metric) in MANAGED_RULE_GROUPS.items()
        ]
        rules.insert(
            1,
            wafv2.WebACLRule(
                Name="rate-limit-per-ip",
                Priority=RATE_LIMIT_PRIORITY,
                Action=wafv2.RuleAction(Block=wafv2.BlockAction()),
                Statement=wafv2.Statement(
                    RateBasedStatement=wafv2.RateBasedStatement(
                        Limit=rate_limit, AggregateKeyType="IP", EvaluationWindowSec=300
                    )
                ),
                VisibilityConfig=visibility("rate-limit"),
            ),
        )
        rules.append(
            If(
                bot_control,
                self._managed_rule(
                    "AWSManagedRulesBotControlRuleSet",
                    BOT_CONTROL_PRIORITY,
                    "bot-control",
                    configs=[
                        wafv2.ManagedRuleGroupConfig(
                            AWSManagedRulesBotControlRuleSet=wafv2.AWSManagedRulesBotControlRuleSet(
                                InspectionLevel="COMMON"
                            )
                        )
                    ],
                ),
                Ref(AWS_NO_VALUE),
            )
        )
        self.add(
            wafv2.WebACL(
                "WebAcl",
                Scope="CLOUDFRONT",
                DefaultAction=wafv2.DefaultAction(Allow=wafv2.AllowAction()),
                Description=Sub("streamstack ${Environment}: CloudFront distribution"),
                Rules=rules,
                VisibilityConfig=visibility("web-acl"),
                Tags=self.tags("waf", "cdn"),
            )
        )
        self.output(
            "CdnWebAclArn",
            GetAtt("WebAcl", "Arn"),
            "ARN of the CloudFront-scope WAF web ACL (deploy.py passes it to the cdn tier)",
        )

    @staticmethod
    def _managed_rule(name: str, priority: int, metric: str, configs=None) -> wafv2.WebACLRule:
        statement = dict(VendorName="AWS", Name=name)
        if configs:
            statement["ManagedRuleGroupConfigs"] = configs
        return wafv2.WebACLRule(
            Name=metric,
            Priority=priority,
            OverrideAction=wafv2.OverrideAction(**{"None": {}}),
            Statement=wafv2.Statement(
                ManagedRuleGroupStatement=wafv2.ManagedRuleGroupStatement(**statement)
            ),
            VisibilityConfig=visibility(metric),
        )

    # -- logging ---------------------------------------------------------------------
    def web_acl_logging(self) -> None:
        retention = self.parameter(
            "WafLogRetentionDays",
            "Edge",
            Type="Number",
            Default=30,
            AllowedValues=LOG_RETENTION_DAYS,
            Description="Days the WAF log group keeps blocked and counted requests.",
        )
        # WAF requires the aws-waf-logs- prefix, hence a physical name.
        group = self.add(
            self.stateful(
                logs.LogGroup(
                    "WafLogGroup",
                    LogGroupName=Sub(f"{WAF_LOG_PREFIX}cdn-${{Environment}}"),
                    RetentionInDays=retention,
                    KmsKeyId=GetAtt("EdgeLogKey", "Arn"),
                    Tags=self.tags("logs", "waf"),
                )
            )
        )
        # WAF wants the log group ARN without the ":*" that GetAtt Arn appends. It adds
        # the log group's resource policy for delivery.logs.amazonaws.com itself.
        self.add(
            wafv2.LoggingConfiguration(
                "WebAclLogging",
                ResourceArn=GetAtt("WebAcl", "Arn"),
                LogDestinationConfigs=[arn("logs", "log-group:${WafLogGroup}")],
                RedactedFields=[
                    wafv2.LoggingConfigurationFieldToMatch(
                        SingleHeader=wafv2.SingleHeader(Name=header)
                    )
                    for header in REDACTED_HEADERS
                ],
                LoggingFilter=wafv2.LoggingFilter(
                    DefaultBehavior="DROP",
                    Filters=[
                        wafv2.Filter(
                            Behavior="KEEP",
                            Requirement="MEETS_ANY",
                            Conditions=[
                                wafv2.Condition(ActionCondition=wafv2.ActionCondition(Action=a))
                                for a in LOGGED_ACTIONS
                            ],
                        )
                    ],
                ),
            )
        )
        self.output(
            "WafLogGroupName",
            Ref(group),
            "Log group of the web ACL's blocked and counted requests (us-east-1)",
        )

    # -- certificate -------------------------------------------------------------------
    def cdn_certificate(self) -> None:
        has_domain(self)
        enabled = certificates_toggle(self)
        zone = optional_zone_id(
            self,
            "HostedZoneId",
            "Public zone of DomainName that validates the certificate (deploy.py "
            "passes the root's HostedZoneId output, or ExistingHostedZoneId). Empty: the "
            "stack waits until you create the validation CNAME shown in its events at your "
            "DNS provider.",
        )
        self.condition("IssueCertificate", And(IsTrue("HasDomain"), IsTrue(enabled)))
        self.condition("HasZone", Not(Equals(zone, "")))
        cert = certificate(
            self, "CdnCertificate", "cdn", zone, "cdn", "IssueCertificate", zone_condition="HasZone"
        )
        self.output(
            "CdnCertificateArn",
            If("IssueCertificate", Ref(cert), ""),
            "ARN of the us-east-1 ACM certificate for cdn.<domain> (deploy.py passes "
            "it to the cdn and dns-records tiers); empty without one",
        )

    # -- CloudFront alarm (root outside us-east-1) ----------------------------------------
    def cloudfront_alarm(self) -> None:
        distribution = self.parameter(
            "DistributionId",
            "Edge",
            Type="String",
            Default="",
            AllowedPattern=r"^([A-Z0-9]{6,32})?$",
            ConstraintDescription="empty, or a CloudFront distribution id such as E2QWRUHAPOMQZL",
            Description="CloudFront distribution whose 5xx rate this stack alarms on (deploy.py "
            "passes the root's DistributionId when the root runs outside "
            "us-east-1). Empty: no alarm and no topic here.",
        )
        self.condition("HasCloudFrontAlarm", Not(Equals(distribution, "")))
        alarm_topic(
            self, GetAtt("EdgeLogKey", "Arn"), condition="HasCloudFrontAlarm", prefix="Edge"
        )
        # Not part of platform-health: a composite alarm only reads its own region's alarms.
        add_alarm(self, cloudfront_5xx_alarm("HasCloudFrontAlarm", critical=False), prefix="Edge")
