"""What the plan of an existing environment shows when it turns blue/green releases on:
the change set CloudFormation would compute, simulated from the templates as the
environment runs them (tests/deploy/previous: the load-balancer, compute and
observability templates as built before the blue/green resources existed) and as this
build has them, with replacements decided by the provider schemas' create-only
properties, then labelled by the deploy plan. Nothing stateful may be replaced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamstack.deploy import plans, report
from streamstack.deploy.changeset import Change
from streamstack.identity import awsdata
from templates.root import stack_logical_id
from tests.cfn import evaluate

PREVIOUS = Path(__file__).with_name("previous")
TIERS = ("load-balancer", "compute", "observability")


def simulated_changes(tier: str, before: dict, after: dict) -> list[Change]:
    """ResourceChanges as the API reports them: Add, Remove, or Modify with Replacement
    True when a create-only property changes."""
    path = (stack_logical_id(tier),)
    changes = []
    for logical in sorted(set(before) | set(after)):
        old, new = before.get(logical), after.get(logical)
        if old == new:
            continue
        rtype = (new or old)["Type"]
        change = {"LogicalResourceId": logical, "ResourceType": rtype, "Details": []}
        if old is None or new is None:
            change["Action"] = "Add" if old is None else "Remove"
        else:
            props_old, props_new = old.get("Properties", {}), new.get("Properties", {})
            changed = sorted(
                k for k in set(props_old) | set(props_new) if props_old.get(k) != props_new.get(k)
            )
            replaced = set(changed) & set(awsdata.create_only_properties(rtype))
            change.update(Action="Modify", Replacement="True" if replaced else "False")
            change["Details"] = [
                {
                    "Target": {
                        "Attribute": "Properties",
                        "Name": name,
                        "RequiresRecreation": "Always" if name in replaced else "Never",
                    }
                }
                for name in changed
            ]
        changes.append(Change(path, change))
    return changes


@pytest.fixture(scope="module")
def plan(rendered):
    """prod as it runs before (the previous templates) -> this build with blue-green."""
    changes, stateful = [], {}
    for tier in TIERS:
        previous = json.loads((PREVIOUS / f"{tier}.json").read_text())
        before = evaluate(previous, "prod", {"ReleaseStrategy": "rolling"}).resources
        after = evaluate(rendered[tier], "prod", {"ReleaseStrategy": "blue-green"}).resources
        changes += simulated_changes(tier, before, after)
        stateful[stack_logical_id(tier)] = True
    rows = plans.make_rows(changes, stateful)
    return {(row.stack.split("/")[-1], row.logical_id): row for row in rows}


def test_nothing_stateful_is_replaced_or_removed(plan):
    assert plans.blocking(list(plan.values())) == []
    replaced = {
        k: row.resource_type
        for k, row in plan.items()
        if row.replacement == "True" or row.action == "Remove"
    }
    # A task definition is replaced by every release (a new revision); nothing else is.
    assert set(replaced.values()) <= {"AWS::ECS::TaskDefinition"}, replaced


def test_the_plan_shows_what_blue_green_adds_and_changes(plan):
    added = {k[1] for k, row in plan.items() if row.action == "Add"}
    assert {
        "ApiAlternateTargetGroup",
        "WebAlternateTargetGroup",
        "ApiTestListenerRule",
        "WebTestListenerRule",
        "ReleaseTrafficRole",
        "ApiReleaseAlarm",
        "WebReleaseAlarm",
    } <= added
    modified = {k[1]: row for k, row in plan.items() if row.action == "Modify"}
    for service in ("ApiService", "WebService"):
        row = modified[service]
        assert row.replacement == "False" and row.risk == "NORMAL"
        assert {"DeploymentConfiguration", "LoadBalancers"} <= set(row.properties)
    # The production rules change in place (their weighted forward) and keep serving.
    for rule in ("ApiListenerRule", "WebListenerRule"):
        assert modified[rule].replacement == "False" and modified[rule].properties == ["Actions"]
    assert plan[("ComputeStack", "ReleaseTrafficRole")].risk == "SECURITY"
    lines = report.render_text(list(plan.values()))
    assert any("ApiService" in line and "replace=False" in line for line in lines)


def test_a_later_update_of_a_rule_ecs_manages_is_marked(rendered):
    """After the switch, ECS owns the rules' weights: a plan that updates such a rule says
    that executing it sets them back to blue."""
    sha = "a" * 64
    root = {
        "Resources": {
            "LoadBalancerStack": {
                "Type": "AWS::CloudFormation::Stack",
                "Properties": {"TemplateURL": f"https://bucket/templates/{sha}.json"},
            }
        }
    }
    change = Change(
        ("LoadBalancerStack",),
        {
            "LogicalResourceId": "ApiListenerRule",
            "ResourceType": "AWS::ElasticLoadBalancingV2::ListenerRule",
            "Action": "Modify",
            "Replacement": "False",
            "Details": [{"Target": {"Attribute": "Properties", "Name": "Conditions"}}],
        },
    )
    rows = plans.make_rows([change], {"LoadBalancerStack": True})
    plans.mark_managed_traffic(rows, root, {sha: rendered["load-balancer"]})
    (row,) = rows
    assert row.risk == "INTERRUPTION"
    assert "sets them back" in row.note
