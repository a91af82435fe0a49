"""The bootstrap of an environment's account and region: two stacks.

- the bootstrap stack (templates/bootstrap.py), passed inline: the artifact bucket, ECR
  and their key;
- the deploy-role stack (templates/deploy_role.py), from the artifact bucket (its
  derived policy is larger than CloudFormation takes inline): the execution role, the
  workload boundary and the CI roles.

Their names, their parameters, and the outputs every deploy reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from streamstack.deploy import stacks
from streamstack.deploy.settings import settings_of
from streamstack.errors import StreamstackError

TEMPLATE = "bootstrap"
ROLE_TEMPLATE = "deploy-role"
USABLE = (
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
)
REQUIRED_OUTPUTS = {
    TEMPLATE: ("ArtifactBucketName", "ArtifactBaseUrl", "ArtifactKeyArn"),
    ROLE_TEMPLATE: ("ExecutionRoleArn", "WorkloadBoundaryPolicy"),
}
TEMPLATE_BODY_LIMIT = 51_200  # bytes CloudFormation accepts inline


@dataclass(frozen=True)
class Bootstrap:
    stack_name: str
    bucket: str
    base_url: str
    execution_role_arn: str
    outputs: dict[str, str] = field(default_factory=dict)  # of both stacks


def stack_name(params) -> str:
    return settings_of(params).bootstrap_stack or f"{params.stack_name}-bootstrap"


def role_stack_name(params) -> str:
    return f"{stack_name(params)}-role"


def _usable_outputs(cfn, params, name: str, template: str) -> dict[str, str]:
    env = params.environment
    stack = stacks.describe(cfn, name)
    if stack is None:
        raise StreamstackError(
            f"the {template} stack {name} does not exist in {params.region}: "
            f"run `make bootstrap ENV={env}` first"
        )
    if stack["StackStatus"] not in USABLE:
        raise StreamstackError(
            f"the {template} stack {name} is {stack['StackStatus']}: run "
            f"`make bootstrap ENV={env}` (or `make doctor ENV={env}`)"
        )
    outputs = stacks.outputs(stack)
    missing = [key for key in REQUIRED_OUTPUTS[template] if not outputs.get(key)]
    if missing:
        raise StreamstackError(
            f"the {template} stack {name} has no output {', '.join(missing)}: "
            f"it is older than this code; run `make bootstrap ENV={env}`"
        )
    return outputs


def lookup(cfn, params) -> Bootstrap:
    """Both stacks' outputs; refuses with the next step when one is not usable."""
    name = stack_name(params)
    outputs = {
        **_usable_outputs(cfn, params, name, TEMPLATE),
        **_usable_outputs(cfn, params, role_stack_name(params), ROLE_TEMPLATE),
    }
    return Bootstrap(
        name,
        outputs["ArtifactBucketName"],
        outputs["ArtifactBaseUrl"],
        outputs["ExecutionRoleArn"],
        outputs,
    )


def parameters(params, template: dict, given: dict[str, str] | None = None) -> dict[str, str]:
    """Values for one of the two templates: what deploy.py sets (`given` included) and the
    params file's deploy.bootstrap_parameters that the template declares. A name neither
    template declares is refused when the params file is loaded."""
    settings = settings_of(params)
    declared = template.get("Parameters", {})
    values = {
        "Environment": params.parameters.get("Environment", params.environment),
        "PlatformStackName": params.stack_name,
        "BootstrapStackName": stack_name(params),
        "DirectDeploys": "enabled",
    }
    if settings.github_repository:
        values["GitHubRepository"] = settings.github_repository
        values["GitHubBranch"] = settings.github_branch
        values["GitHubApplicationRepositories"] = ",".join(settings.github_applications)
    values.update(given or {})
    values.update(settings.bootstrap_parameters)
    return {k: v for k, v in values.items() if k in declared}


def role_parameters(params, template: dict, bootstrap_outputs: dict[str, str]) -> dict[str, str]:
    """The deploy-role stack's values: the bootstrap stack's bucket and key, and the rest
    as for the bootstrap."""
    return parameters(
        params,
        template,
        {
            "ArtifactBucketName": bootstrap_outputs["ArtifactBucketName"],
            "ArtifactKeyArn": bootstrap_outputs["ArtifactKeyArn"],
        },
    )


def template_body(text: str) -> str:
    """The bootstrap template inline (it creates the bucket, so it cannot come from it)."""
    if len(text.encode()) <= TEMPLATE_BODY_LIMIT:
        return text
    compact = json.dumps(json.loads(text), separators=(",", ":"), sort_keys=True)
    if len(compact.encode()) > TEMPLATE_BODY_LIMIT:
        raise StreamstackError(
            f"the bootstrap template is {len(compact.encode())} bytes, more "
            f"than the {TEMPLATE_BODY_LIMIT} CloudFormation takes inline: "
            "make it smaller"
        )
    return compact
