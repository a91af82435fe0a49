"""Small Python Lambda functions shipped inline (ZipFile) in their tier's template.

Each handler is a real module in templates/functions/, so tests import it and run it
against botocore-stubbed clients; the template embeds exactly that file's text. Inline code is
limited to 4096 characters, which keeps these functions small on purpose.

`python_function` builds what every such function needs: its own KMS-encrypted log group
(retention from the shared LogRetentionDays parameter, kept outside dev), an execution
role that may write only to that log group and send X-Ray traces plus the statements
the caller grants, active tracing, reserved concurrency and arm64. Its scanner
suppressions say the function's own truth: the APIs it calls (no VPC), who invokes it
(no dead-letter queue), the actions it needs on "*".
"""

from __future__ import annotations

from pathlib import Path

from awacs import logs as logs_actions
from awacs import xray as xray_actions
from awacs.aws import Allow, Statement
from troposphere import GetAtt, Ref, awslambda

from templates.parts.iam import service_role
from templates.parts.logs import log_group

HANDLERS = Path(__file__).resolve().parent.parent / "functions"
INLINE_LIMIT = 4096  # characters Lambda accepts in Code.ZipFile
RUNTIME = "python3.13"

# The environment of every inline function holds names and ARNs only.
ENVIRONMENT_REASON = (
    "The environment holds only resource names and ARNs, never a secret; Lambda "
    "encrypts it at rest with its service key."
)


def outside_vpc_reason(calls: str) -> str:
    """CKV_AWS_117's reason for a function that calls `calls` (e.g. "MediaConvert")."""
    return (
        f"Calls only regional AWS APIs ({calls}) and reaches no VPC resource; a VPC "
        "would add NAT cost and cold-start latency for nothing."
    )


def source(module: str) -> str:
    """The handler file's text, as embedded in the template."""
    text = (HANDLERS / f"{module}.py").read_text()
    if len(text) > INLINE_LIMIT:
        raise ValueError(
            f"templates/functions/{module}.py is {len(text)} characters; inline "
            f"Lambda code is limited to {INLINE_LIMIT}"
        )
    return text


def python_function(
    tier,
    logical: str,
    module: str,
    *,
    purpose: str,
    description: str,
    statements: list[Statement],
    environment: dict | None,
    concurrency,
    key_arn,
    condition: str,
    calls: str,
    timeout: int = 30,
    memory: int = 256,
    dead_letter_arn=None,
    no_dead_letter: str | None = None,
    unscoped: str = "",
) -> awslambda.Function:
    """Function `logical` with {logical}LogGroup and {logical}Role, all under `condition`.

    calls: the AWS APIs it calls (it runs outside a VPC); no_dead_letter: why it needs
    no dead-letter queue, when dead_letter_arn is None; unscoped: what else its role
    grants on "*" and why (X-Ray always is)."""
    if (dead_letter_arn is None) == (no_dead_letter is None):
        raise ValueError(f"{logical}: give a dead_letter_arn or the no_dead_letter reason")
    retention = tier.shared_parameter("LogRetentionDays")
    group = log_group(tier, f"{logical}LogGroup", purpose, retention, key_arn, Condition=condition)
    role = service_role(
        tier,
        f"{logical}Role",
        "lambda.amazonaws.com",
        purpose,
        [
            Statement(
                Sid="OwnLogGroup",
                Effect=Allow,
                Action=[logs_actions.CreateLogStream, logs_actions.PutLogEvents],
                Resource=[GetAtt(group, "Arn")],
            ),
            Statement(
                Sid="Tracing",
                Effect=Allow,
                Action=[xray_actions.PutTraceSegments, xray_actions.PutTelemetryRecords],
                Resource=["*"],
            ),
            *statements,
        ],
        condition=condition,
    )
    tier.suppress(
        role,
        checkov={
            "CKV_AWS_111": "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level "
            "permissions"
            + (f"; {unscoped}" if unscoped else "")
            + "; every other statement is scoped to ARNs."
        },
    )
    props = dict(
        Condition=condition,
        Description=description,
        Runtime=RUNTIME,
        Architectures=["arm64"],
        Handler="index.handler",
        Code=awslambda.Code(ZipFile=source(module)),
        Role=GetAtt(role, "Arn"),
        Timeout=timeout,
        MemorySize=memory,
        ReservedConcurrentExecutions=concurrency,
        TracingConfig=awslambda.TracingConfig(Mode="Active"),
        LoggingConfig=awslambda.LoggingConfig(LogGroup=Ref(group)),
        Tags=tier.tags("lambda", purpose),
    )
    suppressions = {"CKV_AWS_117": outside_vpc_reason(calls)}
    if environment:
        props["Environment"] = awslambda.Environment(Variables=environment)
        suppressions["CKV_AWS_173"] = ENVIRONMENT_REASON
    if dead_letter_arn is not None:
        props["DeadLetterConfig"] = awslambda.DeadLetterConfig(TargetArn=dead_letter_arn)
    else:
        suppressions["CKV_AWS_116"] = no_dead_letter
    function = awslambda.Function(logical, **props)
    tier.suppress(function, checkov=suppressions)
    return tier.add(function)
