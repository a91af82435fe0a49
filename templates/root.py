"""root: one AWS::CloudFormation::Stack per tier, wired by name.

Wiring rule (the contract every tier follows): a tier declares each input it reads
from another tier with the tier that provides it (`self.wired("VpcId", "network")`),
and the root feeds it with that tier's output of the same name (Fn::GetAtt
NetworkStack.Outputs.VpcId). It refuses a source that is not nested or has no such
output, and a plain parameter that has the name of another tier's output (it would
silently become a root parameter). Every other parameter becomes a root parameter
with the same declaration (or the one the tier gives for the root in its Metadata,
ROOT_DECLARATIONS_KEY: a value the root resolves, such as an SSM parameter name,
before passing it on), set by params/<env>.yaml or by deploy.py. Output names are
unique across tiers, and a tier waits only for the tiers it declares: the dependency
graph follows from the declarations, not from a hand-kept list.

TemplateURLs are content-addressed: each child is uploaded to
<ArtifactBaseUrl>/templates/<sha256>.json, so an unchanged tier keeps its URL and
CloudFormation leaves that nested stack alone. The artifact bucket is only known at
deploy time, hence the ArtifactBaseUrl parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from troposphere import GetAtt, Join, Output, Parameter, Ref, Template, cloudformation

from templates.base import DEPLOY_TIME_KEY, ROOT_DECLARATIONS_KEY, deterministic_json

ARTIFACT_PREFIX = "templates"
LIST_TYPES = ("CommaDelimitedList", "List<")
SSM_TYPE_PREFIX = "AWS::SSM::Parameter::Value<"


def is_list_type(parameter_type: str) -> bool:
    """A parameter whose Ref is a list (nested stack parameters take strings: Join it)."""
    inner = (
        parameter_type[len(SSM_TYPE_PREFIX) : -1]
        if parameter_type.startswith(SSM_TYPE_PREFIX)
        else parameter_type
    )
    return inner.startswith(LIST_TYPES)


def artifact_key(sha256: str) -> str:
    """S3 key of a template whose bytes hash to sha256."""
    return f"{ARTIFACT_PREFIX}/{sha256}.json"


class WiringError(ValueError):
    """The tiers do not fit together (duplicate outputs, conflicting parameters)."""


@dataclass(frozen=True)
class Child:
    name: str  # tier name, e.g. "network"
    template: dict  # rendered template
    sha256: str  # of the rendered bytes
    wired: dict = field(default_factory=dict)  # input -> tier whose output feeds it

    @property
    def logical_id(self) -> str:
        return stack_logical_id(self.name)


def stack_logical_id(tier: str) -> str:
    """The root's logical id of a tier's nested stack: load-balancer -> LoadBalancerStack."""
    return "".join(part.capitalize() for part in tier.split("-")) + "Stack"


def output_owners(children: list[Child]) -> dict[str, Child]:
    owners: dict[str, Child] = {}
    for child in children:
        for name in child.template.get("Outputs", {}):
            if name in owners:
                raise WiringError(
                    f"output {name} is declared by both {owners[name].name} "
                    f"and {child.name}; output names must be unique"
                )
            owners[name] = child
    return owners


def sources(children: list[Child]) -> dict[str, dict[str, Child]]:
    """tier -> {wired input: the child that feeds it}, every declaration checked."""
    owners = output_owners(children)
    by_name = {child.name: child for child in children}
    result: dict[str, dict[str, Child]] = {}
    for child in children:
        feeds = result.setdefault(child.name, {})
        for name in child.template.get("Parameters", {}):
            source = child.wired.get(name)
            if source is None:
                owner = owners.get(name)
                if owner is not None and owner is not child:
                    raise WiringError(
                        f"{child.name}: parameter {name} has the name of an "
                        f"output of {owner.name} but is not wired; declare it "
                        f"with self.wired({name!r}, {owner.name!r}) or rename it"
                    )
                continue
            provider = by_name.get(source)
            if provider is None or provider is child:
                raise WiringError(
                    f"{child.name}: input {name} is wired from {source!r}, which "
                    "is not another nested tier; known: "
                    + ", ".join(sorted(set(by_name) - {child.name}))
                )
            if name not in provider.template.get("Outputs", {}):
                raise WiringError(
                    f"{child.name}: input {name} is wired from {source}, which "
                    f"has no output {name}; fix the name or the source"
                )
            feeds[name] = provider
    return result


def dependencies(children: list[Child]) -> dict[str, list[str]]:
    """tier -> tiers it waits for (those whose outputs it reads)."""
    return {
        tier: sorted({provider.name for provider in feeds.values()})
        for tier, feeds in sources(children).items()
    }


def build_root(children: list[Child]) -> Template:
    owners = output_owners(children)
    feeds = sources(children)
    root = Template(
        Description="streamstack root: nests every tier and wires their outputs "
        "to each other's parameters"
    )
    root.set_version("2010-09-09")
    root.add_parameter(
        Parameter(
            "ArtifactBaseUrl",
            Type="String",
            AllowedPattern=r"^https?://[^\s]+[^/\s]$",
            ConstraintDescription="an http(s) URL without a trailing slash",
            Description="URL of the artifact bucket (and prefix) holding the tier templates; "
            "deploy.py sets it.",
        )
    )
    root_params: dict[str, dict] = {}
    declared_by: dict[str, str] = {}
    groups: dict[str, list[str]] = {}
    labels: dict[str, dict] = {}
    deploy_time = {"ArtifactBaseUrl"}

    for child in children:
        metadata = child.template.get("Metadata", {})
        deploy_time.update(metadata.get(DEPLOY_TIME_KEY, []))
        interface = metadata.get("AWS::CloudFormation::Interface", {})
        labels.update(interface.get("ParameterLabels", {}))
        group_of = {
            p: g["Label"]["default"]
            for g in interface.get("ParameterGroups", [])
            for p in g["Parameters"]
        }
        values = {}
        at_root = metadata.get(ROOT_DECLARATIONS_KEY, {})
        for name, child_spec in child.template.get("Parameters", {}).items():
            provider = feeds[child.name].get(name)
            if provider is not None:
                values[name] = GetAtt(provider.logical_id, f"Outputs.{name}")
                continue
            spec = at_root.get(name, child_spec)
            if name in root_params and root_params[name] != spec:
                raise WiringError(
                    f"parameter {name} is declared differently by "
                    f"{declared_by[name]} and {child.name}; declare it once "
                    "(templates/base.py shared parameters) and reuse it"
                )
            if name not in root_params:
                root_params[name] = spec
                declared_by[name] = child.name
                groups.setdefault(group_of.get(name, child.name), []).append(name)
            ref = Ref(name)
            values[name] = Join(",", ref) if is_list_type(spec["Type"]) else ref
        root.add_resource(
            cloudformation.Stack(
                child.logical_id,
                TemplateURL=Join("", [Ref("ArtifactBaseUrl"), "/", artifact_key(child.sha256)]),
                Parameters=values,
            )
        )

    for name, spec in root_params.items():
        root.add_parameter(Parameter(name, **spec))
    for name, owner in owners.items():
        spec = owner.template["Outputs"][name]
        root.add_output(
            Output(
                name,
                Description=spec["Description"],
                Value=GetAtt(owner.logical_id, f"Outputs.{name}"),
            )
        )

    interface = {
        "ParameterGroups": [
            {"Label": {"default": g}, "Parameters": names} for g, names in groups.items()
        ]
        + [{"Label": {"default": "Set by deploy.py"}, "Parameters": ["ArtifactBaseUrl"]}]
    }
    if labels:
        interface["ParameterLabels"] = {
            n: label for n, label in sorted(labels.items()) if n in root_params
        }
    root.set_metadata(
        {"AWS::CloudFormation::Interface": interface, DEPLOY_TIME_KEY: sorted(deploy_time)}
    )
    return root


def render_root(children: list[Child]) -> str:
    return deterministic_json(build_root(children).to_dict())
