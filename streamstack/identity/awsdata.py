"""AWS's published data about permissions, as cfn-lint ships it.

- Resource provider schemas (cfnlint/data/schemas): for each resource type, the IAM
  actions its create, read, update and delete handlers call.
- IAM's policy data (cfnlint/data/AdditionalSpecs/Policies.json, from the Service
  Authorization Reference): for each service its actions, the resource types each action
  can be scoped to, and each resource type's ARN formats. An action that lists no
  resource type has no resource-level permissions: AWS authorizes it against "*".
"""

from __future__ import annotations

import fnmatch
import functools
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

# The handlers CloudFormation calls during stack operations and drift detection. `list`
# serves resource discovery (IaC generator, import), which the platform never runs.
HANDLERS = ("create", "read", "update", "delete")
# Provider schemas are identical across the commercial regions for the types a template
# can use in all of them; one region's index is enough to find a type's schema.
SCHEMA_REGION = "us-east-1"


@functools.cache
def _data() -> Path:
    """cfn-lint's data directory, found without importing cfn-lint (its package imports
    the whole linter, about a second)."""
    spec = importlib.util.find_spec("cfnlint")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@functools.cache
def _policies() -> dict:
    return json.loads((_data() / "AdditionalSpecs" / "Policies.json").read_text())


@functools.cache
def _schema_index() -> dict[str, str]:
    base = _data() / "schemas" / "providers"
    return json.loads((base / f"{SCHEMA_REGION}.json").read_text())


@functools.cache
def _schema(resource_type: str) -> dict:
    digest = _schema_index().get(resource_type)
    if digest is None:
        raise KeyError(resource_type)
    return json.loads((_data() / "schemas" / "resources" / f"{digest}.json").read_text())


def known_type(resource_type: str) -> bool:
    return resource_type in _schema_index()


def handler_permissions(resource_type: str) -> dict[str, tuple[str, ...]]:
    """handler -> IAM actions, for the handlers CloudFormation uses (see HANDLERS)."""
    handlers = _schema(resource_type).get("handlers", {})
    return {name: tuple(handlers.get(name, {}).get("permissions", ())) for name in HANDLERS}


def create_only_properties(resource_type: str) -> tuple[str, ...]:
    """Top-level properties a change of which replaces the resource."""
    return tuple(
        dict.fromkeys(
            p.removeprefix("/properties/").split("/")[0]
            for p in _schema(resource_type).get("createOnlyProperties", ())
        )
    )


def write_only_properties(resource_type: str) -> tuple[str, ...]:
    """Property paths the provider never returns (secrets among them)."""
    return tuple(
        p.removeprefix("/properties/")
        for p in _schema(resource_type).get("writeOnlyProperties", ())
    )


def name_property(resource_type: str) -> str | None:
    """The property a template may set to name a resource of this type (BucketName,
    LogGroupName, ...): its single primary identifier when the template can write it.
    None for types whose identifier AWS generates (security groups, keys) or that are
    unknown."""
    try:
        schema = _schema(resource_type)
    except KeyError:
        return None
    identifier = schema.get("primaryIdentifier", [])
    if len(identifier) != 1 or identifier[0] in schema.get("readOnlyProperties", ()):
        return None
    return identifier[0].removeprefix("/properties/")


@dataclass(frozen=True)
class ActionInfo:
    """What IAM's data says of one action."""

    action: str  # as written, e.g. "ec2:CreateVpc"
    known: bool  # IAM's data lists the action
    arn_patterns: tuple[str, ...]  # ARN formats of its resource types; () = "*" only

    @property
    def resource_level(self) -> bool:
        return bool(self.arn_patterns)


def _service(service: str) -> dict | None:
    return _policies().get(service.lower())


def service_actions(service: str) -> tuple[str, ...]:
    """The service's action names (lower case) in IAM's data."""
    data = _service(service)
    return tuple(data["Actions"]) if data else ()


@functools.cache
def action_info(action: str) -> ActionInfo:
    service, _, name = action.partition(":")
    data = _service(service)
    entry = (data or {}).get("Actions", {}).get(name.lower())
    if entry is None:
        return ActionInfo(action, False, ())
    resources = {k.lower(): v for k, v in data.get("Resources", {}).items()}
    patterns: list[str] = []
    for resource in entry.get("Resources", ()):
        for arn_format in resources.get(resource.lower(), {}).get("ARNFormats", ()):
            if arn_format not in patterns:
                patterns.append(arn_format)
    return ActionInfo(action, True, tuple(patterns))


def expand(action: str) -> tuple[str, ...]:
    """A handler's wildcard action (ec2:Describe*) as the concrete actions it matches;
    a concrete action as itself."""
    if "*" not in action and "?" not in action:
        return (action,)
    service, _, pattern = action.partition(":")
    names = [n for n in service_actions(service) if fnmatch.fnmatchcase(n, pattern.lower())]
    return tuple(f"{service}:{spelled(service, n)}" for n in names) or (action,)


_remembered: dict = {"file": None, "services": {}}


def remember_operations(directory: Path | None) -> None:
    """Keep the operation names of every service looked up (below) in a file of
    directory, one per botocore release, and read them from there: a build then loads
    no botocore model (most of half a second) for a service it has seen. None: no file
    (what this process looked up already stays known: the names are the same)."""
    from importlib.metadata import version

    file = services = None
    if directory is not None:
        file = directory / f"botocore-{version('botocore')}-operations.json"
        try:
            services = json.loads(file.read_text())
        except (OSError, ValueError):
            services = None
    _remembered.update(file=file, services=services if isinstance(services, dict) else {})


@functools.cache
def _operations(service: str) -> dict[str, str]:
    """lower case -> API operation name, from botocore's model of the service (IAM's data
    spells actions in lower case; most actions are named after an operation)."""
    services, file = _remembered["services"], _remembered["file"]
    if service in services:
        names = services[service]
    else:
        names = _operation_names(service)
        if file is not None:
            services[service] = names
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(json.dumps(services, sort_keys=True))
    return {name.lower(): name for name in names}


def _operation_names(service: str) -> list[str]:
    import botocore.exceptions

    try:
        model = _botocore().get_service_model(service)
    except botocore.exceptions.UnknownServiceError:
        return []
    return list(model.operation_names)


@functools.cache
def _botocore():
    """One botocore session for every service model it is asked for."""
    import botocore.session

    return botocore.session.get_session()


def spelled(service: str, name: str) -> str:
    """An action name as AWS writes it (CreateVpc), where botocore knows the operation."""
    return _operations(service).get(name.lower(), name)


def arn_pattern(arn_format: str, *, partition: str, region: str, account: str) -> str:
    """An ARN format of IAM's data (arn:${Partition}:ec2:${Region}:${Account}:vpc/.*) as an
    IAM resource pattern for one partition, region and account."""
    return (
        arn_format.replace("${Partition}", partition)
        .replace("${Region}", region)
        .replace("${Account}", account)
        .replace(".*", "*")
    )
