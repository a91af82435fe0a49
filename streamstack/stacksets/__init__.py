"""StackSet environments: one root template delivered to many accounts and regions.

config      the `stackset:` params section and its validation
targets     desired instances, effective parameters, grouping into operations
preview     current stack set vs desired: template hash, parameter differences,
            instances to add, update and remove (the plan file)
operations  create/update the stack set and its instances, wait with backoff, retry
            while another operation runs, per-instance results, failure tolerance
deep_preview  change sets on target stacks through the execution role (never executed)
drift       DetectStackSetDrift and the drifted instances and resources
commands    plan/execute/bootstrap/drift, called by deploy.py
"""
