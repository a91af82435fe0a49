"""The deploy identity's proofs over one build, as `make build` runs them.

Both deploy roles are checked: the CloudFormation execution role (deploy-role) against
the nested tree and the edge stack, and the StackSet execution role (stackset-role)
against the nested tree and what a target's bootstrap instance holds.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from streamstack.identity import derive, proof

ROLE_TEMPLATES = ("deploy-role", "stackset-role")
# The environment whose names the proofs resolve; every environment shares the policy
# shape, only the names differ (and the proofs count resources under all conditions).
PROOF_ENVIRONMENT = "prod"
# What a StackSet target's bootstrap instance holds (the bootstrap stack set sets these).
STACKSET_TARGET_BOOTSTRAP = {"DirectDeploys": "disabled", "StackSetAdministration": "disabled"}


@dataclass
class RoleSummary:
    template: str
    actions: int
    policies: int
    largest: int  # characters IAM counts, worst case

    def line(self) -> str:
        return (
            f"{self.template}: {self.actions} actions in {self.policies} managed policies "
            f"(largest {self.largest} of {derive.MANAGED_POLICY_CHARS} characters)"
        )


@dataclass
class Report:
    findings: list[str] = field(default_factory=list)
    requests: int = 0
    escalations_denied: int = 0
    roles: list[RoleSummary] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"deploy identity: {self.requests} handler permissions proven, "
            f"{self.escalations_denied} escalation paths denied; "
            + "; ".join(r.line() for r in self.roles)
        )


def trees(templates: dict[str, dict]) -> tuple[dict[str, dict], dict[str, dict]]:
    """(what the execution role deploys, what the StackSet execution role deploys)."""
    tree = {n: t for n, t in templates.items() if n not in ROLE_TEMPLATES + ("bootstrap",)}
    # A StackSet deploys the nested tree and the bootstrap; the edge and standby stacks
    # are one environment's own, in their regions.
    stackset = {n: t for n, t in tree.items() if n not in ("edge", "standby")}
    stackset["bootstrap"] = templates["bootstrap"]
    return tree, stackset


def run(texts: dict[str, str]) -> Report:
    templates = {name: json.loads(text) for name, text in texts.items()}
    tree, stackset_tree = trees(templates)
    report = Report()
    env = PROOF_ENVIRONMENT
    for mode, deployed, fixed in (
        (proof.execution_mode(env), tree, {}),
        (proof.stackset_mode(env), stackset_tree, {"bootstrap": STACKSET_TARGET_BOOTSTRAP}),
    ):
        role_template = templates[mode.template]
        permissions = proof.permissions(deployed, role_template, mode, env, fixed)
        escalations, paths = proof.escalation(role_template, mode)
        report.findings += permissions.findings + escalations
        report.findings += proof.boundary(tree, role_template, mode, env)
        report.requests += permissions.checked
        report.escalations_denied += sum(
            1 for p, answer in paths if not p.allowed and answer != "Allow"
        )
        report.roles.append(summarize(mode.template, role_template))
    return report


def summarize(name: str, role_template: dict) -> RoleSummary:
    documents = [
        r["Properties"]["PolicyDocument"]
        for logical, r in role_template["Resources"].items()
        if r["Type"] == "AWS::IAM::ManagedPolicy" and logical != "WorkloadBoundary"
    ]
    actions = {a for d in documents for s in d["Statement"] for a in s.get("Action", [])}
    return RoleSummary(
        name, len(actions), len(documents), max(derive.resolved_size(d) for d in documents)
    )


def source_digest() -> str:
    """Of the proof code and the AWS data it reads: a change re-proves every build."""
    from streamstack.lint import cfn_lint_version  # without importing cfn-lint

    digest = hashlib.sha256(cfn_lint_version().encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()
