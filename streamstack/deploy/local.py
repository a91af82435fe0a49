"""LocalStack as a host process (no Docker) on 127.0.0.1:STREAMSTACK_LOCAL_PORT (4566):
`make local` starts it and returns once it answers, `make local-stop` stops what
`make local` started.

The runtime lives in its own venv (.venv-local, Python 3.13, created by the Makefile),
starts through localstack_fixes.py (its corrections to the pinned version) and keeps
its state and log under .local/localstack/.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request

from streamstack import ROOT
from streamstack.deploy.aws import LOCAL_ENDPOINT as ENDPOINT
from streamstack.deploy.aws import LOCAL_PORT as PORT

HOST = "127.0.0.1"
VENV = ROOT / ".venv-local"
STATE = ROOT / ".local" / "localstack"
PID_FILE = STATE / "localstack.pid"
LOG_FILE = STATE / "localstack.log"
FIXES = ROOT / "streamstack" / "deploy" / "localstack_fixes.py"
# Every service the built templates use that LocalStack's community edition emulates
# (tests/deploy/test_local.py checks the list against the templates' resource types).
SERVICES = (
    "acm,apigateway,cloudformation,cloudwatch,dynamodb,ec2,ecr,events,iam,kms,lambda,"
    "logs,route53,s3,scheduler,secretsmanager,sns,sqs,ssm,sts"
)
_started: dict[int, subprocess.Popen] = {}  # pid -> process, to reap it on stop


def answering(timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{ENDPOINT}/_localstack/health", timeout=timeout) as r:
            return r.status == 200
    except OSError:
        return False


def start(wait_seconds: float = 90.0, out=print) -> bool:
    """Start LocalStack unless it already answers; returns True when this call started it."""
    if answering():
        out(f"LocalStack already answers on {ENDPOINT}")
        return False
    python = VENV / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} is missing: run `make local` (it installs LocalStack)")
    STATE.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GATEWAY_LISTEN": f"{HOST}:{PORT}",
        "SERVICES": SERVICES,
        "SKIP_SSL_CERT_DOWNLOAD": "1",
        "DISABLE_EVENTS": "1",
        "FILESYSTEM_ROOT": str(STATE / "fs"),
        "LOCALSTACK_VOLUME_DIR": str(STATE / "volume"),
    }
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        env.pop(name, None)
    with LOG_FILE.open("ab") as log:
        process = subprocess.Popen(
            [str(python), "-P", str(FIXES)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=STATE,
            start_new_session=True,
        )
    PID_FILE.write_text(str(process.pid))
    _started[process.pid] = process
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            PID_FILE.unlink(missing_ok=True)
            raise SystemExit(f"LocalStack exited with {process.returncode}; see {LOG_FILE}")
        if answering():
            out(f"LocalStack answers on {ENDPOINT} (pid {process.pid}, log {LOG_FILE})")
            return True
        time.sleep(0.5)
    stop(out=out)
    raise SystemExit(f"LocalStack did not answer within {wait_seconds:.0f} s; see {LOG_FILE}")


def stop(out=print) -> bool:
    """Stop the LocalStack this project started (by its pid file); True when one stopped."""
    if not PID_FILE.is_file():
        out("no LocalStack started by `make local` is running")
        return False
    pid = int(PID_FILE.read_text().strip())
    process = _started.pop(pid, None)
    try:
        os.kill(pid, signal.SIGTERM)
        if process is not None:  # our child: reap it
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        else:
            for _ in range(150):
                os.kill(pid, 0)
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    PID_FILE.unlink(missing_ok=True)
    out(f"stopped LocalStack (pid {pid})")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=["start", "stop", "status"])
    args = parser.parse_args(argv)
    if args.action == "start":
        start()
    elif args.action == "stop":
        stop()
    else:
        print(f"LocalStack on {ENDPOINT}: {'answering' if answering() else 'not answering'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
