"""What every tier template shares: parameters with console groups, environment
conditions, stateful-resource policies, names, tags and scanner suppressions.

A tier subclasses Tier, sets `name` and `description`, and builds its resources in
`build()`, one method per resource group. Parameters and outputs are declared next
to the resources that use them (self.parameter / self.wired / self.output); console
groups and labels go through troposphere's own Template support.
"""

from __future__ import annotations

import json

from troposphere import AWS_NO_VALUE, Equals, If, Not, Output, Parameter, Ref, Sub, Tags, Template
from troposphere.constants import LOGS_ALLOWED_RETENTION_DAYS

ENVIRONMENTS = ("dev", "staging", "prod")

# The retention periods (days) CloudWatch Logs accepts, as troposphere knows them.
LOG_RETENTION_DAYS = LOGS_ALLOWED_RETENTION_DAYS

CIDR_PATTERN = (
    r"^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}"
    r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])/(1[6-9]|2[0-8])$"
)

TOGGLE = ["enabled", "disabled"]

# Parameters read by more than one tier are declared once, here, so the root sees one
# declaration (it rejects two different ones). name -> (console group, declaration).
SHARED_PARAMETERS = {
    "DatabaseEngine": (
        "Data",
        dict(
            Type="String",
            AllowedValues=["aurora-postgresql", "aurora-mysql"],
            Default="aurora-postgresql",
            Description="Aurora engine: aurora-postgresql (port 5432) or aurora-mysql (3306).",
        ),
    ),
    "AppPort": (
        "Compute",
        dict(
            Type="Number",
            Default=8000,
            MinValue=1024,
            MaxValue=65535,
            Description="Port the application containers listen on (behind the ALB).",
        ),
    ),
    "DomainName": (
        "DNS",
        dict(
            Type="String",
            Default="",
            AllowedPattern=r"^(([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})?$",
            ConstraintDescription="empty, or a lower-case DNS name such as "
            "streaming-platform-dev.example.com",
            Description="Domain of the platform (cdn.<domain>, api.<domain>). Empty: no DNS "
            "records or custom certificates; CloudFront and the ALB use their own "
            "names.",
        ),
    ),
    "AlbScheme": (
        "Compute",
        dict(
            Type="String",
            AllowedValues=["internal", "internet-facing"],
            Default="internal",
            Description="internal: the ALB sits in the app subnets and only CloudFront "
            "reaches it, as a VPC origin (nothing of it faces the internet). "
            "internet-facing: the ALB sits in the public subnets under a public name, for "
            "direct tests; staging and prod refuse it.",
        ),
    ),
    "LogRetentionDays": (
        "Observability",
        dict(
            Type="Number",
            AllowedValues=LOG_RETENTION_DAYS,
            Default=30,
            Description="Days to keep application, function and API access logs in CloudWatch "
            "Logs.",
        ),
    ),
    "WorkloadBoundaryPolicy": (
        "Wiring",
        dict(
            Type="String",
            AllowedPattern=r"^[A-Za-z0-9+=,.@_/-]{1,512}$",
            deploy_time=True,
            Description="Path and name of the managed policy every platform role carries as its "
            "permissions boundary (the bootstrap creates it; deploy.py sets this).",
        ),
    ),
}

# IAM paths. The deploy identity's own roles and policies live under DEPLOY_PATH; every
# role the platform creates for its workloads lives under WORKLOAD_PATH and carries the
# workload permissions boundary (the execution role can create no other role).
DEPLOY_PATH = "/streamstack-deploy/"
WORKLOAD_PATH = "/streamstack/${Environment}/${AWS::Region}/"
WORKLOAD_BOUNDARY_ARN = (
    "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/${WorkloadBoundaryPolicy}"
)

# Template Metadata key for parameters that deploy.py resolves at deploy time
# (bootstrap outputs, edge outputs, lookups); params files never set them.
DEPLOY_TIME_KEY = "streamstack:DeployTimeParameters"
# Template Metadata key for parameters the root declares differently from the tier: the
# root resolves the value (an SSM parameter name to its value) and passes the result on.
ROOT_DECLARATIONS_KEY = "streamstack:RootDeclarations"


