"""deploy.py's machinery, one module per concern:

settings   the `deploy:` section of a params file
context    what every command receives (params, session, manifest, args, output)
aws        session and clients (adaptive retries, AWS_ENDPOINT_URL), account check
bootstrap  the bootstrap stack: deploy it, read its outputs
artifacts  content-addressed template upload
changeset  create, wait for and walk (nested) change sets
plan       risk labels, the printed plan, build/plans/<env>.json and .md
events     one time-ordered event view of a stack tree, progress, root cause
safety     stack policies, termination protection, rollback triggers
stuck      stacks stuck in ROLLBACK_COMPLETE, REVIEW_IN_PROGRESS, UPDATE_ROLLBACK_FAILED
commands   the subcommands
local      the LocalStack endpoint (make local / local-stop, e2e tests)
localstack_fixes  corrections to the pinned LocalStack, applied as it starts
local_profile     LOCAL=1: the local profile merged in, the hosted zone prepared
local_report      after a local execute: resources created and types skipped per tier
"""
