"""checkov decides each Fn::If with the parameters' defaults, so one side of every
condition would never be scanned. Every rendered template is scanned twice more, with
every Fn::If forced to its first and to its second value: no unsuppressed failure on
either side (a suppression still needs its written reason in Metadata)."""

from __future__ import annotations

import json

import pytest
from troposphere import If, Parameter, Template, s3

from streamstack.scan import Scan, forced_view


@pytest.mark.parametrize("branch", [True, False], ids=["forced true", "forced false"])
def test_no_finding_with_every_fn_if_forced(rendered_text, tmp_path, branch):
    findings, scanned = Scan().run(
        rendered_text, tmp_path, view=forced_view(branch), view_name=f" forced {branch}"
    )
    assert scanned == len(rendered_text)
    assert findings == {}


def test_forcing_shows_what_the_defaults_hide(tmp_path):
    """A bucket that logs only when a toggle is on: checkov with the default (on) passes
    it; forced false, the unlogged side is found; AWS::NoValue drops the property."""
    template = Template()
    template.add_parameter(Parameter("Logs", Type="String", Default="on"))
    template.add_condition("LogsOn", {"Fn::Equals": [{"Ref": "Logs"}, "on"]})
    template.add_resource(
        s3.Bucket(
            "Plain",
            LoggingConfiguration=If(
                "LogsOn",
                s3.LoggingConfiguration(DestinationBucketName="logs"),
                {"Ref": "AWS::NoValue"},
            ),
        )
    )
    text = json.dumps(template.to_dict())
    forced = json.loads(forced_view(False)(text))
    assert "LoggingConfiguration" not in forced["Resources"]["Plain"]["Properties"]
    on, _ = Scan().run({"t": text}, tmp_path / "on", view=forced_view(True), view_name=" t")
    off, _ = Scan().run({"t": text}, tmp_path / "off", view=forced_view(False), view_name=" f")
    assert not any("CKV_AWS_18" in line for line in on.get("t", []))
    assert any("CKV_AWS_18" in line for line in off["t"])
