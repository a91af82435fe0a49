"""A small nested tree for the end-to-end tests: every resource type in it is one
LocalStack models (the real network tier needs EC2 EIP allocation ids, which it does
not), built with the same Tier base, root wiring and manifest as the real templates,
and the real bootstrap and deploy-role templates (the execution role derived from this
tree, as the build derives it from the real one)."""
from __future__ import annotations

import json
from pathlib import Path

from troposphere import GetAtt, Ref, Sub, s3, ssm

from streamstack.build import manifest_for, write_templates
from streamstack.render import sha256
from templates.base import Tier, deterministic_json
from streamstack.identity import derive
from templates.bootstrap import BootstrapTier
from templates.deploy_role import DeployRoleTier
from templates.root import Child, render_root


class AlphaTier(Tier):
    name = "alpha"
    description = "a versioned bucket and a parameter holding a greeting"

    def build(self) -> None:
        greeting = self.parameter("Greeting", "Demo", Type="String", Default="hello",
                                  Description="A value the end-to-end test changes.")
        self.add(self.stateful(s3.Bucket(
            "DemoBucket", BucketName=Sub("s3-demo-${Environment}-${AWS::AccountId}-"
                                         "${AWS::Region}"),
            VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"))))
        self.add(ssm.Parameter("GreetingParameter", Type="String", Value=greeting))
        self.output("DemoBucketName", Ref("DemoBucket"), "Name of the demo bucket")
        self.output("DemoBucketArn", GetAtt("DemoBucket", "Arn"), "ARN of the demo bucket")
        self.output("GreetingParameterName", Ref("GreetingParameter"), "The greeting parameter")


class BetaTier(Tier):
    name = "beta"
    description = "a parameter wired from alpha's outputs"

    def build(self) -> None:
        self.parameter("DemoBucketName", "Wiring", Type="String",
                       Description="Demo bucket (alpha tier).")
        self.add(ssm.Parameter("BucketNoteParameter", Type="String",
                               Value=Sub("bucket ${DemoBucketName}")))
        self.output("BucketNoteParameterName", Ref("BucketNoteParameter"),
                    "Parameter naming alpha's bucket")


def build_fixture(build_dir: Path) -> dict:
    """Render the fixture tree (plus the real bootstrap) into build_dir; returns the manifest."""
    templates = {}
    children = []
    for tier in (AlphaTier, BetaTier):
        text = tier().to_json()
        templates[tier.name] = text
        children.append(Child(tier.name, json.loads(text), sha256(text)))
    templates["root"] = render_root(children)
    templates["bootstrap"] = BootstrapTier().to_json()
    tree = {c.name: c.template for c in children} | {"root": json.loads(templates["root"])}
    templates["deploy-role"] = DeployRoleTier(derive.identity(
        tree, {c.name: c.template for c in children}, derive.execution_scope())).to_json()
    write_templates(templates, build_dir)
    manifest = manifest_for(templates, ["us-west-2"])
    (build_dir / "manifest.json").write_text(deterministic_json(manifest))
    return manifest
