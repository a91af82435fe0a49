"""Moves between nested stacks: a Remove in one tier paired with an Add of the same
resource in another is one resource changing stacks, not a deletion and a creation.

Pairing compares the resource as the source stack has it deployed with the resource as
the build adds it to the destination, both resolved the way CloudFormation would
resolve them before the deploy: a Ref to a parameter becomes the value the stack has
(or the root will pass: another tier's output as deployed), a Ref to an existing
resource its physical id, AWS::Region and AWS::AccountId their values; everything
else must be written the same. Identical properties, or the same explicit name (the
type's identifier property), make a MOVE.

`make refactor` then moves it with CloudFormation stack refactoring, which may not
create, delete or change anything nor add parameters or conditions: refactor_templates
derives both stacks' templates from what is deployed, with only the move applied, and
says what stops it when the move cannot be done on its own.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

from streamstack.deploy.critical_path import references
from streamstack.errors import StreamstackError
from streamstack.identity import awsdata

NESTED_STACK = "AWS::CloudFormation::Stack"
PSEUDO = ("AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::URLSuffix")
SUB_VARIABLE = re.compile(r"\$\{([A-Za-z0-9:.]+)\}")


@dataclass(frozen=True)
class Move:
    resource_type: str
    source: str  # "root/StorageStack"
    source_logical: str
    source_stack_id: str
    destination: str
    destination_logical: str
    destination_stack_id: str
    physical_id: str
    how: str  # "identical properties" or "the same <name property>"

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class StackState:
    """What a deployed stack resolves names to: parameters, resources' physical ids,
    outputs."""

    name: str
    parameters: dict[str, str]
    physical: dict[str, str]
    outputs: dict[str, str]


def read_state(cfn, stack_id: str) -> StackState:
    from streamstack.deploy import stacks

    stack = stacks.describe(cfn, stack_id) or {}
    return StackState(
        name=stack.get("StackName", ""),
        parameters={
            p["ParameterKey"]: p.get("ResolvedValue", p.get("ParameterValue", ""))
            for p in stack.get("Parameters", [])
        },
        physical={
            r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
            for r in stacks.resources(cfn, stack_id)
        },
        outputs=stacks.outputs(stack),
    )


def resolve(node, names: dict[str, str]):
    """node with every Ref, and every Fn::Sub variable, that names knows replaced."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in names:
            return names[node["Ref"]]
        if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
            text = node["Fn::Sub"]
            wanted = set(SUB_VARIABLE.findall(text))
            if all(w in names for w in wanted):
                return SUB_VARIABLE.sub(lambda m: names[m.group(1)], text)
        return {k: resolve(v, names) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, names) for v in node]
    return node


def canonical(node) -> str:
    return json.dumps(node, sort_keys=True, separators=(",", ":"))


def _pseudo(region: str, account: str) -> dict[str, str]:
    return {
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }


def source_names(state: StackState, region: str, account: str) -> dict[str, str]:
    return {
        **_pseudo(region, account),
        "AWS::StackName": state.name,
        **state.parameters,
        **{k: v for k, v in state.physical.items() if v},
    }


def destination_names(
    root: dict,
    stack: str,
    state: StackState | None,
    root_values: dict[str, str],
    outputs_of: Callable[[str], dict[str, str]],
    region: str,
    account: str,
) -> dict[str, str]:
    """What the destination stack's names will resolve to once the root passes the
    build's parameters: another tier's output as that tier has it deployed."""
    names = {**_pseudo(region, account)}
    if state is not None:
        names["AWS::StackName"] = state.name
        names.update({k: v for k, v in state.physical.items() if v})
    given = root.get("Resources", {}).get(stack, {}).get("Properties", {}).get("Parameters", {})
    for name, value in given.items():
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in root_values:
            names[name] = root_values[value["Ref"]]
        elif isinstance(value, dict) and "Fn::GetAtt" in value:
            tier, attribute = value["Fn::GetAtt"]
            output = str(attribute).removeprefix("Outputs.")
            found = outputs_of(tier).get(output)
            if found is not None:
                names[name] = found
        elif isinstance(value, str):
            names[name] = value
    return names


def same(resource_type: str, old: dict, new: dict) -> str | None:
    """How two resolved definitions are the same resource, or None."""
    if old.get("Type") != new.get("Type"):
        return None
    old_props, new_props = old.get("Properties", {}), new.get("Properties", {})
    if canonical(old_props) == canonical(new_props):
        return "identical properties"
    name = awsdata.name_property(resource_type)
    if name and name in old_props and canonical(old_props[name]) == canonical(new_props.get(name)):
        return f"the same {name}"
    return None


