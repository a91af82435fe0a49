"""root: every nested parameter supplied, every GetAtt Outputs.X exists in the child,
content-addressed TemplateURLs, and a wide dependency graph."""

import re
from pathlib import Path

import pytest

from streamstack.render import sha256
from templates import TIERS
from templates.base import DEPLOY_TIME_KEY, ROOT_DECLARATIONS_KEY
from templates.root import Child, WiringError, build_root, dependencies
from tests.cfn import mappings
from tests.conftest import assert_snapshot


@pytest.fixture(scope="module")
def root(rendered):
    return rendered["root"]


@pytest.fixture(scope="module")
def stacks(root):
    return {k: v for k, v in root["Resources"].items() if v["Type"] == "AWS::CloudFormation::Stack"}


def _child_of(logical):
    return next(t.name for t in TIERS if Child(t.name, {}, "").logical_id == logical)


def test_snapshot(rendered_text):
    assert_snapshot("root", rendered_text["root"])


def test_one_nested_stack_per_tier(stacks):
    assert sorted(_child_of(k) for k in stacks) == sorted(t.name for t in TIERS)


def test_every_child_parameter_is_supplied_as_the_tier_declares_it(children, root, stacks):
    """Wired inputs come from the tier each input names, and only from it; every other
    parameter is a root parameter of exactly the child's declaration."""
    by_name = {child.name: child for child in children}
    for logical, stack in stacks.items():
        child = by_name[_child_of(logical)]
        supplied = stack["Properties"]["Parameters"]
        assert set(supplied) == set(child.template.get("Parameters", {})), logical
        for name, value in supplied.items():
            source = child.wired.get(name)
            if source is not None:
                producer = by_name[source]
                assert value == {"Fn::GetAtt": [_logical_of(source), f"Outputs.{name}"]}, (
                    logical,
                    name,
                )
                assert name in producer.template["Outputs"], (logical, name)
                continue
            # The tier's declaration, or the one it gives the root (a value the root
            # resolves, such as an SSM parameter name, before passing it on).
            at_root = child.template.get("Metadata", {}).get(ROOT_DECLARATIONS_KEY, {})
            assert root["Parameters"][name] == at_root.get(
                name, child.template["Parameters"][name]
            ), name
            (ref,) = _refs(value)
            assert ref == name, (logical, name)


def _logical_of(tier_name):
    return Child(tier_name, {}, "").logical_id


def test_a_misspelled_wired_input_is_refused():
    producer = {"Outputs": {"VpcId": {"Value": "vpc", "Description": "x"}}}
    consumer = {"Parameters": {"VpcID": {"Type": "String", "Description": "x"}}}
    with pytest.raises(
        WiringError, match="consumer: input VpcID is wired from network, which has no output VpcID"
    ):
        build_root(
            [
                Child("network", producer, "0"),
                Child("consumer", consumer, "1", {"VpcID": "network"}),
            ]
        )


def test_an_input_from_a_tier_that_is_not_nested_is_refused():
    consumer = {"Parameters": {"VpcId": {"Type": "String", "Description": "x"}}}
    with pytest.raises(WiringError, match="wired from 'netwrok', which is not another nested"):
        build_root(
            [Child("network", {}, "0"), Child("consumer", consumer, "1", {"VpcId": "netwrok"})]
        )


def test_a_plain_parameter_named_like_an_output_is_refused():
    """It would silently become a root parameter instead of reading the output."""
    producer = {"Outputs": {"VpcId": {"Value": "vpc", "Description": "x"}}}
    consumer = {"Parameters": {"VpcId": {"Type": "String", "Description": "x"}}}
    with pytest.raises(
        WiringError, match="parameter VpcId has the name of an output of network but is not wired"
    ):
        build_root([Child("network", producer, "0"), Child("consumer", consumer, "1")])


def _refs(node):
    return (m["Ref"] for m in mappings(node) if set(m) == {"Ref"})


