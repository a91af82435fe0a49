"""Fixes to LocalStack 2026.3.0 (its CloudFormation engine, and the Route 53 backend it
runs), applied when `make local` starts it.

LocalStack runs the real templates unchanged; where its engine reads a template
differently from CloudFormation, the function that does so is corrected here, at
start-up, in the LocalStack process (nothing is written into its venv). Each fix names
the function it corrects and the bug; tests/deploy/test_localstack_fixes.py shows each
bug with the function as LocalStack ships it and its absence with the fix.

The fixes are written against one version (PINNED, the Makefile's pin): on any other
version this refuses to start, because a corrected copy of another version's function
would silently undo that version's own changes.

This file runs in .venv-local (Python 3.13, LocalStack only), started as
`python -P streamstack/deploy/localstack_fixes.py`: it imports nothing of streamstack,
and -P keeps this directory off sys.path.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Callable

PINNED = "2026.3.0"
PREPROC = "localstack.services.cloudformation.engine.v2.change_set_model_preproc"
EXECUTOR = "localstack.services.cloudformation.engine.v2.change_set_model_executor"
STACK_PROVIDER = "localstack.services.cloudformation.resource_providers.aws_cloudformation_stack"
ROUTE53 = "moto.route53.models"  # LocalStack's Route 53 provider runs on moto's backend
MANAGED_POLICY = "localstack.services.iam.resource_providers.aws_iam_managedpolicy"
# Physical ids this engine gives resources of types it skips (no resource provider), in
# place of LocalStack's 'unknown': ARN-shaped, so IAM accepts policies naming them.
PLACEHOLDER_MARK = "localstack-skipped"


@dataclass(frozen=True)
class Fix:
    name: str
    corrects: str  # module:Class.function in LocalStack
    bugs: tuple[str, ...]  # what CloudFormation does that the original does not
    apply: Callable[[], None]


def _classes():
    import importlib

    preproc = importlib.import_module(PREPROC)
    executor = importlib.import_module(EXECUTOR)
    return preproc, executor


def placeholder_arn(
    resource_type: str, logical_id: str, region: str, account: str, attribute: str | None = None
) -> str:
    """arn:aws:<service>:<region>:<account>:<kind>/localstack-skipped/<logical id>[/<attr>]."""
    parts = resource_type.split("::")
    service = parts[1].lower() if len(parts) > 2 else "unknown"
    kind = parts[-1].lower()
    tail = f"{kind}/{PLACEHOLDER_MARK}/{logical_id}" + (f"/{attribute}" if attribute else "")
    return f"arn:aws:{service}:{region}:{account}:{tail}"


def is_placeholder(physical_id) -> bool:
    return isinstance(physical_id, str) and f"/{PLACEHOLDER_MARK}/" in physical_id


# -- 1. empty outputs of nested stacks ------------------------------------------------------
def _fix_empty_values() -> None:
    """CloudFormation returns an empty string output as "", LocalStack as 'unknown'."""
    preproc, _ = _classes()
    cls = preproc.ChangeSetModelPreproc

    def _deployed_property_value_of(self, resource_logical_id, property_name, resolved_resources):
        _ = self._get_node_resource_for(
            resource_name=resource_logical_id,
            node_template=self._change_set.update_model.node_template,
        )
        resolved_resource = resolved_resources.get(resource_logical_id)
        if resolved_resource is None:
            raise RuntimeError(
                f"No deployed instances of resource '{resource_logical_id}' were found"
            )
        properties = resolved_resource.get("Properties", {})
        resource_type = resolved_resource.get("Type")
        property_value = preproc.get_value_from_path(properties, property_name)
        # The original tests truthiness here, so "" (a conditional output such as
        # Fn::If [Cond, X, ""]) fell through to the 'unknown' of skipped types.
        if property_value is not None:
            if property_value != "" and not isinstance(property_value, (str, list, dict)):
                raise RuntimeError(
                    f"Accessing property '{property_name}' from '{resource_logical_id}' "
                    "resulted in a non-string value nor list"
                )
            return property_value
        if resource_type and preproc.should_ignore_unsupported_resource_type(
            resource_type=resource_type, change_set_type=self._change_set.change_set_type
        ):
            return preproc.MOCKED_REFERENCE
        return property_value

    cls._deployed_property_value_of = _deployed_property_value_of


# -- 2. parameter values: explicit "" and lists on the old side ----------------------------
def _fix_parameter_values() -> None:
    preproc, _ = _classes()
    cls = preproc.ChangeSetModelPreproc
    is_nothing = preproc.is_nothing

    def _given_or_default(given, default):
        # The original used `given or default`: an explicit "" became the Default (or
        # None when there is none, which broke every Fn::Equals on it).
        return default if is_nothing(given) or given is None else given

    def _resolve_parameter_type(value, type_):
        if is_nothing(value) or value is None or not isinstance(value, str):
            return value
        if type_ and (re.match(r"List<[^>]+>", type_) or type_ == "CommaDelimitedList"):
            return [item.strip() for item in value.split(",")]
        if type_ == "Number":
            return preproc.to_number(value)
        return value

    def visit_node_parameter(self, node_parameter):
        if not preproc.VALID_LOGICAL_RESOURCE_ID_RE.match(node_parameter.name):
            raise preproc.ValidationError(
                f"Template format error: Parameter name {node_parameter.name} is non alphanumeric."
            )
        dynamic_delta = self.visit(node_parameter.dynamic_value)
        default_delta = self.visit(node_parameter.default_value)
        before = _given_or_default(dynamic_delta.before, default_delta.before)
        after = _given_or_default(dynamic_delta.after, default_delta.after)
        parameter_type = self.visit(node_parameter.type_)
        # The original converted only the new side: a CommaDelimitedList stayed a string
        # on the old side, so Fn::Join over it failed when the stack was deleted.
        before = _resolve_parameter_type(before, parameter_type.before)
        after = _resolve_parameter_type(after, parameter_type.after)
        return preproc.PreprocEntityDelta(before=before, after=after)

    cls.visit_node_parameter = visit_node_parameter


# -- 3. ARN-shaped placeholders for skipped resource types ----------------------------------
def _fix_skipped_physical_ids() -> None:
    """A skipped type's Ref was 'unknown'; IAM rejects 'unknown' as a policy Resource."""
    _, executor = _classes()
    cls = executor.ChangeSetModelExecutor
    original = cls._execute_resource_action

    def _execute_resource_action(
        self,
        action,
        logical_resource_id,
        resource_type,
        before_properties,
        after_properties,
        part_of_replacement=False,
    ):
        event = original(
            self,
            action,
            logical_resource_id,
            resource_type,
            before_properties,
            after_properties,
            part_of_replacement,
        )
        resolved = self.resources.get(logical_resource_id)
        if (
            resolved is not None
            and resolved.get("Type") == resource_type
            and resolved.get("PhysicalResourceId") == executor.MOCKED_REFERENCE
        ):
            resolved["PhysicalResourceId"] = placeholder_arn(
                resource_type,
                logical_resource_id,
                self._change_set.region_name,
                self._change_set.account_id,
            )
        return event

    cls._execute_resource_action = _execute_resource_action


