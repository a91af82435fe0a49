#!/usr/bin/env python3
"""Deploy streamstack: bootstrap an account, plan a reviewed change set for the whole
nested tree, execute exactly that change set, and look after the stacks.

    deploy.py bootstrap ENV     artifact bucket, execution role, ECR, CI roles
    deploy.py edge ENV          CloudFront's WAF and certificate in us-east-1
    deploy.py deploy ENV        build if stale, upload, plan (execute at once if params say auto)
    deploy.py execute ENV       execute the reviewed plan (build/plans/ENV.json)
    deploy.py refactor ENV      move the plan's MOVE rows between nested stacks
    deploy.py status ENV        the stack tree, status, outputs, drift
    deploy.py doctor ENV        repair stuck stacks, delete old change sets
    deploy.py destroy ENV       delete a throw-away environment (params must allow it)

Exit codes: see streamstack/deploy/exits.py (0 ok, 2 changes planned with
--detailed-exitcode, 3 blocked, 4 refused, 5 the operation failed, 7 invalid, 130
interrupted).
"""

import sys

from streamstack import cli
from streamstack.deploy import cli as deploy_cli

if __name__ == "__main__":
    sys.exit(cli.run(lambda: deploy_cli.main(sys.argv[1:], __doc__)))
