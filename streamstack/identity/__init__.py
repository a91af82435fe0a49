"""The deploy identity, derived and proven from AWS's own published data.

awsdata   the resource provider schemas' handler permissions and IAM's policy data (both
          shipped with cfn-lint), read once
evaluate  an IAM policy evaluator over rendered templates (Allow/Deny, NotAction,
          wildcards, conditions, Fn::If branches)
derive    the execution role's policy statements and the workload boundary, computed from
          the resource types and roles of the built templates
proof     the permission, escalation and boundary proofs `make build` runs
"""
