"""Log groups: encrypted with a customer key and kept outside dev (they hold data); and
the application log format the platform reads (docs/logging.md): one JSON object per
line with a `level` field, of which `error` and `critical` lines are counted as the
platform's ApplicationErrors metric."""

from __future__ import annotations

from troposphere import Ref, Sub, logs

# The platform's own metric namespace: the log metric filters write into it and the
# tasks may put their custom metrics into it (and no other).
APP_METRICS_NAMESPACE = "StreamStack/${Environment}"
APP_ERRORS_METRIC = "ApplicationErrors"
# The levels docs/logging.md defines; error and critical count as errors.
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
ERROR_FILTER = '{ ($.level = "error") || ($.level = "critical") }'


def log_group(tier, logical: str, purpose: str, retention, key_arn, **kwargs) -> logs.LogGroup:
    """A log group encrypted with key_arn, kept outside dev."""
    return tier.add(
        tier.stateful(
            logs.LogGroup(
                logical,
                RetentionInDays=retention,
                KmsKeyId=key_arn,
                Tags=tier.tags("logs", purpose),
                **kwargs,
            )
        )
    )


def error_metric_filter(tier, logical: str, log_group_logical: str) -> logs.MetricFilter:
    """Counts the log group's error and critical lines into ApplicationErrors (0 for every
    other line, so a quiet service reports 0 rather than nothing)."""
    return tier.add(
        logs.MetricFilter(
            logical,
            LogGroupName=Ref(log_group_logical),
            FilterPattern=ERROR_FILTER,
            MetricTransformations=[
                logs.MetricTransformation(
                    MetricNamespace=Sub(APP_METRICS_NAMESPACE),
                    MetricName=APP_ERRORS_METRIC,
                    MetricValue="1",
                    DefaultValue=0,
                    Unit="Count",
                )
            ],
        )
    )