def _fix_skipped_arn_attributes() -> None:
    """A skipped type's ARN attribute (GetAtt X.Arn, X.MasterUserSecret.SecretArn) was
    'unknown'; IAM rejects it as a policy Resource."""
    preproc, _ = _classes()
    cls = preproc.ChangeSetModelPreproc
    current = cls._deployed_property_value_of

    def _deployed_property_value_of(self, resource_logical_id, property_name, resolved_resources):
        value = current(self, resource_logical_id, property_name, resolved_resources)
        resolved = resolved_resources.get(resource_logical_id) or {}
        if (
            value == preproc.MOCKED_REFERENCE
            and property_name.split(".")[-1].endswith("Arn")
            and is_placeholder(resolved.get("PhysicalResourceId"))
        ):
            return placeholder_arn(
                resolved.get("Type", ""),
                resource_logical_id,
                self._change_set.region_name,
                self._change_set.account_id,
                property_name,
            )
        return value

    cls._deployed_property_value_of = _deployed_property_value_of


# -- 4. deleting a stack whose creation failed ------------------------------------------------
def _fix_delete_never_created() -> None:
    """CloudFormation deletes only what was created; LocalStack also evaluates resources
    that never were (a nested stack cancelled by a sibling's failure), their GetAtt of a
    never-created stack raises, and the delete reports DELETE_FAILED."""
    preproc, executor = _classes()
    cls = executor.ChangeSetModelExecutor
    original = cls.visit_node_resource

    def visit_node_resource(self, node_resource):
        deployed = self._before_resolved_resources.get(node_resource.name) or {}
        if (
            self._change_set.stack.status == executor.StackStatus.DELETE_IN_PROGRESS
            and not deployed.get("PhysicalResourceId")
        ):
            return preproc.PreprocEntityDelta(before=preproc.Nothing, after=preproc.Nothing)
        return original(self, node_resource)

    cls.visit_node_resource = visit_node_resource


