"""Resource shapes several tiers build the same way: generated secrets and encrypted
log groups. Each takes the tier, so names, tags and retention policies follow it."""
from __future__ import annotations

from troposphere import Sub, logs, secretsmanager


def generated_secret(tier, logical: str, purpose: str, description: str, key_arn,
                     length: int = 64, retain: bool = True, **generate) -> secretsmanager.Secret:
    """A secret whose value Secrets Manager generates (letters and digits only, safe in
    headers, AUTH tokens and JSON), encrypted with key_arn. `generate` adds
    GenerateStringKey/SecretStringTemplate for a JSON secret. Never a parameter."""
    secret = secretsmanager.Secret(
        logical, Description=Sub(f"{description} (streamstack ${{Environment}})"),
        KmsKeyId=key_arn,
        GenerateSecretString=secretsmanager.GenerateSecretString(
            PasswordLength=length, ExcludePunctuation=True, **generate),
        Tags=tier.tags("secret", purpose))
    return tier.add(tier.stateful(secret) if retain else secret)


def log_group(tier, logical: str, purpose: str, retention, key_arn, **kwargs) -> logs.LogGroup:
    """A log group encrypted with key_arn, kept outside dev (it holds data)."""
    return tier.add(tier.stateful(logs.LogGroup(
        logical, RetentionInDays=retention, KmsKeyId=key_arn,
        Tags=tier.tags("logs", purpose), **kwargs)))
