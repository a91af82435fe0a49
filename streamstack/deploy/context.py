"""What every deploy.py command receives."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import boto3

from streamstack.deploy import aws
from streamstack.deploy.settings import DeploySettings, settings_of
from streamstack.params import EnvParams


def _print(*parts) -> None:
    print(*parts, flush=True)


@dataclass
class Context:
    params: EnvParams
    session: boto3.session.Session
    manifest: dict
    build_dir: Path
    args: argparse.Namespace
    out: Callable[..., None] = _print
    # Seconds between polls; tests and the local endpoint use short ones.
    poll_seconds: float = 5.0
    sleep: Callable[[float], None] = time.sleep
    interactive: bool = field(default_factory=lambda: sys.stdin.isatty())
    plans_dir: Path | None = None
    # Set once the bootstrap stack is read: every stack operation passes it as RoleARN.
    execution_role_arn: str | None = None
    # (service, region) -> client; made once per run (tests put stubbed clients here).
    clients: dict = field(default_factory=dict)

    @property
    def settings(self) -> DeploySettings:
        return settings_of(self.params)

    @property
    def env(self) -> str:
        return self.params.environment

    @property
    def stackset(self):
        """The validated `stackset:` section (a StackSetConfig), or None."""
        return self.params.sections.get("stackset")

    @property
    def plans(self) -> Path:
        return self.plans_dir or self.build_dir / "plans"

    def client(self, service: str, region: str | None = None):
        key = (service, region or self.params.region)
        if key not in self.clients:
            self.clients[key] = aws.client(self.session, service, key[1])
        return self.clients[key]

    def flag(self, name: str, default=False):
        return getattr(self.args, name, default)

    def confirm(self, question: str) -> bool:
        """--yes, or an interactive 'yes'; never True without a person or the flag."""
        if self.flag("yes"):
            return True
        if not self.interactive:
            return False
        return input(f"{question} [type yes]: ").strip().lower() == "yes"
