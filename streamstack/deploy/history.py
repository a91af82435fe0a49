"""What deploys leave in the artifact bucket for the next ones, under plans/<env>/:

  plans/<env>/<change set>.json, .md      each plan, as written to build/plans/
  plans/<env>/<change set>.timeline.md    the timeline of its execution
  plans/<env>/durations.json              seconds per resource type and operation,
                                          measured by this environment's executions

A pull request's plan goes under pull-requests/plans/<env>/ (it reads the durations of
the environment, and writes nowhere a deploy from the branch reads). Reading or writing
here never stops a plan or an execution: when a call is refused, the plan says why and
how to fix it, and the repository's duration table stands in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from streamstack.deploy.aws import error_code, error_message
from streamstack.deploy.durations import Durations

PREFIX = "plans/"
PULL_REQUEST_PREFIX = "pull-requests/plans/"
DENIED = ("AccessDenied", "AccessDeniedException", "403", "KMS.AccessDeniedException")
MISSING = ("NoSuchKey", "404", "NotFound")


@dataclass
class History:
    s3: object
    bucket: str
    environment: str
    pull_request: bool = False
    notes: list[str] = field(default_factory=list)  # what could not be read or written

    def _key(self, name: str, own: bool = True) -> str:
        prefix = PULL_REQUEST_PREFIX if self.pull_request and own else PREFIX
        return f"{prefix}{self.environment}/{name}"

    def durations(self) -> Durations:
        """The measured durations (empty when none were measured or they can't be read)."""
        key = self._key("durations.json", own=False)
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if error_code(exc) not in MISSING:
                self._refused("read", key, exc)
            return Durations(environment=self.environment)
        try:
            return Durations.from_json(json.loads(body), self.environment)
        except ValueError:
            self.notes.append(
                f"s3://{self.bucket}/{key} is not valid JSON: the plan uses the repository's "
                "duration table; the next execution writes it again"
            )
            return Durations(environment=self.environment)

    def save_durations(self, durations: Durations) -> bool:
        return self.put(
            "durations.json", json.dumps(durations.to_json(), sort_keys=True), own=False
        )

    def put(self, name: str, text: str, own: bool = True) -> bool:
        key = self._key(name, own)
        content = "application/json" if name.endswith(".json") else "text/markdown"
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=text.encode(), ContentType=content)
        except ClientError as exc:
            self._refused("write", key, exc)
            return False
        return True

    def _refused(self, verb: str, key: str, exc: ClientError) -> None:
        action = "s3:GetObject" if verb == "read" else "s3:PutObject"
        if error_code(exc) in DENIED:
            self.notes.append(
                f"could not {verb} s3://{self.bucket}/{key} ({action} is denied: "
                f"{error_message(exc)}); update the CI roles with `make bootstrap "
                f"ENV={self.environment}`"
            )
        else:
            self.notes.append(
                f"could not {verb} s3://{self.bucket}/{key}: {error_code(exc)}: "
                f"{error_message(exc)}"
            )
