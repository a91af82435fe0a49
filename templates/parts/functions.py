"""Small Python Lambda functions shipped inline (ZipFile) in their tier's template.

Each handler is a real module in templates/functions/, so tests import it and run it
against botocore-stubbed clients; the template embeds exactly that file's text. Inline code is
limited to 4096 characters, which keeps these functions small on purpose.

`python_function` builds what every such function needs: its own KMS-encrypted log group
(retention from the shared LogRetentionDays parameter, kept outside dev), an execution
role that may write only to that log group and send X-Ray traces plus the statements
the caller grants, active tracing, reserved concurrency and arm64.
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

# Checks that do not fit an inline function outside a VPC; each with its reason.
FUNCTION_SUPPRESSIONS = {
    "CKV_AWS_117": "Calls only regional AWS APIs (MediaConvert, DynamoDB) and reaches no "
    "VPC resource; a VPC would add NAT cost and cold-start latency for nothing.",
    "CKV_AWS_173": "The environment holds only resource names and ARNs, never a secret; "
    "Lambda encrypts it at rest with its service key.",
}


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
    environment: dict,
    concurrency,
    key_arn,
    condition: str,
    timeout: int = 30,
    memory: int = 256,
    dead_letter_arn=None,
) -> awslambda.Function:
    """Function `logical` with {logical}LogGroup and {logical}Role, all under `condition`."""
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
            "permissions; every other statement is scoped to ARNs."
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
        Environment=awslambda.Environment(Variables=environment),
        Tags=tier.tags("lambda", purpose),
    )
    suppressions = dict(FUNCTION_SUPPRESSIONS)
    if dead_letter_arn is not None:
        props["DeadLetterConfig"] = awslambda.DeadLetterConfig(TargetArn=dead_letter_arn)
    else:
        suppressions["CKV_AWS_116"] = (
            "Invoked synchronously by API Gateway, which returns "
            "the error to the caller; a dead-letter queue only "
            "applies to asynchronous invocations."
        )
    function = awslambda.Function(logical, **props)
    tier.suppress(function, checkov=suppressions)
    return tier.add(function)