# -- 5. updates of nested stacks ---------------------------------------------------------------
NESTED_CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
NO_UPDATES = "No updates are to be performed"


def _fix_nested_stack_updates() -> None:
    """CloudFormation updates a nested stack whose parameters or TemplateURL changed;
    LocalStack's provider has no update, so the engine keeps the old nested stack and
    reports UPDATE_COMPLETE: a parameter change never reached the tier."""
    import importlib

    module = importlib.import_module(STACK_PROVIDER)
    progress, status = module.ProgressEvent, module.OperationStatus

    def update(self, request):
        model = request.desired_state
        model["Id"] = (request.previous_state or {}).get("Id")
        cfn = request.aws_client_factory.cloudformation
        if not request.custom_context.get(module.REPEATED_INVOCATION):
            parameters = [
                {
                    "ParameterKey": key,
                    "ParameterValue": str(value).lower() if isinstance(value, bool) else str(value),
                }
                for key, value in (model.get("Parameters") or {}).items()
            ]
            request.custom_context[module.REPEATED_INVOCATION] = True
            try:
                cfn.update_stack(
                    StackName=model["Id"],
                    TemplateURL=model["TemplateURL"],
                    Parameters=parameters,
                    Capabilities=NESTED_CAPABILITIES,
                )
            except Exception as exc:  # botocore's ClientError; no botocore import here
                if NO_UPDATES not in str(exc):
                    raise
        stack = cfn.describe_stacks(StackName=model["Id"])["Stacks"][0]
        state = stack["StackStatus"]
        if state.endswith("_IN_PROGRESS"):
            return progress(
                status=status.IN_PROGRESS,
                resource_model=model,
                custom_context=request.custom_context,
            )
        if state in ("UPDATE_COMPLETE", "CREATE_COMPLETE"):
            model["Outputs"] = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
            return progress(
                status=status.SUCCESS, resource_model=model, custom_context=request.custom_context
            )
        return progress(
            status=status.FAILED,
            resource_model=model,
            custom_context=request.custom_context,
            message=f"nested stack {stack['StackName']} ended {state}: "
            f"{stack.get('StackStatusReason') or 'see its events'}",
        )

    module.CloudFormationStackProvider.update = update


# -- 6. hosted zone ids shaped like AWS's ---------------------------------------------------
def _fix_hosted_zone_ids() -> None:
    """AWS's hosted zone ids start with Z; moto's (behind LocalStack's Route 53) start with
    any letter or digit, which the dns tier's ExistingHostedZoneId pattern rightly refuses."""
    import importlib

    models = importlib.import_module(ROUTE53)
    original = models.HostedZoneIdentifier.generate

    def generate(self, existing_ids=None, tags=None):
        zone_id = original(self, existing_ids=existing_ids, tags=tags)
        return zone_id if zone_id.startswith("Z") else "Z" + zone_id[1:]

    models.HostedZoneIdentifier.generate = generate


