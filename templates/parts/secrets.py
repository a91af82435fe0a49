"""Secrets whose value Secrets Manager generates: never a parameter, never an output."""

from __future__ import annotations

from troposphere import Sub, secretsmanager


def generated_secret(
    tier,
    logical: str,
    purpose: str,
    description: str,
    key_arn,
    length: int = 64,
    retain: bool = True,
    **generate,
) -> secretsmanager.Secret:
    """A secret whose value Secrets Manager generates (letters and digits only, safe in
    headers, AUTH tokens and JSON), encrypted with key_arn. `generate` adds
    GenerateStringKey/SecretStringTemplate for a JSON secret."""
    secret = secretsmanager.Secret(
        logical,
        Description=Sub(f"{description} (streamstack ${{Environment}})"),
        KmsKeyId=key_arn,
        GenerateSecretString=secretsmanager.GenerateSecretString(
            PasswordLength=length, ExcludePunctuation=True, **generate
        ),
        Tags=tier.tags("secret", purpose),
    )
    return tier.add(tier.stateful(secret) if retain else secret)