def deterministic_json(template_dict: dict) -> str:
    """Byte-stable rendering: sorted keys, fixed indent, trailing newline."""
    return json.dumps(template_dict, indent=1, sort_keys=True, ensure_ascii=True) + "\n"


def arn(service: str, resource: str, region: bool = True, account: bool = True) -> Sub:
    """An ARN in this stack's partition, region and account: arn("s3", "bucket")."""
    return Sub(
        "arn:${AWS::Partition}:%s:%s:%s:%s"
        % (
            service,
            "${AWS::Region}" if region else "",
            "${AWS::AccountId}" if account else "",
            resource,
        )
    )


def account_root() -> Sub:
    return Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")


class Tier:
    """One nested stack. Subclasses set name/description and implement build()."""

    name = ""
    description = ""
    # Stand-alone templates (bootstrap, edge) are not nested in the root.
    nested = True

    def __init__(self) -> None:
        self.template = Template(Description=f"streamstack {self.name}: {self.description}")
        self.template.set_version("2010-09-09")
        # LanguageExtensions lets DeletionPolicy/UpdateReplacePolicy come from a condition.
        self.template.set_transform("AWS::LanguageExtensions")
        # Wired parameter -> the nested tier whose output of that name feeds it.
        self.wiring: dict[str, str] = {}
        self.environment = self.parameter(
            "Environment",
            "Environment",
            Type="String",
            AllowedValues=list(ENVIRONMENTS),
            Description="Deployment environment. dev is cheap and deletable; staging and prod "
            "retain or snapshot stateful resources and turn on protections.",
        )
        self.build()

    # -- to implement -------------------------------------------------------------
    def build(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- parameters, conditions, outputs ------------------------------------------
    def parameter(
        self,
        name: str,
        group: str,
        label: str | None = None,
        deploy_time: bool = False,
        root: dict | None = None,
        **kwargs,
    ) -> Ref:
        """Declare a parameter in a console group; returns Ref(name).

        deploy_time: deploy.py supplies the value (never a params file).
        root: the root's declaration when it differs from this one: the root resolves
        what the params file gives (e.g. an SSM parameter name) and passes the result.
        """
        if "Description" not in kwargs:
            raise ValueError(f"parameter {name} needs a Description")
        if group == "Wiring" and not deploy_time and name not in self.wiring:
            raise ValueError(
                f"parameter {name} is in the Wiring group: declare it with "
                "self.wired(name, source=<tier>) (or deploy_time=True)"
            )
        if name not in self.template.parameters:
            self.template.add_parameter(Parameter(name, **kwargs))
            self.template.add_parameter_to_group(name, group)
            if label:
                self.template.set_parameter_label(name, label)
            if deploy_time:
                names = self.template.metadata.setdefault(DEPLOY_TIME_KEY, [])
                names[:] = sorted([*names, name])
            if root is not None:
                if "Description" not in root:
                    raise ValueError(f"root declaration of {name} needs a Description")
                self.template.metadata.setdefault(ROOT_DECLARATIONS_KEY, {})[name] = root
        return Ref(name)

    def wired(self, name: str, source: str, group: str = "Wiring", **declaration) -> Ref:
        """A parameter fed by the output of the same name of the nested tier `source`
        (Fn::GetAtt in the root, which refuses a source that has no such output).
        Declared like any parameter (Type defaults to String); `group` is its console
        group inside this tier's own template."""
        declaration.setdefault("Type", "String")
        self.wiring[name] = source
        return self.parameter(name, group, **declaration)

    def from_other_stack(self, name: str, pattern: str, description: str, constraint: str) -> Ref:
        """A deploy-time parameter deploy.py reads from another stack (another region's
        output): a string, "" until that stack exists, matching `pattern`."""
        return self.parameter(
            name,
            "Wiring",
            deploy_time=True,
            Type="String",
            Default="",
            AllowedPattern=pattern,
            Description=description,
            ConstraintDescription=constraint,
        )

    def shared_parameter(self, name: str) -> Ref:
        """A parameter several tiers read, declared once in SHARED_PARAMETERS."""
        group, declaration = SHARED_PARAMETERS[name]
        return self.parameter(name, group, **declaration)

    def condition(self, name: str, expression) -> str:
        self.template.add_condition(name, expression)
        return name

    def toggle(self, name: str, group: str, default: str, description: str) -> str:
        """An enabled/disabled parameter and its condition `<name>Enabled`; returns it."""
        ref = self.parameter(
            name,
            group,
            Type="String",
            AllowedValues=TOGGLE,
            Default=default,
            Description=description,
        )
        return self.condition(f"{name}Enabled", Equals(ref, "enabled"))

    def output(self, name: str, value, description: str, condition: str | None = None) -> None:
        kwargs = {"Condition": condition} if condition else {}
        self.template.add_output(Output(name, Value=value, Description=description, **kwargs))

    def add(self, resource):
        return self.template.add_resource(resource)

    # -- environment-dependent behaviour -------------------------------------------
    def is_dev(self) -> str:
        """The condition IsDev, declared when a tier first needs it (lint rejects unused
        conditions)."""
        if "IsDev" not in self.template.conditions:
            self.condition("IsDev", Equals(self.environment, "dev"))
        return "IsDev"

    def if_dev(self, dev_value, other_value):
        return If(self.is_dev(), dev_value, other_value)

    def stateful(self, resource, outside_dev: str = "Retain"):
        """Keep data outside dev: DeletionPolicy/UpdateReplacePolicy Retain (or Snapshot)."""
        policy = If(self.is_dev(), "Delete", outside_dev)
        resource.DeletionPolicy = policy
        resource.UpdateReplacePolicy = policy
        return resource

    # -- names and tags ----------------------------------------------------------
    def physical_name(self, kind: str, purpose: str) -> Sub:
        """`{type}-{purpose}-{environment}`, for resources that need a name."""
        return Sub(f"{kind}-{purpose}-${{Environment}}")

    def tags(self, kind: str, purpose: str, **extra) -> Tags:
        return Tags(Name=self.physical_name(kind, purpose), **extra)

    # -- suppressions ------------------------------------------------------------
    @staticmethod
    def suppress(
        resource, checkov: dict[str, str] | None = None, cfn_lint: dict[str, str] | None = None
    ):
        """Suppress scanner/linter rules on one resource, each with a written reason."""
        metadata = dict(getattr(resource, "Metadata", None) or {})
        for rule, reason in {**(checkov or {}), **(cfn_lint or {})}.items():
            if not reason or len(reason.strip()) < 15:
                raise ValueError(f"suppression of {rule} needs a written reason")
        if checkov:
            metadata["checkov"] = {
                "skip": [
                    {"id": rule, "comment": reason} for rule, reason in sorted(checkov.items())
                ]
            }
        if cfn_lint:
            metadata["cfn-lint"] = {"config": {"ignore_checks": sorted(cfn_lint)}}
            metadata["streamstack:LintReasons"] = dict(sorted(cfn_lint.items()))
        resource.Metadata = metadata
        return resource

    # -- rendering ---------------------------------------------------------------
    def to_dict(self) -> dict:
        return self.template.to_dict()

    def to_json(self) -> str:
        return deterministic_json(self.to_dict())


__all__ = [
    "Tier",
    "ENVIRONMENTS",
    "DEPLOY_PATH",
    "WORKLOAD_PATH",
    "WORKLOAD_BOUNDARY_ARN",
    "LOG_RETENTION_DAYS",
    "CIDR_PATTERN",
    "TOGGLE",
    "DEPLOY_TIME_KEY",
    "ROOT_DECLARATIONS_KEY",
    "SHARED_PARAMETERS",
    "deterministic_json",
    "arn",
    "account_root",
    "AWS_NO_VALUE",
    "Equals",
    "If",
    "Not",
]