def pair(
    rows,
    changes,
    *,
    deployed: Callable[[str], dict],
    state: Callable[[str], StackState],
    built: dict[str, dict],
    root: dict,
    root_values: dict[str, str],
    region: str,
    account: str,
    nested_ids: Callable[[], dict[str, str]] = dict,
) -> list[Move]:
    """MOVEs among the plan's rows: each Remove of a nested stack matched with at most
    one Add of the same resource in another nested stack (and the other way round).
    deployed(stack id): that stack's deployed template; state(stack id): its names;
    built: stack label -> the template the build gives it; nested_ids(): label -> id of
    every nested stack deployed (asked only when a pair is possible: an upstream tier
    the change set does not touch still gives its outputs)."""
    removes = [r for r in rows if r.action == "Remove" and r.stack != "root"]
    adds = [r for r in rows if r.action == "Add" and r.stack != "root"]
    types = {r.resource_type for r in removes} & {r.resource_type for r in adds}
    if not types:
        return []
    ids = dict(nested_ids())
    ids.update(
        {
            "/".join(("root",) + c.path + (c.resource["LogicalResourceId"],)): c.resource[
                "PhysicalResourceId"
            ]
            for c in changes
            if c.resource.get("ResourceType") == NESTED_STACK
            and c.resource.get("PhysicalResourceId", "").startswith("arn:")
        }
    )
    moves: list[Move] = []
    taken: set[tuple[str, str]] = set()
    for removed in (r for r in removes if r.resource_type in types):
        source_id = ids.get(removed.stack, "")
        if not source_id.startswith("arn:"):
            continue
        source_state = state(source_id)
        old = deployed(source_id).get("Resources", {}).get(removed.logical_id)
        if old is None:
            continue
        old = resolve(old, source_names(source_state, region, account))
        found = []
        for added in adds:
            if added.resource_type != removed.resource_type or added.stack == removed.stack:
                continue
            if (added.stack, added.logical_id) in taken:
                continue
            new = built.get(added.stack, {}).get("Resources", {}).get(added.logical_id)
            if new is None:
                continue
            destination_id = ids.get(added.stack, "")
            names = destination_names(
                root,
                added.stack.split("/")[-1],
                state(destination_id) if destination_id.startswith("arn:") else None,
                root_values,
                lambda tier: (
                    state(ids.get(f"root/{tier}", "")).outputs
                    if ids.get(f"root/{tier}", "").startswith("arn:")
                    else {}
                ),
                region,
                account,
            )
            how = same(removed.resource_type, old, resolve(new, names))
            if how:
                found.append((added, destination_id, how))
        exact = [f for f in found if f[2] == "identical properties"]
        chosen = exact if exact else found
        if len(chosen) != 1:
            continue  # none, or ambiguous: no guess
        added, destination_id, how = chosen[0]
        taken.add((added.stack, added.logical_id))
        moves.append(
            Move(
                resource_type=removed.resource_type,
                source=removed.stack,
                source_logical=removed.logical_id,
                source_stack_id=source_id,
                destination=added.stack,
                destination_logical=added.logical_id,
                destination_stack_id=destination_id,
                physical_id=removed.physical_id,
                how=how,
            )
        )
    return moves


def mark(rows, moves: list[Move], env: str) -> None:
    """Label both halves of each move MOVE, with the way to do it."""
    advice = (
        f"`make refactor ENV={env}` moves it without replacing it; then `make deploy "
        f"ENV={env}` again"
    )
    for move in moves:
        half = {
            "from": move.source,
            "from_logical": move.source_logical,
            "to": move.destination,
            "to_logical": move.destination_logical,
            "how": move.how,
            "advice": advice,
        }
        for row in rows:
            if (row.stack, row.logical_id) in (
                (move.source, move.source_logical),
                (move.destination, move.destination_logical),
            ):
                if row.action == "Remove" and row.consequence:
                    row.consequence = f"without the refactor: {row.consequence}"
                elif row.action == "Remove":
                    row.consequence = "without the refactor it is deleted and created again"
                row.risk = "MOVE"
                row.move = half


# -- stack refactoring -----------------------------------------------------------------------
class CannotRefactor(StreamstackError):
    """A move stack refactoring cannot do on its own; the message says what first."""


