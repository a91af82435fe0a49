"""Secrets whose value Secrets Manager generates: never a parameter, never an output.
A secret the standby region's application reads is replicated there, encrypted with the
standby stack's key."""

from __future__ import annotations

from troposphere import Ref, Sub, secretsmanager

from templates.base import AWS_NO_VALUE, If
from templates.parts.standby import replicates, standby_parameter


def generated_secret(
    tier,
    logical: str,
    purpose: str,
    description: str,
    key_arn,
    length: int = 64,
    retain: bool = True,
    replicated: bool = False,
    **generate,
) -> secretsmanager.Secret:
    """A secret whose value Secrets Manager generates (letters and digits only, safe in
    headers, AUTH tokens and JSON), encrypted with key_arn. `generate` adds
    GenerateStringKey/SecretStringTemplate for a JSON secret. `replicated`: a replica in
    the standby region (when there is one), under the standby stack's key."""
    extra = {}
    if replicated:
        region = standby_parameter(tier, "StandbyRegion")
        key = standby_parameter(tier, "StandbyKeyArn")
        extra["ReplicaRegions"] = If(
            replicates(tier),
            [secretsmanager.ReplicaRegion(Region=region, KmsKeyId=key)],
            Ref(AWS_NO_VALUE),
        )
    secret = secretsmanager.Secret(
        logical,
        **extra,
        Description=Sub(f"{description} (streamstack ${{Environment}})"),
        KmsKeyId=key_arn,
        GenerateSecretString=secretsmanager.GenerateSecretString(
            PasswordLength=length, ExcludePunctuation=True, **generate
        ),
        Tags=tier.tags("secret", purpose),
    )
    return tier.add(tier.stateful(secret) if retain else secret)
