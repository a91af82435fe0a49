"""The expected duration of a deploy and its critical path through the nested tree.

CloudFormation works on every resource whose dependencies are done, in parallel, and
on a nested stack once every stack it reads from is done. So the duration is the
longest chain of waits:

- inside a stack, resources depend on what they Ref, GetAtt, Sub and DependsOn; a
  resource's time is its duration for what the deploy does to it (create, update;
  zero when untouched), and a stack takes the longest chain of its resources plus
  its own events;
- in the root, a nested stack waits for the stacks whose outputs it reads (the
  wiring: Fn::GetAtt Tier.Outputs.X) and those it DependsOn;
- deletions (removed resources, and the old halves of replacements) run in the
  cleanup after every update, side by side: the slowest of them adds to the total.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from streamstack.deploy.durations import CREATE, DELETE, UPDATE, Durations
from streamstack.identity.evaluate import EvaluationError, Resolved

NESTED_STACK = "AWS::CloudFormation::Stack"
REPLACE = "replace"  # create the new one now, delete the old one in the cleanup
SUB_VARIABLE = re.compile(r"\$\{([A-Za-z0-9:]+)(?:\.[A-Za-z0-9.]+)?\}")


def references(node) -> set[str]:
    """Names a template node refers to: Ref, Fn::GetAtt and Fn::Sub variables."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else str(value).split(".")[0]
                if isinstance(target, str):
                    found.add(target)
            elif key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])
                found |= set(SUB_VARIABLE.findall(text)) - set(variables)
                found |= references(variables)
            else:
                found |= references(value)
    elif isinstance(node, list):
        for value in node:
            found |= references(value)
    return found


def dependencies(template: dict) -> dict[str, set[str]]:
    """Resource -> the resources of the same template it waits for."""
    resources = template.get("Resources", {})
    graph = {}
    for logical, resource in resources.items():
        depends = resource.get("DependsOn", [])
        depends = [depends] if isinstance(depends, str) else list(depends)
        waits = references(resource.get("Properties", {})) | set(depends)
        graph[logical] = {name for name in waits if name in resources and name != logical}
    return graph


def operation(action: str, replacement: str = "", policy_action: str = "") -> str | None:
    """What a ResourceChange asks CloudFormation to do, for the duration table."""
    if action == "Add":
        return CREATE
    if action == "Remove":
        return DELETE
    if action in ("Modify", "Dynamic"):
        replacing = replacement in ("True", "Conditional") or policy_action.startswith("Replace")
        return REPLACE if replacing else UPDATE
    if action == "Import":
        return UPDATE
    return None  # SyncWithActual: nothing changes


def created(template: dict, values: dict[str, str]) -> dict[str, str]:
    """Every resource a first create of the template makes under these parameter
    values (its conditions decided); a condition that cannot be decided counts as true."""
    try:
        decided = Resolved(template, values)
    except EvaluationError:
        decided = None
    work = {}
    for logical, resource in template.get("Resources", {}).items():
        condition = resource.get("Condition")
        try:
            exists = decided is None or condition is None or decided.condition(condition)
        except (EvaluationError, KeyError):
            exists = True
        if exists:
            work[logical] = CREATE
    return work


@dataclass
class Step:
    """One stack on the critical path and the chain of resources that makes it last."""

    stack: str
    start: float
    seconds: float
    chain: list[tuple[str, str, float]] = field(default_factory=list)  # logical, type, s


@dataclass
class Estimate:
    seconds: float
    path: list[Step]
    cleanup_seconds: float
    source: str

    def slowest(self, count: int = 3) -> list[dict]:
        found = [
            {"stack": step.stack, "logical_id": logical, "resource_type": rtype, "seconds": s}
            for step in self.path
            for logical, rtype, s in step.chain
            if s > 0
        ]
        return sorted(found, key=lambda item: -item["seconds"])[:count]

    def to_json(self) -> dict:
        return {
            "seconds": round(self.seconds),
            "cleanup_seconds": round(self.cleanup_seconds),
            "path": [
                {"stack": s.stack, "start": round(s.start), "seconds": round(s.seconds)}
                for s in self.path
            ],
            "slowest": [{**item, "seconds": round(item["seconds"])} for item in self.slowest()],
            "source": self.source,
        }


def _longest(
    graph: dict[str, set[str]], weight: dict[str, float]
) -> tuple[dict[str, float], dict[str, str | None]]:
    """Finish time of every node (its weight after its slowest dependency) and which
    dependency that was."""
    finish: dict[str, float] = {}
    before: dict[str, str | None] = {}

    def visit(node: str, seen: tuple[str, ...] = ()) -> float:
        if node in finish:
            return finish[node]
        if node in seen:  # a cycle CloudFormation would refuse; never loop on it
            return 0.0
        slowest, start = None, 0.0
        for dep in sorted(graph.get(node, ())):
            end = visit(dep, seen + (node,))
            if end > start:
                slowest, start = dep, end
        finish[node] = start + weight.get(node, 0.0)
        before[node] = slowest
        return finish[node]

    for node in graph:
        visit(node)
    return finish, before


