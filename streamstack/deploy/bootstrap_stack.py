"""The bootstrap stack (templates/bootstrap.py) of an environment's account and region:
its name, its parameters, and the outputs every deploy reads."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from streamstack.deploy import stacks
from streamstack.deploy.settings import settings_of
from streamstack.errors import StreamstackError

TEMPLATE = "bootstrap"
USABLE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE",
          "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
REQUIRED_OUTPUTS = ("ArtifactBucketName", "ArtifactBaseUrl", "ExecutionRoleArn")
TEMPLATE_BODY_LIMIT = 51_200  # bytes CloudFormation accepts inline


@dataclass(frozen=True)
class Bootstrap:
    stack_name: str
    bucket: str
    base_url: str
    execution_role_arn: str
    outputs: dict[str, str] = field(default_factory=dict)


def stack_name(params) -> str:
    return settings_of(params).bootstrap_stack or f"{params.stack_name}-bootstrap"


def lookup(cfn, params) -> Bootstrap:
    """The bootstrap outputs; refuses with the next step when the stack is not usable."""
    name = stack_name(params)
    env = params.environment
    stack = stacks.describe(cfn, name)
    if stack is None:
        raise StreamstackError(f"the bootstrap stack {name} does not exist in {params.region}: "
                               f"run `make bootstrap ENV={env}` first")
    if stack["StackStatus"] not in USABLE:
        raise StreamstackError(f"the bootstrap stack {name} is {stack['StackStatus']}: run "
                               f"`make bootstrap ENV={env}` (or `make doctor ENV={env}`)")
    outputs = stacks.outputs(stack)
    missing = [key for key in REQUIRED_OUTPUTS if not outputs.get(key)]
    if missing:
        raise StreamstackError(f"the bootstrap stack {name} has no output {', '.join(missing)}: "
                               f"it is older than this code; run `make bootstrap ENV={env}`")
    return Bootstrap(name, outputs["ArtifactBucketName"], outputs["ArtifactBaseUrl"],
                     outputs["ExecutionRoleArn"], outputs)


def parameters(params, template: dict) -> dict[str, str]:
    """Bootstrap template parameter values from the params file; unknown names refused."""
    settings = settings_of(params)
    values = {"Environment": params.parameters.get("Environment", params.environment)}
    if settings.github_repository:
        values["GitHubRepository"] = settings.github_repository
        values["GitHubBranch"] = settings.github_branch
    values.update(settings.bootstrap_parameters)
    declared = template.get("Parameters", {})
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise StreamstackError(f"{params.path.name}: deploy.bootstrap_parameters."
                               f"{unknown[0]} is not a parameter of the bootstrap template; "
                               f"allowed: {', '.join(sorted(declared))}")
    return values


def template_body(text: str) -> str:
    """The bootstrap template inline (it creates the bucket, so it cannot come from it)."""
    if len(text.encode()) <= TEMPLATE_BODY_LIMIT:
        return text
    compact = json.dumps(json.loads(text), separators=(",", ":"), sort_keys=True)
    if len(compact.encode()) > TEMPLATE_BODY_LIMIT:
        raise StreamstackError(f"the bootstrap template is {len(compact.encode())} bytes, more "
                               f"than the {TEMPLATE_BODY_LIMIT} CloudFormation takes inline: "
                               "make it smaller")
    return compact
