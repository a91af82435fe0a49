"""Packing derived statements into managed policies: no policy is ever over IAM's size
limit, also when a statement is split and its parts' Sids grow a suffix."""

from streamstack.identity import derive


def test_split_statements_fit_with_the_sid_they_get():
    actions = [f"ec2:Describe{'X' * 20}{i:04d}" for i in range(600)]
    statement = {"Sid": "Ec2", "Effect": "Allow", "Action": actions, "Resource": "*"}
    policies = derive.pack([statement])
    assert len(policies) > 1
    for policy in policies:
        document = {"Version": "2012-10-17", "Statement": policy}
        assert derive.resolved_size(document) <= derive.MANAGED_POLICY_CHARS
    parts = [s for policy in policies for s in policy]
    assert [s["Sid"] for s in parts] == [f"Ec2Part{i}" for i in range(1, len(parts) + 1)]
    assert [a for s in parts for a in s["Action"]] == actions
