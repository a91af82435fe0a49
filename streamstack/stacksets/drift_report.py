"""Stack set drift: DetectStackSetDrift, then the drifted instances and resources.

Calls: one detection operation (polled with backoff), ListStackInstances filtered on
DRIFT_STATUS=DRIFTED (paginated), and ListStackInstanceResourceDrifts per drifted
instance only (paginated): an environment in sync costs the same at any size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streamstack.stacksets.operations import OperationResult, Operations

DRIFTED_RESOURCE_STATUSES = ["MODIFIED", "DELETED"]


@dataclass
class DriftReport:
    operation: OperationResult
    details: dict  # StackSetDriftDetectionDetails
    drifted: dict[str, list[dict]] = field(default_factory=dict)  # account/region -> rows


def detect(ops: Operations) -> DriftReport:
    # No RegionOrder: detection reads every instance, also in regions the params file
    # no longer lists, and changes nothing, so there is no canary to go first.
    preferences = {k: v for k, v in ops.config.preferences.api().items() if k != "RegionOrder"}
    operation = ops.run(
        "DETECT_DRIFT",
        lambda op: ops.cfn.detect_stack_set_drift(
            StackSetName=ops.name, OperationPreferences=preferences, OperationId=op, **ops.call_as
        ),
        targets_per_region=None,
    )
    described = ops.cfn.describe_stack_set_operation(
        StackSetName=ops.name, OperationId=operation.operation_id, **ops.call_as
    )["StackSetOperation"]
    report = DriftReport(operation, described.get("StackSetDriftDetectionDetails", {}))
    for summary in ops.list_instances(Filters=[{"Name": "DRIFT_STATUS", "Values": "DRIFTED"}]):
        where = f"{summary['Account']}/{summary['Region']}"
        report.drifted[where] = _resource_drifts(ops, summary, operation.operation_id)
    return report


def _resource_drifts(ops: Operations, summary: dict, operation_id: str) -> list[dict]:
    rows, token = [], None
    while True:
        page = ops.cfn.list_stack_instance_resource_drifts(
            StackSetName=ops.name,
            StackInstanceAccount=summary["Account"],
            StackInstanceRegion=summary["Region"],
            OperationId=operation_id,
            StackInstanceResourceDriftStatuses=DRIFTED_RESOURCE_STATUSES,
            **({"NextToken": token} if token else {}),
            **ops.call_as,
        )
        for drift in page.get("Summaries", []):
            rows.append(
                {
                    "logical_id": drift["LogicalResourceId"],
                    "type": drift["ResourceType"],
                    "status": drift["StackResourceDriftStatus"],
                    "physical_id": drift.get("PhysicalResourceId", ""),
                    "properties": [d["PropertyPath"] for d in drift.get("PropertyDifferences", [])],
                }
            )
        token = page.get("NextToken")
        if not token:
            return rows


def render(report: DriftReport, name: str) -> list[str]:
    details = report.details
    lines = [
        f"stack set {name}: drift {details.get('DriftStatus', 'UNKNOWN')} "
        f"({details.get('DriftedStackInstancesCount', len(report.drifted))} drifted, "
        f"{details.get('InSyncStackInstancesCount', '?')} in sync, "
        f"{details.get('FailedStackInstancesCount', 0)} failed of "
        f"{details.get('TotalStackInstancesCount', '?')} instances)"
    ]
    for where, rows in sorted(report.drifted.items()):
        lines.append(f"  {where}: {len(rows)} drifted resource(s)")
        for row in rows:
            props = f" ({', '.join(row['properties'])})" if row["properties"] else ""
            lines.append(f"    {row['status']:<9} {row['logical_id']:<32} {row['type']}{props}")
    for r in report.operation.results:
        if r.status == "FAILED":
            lines.append(f"  {r.account}/{r.region}: detection failed: {r.reason}")
    return lines
