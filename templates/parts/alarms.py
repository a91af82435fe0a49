"""CloudWatch alarms as data, and the notification topics they and the platform's
events notify.

An alarm is an `Alarm` spec (named fields with the defaults most alarms share) built by
`add_alarm`; its metrics are `Metric` and `Expression` specs that take the alarm's
period. Used by the observability tier and by the edge stack's CloudFront alarm in
us-east-1.

Topics are by severity (`TopicSpec`): critical pages (the alarm topic), warning goes to
chat, info to e-mail. Each is encrypted, only named AWS services of this account may
publish to it, and each takes optional subscriptions from parameters: an e-mail
address, an HTTPS endpoint (a paging or chat webhook), and an existing topic of a chat
integration (AWS Chatbot / Amazon Q Developer) that is notified alongside it.
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
    """A metric math expression over the alarm's Metric ids; its value is compared."""

    id: str
    text: object  # the expression, or Fn::If of two
    label: str


@dataclass(frozen=True)
class Alarm:
    """One CloudWatch alarm: resource `<logical>Alarm`, output `<logical>AlarmName`,
    AlarmName alarm-<purpose>-<env>. It notifies the topic of its severity on ALARM and
    on OK: `critical` alarms page (and are part of platform-health), the others warn.

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

    @property
    def severity(self) -> str:
        return "critical" if self.critical else "warning"


def _query(query, period: int):
    if isinstance(query, Expression):
        return cloudwatch.MetricDataQuery(
            Id=query.id, Expression=query.text, Label=query.label, ReturnData=True
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


def add_alarm(tier, alarm: Alarm, prefix: str = "", actions: dict | None = None) -> None:
    """The alarm as a resource, and its name as the output <prefix><logical>AlarmName
    ("" when its condition is false). `actions`: severity -> what the alarm notifies
    (default: the AlarmTopic, whatever the severity)."""
    threshold = Ref(alarm.threshold) if isinstance(alarm.threshold, str) else alarm.threshold
    notify = (actions or {}).get(alarm.severity, [Ref("AlarmTopic")])
    kwargs = {"Condition": alarm.condition} if alarm.condition else {}
    tier.add(
        cloudwatch.Alarm(
            f"{alarm.logical}Alarm",
            **kwargs,
            AlarmName=tier.physical_name("alarm", alarm.purpose),
            AlarmDescription=alarm.description,
            ActionsEnabled=True,
            AlarmActions=notify,
            OKActions=notify,
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


@dataclass(frozen=True)
class Publisher:
    """An AWS service that may publish to a topic: its principal and the ARN pattern
    (in this account) of what publishes; None: the account condition alone."""

    sid: str
    service: str
    source_arn: str | None = None


CLOUDWATCH_ALARMS = Publisher(
    "CloudWatchAlarmsOfThisAccount",
    "cloudwatch.amazonaws.com",
    "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*",
)
EVENTBRIDGE_RULES = Publisher(
    "EventBridgeRulesOfThisAccount",
    "events.amazonaws.com",
    "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/*",
)
BUDGETS = Publisher(
    "BudgetsOfThisAccount",
    "budgets.amazonaws.com",
    "arn:${AWS::Partition}:budgets::${AWS::AccountId}:*",
)
COST_ANOMALY_ALERTS = Publisher("CostAnomalyAlertsOfThisAccount", "costalerts.amazonaws.com")


@dataclass(frozen=True)
class TopicSpec:
    """One notification topic, `<logical>`, with output `<prefix><logical>Arn`.

    Subscriptions come from parameters `<parameter_prefix>Email` (unless `email`
    names another parameter), and, with `endpoints`, `<parameter_prefix>HttpsEndpoint`
    and `<parameter_prefix>ChatTopicArn`; every one is optional (empty: none)."""

    logical: str
    severity: str  # critical, warning or info
    audience: str  # who reads it, for descriptions
    parameter_prefix: str
    publishers: tuple = (CLOUDWATCH_ALARMS,)
    email: str | None = None
    endpoints: bool = True


def _subscription_parameters(tier, spec: TopicSpec) -> dict[str, Ref]:
    what = f"the {spec.severity} topic ({spec.audience})"
    params = {
        "email": tier.parameter(
            spec.email or f"{spec.parameter_prefix}Email",
            "Observability",
            f"{spec.severity.capitalize()} e-mail",
            Type="String",
            Default="",
            AllowedPattern=r"^([^@\s]+@[^@\s]+\.[^@\s]+)?$",
            ConstraintDescription="empty, or one e-mail address",
            Description=f"Address subscribed to {what} (it must confirm the e-mail AWS "
            "sends). Empty: no e-mail subscription.",
        )
    }
    if spec.endpoints:
        params["https"] = tier.parameter(
            f"{spec.parameter_prefix}HttpsEndpoint",
            "Observability",
            f"{spec.severity.capitalize()} HTTPS endpoint",
            Type="String",
            Default="",
            AllowedPattern=r"^(https://[^\s]+)?$",
            ConstraintDescription="empty, or an https:// URL",
            Description=f"HTTPS endpoint subscribed to {what}, e.g. a paging service's or a "
            "chat webhook's SNS integration URL (it must confirm the subscription). "
            "Empty: none.",
        )
        params["chat"] = tier.parameter(
            f"{spec.parameter_prefix}ChatTopicArn",
            "Observability",
            f"{spec.severity.capitalize()} chat topic",
            Type="String",
            Default="",
            AllowedPattern=r"^(arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256})?$",
            ConstraintDescription="empty, or the ARN of an SNS topic in this region",
            Description=f"SNS topic of a chat integration (AWS Chatbot / Amazon Q Developer "
            f"in chat applications) notified with {what}: alarms and rules of that "
            "severity publish to it as well (its policy must let CloudWatch and "
            "EventBridge of this account publish). Empty: none.",
        )
    return params


@dataclass(frozen=True)
class Notifications:
    """Where a notification of one severity goes: the topic, and the chat integration's
    topic when its parameter is set (condition `chat_condition`)."""

    topic: Ref
    chat: Ref | None = None
    chat_condition: str | None = None

    def actions(self) -> list:
        """An alarm's actions."""
        if self.chat is None:
            return [self.topic]
        return [self.topic, If(self.chat_condition, self.chat, Ref("AWS::NoValue"))]

    def targets(self, make) -> list:
        """An EventBridge rule's targets; make(id, arn) builds one."""
        if self.chat is None:
            return [make("topic", self.topic)]
        return [
            make("topic", self.topic),
            If(self.chat_condition, make("chat", self.chat), Ref("AWS::NoValue")),
        ]


