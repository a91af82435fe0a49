"""The expected duration and its critical path, on the real root template and tiers: who
waits for whom comes from the wiring, each tier's time from its own resource graph,
the numbers from the table or this environment's measurements. Run with -s to see the
estimate of a first deploy of prod."""

from __future__ import annotations

import pytest
import yaml

from streamstack import PARAMS_DIR
from streamstack.deploy import critical_path, durations, report, review, timeline
from streamstack.deploy.changeset import Change
from tests.deploy.conftest import built_tree


@pytest.fixture(scope="module")
def tree(built):
    templates = built_tree(built)
    nested = {label.split("/", 1)[1]: t for label, t in templates.items() if "/" in label}
    return templates["root"], nested


def prod_values(root) -> dict[str, str]:
    given = yaml.safe_load((PARAMS_DIR / "prod.yaml").read_text())["parameters"]
    text = {
        k: (
            str(v).lower()
            if isinstance(v, bool)
            else ",".join(map(str, v))
            if isinstance(v, list)
            else str(v)
        )
        for k, v in given.items()
    }
    return review.root_values(root, text)


def test_a_first_deploy_of_prod(tree):
    root, nested = tree
    estimate = critical_path.first_deploy(
        root, nested, prod_values(root), durations.Durations(environment="prod")
    )
    print("\nfirst deploy of prod:\n" + "\n".join(report.duration_text(estimate.to_json())))
    for step in estimate.path:
        chain = " -> ".join(f"{logical} {report.minutes(s)}" for logical, _, s in step.chain)
        print(f"  {step.stack}: starts at {report.minutes(step.start)}, {chain}")
    path = [step.stack for step in estimate.path]
    # Everything waits for the network; the data tier (Aurora, then its instances) is
    # the longest wait, and observability, which reads every tier, comes last.
    assert path[0] == "NetworkStack" and path[-1] == "ObservabilityStack"
    assert "DataStack" in path
    slowest = estimate.slowest(1)[0]
    assert (slowest["stack"], slowest["resource_type"]) == ("DataStack", "AWS::RDS::DBInstance")
    # Each step starts when the one before it ends.
    for before, after in zip(estimate.path, estimate.path[1:], strict=False):
        assert after.start == pytest.approx(before.start + before.seconds)
    assert estimate.seconds == pytest.approx(
        path_end := estimate.path[-1].start + estimate.path[-1].seconds
    )
    assert 15 * 60 < path_end < 60 * 60


def test_every_type_the_templates_use_has_a_typical_duration(tree):
    root, nested = tree
    used = {r["Type"] for t in [root, *nested.values()] for r in t["Resources"].values()}
    assert used - set(durations.TABLE) == set(), "add them to streamstack/deploy/durations.py"


def test_prod_creates_what_its_conditions_keep(tree):
    root, nested = tree
    values = prod_values(root)
    network = critical_path.created(
        nested["NetworkStack"], critical_path.nested_values(root, "NetworkStack", values)
    )
    nat = [logical for logical in network if logical.startswith("NatGateway")]
    assert len(nat) == 3  # NatLayout per-az in prod
    dev_values = {**values, "NatLayout": "single"}
    single = critical_path.created(
        nested["NetworkStack"], critical_path.nested_values(root, "NetworkStack", dev_values)
    )
    assert len([logical for logical in single if logical.startswith("NatGateway")]) == 1


def test_tiers_wait_only_for_what_they_read(tree):
    root, _ = tree
    graph = critical_path.stack_dependencies(root)
    assert graph["NetworkStack"] == set()
    assert "NetworkStack" in graph["SecurityStack"]
    # Aurora, ElastiCache and CloudFront are not waiting on each other.
    assert "CdnStack" not in graph["DataStack"] and "DataStack" not in graph["CdnStack"]


def test_an_update_counts_only_what_changes(tree):
    root, nested = tree
    changes = [
        Change(
            ("ComputeStack",),
            {
                "LogicalResourceId": "ApiService",
                "ResourceType": "AWS::ECS::Service",
                "Action": "Modify",
                "Replacement": "False",
            },
        ),
    ]
    templates = {"root": root, **{f"root/{k}": v for k, v in nested.items()}}
    measured = durations.Durations({"AWS::ECS::Service": {"update": [200.0, 400.0, 240.0]}}, "prod")
    estimate = review.estimate(changes, templates, {}, measured)
    assert [s.stack for s in estimate.path] == ["ComputeStack"]
    assert estimate.seconds == pytest.approx(
        240.0 + durations.TABLE["AWS::CloudFormation::Stack"][1]
    )
    assert estimate.source.startswith("1 resource type measured by prod's own deploys")


def test_removals_and_old_halves_of_replacements_wait_for_the_cleanup(tree):
    root, nested = tree
    templates = {"root": root, **{f"root/{k}": v for k, v in nested.items()}}
    changes = [
        Change(
            ("DataStack",),
            {
                "LogicalResourceId": "VideosTable",
                "ResourceType": "AWS::DynamoDB::Table",
                "Action": "Modify",
                "Replacement": "True",
            },
        ),
        Change(
            ("CdnStack",),
            {
                "LogicalResourceId": "Distribution",
                "ResourceType": "AWS::CloudFront::Distribution",
                "Action": "Remove",
            },
        ),
    ]
    estimate = review.estimate(changes, templates, {}, durations.Durations())
    assert estimate.cleanup_seconds == durations.TABLE["AWS::CloudFront::Distribution"][2]
    assert [s.stack for s in estimate.path] == ["DataStack"]


def test_measured_durations_come_back_from_a_timeline():
    import datetime as dt

    start = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)

    def at(seconds):
        return start + dt.timedelta(seconds=seconds)

    events = [
        {
            "StackName": "s-DataStack-X",
            "StackId": "d",
            "LogicalResourceId": "DbCluster",
            "ResourceType": "AWS::RDS::DBCluster",
            "ResourceStatus": status,
            "Timestamp": at(t),
        }
        for status, t in (
            ("CREATE_IN_PROGRESS", 0),
            ("CREATE_IN_PROGRESS", 2),
            ("CREATE_COMPLETE", 410),
        )
    ] + [
        {
            "StackName": "s-DataStack-X",
            "StackId": "d",
            "LogicalResourceId": "Old",
            "ResourceType": "AWS::S3::Bucket",
            "ResourceStatus": status,
            "Timestamp": at(t),
        }
        for status, t in (("DELETE_IN_PROGRESS", 500), ("DELETE_FAILED", 530))
    ]
    found = timeline.spans(events)
    assert [(s.logical_id, s.operation, s.seconds) for s in found] == [
        ("DbCluster", "create", 410.0),
        ("Old", "delete", 30.0),
    ]
    assert timeline.samples(found) == [("AWS::RDS::DBCluster", "create", 410.0)]  # failures not
    kept = durations.Durations()
    for _ in range(7):
        kept.record(timeline.samples(found))
    assert kept.measured["AWS::RDS::DBCluster"]["create"] == [410.0] * durations.KEEP
    assert durations.Durations.from_json(
        {"types": {"AWS::RDS::DBCluster": {"create": [1, "x", -5, True, 99999999], "nope": [1]}}}
    ).measured == {"AWS::RDS::DBCluster": {"create": [1.0]}}


def test_the_first_deploy_estimate_in_the_docs_is_this_one(tree):
    from streamstack import ROOT

    root, nested = tree
    estimate = critical_path.first_deploy(
        root, nested, prod_values(root), durations.Durations(environment="prod")
    )
    docs = (ROOT / "docs" / "deploy.md").read_text()
    for line in report.duration_text(estimate.to_json()):
        assert line in docs, line
