"""What streamstack knows about each instance's ParameterOverrides, so that a plan reads
only the instances that changed since.

The API has no bulk read of overrides (DescribeStackInstance is one call per
instance), but every operation that touches an instance changes its LastOperationId,
which ListStackInstances returns page by page. So an entry "after operation X the
overrides were O" stays true exactly as long as the instance's LastOperationId is X:

- the plan uses an entry only when LastOperationId matches, and describes the rest
  (first run, someone else's operation, drift detection), then records what it saw;
- execute records the overrides its own operations set: CreateStackInstances and
  UpdateStackInstances send the full list, so the result is known; UpdateStackSet keeps
  them, so the plan's entry moves to the new operation id. If execute had to wait for
  someone else's operation, the UpdateStackSet entries are dropped instead.

The entries live next to the templates in the administrator account's artifact
bucket (stacksets/<stack set>/overrides.json; the target accounts may read only
templates/*). An unreadable or unwritable entry file costs reads, never correctness.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from botocore.exceptions import ClientError

from streamstack.stacksets.targets import Overrides, freeze

MISSING = ("NoSuchKey", "404", "NotFound")


class OverrideState:
    def __init__(self, s3, bucket: str, stack_set: str, out: Callable[[str], None]) -> None:
        self.s3, self.bucket, self.out = s3, bucket, out
        self.key = f"stacksets/{stack_set}/overrides.json"
        self.entries: dict[str, dict] = {}

    def load(self) -> OverrideState:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self.key)["Body"].read()
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code not in MISSING:
                self.out(
                    f"note: cannot read s3://{self.bucket}/{self.key} ({code}); every "
                    "instance's overrides are read instead"
                )
            return self
        try:
            entries = json.loads(body)["instances"]
            self.entries = {
                str(k): {
                    "operation": str(v["operation"]),
                    "overrides": {str(n): str(x) for n, x in v["overrides"].items()},
                }
                for k, v in entries.items()
            }
        except (ValueError, KeyError, TypeError, AttributeError):
            self.out(f"note: s3://{self.bucket}/{self.key} is not valid; ignored")
        return self

    def known(self, account: str, region: str, last_operation: str) -> Overrides | None:
        entry = self.entries.get(f"{account}/{region}")
        if last_operation and entry and entry["operation"] == last_operation:
            return freeze(entry["overrides"])
        return None

    def remember(
        self, account: str, region: str, operation: str, overrides: Overrides | None
    ) -> None:
        if operation and overrides is not None:
            self.entries[f"{account}/{region}"] = {
                "operation": operation,
                "overrides": dict(overrides),
            }
        else:
            self.forget(account, region)

    def forget(self, account: str, region: str) -> None:
        self.entries.pop(f"{account}/{region}", None)

    def overrides(self, account: str, region: str) -> Overrides | None:
        entry = self.entries.get(f"{account}/{region}")
        return freeze(entry["overrides"]) if entry else None

    def save(self) -> None:
        body = json.dumps({"instances": self.entries}, indent=1, sort_keys=True) + "\n"
        try:
            self.s3.put_object(
                Bucket=self.bucket, Key=self.key, Body=body.encode(), ContentType="application/json"
            )
        except ClientError as exc:
            self.out(
                f"note: cannot write s3://{self.bucket}/{self.key} "
                f"({exc.response['Error']['Code']}); the next plan reads every "
                "instance's overrides"
            )
