"""Build checks for values CloudFormation resolves in ways cfn-lint does not model.

cfn-lint checks each template alone: it cannot see what the root passes into a
nested stack, nor which Availability Zones an account gets. These checks read the
rendered tree the way CloudFormation resolves it:

- An SSM-typed parameter (AWS::SSM::Parameter::Value<...>) takes a parameter *name*
  and CloudFormation looks it up. A value the root already resolved (its own
  SSM-typed parameter, or a tier's output) is looked up again as a name and the
  nested stack fails ("Unable to fetch parameters [...] from parameter store").
- An AWS-specific parameter type (AWS::EC2::VPC::Id, List<AWS::EC2::Subnet::Id>, ...)
  is checked against the account: an empty string fails, so it must never be fed
  an output that is empty when a toggle is off.
- Fn::Select [i, Fn::GetAZs ...] fails where the account sees i or fewer zones: every
  region an environment may use must offer more (streamstack.validation).
"""

from __future__ import annotations

import json

from streamstack import validation
from templates.root import SSM_TYPE_PREFIX, stack_logical_id


def check(templates: dict[str, str]) -> list[str]:
    """Problems in the rendered templates (name -> JSON text), one line each."""
    parsed = {name: json.loads(text) for name, text in templates.items()}
    problems = availability_zone_problems(parsed)
    if "root" in parsed:
        problems += nested_parameter_problems(parsed)
    return problems


# -- what the root feeds into nested stacks -----------------------------------------------
def nested_parameter_problems(parsed: dict[str, dict]) -> list[str]:
    root = parsed["root"]
    by_logical_id = {stack_logical_id(name): template for name, template in parsed.items()}
    problems = []
    for stack_id, resource in sorted(root.get("Resources", {}).items()):
        if resource.get("Type") != "AWS::CloudFormation::Stack" or stack_id not in by_logical_id:
            continue
        child = by_logical_id[stack_id]
        for name, value in sorted(resource.get("Properties", {}).get("Parameters", {}).items()):
            declared = child.get("Parameters", {}).get(name)
            if declared is None:
                continue  # tests/templates/test_root.py checks names
            source = _source(value, root, by_logical_id)
            where = f"root: {stack_id} parameter {name} ({declared['Type']})"
            if declared["Type"].startswith(SSM_TYPE_PREFIX) and not source.is_ssm_name:
                problems.append(
                    f"{where} is SSM-typed but fed {source.what}, a value already "
                    "resolved: CloudFormation would look it up as a parameter "
                    "name. Declare the nested parameter with the resolved type "
                    "(AWS::EC2::Image::Id, String, ...) and resolve once, at the "
                    "root"
                )
            elif _is_aws_specific(declared["Type"]) and source.may_be_empty:
                problems.append(
                    f"{where} is an AWS-specific type, which CloudFormation checks "
                    f"against the account, but {source.what} can be empty: feed "
                    "it a String parameter or an output that is never empty"
                )
    return problems


class _Source:
    def __init__(self, what: str, is_ssm_name: bool = False, may_be_empty: bool = False):
        self.what, self.is_ssm_name, self.may_be_empty = what, is_ssm_name, may_be_empty


def _source(value, root: dict, by_logical_id: dict[str, dict]) -> _Source:
    if isinstance(value, str):
        return _Source(f"the literal {value!r}", is_ssm_name=bool(value), may_be_empty=not value)
    if isinstance(value, dict) and "Ref" in value:
        declared = root.get("Parameters", {}).get(value["Ref"], {})
        kind = declared.get("Type", "")
        what = f"the root parameter {value['Ref']} ({kind or 'pseudo parameter'})"
        return _Source(
            what,
            is_ssm_name=kind == "String",
            may_be_empty=kind == "String" and declared.get("Default") == "",
        )
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        stack_id, attribute = value["Fn::GetAtt"]
        output_name = attribute.split(".", 1)[1]
        tier = by_logical_id.get(stack_id, {})
        output = tier.get("Outputs", {}).get(output_name, {}).get("Value")
        what = f"{stack_id}'s output {output_name}"
        return _Source(
            what, is_ssm_name=_names_ssm_parameter(output, tier), may_be_empty=_may_be_empty(output)
        )
    return _Source(f"the expression {json.dumps(value)[:80]}", may_be_empty=True)


def _names_ssm_parameter(output, tier: dict) -> bool:
    """An output that is the name of an SSM parameter the tier creates (Ref of one)."""
    if isinstance(output, dict) and set(output) == {"Ref"}:
        target = tier.get("Resources", {}).get(output["Ref"], {})
        return target.get("Type") == "AWS::SSM::Parameter"
    return False


def _may_be_empty(value) -> bool:
    """Whether an output expression can evaluate to "" (a branch of Fn::If, a Join of
    nothing but possibly empty parts)."""
    if value == "" or value is None:
        return True
    if isinstance(value, dict):
        if "Fn::If" in value:
            return any(_may_be_empty(branch) for branch in value["Fn::If"][1:])
        if value.get("Ref") == "AWS::NoValue":
            return True
        if "Fn::Join" in value:
            parts = value["Fn::Join"][1]
            return isinstance(parts, list) and all(_may_be_empty(p) for p in parts)
    return False


def _is_aws_specific(parameter_type: str) -> bool:
    return parameter_type.startswith(("AWS::", "List<AWS::")) and not parameter_type.startswith(
        SSM_TYPE_PREFIX
    )


# -- Availability Zones --------------------------------------------------------------------
def availability_zone_problems(parsed: dict[str, dict]) -> list[str]:
    usable = validation.usable_regions()
    if not usable:
        return [
            "no supported region offers the Availability Zones the network tier spreads "
            "over (templates/parts/regions.py AZS, AZ_COUNTS)"
        ]
    problems = []
    fewest = min((validation.az_count(r), r) for r in usable)
    for name, template in sorted(parsed.items()):
        for index in sorted(set(_get_azs_indexes(template))):
            if index >= fewest[0]:
                problems.append(
                    f"{name}: Fn::Select [{index}, Fn::GetAZs] needs {index + 1} Availability "
                    f"Zones, but {fewest[1]} offers {fewest[0]}: refuse such regions "
                    "(templates/parts/regions.py AZ_COUNTS) or select fewer zones"
                )
    return problems


def _get_azs_indexes(node):
    if isinstance(node, dict):
        select = node.get("Fn::Select")
        if (
            isinstance(select, list)
            and len(select) == 2
            and isinstance(select[1], dict)
            and "Fn::GetAZs" in select[1]
        ):
            try:
                yield int(select[0])
            except (TypeError, ValueError):
                pass
        for child in node.values():
            yield from _get_azs_indexes(child)
    elif isinstance(node, list):
        for child in node:
            yield from _get_azs_indexes(child)
