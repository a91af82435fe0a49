"""CloudWatch alarms as data, and the alarm topic they notify.

An alarm is an `Alarm` spec (named fields with the defaults most alarms share) built by
`add_alarm`; its metrics are `Metric` and `Expression` specs that take the alarm's
period. Used by the observability tier and by the edge stack's CloudFront alarm in
us-east-1.
"""

from __future__ import annotations

from dataclasses import dataclass

from awacs import sns as sns_actions
from awacs.aws import (
    Allow,
    ArnLike,
    Bool,
    Condition,
    Deny,
    Policy,
    Principal,
    Statement,
    StringEquals,
)
from troposphere import And, Equals, If, Not, Ref, Sub, cloudwatch, sns
from troposphere import Condition as IsTrue


@dataclass(frozen=True)
class Metric:
    """A metric an alarm reads. `visible`: the one query whose value the alarm compares
    (otherwise an input of an Expression); `condition`: the query exists only when that
    condition holds."""

    id: str
    namespace: str
    name: str
    dimensions: dict
    stat: str
    label: str | None = None  # default: the metric name
    visible: bool = False
    condition: str | None = None


@dataclass(frozen=True)
class Expression:
    """A metric math expression over the alarm's Metric ids, or (insights) a Metrics
    Insights query that aggregates a metric over all its dimensions; its value is
    compared."""

    id: str
    text: object  # the expression, or Fn::If of two
    label: str
    insights: bool = False  # a SELECT query: it takes the alarm's period


@dataclass(frozen=True)
class Alarm:
    """One CloudWatch alarm: resource `<logical>Alarm`, output `<logical>AlarmName`,
    AlarmName alarm-<purpose>-<env>. It notifies the alarm topic on ALARM and on OK.

    threshold: a number, or the name of a threshold parameter of the tier.
    Defaults: above the threshold in 2 of 2 periods of 5 minutes; missing data is not
    breaching (a quiet environment, or a part that is off, never alarms); always present
    (`condition` names the condition it exists under); not part of platform-health
    (`critical`)."""

    logical: str
    purpose: str
    description: str
    threshold: object
    metrics: tuple = ()
    comparison: str = "GreaterThanThreshold"
    period: int = 300  # seconds, of every metric
    evaluation_periods: int = 2
    datapoints: int = 2  # breaching periods out of evaluation_periods that alarm
    missing: str = "notBreaching"
    condition: str | None = None
    critical: bool = False


def _query(query, period: int):
    if isinstance(query, Expression):
        extra = {"Period": period} if query.insights else {}
        return cloudwatch.MetricDataQuery(
            Id=query.id, Expression=query.text, Label=query.label, ReturnData=True, **extra
        )
    built = cloudwatch.MetricDataQuery(
        Id=query.id,
        ReturnData=query.visible,
        Label=query.label or query.name,
        MetricStat=cloudwatch.MetricStat(
            Metric=cloudwatch.Metric(
                Namespace=query.namespace,
                MetricName=query.name,
                Dimensions=[
                    cloudwatch.MetricDimension(Name=k, Value=v) for k, v in query.dimensions.items()
                ],
            ),
            Period=period,
            Stat=query.stat,
        ),
    )
    return If(query.condition, built, Ref("AWS::NoValue")) if query.condition else built


def add_alarm(tier, alarm: Alarm, prefix: str = "") -> None:
    """The alarm as a resource, and its name as the output <prefix><logical>AlarmName
    ("" when its condition is false)."""
    threshold = Ref(alarm.threshold) if isinstance(alarm.threshold, str) else alarm.threshold
    kwargs = {"Condition": alarm.condition} if alarm.condition else {}
    tier.add(
        cloudwatch.Alarm(
            f"{alarm.logical}Alarm",
            **kwargs,
            AlarmName=tier.physical_name("alarm", alarm.purpose),
            AlarmDescription=alarm.description,
            ActionsEnabled=True,
            AlarmActions=[Ref("AlarmTopic")],
            OKActions=[Ref("AlarmTopic")],
            ComparisonOperator=alarm.comparison,
            Threshold=threshold,
            EvaluationPeriods=alarm.evaluation_periods,
            DatapointsToAlarm=alarm.datapoints,
            TreatMissingData=alarm.missing,
            Metrics=[_query(q, alarm.period) for q in alarm.metrics],
        )
    )
    value = Ref(f"{alarm.logical}Alarm")
    if alarm.condition:
        value = If(alarm.condition, value, "")
    tier.output(
        f"{prefix}{alarm.logical}AlarmName",
        value,
        f"Alarm: {alarm.description}" + (' ("" when that part is off)' if alarm.condition else ""),
    )


