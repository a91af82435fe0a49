"""Stack set operations: start, wait with backoff, per-instance results, tolerance.

Every operation goes through `run()`:
  1. start it with a fresh OperationId (an idempotency token); when another operation
     on the stack set is running (OperationInProgressException), wait and retry with
     the same id: never fail because of it;
  2. poll DescribeStackSetOperation with capped exponential backoff;
  3. read every instance's result (ListStackSetOperationResults, paginated) and
     compare the failures per region with the failure tolerance.
A run never raises on FAILED instances: it returns an OperationResult whose
`exceeded` says whether the failures went beyond what the preferences tolerate.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from streamstack.deploy.changeset import CAPABILITIES
from streamstack.errors import StreamstackError
from streamstack.stacksets.config import PERMISSION_MODELS, Preferences, StackSetConfig
from streamstack.stacksets.targets import Group

DONE = {"SUCCEEDED", "FAILED", "STOPPED"}


class StackSetOperationError(StreamstackError):
    """An operation could not be started or ended in a way no retry fixes."""


@dataclass
class Waiter:
    """Backoff for polling and for OperationInProgress retries; sleep is injectable."""

    first: float = 2.0
    factor: float = 1.5
    cap: float = 30.0
    sleep: Callable[[float], None] = time.sleep

    def delays(self):
        delay = self.first
        while True:
            yield delay
            delay = min(delay * self.factor, self.cap)


@dataclass
class InstanceResult:
    account: str
    region: str
    status: str
    reason: str
    ou: str | None = None


@dataclass
class OperationResult:
    action: str
    operation_id: str
    status: str
    status_reason: str
    results: list[InstanceResult] = field(default_factory=list)
    exceeded: bool = False
    contended: bool = False  # it had to wait for someone else's operation first
    failed_by_region: dict[str, int] = field(default_factory=dict)
    tolerated: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "SUCCEEDED" and not self.exceeded


class Operations:
    """One stack set's operations, with the config's call-as and preferences."""

    def __init__(
        self,
        cfn,
        name: str,
        config: StackSetConfig,
        *,
        waiter: Waiter | None = None,
        out: Callable[[str], None] = print,
    ) -> None:
        self.cfn = cfn
        self.name = name
        self.config = config
        self.waiter = waiter or Waiter()
        self.out = out
        self.contended = False

    # -- common request pieces ---------------------------------------------------
    @property
    def call_as(self) -> dict:
        """CallAs is valid only for service-managed stack sets."""
        return {} if self.config.self_managed else {"CallAs": self.config.call_as_api}

    def stack_set_settings(self, admin_account: str) -> dict:
        """Permission model, roles or auto-deployment, for CreateStackSet/UpdateStackSet."""
        settings = {"PermissionModel": PERMISSION_MODELS[self.config.permission_model]}
        if self.config.self_managed:
            settings["AdministrationRoleARN"] = (
                f"arn:aws:iam::{admin_account}:role/{self.config.administration_role_name}"
            )
            settings["ExecutionRoleName"] = self.config.execution_role_name
        else:
            enabled, retain = self.config.auto_deployment
            settings["AutoDeployment"] = {
                "Enabled": enabled,
                "RetainStacksOnAccountRemoval": retain,
            }
        return settings

    # -- stack set --------------------------------------------------------------
    def describe(self) -> dict | None:
        try:
            stack_set = self.cfn.describe_stack_set(StackSetName=self.name, **self.call_as)[
                "StackSet"
            ]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "StackSetNotFoundException":
                return None
            raise
        return None if stack_set.get("Status") == "DELETED" else stack_set

    def create_stack_set(
        self,
        *,
        template_url: str,
        parameters: dict[str, str],
        description: str,
        tags: dict[str, str],
        admin_account: str,
    ) -> str:
        """CreateStackSet is synchronous (no operation); returns the StackSetId."""
        response = self.cfn.create_stack_set(
            StackSetName=self.name,
            Description=description,
            TemplateURL=template_url,
            Parameters=_parameters(parameters),
            Capabilities=CAPABILITIES,
            Tags=_tags(tags),
            ClientRequestToken=str(uuid.uuid4()),
            **self.stack_set_settings(admin_account),
            **self.call_as,
        )
        return response["StackSetId"]

    def update_stack_set(
        self,
        *,
        template_url: str,
        parameters: dict[str, str],
        description: str,
        tags: dict[str, str],
        admin_account: str,
        regions: list[str],
    ) -> OperationResult:
        """New template/parameters for every instance, in one operation."""
        return self.run(
            "UPDATE",
            lambda op: self.cfn.update_stack_set(
                StackSetName=self.name,
                Description=description,
                TemplateURL=template_url,
                Parameters=_parameters(parameters),
                Capabilities=CAPABILITIES,
                Tags=_tags(tags),
                OperationPreferences=self.config.preferences.api(regions),
                OperationId=op,
                **self.stack_set_settings(admin_account),
                **self.call_as,
            ),
            targets_per_region=None,
        )

    def delete_stack_set(self) -> None:
        self._retrying(lambda: self.cfn.delete_stack_set(StackSetName=self.name, **self.call_as))

    # -- instances --------------------------------------------------------------
    def create_instances(self, group: Group) -> OperationResult:
        kwargs = {"ParameterOverrides": group.api_overrides()} if group.overrides else {}
        return self.run(
            "CREATE",
            lambda op: self.cfn.create_stack_instances(
                StackSetName=self.name,
                Regions=list(group.regions),
                **group.api_targets(self.config),
                OperationPreferences=self.config.preferences.api(list(group.regions)),
                OperationId=op,
                **kwargs,
                **self.call_as,
            ),
            targets_per_region=self._accounts(group),
        )

    def update_instances(self, group: Group) -> OperationResult:
        """Set the group's overrides. The full list is sent, so an override that is no
        longer wanted goes back to the stack set's value (an empty list clears all)."""
        return self.run(
            "UPDATE",
            lambda op: self.cfn.update_stack_instances(
                StackSetName=self.name,
                Regions=list(group.regions),
                **group.api_targets(self.config),
                ParameterOverrides=group.api_overrides(),
                OperationPreferences=self.config.preferences.api(list(group.regions)),
                OperationId=op,
                **self.call_as,
            ),
            targets_per_region=self._accounts(group),
        )

    def delete_instances(self, group: Group, *, retain_stacks: bool) -> OperationResult:
        return self.run(
            "DELETE",
            lambda op: self.cfn.delete_stack_instances(
                StackSetName=self.name,
                Regions=list(group.regions),
                **group.api_targets(self.config),
                RetainStacks=retain_stacks,
                OperationPreferences=self.config.preferences.api(list(group.regions)),
                OperationId=op,
                **self.call_as,
            ),
            targets_per_region=self._accounts(group),
        )

    def list_instances(self, **filters) -> list[dict]:
        paginator = self.cfn.get_paginator("list_stack_instances")
        return [
            summary
            for page in paginator.paginate(StackSetName=self.name, **filters, **self.call_as)
            for summary in page["Summaries"]
        ]

    def _accounts(self, group: Group) -> int | None:
        """Accounts per region of an operation: known for account targets; for OUs the
        operation's results tell."""
        return len(group.targets) if self.config.self_managed else None

    # -- the operation loop -------------------------------------------------------
    def run(
        self, action: str, start: Callable[[str], dict], targets_per_region: int | None
    ) -> OperationResult:
        """Start (retrying while another operation runs), wait, collect, judge."""
        operation_id = str(uuid.uuid4())
        self.contended = False
        response = self._retrying(lambda: start(operation_id))
        operation_id = response.get("OperationId", operation_id)
        self.out(f"stack set {self.name}: {action} operation {operation_id} started")
        try:
            operation = self.wait(operation_id)
        except KeyboardInterrupt:
            self.out(
                f"stack set {self.name}: operation {operation_id} keeps running; follow "
                f"it with: aws cloudformation describe-stack-set-operation "
                f"--stack-set-name {self.name} --operation-id {operation_id}"
            )
            raise
        result = OperationResult(
            action,
            operation_id,
            operation["Status"],
            operation.get("StatusReason", ""),
            self.results(operation_id),
            contended=self.contended,
        )
        self.judge(result, targets_per_region)
        return result

    def _retrying(self, call: Callable[[], dict]) -> dict:
        delays = self.waiter.delays()
        while True:
            try:
                return call()
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "OperationInProgressException":
                    raise
                delay = next(delays)
                self.contended = True
                self.out(
                    f"stack set {self.name}: another operation is in progress; "
                    f"retrying in {delay:.0f}s"
                )
                self.waiter.sleep(delay)

    def wait(self, operation_id: str) -> dict:
        delays = self.waiter.delays()
        while True:
            operation = self.cfn.describe_stack_set_operation(
                StackSetName=self.name, OperationId=operation_id, **self.call_as
            )["StackSetOperation"]
            if operation["Status"] in DONE:
                return operation
            self.waiter.sleep(next(delays))

    def results(self, operation_id: str) -> list[InstanceResult]:
        paginator = self.cfn.get_paginator("list_stack_set_operation_results")
        return [
            InstanceResult(
                s.get("Account", ""),
                s.get("Region", ""),
                s.get("Status", ""),
                s.get("StatusReason", ""),
                s.get("OrganizationalUnitId"),
            )
            for page in paginator.paginate(
                StackSetName=self.name, OperationId=operation_id, **self.call_as
            )
            for s in page["Summaries"]
        ]

    def judge(self, result: OperationResult, targets_per_region: int | None) -> None:
        """Failures per region against the tolerance (CloudFormation rounds % down)."""
        prefs: Preferences = self.config.preferences
        attempted: dict[str, int] = {}
        for r in result.results:
            attempted[r.region] = attempted.get(r.region, 0) + 1
            if r.status == "FAILED":
                result.failed_by_region[r.region] = result.failed_by_region.get(r.region, 0) + 1
        for region, count in attempted.items():
            result.tolerated[region] = prefs.tolerated_failures(targets_per_region or count)
        result.exceeded = result.status in ("FAILED", "STOPPED") or any(
            failed > result.tolerated[region] for region, failed in result.failed_by_region.items()
        )

    def report(self, result: OperationResult) -> None:
        """One line per instance, with its status reason, then a verdict."""
        for r in sorted(result.results, key=lambda r: (r.region, r.account)):
            where = f"{r.account or r.ou}/{r.region}"
            self.out(f"  {where:<30} {r.status:<10} {r.reason}".rstrip())
        failed = sum(result.failed_by_region.values())
        line = (
            f"stack set {self.name}: {result.action} {result.status}: "
            f"{len(result.results) - failed}/{len(result.results)} instances succeeded"
        )
        if result.failed_by_region:
            line += "; failed per region: " + ", ".join(
                f"{region} {n} (tolerated {result.tolerated[region]})"
                for region, n in sorted(result.failed_by_region.items())
            )
        if result.status_reason:
            line += f"; {result.status_reason}"
        self.out(line)
        if result.exceeded:
            self.out(
                f"stack set {self.name}: failures exceed the tolerance "
                f"(operation {result.operation_id})"
            )


def _parameters(values: dict[str, str]) -> list[dict]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(values.items())]


def _tags(tags: dict[str, str]) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
