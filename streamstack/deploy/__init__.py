"""deploy.py's machinery, one module per concern:

cli              argument parsing, the command table, the one dispatcher
context          what every command receives (params, clients, flags, settings, output)
commands         the commands of a stack environment (the StackSet ones: stacksets/)
exits            the exit codes
settings         the `deploy:` section of a params file
aws              session and clients (adaptive retries, AWS_ENDPOINT_URL), account check
bootstrap_stack  the bootstrap stack: deploy it, read its outputs
artifacts        content-addressed template upload
changeset        create, wait for and walk (nested) change sets
plans            rows and risk labels, the plan file build/plans/<env>.json + .md
report           the printed plan and its Markdown: values, data, drift, duration
retention        what happens to a removed or replaced resource (PolicyAction)
secrets          values a plan never shows
review           what the plan adds to the rows: moves, drift, the estimate
moves            Remove/Add pairs between nested stacks; the refactor's templates
refactor         make refactor: stack refactoring of the plan's moves
drift            drift detection of the nested stacks a plan touches
revert           a plan of drift-aware change sets that restores drifted values
durations        seconds per resource type: the table, then measured medians
critical_path    the expected duration and its critical path through the tree
timeline         after an execution: the timeline and the measured durations
history          plans, timelines and durations kept in the artifact bucket
events           one time-ordered event view of a stack tree, progress, root cause
safety           stack policies, termination protection, rollback triggers
stuck            stacks stuck in ROLLBACK_COMPLETE, REVIEW_IN_PROGRESS, UPDATE_ROLLBACK_FAILED
local            the LocalStack endpoint (make local / local-stop, e2e tests)
localstack_fixes corrections to the pinned LocalStack, applied as it starts
local_profile    LOCAL=1: the local profile merged in, the hosted zone prepared
local_report     after a local execute: resources created and types skipped per tier
validation       pre-deployment validation of a change set (its rows in the plan)
"""