def cloudfront_5xx_alarm(condition: str, critical: bool) -> Alarm:
    """CloudFront's 5xx rate. Its metrics exist only in us-east-1, so the alarm lives in
    the observability tier when the root runs there, and in the edge stack otherwise."""
    return Alarm(
        "CloudFront5xxRate",
        "cloudfront-5xx-rate",
        "CloudFront 5xx error rate above 5% for 2 x 5 min",
        threshold=5,
        condition=condition,
        critical=critical,
        metrics=(
            Metric(
                "rate",
                "AWS/CloudFront",
                "5xxErrorRate",
                {"DistributionId": Ref("DistributionId"), "Region": "Global"},
                "Average",
                visible=True,
            ),
        ),
    )


def alarm_topic(tier, key, condition: str | None = None, prefix: str = "") -> Ref:
    """The alarm topic (AlarmTopic), encrypted with `key`, which only CloudWatch alarms of
    this account may publish to, over TLS, with the optional AlarmEmail subscription.
    `prefix` keeps the edge stack's output names apart from the root's."""
    email = tier.parameter(
        "AlarmEmail",
        "Observability",
        "Alarm e-mail",
        Type="String",
        Default="",
        AllowedPattern=r"^([^@\s]+@[^@\s]+\.[^@\s]+)?$",
        ConstraintDescription="empty, or one e-mail address",
        Description="Address subscribed to the alarm topic (it must confirm the e-mail "
        "AWS sends). Empty: no subscription; subscribe later in the console.",
    )
    has_email = tier.condition("HasAlarmEmail", Not(Equals(email, "")))
    only = {"Condition": condition} if condition else {}
    tier.add(
        sns.Topic(
            "AlarmTopic",
            **only,
            DisplayName=Sub("streamstack ${Environment} alarms"),
            KmsMasterKeyId=key,
            Tags=tier.tags("sns", "alarms"),
        )
    )
    topic = Ref("AlarmTopic")
    tier.add(
        sns.TopicPolicy(
            "AlarmTopicPolicy",
            **only,
            Topics=[topic],
            PolicyDocument=Policy(
                Version="2012-10-17",
                Statement=[
                    Statement(
                        Sid="CloudWatchAlarmsOfThisAccount",
                        Effect=Allow,
                        Principal=Principal("Service", "cloudwatch.amazonaws.com"),
                        Action=[sns_actions.Publish],
                        Resource=[topic],
                        Condition=Condition(
                            [
                                StringEquals("aws:SourceAccount", Ref("AWS::AccountId")),
                                ArnLike(
                                    "aws:SourceArn",
                                    Sub(
                                        "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:"
                                        "${AWS::AccountId}:alarm:*"
                                    ),
                                ),
                            ]
                        ),
                    ),
                    Statement(
                        Sid="DenyInsecureTransport",
                        Effect=Deny,
                        Principal=Principal("*"),
                        Action=[sns_actions.Publish],
                        Resource=[topic],
                        Condition=Condition(Bool("aws:SecureTransport", False)),
                    ),
                ],
            ),
        )
    )
    if condition:
        has_email = tier.condition(
            "HasAlarmEmailSubscription", And(IsTrue(condition), IsTrue(has_email))
        )
    tier.add(
        sns.SubscriptionResource(
            "AlarmEmailSubscription",
            Condition=has_email,
            TopicArn=topic,
            Protocol="email",
            Endpoint=email,
        )
    )
    tier.output(
        f"{prefix}AlarmTopicArn",
        If(condition, topic, "") if condition else topic,
        "SNS topic every alarm notifies (ALARM and OK)"
        + (' ("" when there is none)' if condition else ""),
    )
    return topic
