"""One case per fix in streamstack/deploy/localstack_fixes.py, run inside .venv-local
(LocalStack's Python) by tests/deploy/test_localstack_fixes.py: every case runs against
LocalStack's engine as shipped, then again with the fixes applied, and the results
are printed as JSON ({fix: {"unfixed": ..., "fixed": ...}}).

The cases drive LocalStack's own classes in this process (its change set model,
preprocessor, executor, resource provider and Route 53 backend), with no server.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path

from localstack.aws.api.cloudformation import StackStatus
from localstack.services.cloudformation.engine.v2.change_set_model_executor import (
    ChangeSetModelExecutor,
)
from localstack.services.cloudformation.engine.v2.change_set_model_preproc import (
    ChangeSetModelPreproc,
)
from localstack.services.cloudformation.engine.v2.resolving import resolve_parameters
from localstack.services.cloudformation.v2.entities import ChangeSet, Stack, UpdateModelInputs

ACCOUNT, REGION = "000000000000", "us-east-1"
FIXES_FILE = Path(__file__).resolve().parents[2] / "streamstack" / "deploy" / "localstack_fixes.py"
CHILD_URL = "https://s3.amazonaws.com/bucket/child.json"


def load_fixes():
    spec = importlib.util.spec_from_file_location("localstack_fixes", FIXES_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def change_set(
    kind, before, after, before_parameters=None, after_parameters=None, resolved=None, status=None
) -> ChangeSet:
    stack = Stack(ACCOUNT, REGION, {"StackName": "case"})
    stack.resolved_resources = resolved or {}
    if status:
        stack.status = status
    cs = ChangeSet(stack, {"ChangeSetName": "case", "ChangeSetType": kind}, template_body="")
    cs.compute_update_model(
        UpdateModelInputs(
            before_template=before,
            after_template=after,
            before_parameters=before_parameters,
            after_parameters=after_parameters,
        )
    )
    return cs


def deployed(logical_id, resource_type, physical_id, **properties) -> dict:
    return {
        "Type": resource_type,
        "LogicalResourceId": logical_id,
        "ResourceStatus": "CREATE_COMPLETE",
        "PhysicalResourceId": physical_id,
        "Properties": properties,
    }


def outputs_of(cs) -> dict:
    delta = ChangeSetModelPreproc(cs).visit(cs.update_model.node_template.outputs)
    return {output.name: output.value for output in delta.after}


# -- the cases: each returns what LocalStack computes -------------------------------------------
def empty_values():
    """A parent reads a nested stack output that is "" (Fn::If [Off, X, ""])."""
    template = {
        "Resources": {
            "Child": {
                "Type": "AWS::CloudFormation::Stack",
                "Properties": {"TemplateURL": CHILD_URL},
            }
        },
        "Outputs": {"Read": {"Value": {"Fn::GetAtt": ["Child", "Outputs.Empty"]}}},
    }
    child = deployed(
        "Child",
        "AWS::CloudFormation::Stack",
        f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/child/1",
        TemplateURL=CHILD_URL,
        Outputs={"Empty": ""},
    )
    cs = change_set("UPDATE", template, template, {}, {}, {"Child": child})
    return outputs_of(cs)["Read"]


def parameter_values():
    """An explicit "" for a parameter with a default, and a CommaDelimitedList parameter
    joined by a resource, when the stack is deleted."""
    template = {
        "Parameters": {"Zone": {"Type": "String", "Default": "Z0DEFAULT"}},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"Zone": {"Value": {"Ref": "Zone"}}},
    }
    cs = change_set("CREATE", None, template, None, {"Zone": ""})
    given_empty = outputs_of(cs)["Zone"]

    listed = {
        "Parameters": {"Origins": {"Type": "CommaDelimitedList"}},
        "Resources": {
            "Topic": {
                "Type": "AWS::SNS::Topic",
                "Properties": {"TopicName": {"Fn::Join": ["-", {"Ref": "Origins"}]}},
            }
        },
    }
    resolved = resolve_parameters(listed, {"Origins": "a,b"}, ACCOUNT, REGION, None)
    topic = deployed(
        "Topic", "AWS::SNS::Topic", f"arn:aws:sns:{REGION}:{ACCOUNT}:a-b", TopicName="a-b"
    )
    try:
        change_set(
            "UPDATE", listed, None, resolved, None, {"Topic": topic}, StackStatus.DELETE_IN_PROGRESS
        )
        delete = "planned"
    except Exception as exc:  # LocalStack raises RuntimeError from its Fn::Join
        delete = f"{type(exc).__name__}: {exc}"
    return {"explicit_empty": given_empty, "delete_with_list": delete}


def _skipped_type_outputs():
    template = {
        "Resources": {"Cluster": {"Type": "AWS::ECS::Cluster"}},
        "Outputs": {
            "Ref": {"Value": {"Ref": "Cluster"}},
            "Arn": {"Value": {"Fn::GetAtt": ["Cluster", "Arn"]}},
        },
    }
    cs = change_set("CREATE", None, template, None, {})
    result = ChangeSetModelExecutor(cs).execute()
    return {o["OutputKey"]: o["OutputValue"] for o in result.outputs}


def skipped_physical_ids():
    """Ref of a resource whose type LocalStack does not model (no provider)."""
    return _skipped_type_outputs()["Ref"]


def skipped_arn_attributes():
    """Fn::GetAtt X.Arn of such a resource."""
    return _skipped_type_outputs()["Arn"]


def delete_never_created():
    """Delete a stack whose first nested stack failed, so the second was never created
    (it reads the first's output)."""
    template = {
        "Resources": {
            "First": {
                "Type": "AWS::CloudFormation::Stack",
                "Properties": {"TemplateURL": CHILD_URL},
            },
            "Second": {
                "Type": "AWS::CloudFormation::Stack",
                "Properties": {
                    "TemplateURL": CHILD_URL,
                    "Parameters": {"X": {"Fn::GetAtt": ["First", "Outputs.X"]}},
                },
            },
        }
    }
    cs = change_set("UPDATE", template, None, {}, None, {}, StackStatus.DELETE_IN_PROGRESS)
    result = ChangeSetModelExecutor(cs).execute()
    return result.failure_message or "deleted"


class _Cfn:
    """The CloudFormation client a nested-stack provider gets: records update_stack."""

    def __init__(self):
        self.updates, self.statuses = [], ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"]

    def update_stack(self, **kwargs):
        self.updates.append(kwargs)

    def describe_stacks(self, StackName):
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return {
            "Stacks": [
                {
                    "StackName": "child",
                    "StackStatus": status,
                    "Outputs": [{"OutputKey": "X", "OutputValue": "new"}],
                }
            ]
        }


def nested_stack_updates():
    """The provider of AWS::CloudFormation::Stack asked to update a nested stack's
    parameters (the engine turns NotImplementedError into SUCCESS with the old state)."""
    from types import SimpleNamespace

    from localstack.services.cloudformation.resource_providers.aws_cloudformation_stack import (
        CloudFormationStackProvider,
    )

    cfn = _Cfn()
    request = SimpleNamespace(
        aws_client_factory=SimpleNamespace(cloudformation=cfn),
        custom_context={},
        desired_state={"TemplateURL": CHILD_URL, "Parameters": {"Retention": 7}},
        previous_state={
            "Id": "arn:child",
            "TemplateURL": CHILD_URL,
            "Parameters": {"Retention": 1},
            "Outputs": {"X": "old"},
        },
    )
    provider = CloudFormationStackProvider()
    try:
        events = [provider.update(request), provider.update(request)]
    except NotImplementedError:
        return "NotImplementedError"
    return {
        "statuses": [e.status.name for e in events],
        "passed": cfn.updates[0]["Parameters"] if cfn.updates else None,
        "outputs": events[-1].resource_model.get("Outputs"),
    }


def hosted_zone_ids():
    """Ids of 30 new hosted zones in the Route 53 backend LocalStack runs."""
    from moto.route53.models import route53_backends

    random.seed(16)
    backend = route53_backends[ACCOUNT]["aws"]
    ids = [
        backend.create_hosted_zone(f"z{i}.example.com.", private_zone=False).id for i in range(30)
    ]
    return sorted({zone_id[0] for zone_id in ids})


def managed_policy_path():
    """The ARN the provider of AWS::IAM::ManagedPolicy creates a policy with a Path under."""
    from types import SimpleNamespace

    from localstack.services.iam.resource_providers.aws_iam_managedpolicy import (
        IAMManagedPolicyProvider,
    )

    class Iam:
        def create_policy(self, PolicyName, PolicyDocument, Path="/"):
            return {"Policy": {"Arn": f"arn:aws:iam::{ACCOUNT}:policy{Path}{PolicyName}"}}

    request = SimpleNamespace(
        aws_client_factory=SimpleNamespace(iam=Iam()),
        stack_name="s",
        logical_resource_id="P",
        desired_state={
            "ManagedPolicyName": "boundary",
            "Path": "/streamstack-deploy/",
            "PolicyDocument": {"Statement": []},
        },
    )
    return IAMManagedPolicyProvider().create(request).resource_model["Id"]


CASES = {
    "empty-values": empty_values,
    "parameter-values": parameter_values,
    "skipped-physical-ids": skipped_physical_ids,
    "skipped-arn-attributes": skipped_arn_attributes,
    "delete-never-created": delete_never_created,
    "nested-stack-updates": nested_stack_updates,
    "hosted-zone-ids": hosted_zone_ids,
    "managed-policy-path": managed_policy_path,
}


def run_all() -> dict:
    return {name: case() for name, case in CASES.items()}


def main() -> None:
    fixes = load_fixes()
    unfixed = run_all()
    fixes.apply(out=lambda *a, **k: None)
    fixed = run_all()
    json.dump(
        {
            "fixes": [f.name for f in fixes.FIXES],
            "cases": {n: {"unfixed": unfixed[n], "fixed": fixed[n]} for n in CASES},
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
