"""Log groups: encrypted with a customer key and kept outside dev (they hold data)."""

from __future__ import annotations

from troposphere import logs


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
