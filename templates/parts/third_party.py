"""Third-party secrets (a payment provider's key, SMTP credentials, service accounts,
partners' API keys): what the compute tier and deploy.py agree on.

A params file declares them by the container variable that carries them, with the
services that read them:

    secrets:
      PAYMENT_API_KEY: [Api, Worker]
      SMTP_PASSWORD: [Worker]

The templates are the same for every environment, so the compute tier has SLOTS of
them, each driven by deploy-time parameters: ThirdPartySecret<n>Name (the variable;
empty: the slot is unused) and ThirdPartySecret<n>For<Service> (enabled: injected into
that service's containers). One toggle per service keeps the conditions independent
(one parameter with every set of readers as a value makes cfn-lint's condition solver
take minutes). deploy.py fills them: a name keeps its slot for as long as it is declared
(a slot given to another name would replace the secret), and a secret is injected only
once an operator has put its value (an empty secret stops every task that lists it from
starting).
"""

from __future__ import annotations

import re

SLOTS = 5
# The services that may read one, in the order their names are joined.
READERS = ("Api", "Web", "Worker", "Scheduler")
NAME = re.compile(r"^[A-Z][A-Z0-9_]{1,63}$")
# Where the secrets live: third-party/<environment>/<variable>.
SECRET_PREFIX = "third-party/${Environment}/"
SECRET_NAME = SECRET_PREFIX + "%s"
# Prefixes ECS, the AWS SDKs and OpenTelemetry read from the environment.
RESERVED_PREFIXES = ("AWS_", "ECS_", "OTEL_")
# Every variable the compute tier sets itself (the tier refuses to render one not listed).
PLATFORM_VARIABLES = frozenset(
    {
        "APP_ENV",
        "DB_HOST",
        "DB_IAM_AUTH",
        "DB_NAME",
        "DB_PORT",
        "DB_READER_HOST",
        "DB_USER",
        "EVENT_BUS_NAME",
        "JOBS_QUEUE_URL",
        "JWT_SECRET",
        "MEDIA_BUCKET",
        "METADATA_API_URL",
        "METRICS_NAMESPACE",
        "PORT",
        "PROCESSING_DIR",
        "REDIS_AUTH_TOKEN",
        "REDIS_HOST",
        "REDIS_PORT",
        "SECRET_KEY",
        "STATIC_BUCKET",
        "UPLOADS_BUCKET",
        "VIDEOS_TABLE",
        "WHOAMI_PORT_NUMBER",
    }
)


def name_parameter(slot: int) -> str:
    return f"ThirdPartySecret{slot}Name"


def injection_parameter(slot: int, service: str) -> str:
    return f"ThirdPartySecret{slot}For{service}"


def name_problem(name: str) -> str | None:
    """Why `name` cannot carry a third-party secret, or None."""
    if not NAME.match(name):
        return (
            f"{name!r} is not a container variable name: upper-case letters, digits and "
            "underscores, starting with a letter, 2 to 64 characters (e.g. PAYMENT_API_KEY)"
        )
    if name in PLATFORM_VARIABLES or name.startswith(RESERVED_PREFIXES):
        return (
            f"{name} is a variable the platform sets itself (or one AWS and OpenTelemetry "
            f"reserve: {', '.join(p + '*' for p in RESERVED_PREFIXES)}); choose another name"
        )
    return None
