#!/usr/bin/env python3
"""API calls of a StackSet environment at scale, against moto's server (no AWS).

One environment targets N accounts x 4 regions. It measures, per phase, the calls the
StackSet commands make: the first plan and execute (create the stack set and every
instance), then a template change planned and rolled out (one UpdateStackSet). Run
with --accounts to compare sizes; tests/stacksets/test_stackset_scale.py asserts on
the same numbers. Artifact upload (per template) is not counted.

    .venv/bin/python bench/stacksets.py            # 50 accounts x 4 regions
    .venv/bin/python bench/stacksets.py --accounts 2
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import logging
import os
import sys
import tempfile
import threading
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]
PHASES = (
    "plan (create)",
    "execute (create)",
    "plan (template change)",
    "execute (template change)",
)


def template(version: int) -> dict:
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"scale test template v{version}",
        "Parameters": {
            "Environment": {
                "Type": "String",
                "Default": "dev",
                "AllowedValues": ["dev", "staging", "prod"],
            },
            "ArtifactBaseUrl": {"Type": "String", "Default": ""},
        },
        "Resources": {
            "Logs": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": "streamstack-scale", "RetentionInDays": 1},
            }
        },
    }


def measure(endpoint: str, accounts: int, workdir: Path) -> dict[str, collections.Counter]:
    """Calls per phase, by service.Operation, for `accounts` x 4 regions."""
    import boto3
    import requests
    import yaml

    from streamstack import params
    from streamstack.stacksets import commands
    from streamstack.stacksets.operations import Waiter
    from tests.stacksets.conftest import make_context

    requests.post(f"{endpoint}/moto-api/reset", timeout=10)  # moto's state is per process
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-west-2",
    )
    counts: collections.Counter = collections.Counter()
    lock = threading.Lock()
    session = boto3.session.Session(region_name="us-west-2")

    def count(event_name, **_):
        _, service, operation = event_name.split(".", 2)
        with lock:
            counts[f"{service}.{operation}"] += 1

    session.events.register("before-call.*.*", count)

    uploads = boto3.session.Session(region_name="us-west-2").client("s3")
    uploads.create_bucket(
        Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )

    def publish(ctx):
        for entry in ctx.manifest["templates"].values():
            uploads.put_object(
                Bucket="artifacts",
                Key=entry["key"],
                Body=(ctx.build_dir / entry["file"]).read_bytes(),
            )
        return "artifacts", f"{endpoint}/artifacts"

    commands.publish = publish

    path = workdir / "scale.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "stack_name": f"streamstack-scale-{accounts}",
                "region": "us-west-2",
                "parameters": {"Environment": "prod"},
                "stackset": {
                    "accounts": [f"{100000000000 + i}" for i in range(accounts)],
                    "regions": REGIONS,
                    "preferences": {
                        "max_concurrent_percentage": 25,
                        "failure_tolerance_percentage": 10,
                        "region_concurrency": "parallel",
                    },
                },
            }
        )
    )
    fast = Waiter(first=0.01, cap=0.05, sleep=lambda _: None)
    phases = {}
    for version, (plan_phase, execute_phase) in enumerate((PHASES[:2], PHASES[2:])):
        build = workdir / "build"
        (build / "templates").mkdir(parents=True, exist_ok=True)
        text = json.dumps(template(version), indent=1, sort_keys=True) + "\n"
        (build / "templates" / "root.json").write_text(text)
        sha = hashlib.sha256(text.encode()).hexdigest()
        manifest = {
            "templates": {
                "root": {
                    "file": "templates/root.json",
                    "sha256": sha,
                    "key": f"templates/{sha}.json",
                    "deploy_time_parameters": ["ArtifactBaseUrl"],
                }
            }
        }
        env = params.parse(path, "scale", template(version)["Parameters"], {"ArtifactBaseUrl"})
        for phase, command in ((plan_phase, commands.plan), (execute_phase, commands.execute)):
            ctx = make_context(env, session, manifest, build)
            counts.clear()
            code = command(ctx, waiter=fast)
            if code != 0:
                raise SystemExit(f"{phase} exited {code}:\n" + "\n".join(ctx.lines))
            phases[phase] = collections.Counter(counts)
    return phases


def run(accounts: int) -> dict[str, collections.Counter]:
    from moto.server import ThreadedMotoServer

    warnings.filterwarnings("ignore", message="Tried to parse")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        _, port = server.get_host_and_port()
        with tempfile.TemporaryDirectory() as tmp:
            return measure(f"http://localhost:{port}", accounts, Path(tmp))
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=50)
    args = parser.parse_args()
    phases = run(args.accounts)
    instances = args.accounts * len(REGIONS)
    print(f"{args.accounts} accounts x {len(REGIONS)} regions = {instances} instances")
    for phase, calls in phases.items():
        print(f"\n{phase}: {sum(calls.values())} API calls")
        for name, n in sorted(calls.items()):
            print(f"  {n:>5}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
