"""deploy.py's exit codes (documented in docs/deploy.md, "Exit codes"):

0    success, including "no changes"
1    a problem to fix (bad input, missing bootstrap, AWS refused a request)
2    the params file is invalid; with --detailed-exitcode: the plan has changes (an
     invalid params file exits 1 then, so that 2 means one thing)
3    the plan is blocked: it would replace, remove or move stateful resources
     (DATA-LOSS, RECOVERABLE, ORPHAN, MOVE rows)
4    refused: the stack moved since the plan, a stack is stuck and needs a decision, an
     operation is already running, or the environment is protected
5    the CloudFormation operation failed (its first root cause is printed); for a
     stack set: instance failures beyond the failure tolerance
6    drift detected (make drift, StackSet environments)
7    the plan is invalid: CloudFormation's pre-deployment validation says executing the
     change set would fail (INVALID rows name the resource and the reason)
130  interrupted: the CloudFormation operation keeps running; follow it with make status
"""

from streamstack.errors import StreamstackError

OK, ERROR, PARAMS, BLOCKED, REFUSED, FAILED, DRIFTED, INVALID, INTERRUPTED = (
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    130,
)
CHANGES = 2  # --detailed-exitcode: the plan has changes (Terraform's convention)


class Blocked(StreamstackError):
    exit_code = BLOCKED


class Refused(StreamstackError):
    exit_code = REFUSED


class OperationFailed(StreamstackError):
    exit_code = FAILED


class Interrupted(StreamstackError):
    exit_code = INTERRUPTED


class Invalid(StreamstackError):
    exit_code = INVALID