# -- 7. managed policies under their Path -----------------------------------------------------
def _fix_managed_policy_path() -> None:
    """CloudFormation creates an AWS::IAM::ManagedPolicy under its Path; LocalStack's
    provider drops the Path, so the policy's ARN is not the one the templates name (the
    workload permissions boundary) and roles naming it cannot be created."""
    import importlib

    module = importlib.import_module(MANAGED_POLICY)
    original = module.IAMManagedPolicyProvider.create

    def create(self, request):
        path = request.desired_state.get("Path")
        if not path:
            return original(self, request)
        real = request.aws_client_factory.iam

        class WithPath:  # the provider's IAM client, passing the Path on
            def __getattr__(self, name):
                return getattr(real, name)

            def create_policy(self, **kwargs):
                return real.create_policy(Path=path, **kwargs)

        factory = request.aws_client_factory
        request.aws_client_factory = type(
            "Factory",
            (),
            {"__getattr__": lambda _, name: getattr(factory, name), "iam": WithPath()},
        )()
        try:
            return original(self, request)
        finally:
            request.aws_client_factory = factory

    module.IAMManagedPolicyProvider.create = create


FIXES = (
    Fix(
        "empty-values",
        f"{PREPROC}:ChangeSetModelPreproc._deployed_property_value_of",
        ("an empty nested-stack output (\"\") is read as missing and becomes 'unknown'",),
        _fix_empty_values,
    ),
    Fix(
        "parameter-values",
        f"{PREPROC}:ChangeSetModelPreproc.visit_node_parameter",
        (
            "an explicit empty ParameterValue is read as missing (the Default, or None, applies)",
            "a CommaDelimitedList parameter is split for the new template only, so deleting a "
            "stack with Fn::Join over it fails",
        ),
        _fix_parameter_values,
    ),
    Fix(
        "skipped-physical-ids",
        f"{EXECUTOR}:ChangeSetModelExecutor._execute_resource_action",
        ("Ref of a resource whose type LocalStack skips is 'unknown', not an id IAM accepts",),
        _fix_skipped_physical_ids,
    ),
    Fix(
        "skipped-arn-attributes",
        f"{PREPROC}:ChangeSetModelPreproc._deployed_property_value_of",
        ("Fn::GetAtt of an ARN attribute of a skipped type is 'unknown', not an ARN",),
        _fix_skipped_arn_attributes,
    ),
    Fix(
        "delete-never-created",
        f"{EXECUTOR}:ChangeSetModelExecutor.visit_node_resource",
        (
            "deleting a stack whose creation failed evaluates resources that were never "
            "created and ends DELETE_FAILED",
        ),
        _fix_delete_never_created,
    ),
    Fix(
        "nested-stack-updates",
        f"{STACK_PROVIDER}:CloudFormationStackProvider.update",
        (
            "an update of a nested stack (new parameters or TemplateURL) is not performed, yet "
            "reported UPDATE_COMPLETE",
        ),
        _fix_nested_stack_updates,
    ),
    Fix(
        "hosted-zone-ids",
        f"{ROUTE53}:HostedZoneIdentifier.generate",
        ("a new hosted zone's id need not start with Z, as every AWS zone id does",),
        _fix_hosted_zone_ids,
    ),
    Fix(
        "managed-policy-path",
        f"{MANAGED_POLICY}:IAMManagedPolicyProvider.create",
        (
            "an AWS::IAM::ManagedPolicy is created without its Path, so its ARN is not the one "
            "the templates name",
        ),
        _fix_managed_policy_path,
    ),
)


def check_version() -> str:
    from localstack import version

    if version.__version__ != PINNED:
        raise SystemExit(
            f"streamstack's LocalStack fixes target {PINNED}, but this is "
            f"{version.__version__}: reinstall .venv-local (make local) or "
            "update streamstack/deploy/localstack_fixes.py for it"
        )
    return version.__version__


def apply(fixes=FIXES, out=print) -> None:
    check_version()
    for fix in fixes:
        fix.apply()
        out(f"streamstack: LocalStack fix {fix.name} applied to {fix.corrects}", flush=True)


def main() -> None:
    apply()
    from localstack.runtime import main as runtime_main

    runtime_main.main()


if __name__ == "__main__":
    sys.exit(main())
