"""The scan sees every resource, also those toggled off by default."""

import json

from streamstack.scan import scan_view


def test_scan_view_keeps_conditional_resources_unconditional():
    template = {
        "Conditions": {"On": {"Fn::Equals": ["a", "b"]}},
        "Resources": {
            "Group": {
                "Type": "AWS::AutoScaling::AutoScalingGroup",
                "Condition": "On",
                "Properties": {"MinSize": "1"},
            },
            "Bucket": {"Type": "AWS::S3::Bucket"},
        },
    }
    seen = json.loads(scan_view(json.dumps(template)))
    assert "Condition" not in seen["Resources"]["Group"]
    assert seen["Resources"]["Group"]["Properties"] == {"MinSize": "1"}
    assert seen["Resources"]["Bucket"] == {"Type": "AWS::S3::Bucket"}
    assert seen["Conditions"] == template["Conditions"]
