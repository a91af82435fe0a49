"""Third-party secrets: the params file's `secrets:` section and the compute tier's
deploy-time parameters it becomes (templates/parts/third_party.py).

    secrets:
      PAYMENT_API_KEY: [Api, Worker]   # container variable: the services that read it
      SMTP_PASSWORD: [Worker]

At plan time each declared name keeps the slot the deployed stack gave it (a new name
takes the lowest free slot), and is injected only into its services once its secret
has a current value; until then the plan says how to put one. Values never pass through
deploy.py: an operator puts them with the Secrets Manager CLI or console.
"""

from __future__ import annotations

from streamstack.deploy import aws, stacks
from streamstack.errors import StreamstackError
from streamstack.validation import ParameterContext, Problems, yaml_type
from templates.parts import third_party

SECTION = "secrets"


def handles(parameter: str) -> bool:
    """Whether a deploy-time parameter is one of the slots' (resolve sets it)."""
    return parameter.startswith("ThirdPartySecret")


def validate(value, problems: Problems, key: str, context: ParameterContext) -> dict:
    """name -> services (READERS order), every problem reported."""
    if third_party.name_parameter(1) not in context.declarations:
        problems.add(key, "this build has no third-party secret slots: run `make build`")
        return {}
    if not isinstance(value, dict):
        problems.add(
            key,
            f"must be a mapping of VARIABLE_NAME: [services], not {yaml_type(value)} "
            "(e.g. PAYMENT_API_KEY: [Api, Worker])",
        )
        return {}
    if len(value) > third_party.SLOTS:
        problems.add(
            key,
            f"declares {len(value)} secrets; the platform has {third_party.SLOTS} slots "
            "(keep several values of one provider in one JSON secret)",
        )
        return {}
    declared = {}
    for name, services in value.items():
        where = f"{key}.{name}"
        problem = third_party.name_problem(str(name))
        if problem:
            problems.add(where, problem)
            continue
        allowed = ", ".join(third_party.READERS)
        if not isinstance(services, list) or not services:
            problems.add(where, f"must list the services that read it, e.g. [Api] ({allowed})")
            continue
        unknown = [s for s in services if s not in third_party.READERS]
        if unknown:
            problems.add(where, f"{unknown[0]!r} is not a service; use {allowed}")
            continue
        if len(set(services)) != len(services):
            problems.add(where, "names a service twice; list each once")
            continue
        declared[name] = tuple(s for s in third_party.READERS if s in services)
    return declared


def secret_name(environment: str, name: str) -> str:
    return third_party.SECRET_NAME.replace("${Environment}", environment) % name


def assign_slots(declared: dict, deployed: dict[int, str]) -> dict[int, str]:
    """slot -> name: a declared name keeps its deployed slot, a new one takes the lowest
    free slot (declaration order)."""
    slots = {slot: name for slot, name in deployed.items() if name in declared}
    free = [s for s in range(1, third_party.SLOTS + 1) if s not in slots]
    for name in declared:
        if name not in slots.values():
            slots[free.pop(0)] = name
    return dict(sorted(slots.items()))


def deployed_slots(stack: dict | None) -> dict[int, str]:
    """slot -> name of the root stack's current parameters."""
    values = stacks.parameters(stack) if stack else {}
    found = {}
    for slot in range(1, third_party.SLOTS + 1):
        name = values.get(third_party.name_parameter(slot), "")
        if name:
            found[slot] = name
    return found


def state(client, secret_id: str) -> str:
    """'missing', 'deleted' (scheduled for deletion), 'empty' or 'set'."""
    described = aws.describe_secret(client, secret_id)
    if described is None:
        return "missing"
    if described.get("DeletedDate"):
        return "deleted"
    stages = described.get("VersionIdsToStages") or {}
    return "set" if any("AWSCURRENT" in s for s in stages.values()) else "empty"


def resolve(ctx, stack: dict | None) -> dict[str, str]:
    """The slots' deploy-time parameter values for this plan, with a line per secret."""
    declared = ctx.params.sections.get(SECTION, {})
    environment = ctx.params.parameters.get("Environment", ctx.env)
    deployed = deployed_slots(stack)
    slots = assign_slots(declared, deployed)
    values = {}
    client = ctx.client("secretsmanager") if slots else None
    for slot in range(1, third_party.SLOTS + 1):
        name = slots.get(slot, "")
        values[third_party.name_parameter(slot)] = name
        readers: tuple[str, ...] = ()
        if name:
            secret_id = secret_name(environment, name)
            found = state(client, secret_id)
            if found == "deleted" or (found != "missing" and deployed.get(slot) != name):
                left = (
                    "scheduled for deletion" if found == "deleted" else "left by an earlier deploy"
                )
                raise StreamstackError(
                    f"secrets.{name}: the secret {secret_id} exists but this stack does not "
                    f"manage it ({left}); delete it (aws secretsmanager delete-secret "
                    f"--secret-id {secret_id} --force-delete-without-recovery) or rename the "
                    "variable in the params file"
                )
            services = ", ".join(declared[name])
            if found == "set":
                readers = declared[name]
                ctx.out(f"secret {name}: injected into {services}")
            else:
                now = "created empty by this deploy" if found == "missing" else "has no value yet"
                ctx.out(
                    f"secret {name}: {now}; {services} get it once it has one: "
                    f"aws secretsmanager put-secret-value --secret-id {secret_id} "
                    f"--secret-string file://<value file>, then `make deploy ENV={ctx.env}` again"
                )
        for service in third_party.READERS:
            values[third_party.injection_parameter(slot, service)] = (
                "enabled" if service in readers else "disabled"
            )
    for name in deployed.values():
        if name not in declared:
            ctx.out(
                f"secret {name}: no longer declared; this deploy removes it from its services "
                "and from the stack (kept outside dev, like the platform's other secrets)"
            )
    return values
