"""The `deploy:` section of params/<env>.yaml: how an environment is deployed.

    deploy:
      execute: review            # auto: `make deploy` executes the plan at once (dev);
                                 # review (default): it stops after the plan
      protected: true            # default true: stack policies, termination protection,
                                 # never deletes a stuck stack, refuses destroy
      allow_destroy: false       # `make destroy` works only when true (and not protected)
      keep_change_sets: 3        # older deploy-* change sets are deleted at plan time
      bootstrap_stack: streamstack-dev-bootstrap   # default: <stack_name>-bootstrap
      rollback_alarm: alarm-platform-health-dev    # default: alarm-platform-health-<env>
      rollback_minutes: 10       # monitoring time of the rollback trigger
      github: {repository: example/streamstack, branch: main,   # the OIDC deploy roles
               applications: [example/video-api]}   # repositories delivering images
      bootstrap_parameters: {GitHubOidc: existing}  # other bootstrap template parameters
      edge_parameters: {WafRateLimit: 1000, BotControl: enabled}   # edge template parameters

Defaults are the safe choice: an environment is protected and reviewed unless its
file says otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from streamstack.validation import STACK_NAME, ParameterContext, Problems, parameter_map

REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
BRANCH = re.compile(r"^[A-Za-z0-9_./-]{1,200}$")
ALARM_NAME = re.compile(r"^[^\s][\x20-\x7e]{0,254}$")
EXECUTE_MODES = ("auto", "review")
# The settings of the `deploy:` section.
KEYS = (
    "execute",
    "protected",
    "allow_destroy",
    "keep_change_sets",
    "bootstrap_stack",
    "rollback_alarm",
    "rollback_minutes",
    "github",
    "bootstrap_parameters",
    "edge_parameters",
)
# Bootstrap and deploy-role parameters deploy.py sets itself.
BOOTSTRAP_SET_BY_DEPLOY = (
    "Environment",
    "GitHubRepository",
    "GitHubBranch",
    "GitHubApplicationRepositories",
    "PlatformStackName",
    "BootstrapStackName",
    "ArtifactBucketName",
    "ArtifactKeyArn",
    "DirectDeploys",
)


@dataclass(frozen=True)
class DeploySettings:
    execute: str = "review"
    protected: bool = True
    allow_destroy: bool = False
    keep_change_sets: int = 3
    bootstrap_stack: str | None = None
    rollback_alarm: str | None = None
    rollback_minutes: int = 10
    github_repository: str = ""
    github_branch: str = "main"
    github_applications: tuple[str, ...] = ()
    bootstrap_parameters: dict[str, str] = field(default_factory=dict)
    edge_parameters: dict[str, str] = field(default_factory=dict)


def settings_of(params) -> DeploySettings:
    """The validated deploy settings of an EnvParams (defaults when the section is absent)."""
    return params.sections.get("deploy") or DeploySettings()


def validate(
    value: Any, problems: Problems, key: str, context: ParameterContext | None = None
) -> DeploySettings:
    """SECTIONS validator for `deploy:`; reports one line per problem."""
    if not isinstance(value, dict):
        problems.add(key, "must be a mapping (execute, protected, allow_destroy, ...)")
        return DeploySettings()
    allowed = set(KEYS)
    for name in value:
        if name not in allowed:
            problems.add(f"{key}.{name}", f"unknown setting; allowed: {', '.join(sorted(allowed))}")
    out: dict[str, Any] = {}

    execute = value.get("execute", "review")
    if execute not in EXECUTE_MODES:
        problems.add(f"{key}.execute", f"{execute!r} is not allowed; allowed: auto, review")
    out["execute"] = execute
    for name, default in (("protected", True), ("allow_destroy", False)):
        flag = value.get(name, default)
        if not isinstance(flag, bool):
            problems.add(f"{key}.{name}", f"must be true or false, got {flag!r}")
            flag = default
        out[name] = flag
    if out["protected"] and out["allow_destroy"]:
        problems.add(
            f"{key}.allow_destroy",
            "cannot be true in a protected environment; set "
            "protected: false first (only for throw-away "
            "environments such as dev)",
        )
    if out["protected"] and execute == "auto":
        problems.add(
            f"{key}.execute",
            "auto is not allowed in a protected environment: its "
            "change sets are reviewed before `make execute`",
        )
    for name, low, high, default in (
        ("keep_change_sets", 1, 50, 3),
        ("rollback_minutes", 0, 180, 10),
    ):
        number = value.get(name, default)
        if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= high:
            problems.add(
                f"{key}.{name}", f"must be a whole number from {low} to {high}, got {number!r}"
            )
            number = default
        out[name] = number
    stack = value.get("bootstrap_stack")
    if stack is not None and (not isinstance(stack, str) or not STACK_NAME.match(stack)):
        problems.add(f"{key}.bootstrap_stack", f"{stack!r} is not a valid stack name")
        stack = None
    out["bootstrap_stack"] = stack
    alarm = value.get("rollback_alarm")
    if alarm is not None and (not isinstance(alarm, str) or not ALARM_NAME.match(alarm)):
        problems.add(f"{key}.rollback_alarm", f"{alarm!r} is not a CloudWatch alarm name")
        alarm = None
    out["rollback_alarm"] = alarm

    github = value.get("github", {})
    if not isinstance(github, dict):
        problems.add(f"{key}.github", "must be a mapping with repository and branch")
        github = {}
    for name in github:
        if name not in ("repository", "branch", "applications"):
            problems.add(
                f"{key}.github.{name}",
                "unknown setting; allowed: applications, branch, repository",
            )
    repository = github.get("repository", "")
    if repository and (not isinstance(repository, str) or not REPOSITORY.match(repository)):
        problems.add(f"{key}.github.repository", f"{repository!r} is not owner/name")
        repository = ""
    branch = github.get("branch", "main")
    if not isinstance(branch, str) or not BRANCH.match(branch):
        problems.add(f"{key}.github.branch", f"{branch!r} is not a branch name")
        branch = "main"
    out["github_repository"], out["github_branch"] = repository, branch
    applications = github.get("applications", [])
    if not isinstance(applications, list) or not all(
        isinstance(a, str) and REPOSITORY.match(a) for a in applications
    ):
        problems.add(
            f"{key}.github.applications",
            f"{applications!r} is not a list of owner/name repositories",
        )
        applications = []
    elif applications and not repository:
        problems.add(
            f"{key}.github.applications",
            "needs github.repository: the application repositories run its image-delivery workflow",
        )
    out["github_applications"] = tuple(applications)

    # Names and value types here; values against the built templates in params.parse.
    for name in ("bootstrap_parameters", "edge_parameters"):
        out[name] = parameter_map(value.get(name, {}), problems, f"{key}.{name}")
    reserved = set(BOOTSTRAP_SET_BY_DEPLOY) & set(out["bootstrap_parameters"])
    for name in sorted(reserved):
        problems.add(
            f"{key}.bootstrap_parameters.{name}",
            "is set by deploy.py (from the environment, stack_name, deploy.github "
            "and the bootstrap stack); remove it",
        )
        del out["bootstrap_parameters"][name]
    return DeploySettings(**out)
