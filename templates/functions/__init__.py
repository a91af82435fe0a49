"""Small Python Lambda functions shipped inline (ZipFile) in their tier's template.

Each handler is a real module next to this file, so tests import it and run it against
botocore-stubbed clients; the template embeds exactly that file's text. Inline code is
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
from awacs.aws import Allow, Policy, Statement
from troposphere import GetAtt, Ref, awslambda, iam, logs

from templates.base import service_trust
from templates.parts import workload_role

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
    text = (Path(__file__).parent / f"{module}.py").read_text()
    if len(text) > INLINE_LIMIT:
        raise ValueError(f"templates/functions/{module}.py is {len(text)} characters; inline "
                         f"Lambda code is limited to {INLINE_LIMIT}")
    return text


def python_function(tier, logical: str, module: str, *, purpose: str, description: str,
                    statements: list[Statement], environment: dict, concurrency,
                    key_arn, condition: str, timeout: int = 30, memory: int = 256,
                    dead_letter_arn=None) -> awslambda.Function:
    """Function `logical` with {logical}LogGroup and {logical}Role, all under `condition`."""
    retention = tier.shared_parameter("LogRetentionDays")
    log_group = tier.add(tier.stateful(logs.LogGroup(
        f"{logical}LogGroup", Condition=condition, RetentionInDays=retention, KmsKeyId=key_arn,
        Tags=tier.tags("logs", purpose))))
    role = tier.add(workload_role(tier, iam.Role(
        f"{logical}Role", Condition=condition,
        AssumeRolePolicyDocument=service_trust("lambda.amazonaws.com"),
        Policies=[iam.Policy(PolicyName=purpose, PolicyDocument=Policy(
            Version="2012-10-17", Statement=[
                Statement(Sid="OwnLogGroup", Effect=Allow,
                          Action=[logs_actions.CreateLogStream, logs_actions.PutLogEvents],
                          Resource=[GetAtt(log_group, "Arn")]),
                Statement(Sid="Tracing", Effect=Allow,
                          Action=[xray_actions.PutTraceSegments,
                                  xray_actions.PutTelemetryRecords],
                          Resource=["*"]),
                *statements,
            ]))],
        Tags=tier.tags("role", purpose))))
    tier.suppress(role, checkov={
        "CKV_AWS_111": "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level "
                       "permissions; every other statement is scoped to ARNs."})
    props = dict(
        Condition=condition, Description=description, Runtime=RUNTIME,
        Architectures=["arm64"], Handler="index.handler",
        Code=awslambda.Code(ZipFile=source(module)),
        Role=GetAtt(role, "Arn"), Timeout=timeout, MemorySize=memory,
        ReservedConcurrentExecutions=concurrency,
        TracingConfig=awslambda.TracingConfig(Mode="Active"),
        LoggingConfig=awslambda.LoggingConfig(LogGroup=Ref(log_group)),
        Environment=awslambda.Environment(Variables=environment),
        Tags=tier.tags("lambda", purpose))
    suppressions = dict(FUNCTION_SUPPRESSIONS)
    if dead_letter_arn is not None:
        props["DeadLetterConfig"] = awslambda.DeadLetterConfig(TargetArn=dead_letter_arn)
    else:
        suppressions["CKV_AWS_116"] = ("Invoked synchronously by API Gateway, which returns "
                                       "the error to the caller; a dead-letter queue only "
                                       "applies to asynchronous invocations.")
    function = awslambda.Function(logical, **props)
    tier.suppress(function, checkov=suppressions)
    return tier.add(function)
