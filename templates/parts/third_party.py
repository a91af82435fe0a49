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
from collections.abc import Callable

from awacs import secretsmanager as sm_actions
from awacs.aws import Allow, Statement
from troposphere import And, Or, Ref, ecs
from troposphere import Condition as IsTrue

from templates.base import AWS_NO_VALUE, Equals, If
from templates.parts.iam import policy_dict

SLOTS = 5
# The services of the platform's region that may read one (the warm standby runs the
# first two).
READERS = ("Api", "Web", "Worker", "Scheduler")
_VARIABLE = "[A-Z][A-Z0-9_]{1,63}"
NAME = re.compile(f"^{_VARIABLE}$")
# A slot's name parameter: a variable, or empty for an unused slot.
NAME_PATTERN = f"^({_VARIABLE})?$"
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


# -- in a template ---------------------------------------------------------------------
def injects(slot: int, service: str) -> str:
    """The condition that the slot's secret is injected into the service's containers."""
    return f"InjectsThirdPartySecret{slot}Into{service}"


def reads(service: str) -> str:
    """The condition that the service gets at least one third-party secret."""
    return f"{service}ReadsThirdPartySecrets"


def injection_conditions(tier, slot: int, services, present, group: str, description: str) -> None:
    """For each service the slot's deploy-time toggle ThirdPartySecret<n>For<Service> and
    the condition injects(slot, service): the slot is `present` and the toggle on.
    `description` is formatted with slot and service."""
    for service in services:
        injected = tier.parameter(
            injection_parameter(slot, service),
            group,
            deploy_time=True,
            Type="String",
            Default="disabled",
            AllowedValues=["enabled", "disabled"],
            Description=description.format(slot=slot, service=service.lower()),
        )
        tier.condition(injects(slot, service), And(present, Equals(injected, "enabled")))


def reads_conditions(tier, services) -> None:
    """For each service the condition reads(service): some slot is injected into it."""
    for service in services:
        tier.condition(
            reads(service), Or(*(IsTrue(injects(slot, service)) for slot in range(1, SLOTS + 1)))
        )


def container_secrets(service: str, value_from: Callable[[int], object]) -> list:
    """The service's container secrets of the slots (Fn::If each), read from
    `value_from(slot)`."""
    return [
        If(
            injects(slot, service),
            ecs.Secret(Name=Ref(name_parameter(slot)), ValueFrom=value_from(slot)),
            Ref(AWS_NO_VALUE),
        )
        for slot in range(1, SLOTS + 1)
    ]


def read_statement(service: str, resource: Callable[[int], object]):
    """The execution role's GetSecretValue on the secrets injected into the service
    (`resource(slot)` each), or nothing when none is."""
    return If(
        reads(service),
        policy_dict(
            Statement(
                Sid="ThirdPartySecrets",
                Effect=Allow,
                Action=[sm_actions.GetSecretValue],
                Resource=[
                    If(injects(slot, service), resource(slot), Ref(AWS_NO_VALUE))
                    for slot in range(1, SLOTS + 1)
                ],
            )
        ),
        Ref(AWS_NO_VALUE),
    )