def refactor_templates(
    moves: list[Move],
    deployed: dict[str, dict],
    built: dict[str, dict],
    states: dict[str, StackState],
) -> dict[str, dict]:
    """stack id -> the template it gets for the refactor: what it has deployed, with
    only the moves applied. An output of the source that reads a moved resource keeps
    its current value (the root reads it until the next deploy rewires it).
    deployed/states: stack id -> deployed template / names; built: stack id -> the
    build's template of that stack."""
    result = {stack_id: copy.deepcopy(deployed[stack_id]) for stack_id in deployed}
    moved_from: dict[str, set[str]] = {}
    for move in moves:
        moved_from.setdefault(move.source_stack_id, set()).add(move.source_logical)
    for move in moves:
        source = result[move.source_stack_id]
        target = result[move.destination_stack_id]
        resource = source["Resources"].pop(move.source_logical, None)
        if resource is None:
            raise CannotRefactor(
                f"{move.source} has no {move.source_logical} deployed any more: plan again "
                "with `make deploy`"
            )
        if move.destination_logical in target.get("Resources", {}):
            raise CannotRefactor(
                f"{move.destination} already has a {move.destination_logical}: the move "
                "needs that logical id free"
            )
        target.setdefault("Resources", {})[move.destination_logical] = _definition(
            move,
            resource,
            built.get(move.destination_stack_id, {}),
            target,
            states,
            deployed[move.source_stack_id].get("Conditions", {}),
        )
    for stack_id, logicals in moved_from.items():
        source = result[stack_id]
        for logical, res in source.get("Resources", {}).items():
            depends = res.get("DependsOn", [])
            depends = {depends} if isinstance(depends, str) else set(depends)
            uses = (references(res.get("Properties", {})) | depends) & logicals
            if uses:
                raise CannotRefactor(
                    f"{logical} stays in {_label(moves, stack_id)} but refers to the moved "
                    f"{', '.join(sorted(uses))}: move it too, or drop the reference in a "
                    "deploy before the refactor"
                )
        for name, output in source.get("Outputs", {}).items():
            if references(output.get("Value")) & logicals:
                if "Export" in output:
                    raise CannotRefactor(
                        f"the output {name} of {_label(moves, stack_id)} is exported and "
                        "reads a moved resource: remove its importers first"
                    )
                current = states[stack_id].outputs.get(name)
                if current is None:
                    raise CannotRefactor(
                        f"the output {name} of {_label(moves, stack_id)} reads a moved "
                        "resource and has no current value to keep"
                    )
                output["Value"] = current
    return result


def _label(moves: list[Move], stack_id: str) -> str:
    for move in moves:
        if move.source_stack_id == stack_id:
            return move.source
        if move.destination_stack_id == stack_id:
            return move.destination
    return stack_id


def _definition(
    move: Move,
    deployed: dict,
    built: dict,
    target: dict,
    states: dict[str, StackState],
    source_conditions: dict,
) -> dict:
    """The moved resource as the destination can hold it without a new parameter,
    condition or change: the build's definition when every name it uses is already
    in the destination, else the deployed one when its names mean the same there."""
    source_state = states[move.source_stack_id]
    target_state = states[move.destination_stack_id]
    candidates = []
    wanted = built.get("Resources", {}).get(move.destination_logical)
    if wanted is not None:
        candidates.append(("the build's", wanted))
    candidates.append(("the deployed", deployed))
    problems = []
    for what, definition in candidates:
        missing = _missing(
            definition,
            target,
            source_state,
            target_state,
            what == "the deployed",
            source_conditions,
        )
        if not missing:
            return copy.deepcopy(definition)
        problems.append(f"{what} definition uses {missing}")
    raise CannotRefactor(
        f"{move.destination} cannot take {move.destination_logical} in a refactor: "
        + "; ".join(problems)
        + f". A refactor adds no parameter or condition: deploy {move.destination}'s new "
        "inputs first (a build that adds them without the move), then `make refactor`"
    )


def _missing(
    definition: dict,
    target: dict,
    source_state: StackState,
    target_state: StackState,
    compare_values: bool,
    source_conditions: dict,
) -> str:
    """What in a definition the destination lacks (or means otherwise), or ""."""
    names = references(definition.get("Properties", {}))
    depends = definition.get("DependsOn", [])
    names |= {depends} if isinstance(depends, str) else set(depends)
    problems = []
    for name in sorted(names):
        if name.startswith("AWS::"):
            if name in ("AWS::StackName", "AWS::StackId"):
                problems.append(f"{name} (it differs between stacks)")
            continue
        if name in target.get("Resources", {}):
            continue
        if name in target.get("Parameters", {}):
            if compare_values and source_state.parameters.get(name) != target_state.parameters.get(
                name
            ):
                problems.append(f"parameter {name} with another value")
            continue
        problems.append(f"{name}")
    conditions = set(re.findall(r'"Fn::If": \["([^"]+)"', json.dumps(definition)))
    if definition.get("Condition"):
        conditions.add(definition["Condition"])
    for name in sorted(conditions):
        if name not in target.get("Conditions", {}):
            problems.append(f"condition {name}")
        elif name in source_conditions and canonical(source_conditions[name]) != canonical(
            target["Conditions"][name]
        ):
            problems.append(f"condition {name}, defined otherwise")
    return ", ".join(problems)