def notification_topic(
    tier, spec: TopicSpec, key, condition: str | None = None, prefix=""
) -> Notifications:
    """The topic of `spec`, encrypted with `key`, its policy (only the spec's publishers of
    this account, TLS only), its optional subscriptions and its ARN output; returns where
    a notification of this severity goes."""
    params = _subscription_parameters(tier, spec)
    only = {"Condition": condition} if condition else {}
    tier.add(
        sns.Topic(
            spec.logical,
            **only,
            DisplayName=Sub(f"streamstack ${{Environment}} {spec.severity}"),
            KmsMasterKeyId=key,
            Tags=tier.tags("sns", spec.severity if spec.logical != "AlarmTopic" else "alarms"),
        )
    )
    topic = Ref(spec.logical)
    publish = []
    for publisher in spec.publishers:
        conditions = [StringEquals("aws:SourceAccount", Ref("AWS::AccountId"))]
        if publisher.source_arn:
            conditions.append(ArnLike("aws:SourceArn", Sub(publisher.source_arn)))
        publish.append(
            Statement(
                Sid=publisher.sid,
                Effect=Allow,
                Principal=Principal("Service", publisher.service),
                Action=[sns_actions.Publish],
                Resource=[topic],
                Condition=Condition(conditions),
            )
        )
    tier.add(
        sns.TopicPolicy(
            f"{spec.logical}Policy",
            **only,
            Topics=[topic],
            PolicyDocument=Policy(
                Version="2012-10-17",
                Statement=[
                    *publish,
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
    names = {"email": "Email", "https": "HttpsEndpoint"}
    for kind, protocol in (("email", "email"), ("https", "https")):
        if kind not in params:
            continue
        given = tier.condition(f"Has{spec.logical}{names[kind]}", Not(Equals(params[kind], "")))
        if condition:
            given = tier.condition(
                f"Has{spec.logical}{names[kind]}Subscription",
                And(IsTrue(condition), IsTrue(given)),
            )
        # The alarm topic keeps the logical id its e-mail subscription always had.
        logical = (
            "AlarmEmailSubscription"
            if spec.logical == "AlarmTopic" and kind == "email"
            else f"{spec.logical}{names[kind]}Subscription"
        )
        tier.add(
            sns.SubscriptionResource(
                logical, Condition=given, TopicArn=topic, Protocol=protocol, Endpoint=params[kind]
            )
        )
    tier.output(
        f"{prefix}{spec.logical}Arn",
        If(condition, topic, "") if condition else topic,
        f"SNS topic of {spec.severity} notifications ({spec.audience})"
        + (' ("" when there is none)' if condition else ""),
    )
    if "chat" not in params:
        return Notifications(topic)
    chat = tier.condition(f"Has{spec.logical}Chat", Not(Equals(params["chat"], "")))
    return Notifications(topic, params["chat"], chat)


ALARM_TOPIC = TopicSpec(
    "AlarmTopic", "critical", "paging", "CriticalAlert", email="AlarmEmail", endpoints=False
)


def alarm_topic(tier, key, condition: str | None = None, prefix: str = "") -> Ref:
    """The alarm topic (AlarmTopic) alone, as the edge stack has it: encrypted with `key`,
    CloudWatch alarms of this account may publish, the optional AlarmEmail subscription.
    `prefix` keeps the edge stack's output names apart from the root's."""
    notification_topic(tier, ALARM_TOPIC, key, condition=condition, prefix=prefix)
    return Ref("AlarmTopic")