def _chain(last: str | None, before: dict[str, str | None]) -> list[str]:
    chain = []
    while last is not None:
        chain.append(last)
        last = before.get(last)
    return chain[::-1]


def stack_time(
    template: dict, work: dict[str, str], durations: Durations
) -> tuple[float, list[tuple[str, str, float]], float]:
    """(seconds the stack's update or create takes, its slowest chain of resources,
    seconds of its deletions in the cleanup)."""
    resources = template.get("Resources", {})
    weight, cleanup = {}, 0.0
    for logical, op in work.items():
        rtype = resources.get(logical, {}).get("Type", "")
        if op == DELETE or not rtype:
            cleanup = max(cleanup, durations.seconds(rtype or NESTED_STACK, DELETE))
            continue
        weight[logical] = durations.seconds(rtype, CREATE if op == REPLACE else op)
        if op == REPLACE:
            cleanup = max(cleanup, durations.seconds(rtype, DELETE))
    graph = dependencies(template)
    finish, before = _longest(graph, weight)
    if not finish or not weight:
        return 0.0, [], cleanup
    last = max(finish, key=lambda node: (finish[node], node))
    chain = [
        (logical, resources[logical]["Type"], weight.get(logical, 0.0))
        for logical in _chain(last, before)
        if weight.get(logical, 0.0) > 0
    ]
    return finish[last], chain, cleanup


def stack_dependencies(root: dict) -> dict[str, set[str]]:
    """Nested stack -> the nested stacks it waits for (outputs it reads, DependsOn)."""
    stacks = {k for k, v in root.get("Resources", {}).items() if v.get("Type") == NESTED_STACK}
    graph = dependencies(root)
    return {k: graph.get(k, set()) & stacks for k in stacks}


def estimate(
    root: dict,
    templates: dict[str, dict],
    work: dict[str, dict[str, str]],
    durations: Durations,
) -> Estimate:
    """root: the root template; templates: nested stack logical id -> its template;
    work: nested stack logical id -> {resource logical id: operation} (a stack without
    an entry is not touched; an empty entry is a stack that changes in ways the change
    set does not detail)."""
    own, chains, cleanup = {}, {}, 0.0
    overhead = durations.seconds(NESTED_STACK, UPDATE)
    for stack, ops in work.items():
        if not ops:  # changed, with no detail of what inside: its own events at least
            own[stack], chains[stack] = overhead, []
            continue
        seconds, chain, deletes = stack_time(templates.get(stack, {}), ops, durations)
        cleanup = max(cleanup, deletes)
        if seconds or chain:
            own[stack] = seconds + overhead
            chains[stack] = chain
    graph = stack_dependencies(root)
    finish, before = _longest(graph, own)
    if not own:
        return Estimate(cleanup, [], cleanup, durations.source())
    last = max(finish, key=lambda node: (finish[node], node))
    path = [
        Step(stack, finish[stack] - own[stack], own[stack], chains.get(stack, []))
        for stack in _chain(last, before)
        if own.get(stack)
    ]
    return Estimate(finish[last] + cleanup, path, cleanup, durations.source())


def nested_values(root: dict, stack: str, root_values: dict[str, str]) -> dict[str, str]:
    """The parameter values the root gives a nested stack, where they are known before
    the deploy (a parameter fed by another tier's output is left to its default)."""
    given = root.get("Resources", {}).get(stack, {}).get("Properties", {}).get("Parameters", {})
    values = {}
    for name, value in given.items():
        if isinstance(value, dict) and set(value) == {"Ref"}:
            if value["Ref"] in root_values:
                values[name] = root_values[value["Ref"]]
        elif isinstance(value, dict) and "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            refs = [p.get("Ref") for p in parts if isinstance(p, dict)]
            if refs and all(r in root_values for r in refs) and len(refs) == len(parts):
                values[name] = separator.join(root_values[r] for r in refs)
        elif isinstance(value, str):
            values[name] = value
    return values


def first_deploy(
    root: dict, templates: dict[str, dict], root_values: dict[str, str], durations: Durations
) -> Estimate:
    """The estimate of creating the whole tree: every nested stack, every resource its
    conditions keep under these root parameter values."""
    work = {
        stack: created(templates.get(stack, {}), nested_values(root, stack, root_values))
        for stack in stack_dependencies(root)
    }
    return estimate(root, templates, work, durations)