def test_wiring_parameters_come_from_tiers_or_deploy(root):
    """A tier's Wiring parameter left to the root means a producer output is missing."""
    groups = root["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    deploy_time = set(root["Metadata"][DEPLOY_TIME_KEY])
    wiring = [p for g in groups if g["Label"]["default"] == "Wiring" for p in g["Parameters"]]
    assert [p for p in wiring if p not in deploy_time] == []


def test_template_urls_are_content_addressed(rendered_text, stacks):
    for logical, stack in stacks.items():
        digest = sha256(rendered_text[_child_of(logical)])
        assert stack["Properties"]["TemplateURL"] == {
            "Fn::Join": ["", [{"Ref": "ArtifactBaseUrl"}, "/", f"templates/{digest}.json"]]
        }


def test_outputs_reexported_with_descriptions(rendered, root):
    child_outputs = {n for t in TIERS for n in rendered[t.name].get("Outputs", {})}
    assert set(root["Outputs"]) == child_outputs
    assert all(o["Description"] for o in root["Outputs"].values())


def test_dependency_graph_is_acyclic_and_network_waits_for_nothing(children):
    graph = dependencies(children)
    assert graph["network"] == []
    assert graph["security"] == ["network"]
    seen, order = set(), []

    def visit(node, stack=()):
        assert node not in stack, f"cycle through {node}"
        if node not in seen:
            for dep in graph[node]:
                visit(dep, stack + (node,))
            seen.add(node)
            order.append(node)

    for node in graph:
        visit(node)


def _waits_for(graph, tier):
    """Every tier `tier` waits for, directly or through another tier."""
    seen, todo = set(), list(graph[tier])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph[node])
    return seen


def test_cloudfront_and_aurora_are_created_in_parallel(children):
    """The first deploy is dominated by Aurora and CloudFront: neither waits for the other."""
    graph = dependencies(children)
    assert not {"data", "compute"} & _waits_for(graph, "cdn")
    assert "cdn" not in _waits_for(graph, "data")
    assert _waits_for(graph, "load-balancer") == {"network", "security", "storage", "dns"}
    assert {"load-balancer", "data", "messaging"} <= set(graph["compute"])


def test_parameters_grouped_for_the_console(root):
    groups = root["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [p for g in groups for p in g["Parameters"]]
    assert sorted(grouped) == sorted(root["Parameters"])
    assert len(grouped) == len(set(grouped))


def test_conflicting_declarations_are_rejected():
    a = {"Parameters": {"Port": {"Type": "Number", "Default": 1, "Description": "x"}}}
    b = {"Parameters": {"Port": {"Type": "Number", "Default": 2, "Description": "x"}}}
    with pytest.raises(WiringError, match="declared differently"):
        build_root([Child("a", a, "0"), Child("b", b, "1")])


def test_a_tier_may_give_the_root_its_own_declaration():
    """The root resolves an SSM parameter name once and passes the value on; a list value
    is joined, since nested stack parameters are strings."""
    ssm = {
        "Type": "AWS::SSM::Parameter::Value<List<String>>",
        "Default": "/names",
        "Description": "SSM parameter naming the list",
    }
    a = {
        "Parameters": {"Names": {"Type": "CommaDelimitedList", "Description": "x"}},
        "Metadata": {ROOT_DECLARATIONS_KEY: {"Names": ssm}},
    }
    root = build_root([Child("a", a, "0")]).to_dict()
    assert root["Parameters"]["Names"] == ssm
    assert root["Resources"]["AStack"]["Properties"]["Parameters"]["Names"] == {
        "Fn::Join": [",", {"Ref": "Names"}]
    }
    other = {"Parameters": {"Names": {"Type": "CommaDelimitedList", "Description": "x"}}}
    with pytest.raises(WiringError, match="declared differently"):
        build_root([Child("a", a, "0"), Child("b", other, "1")])


def test_duplicate_outputs_are_rejected():
    a = {"Outputs": {"Id": {"Value": "1", "Description": "x"}}}
    with pytest.raises(WiringError, match="output Id is declared by both"):
        build_root([Child("a", a, "0"), Child("b", a, "1")])


def test_every_root_parameter_is_documented_in_the_tier_reference(root):
    readme = (Path(__file__).resolve().parents[2] / "docs" / "tiers.md").read_text()
    deploy_time = set(root["Metadata"][DEPLOY_TIME_KEY])
    assert [
        p for p in root["Parameters"] if p not in deploy_time and not re.search(rf"\b{p}\b", readme)
    ] == []
