"""deploy.py's argument parsing and dispatch (deploy.py itself stays a few lines)."""
from __future__ import annotations

import argparse
import importlib
import json
import os
from pathlib import Path

from streamstack import BUILD_DIR, PARAMS_DIR, ROOT
from streamstack import params as params_mod

from streamstack.deploy import aws, local, local_profile
from streamstack.deploy.commands import COMMANDS
from streamstack.deploy.context import Context
from streamstack.deploy.exits import Interrupted
from streamstack.errors import StreamstackError

STACKSET_COMMANDS = {"deploy": "plan", "execute": "execute", "bootstrap": "bootstrap",
                     "drift": "drift", "destroy": "destroy"}
BUILT_FROM = ("templates", "streamstack")


def parser(doc: str | None = None) -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="deploy.py", description=doc,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    helps = {"bootstrap": "deploy the bootstrap stack",
             "edge": "deploy the edge stack (CloudFront WAF and certificate) to us-east-1",
             "deploy": "build, upload and plan",
             "execute": "execute the reviewed plan", "status": "tree, status, outputs, drift",
             "doctor": "repair stuck stacks", "destroy": "delete a throw-away environment",
             "drift": "StackSet drift (StackSet environments)"}
    for name, text in helps.items():
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("env", nargs="?", metavar="ENV", help="environment (params/ENV.yaml)")
        cmd.add_argument("--env", dest="env_option", metavar="ENV", help="same as ENV")
        cmd.add_argument("--yes", action="store_true",
                         help="confirm deletions and rollbacks without asking")
        cmd.add_argument("--allow-data-loss", action="store_true",
                         help="let a plan replace or remove stateful resources")
        cmd.add_argument("--prune", action="store_true",
                         help="StackSets: remove instances no longer targeted")
        cmd.add_argument("--deep-preview", action="store_true",
                         help="StackSets: preview every instance before updating")
        cmd.add_argument("--local", action="store_true",
                         help=f"use the local endpoint ({aws.LOCAL_ENDPOINT}, make local)")
        cmd.add_argument("--pull-request", action="store_true",
                         help="deploy: plan for a pull request (templates under "
                              "pull-requests/, a change set that can never be executed)")
        cmd.add_argument("--wait", action="store_true",
                         help="wait for a running operation instead of refusing")
        cmd.add_argument("--no-build", action="store_true", help="use build/ as it is")
        cmd.add_argument("--no-drift", action="store_true", help="status: skip drift detection")
        cmd.add_argument("--poll-seconds", type=float, default=None,
                         help="seconds between polls (default 5, or 1 locally)")
        cmd.add_argument("--build-dir", type=Path, default=BUILD_DIR, help=argparse.SUPPRESS)
        cmd.add_argument("--params-dir", type=Path, default=PARAMS_DIR, help=argparse.SUPPRESS)
    return top


def stale(build_dir: Path, root: Path = ROOT) -> bool:
    """The build is stale when a template, the build code or a params file is newer."""
    manifest = build_dir / "manifest.json"
    if not manifest.is_file():
        return True
    built = manifest.stat().st_mtime
    sources = [p for d in BUILT_FROM for p in (root / d).rglob("*.py")]
    sources += list((root / "params").rglob("*.yaml"))
    return any(p.stat().st_mtime > built for p in sources)


def load_manifest(build_dir: Path) -> dict:
    path = build_dir / "manifest.json"
    if not path.is_file():
        raise StreamstackError(f"{path} does not exist: run `make build`")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        raise StreamstackError(f"{path} is not valid JSON: run `make build`") from None


def main(argv: list[str], doc: str | None = None) -> int:
    args = parser(doc).parse_args(argv)
    env = args.env_option or args.env
    if not env:
        raise StreamstackError(f"which environment? give ENV (e.g. `make {args.command} "
                               f"ENV=dev`); known: "
                               f"{', '.join(params_mod.known_environments(args.params_dir))}")
    if args.env and args.env_option and args.env != args.env_option:
        raise StreamstackError(f"ENV {args.env} and --env {args.env_option} disagree; give one")
    if args.local:
        aws.use_local_endpoint()
        if not local.answering():
            raise StreamstackError(f"nothing answers on {local.ENDPOINT}: start LocalStack with "
                                   "`make local` first")
    params_mod.params_path(env, args.params_dir)   # unknown environments fail first
    if args.command in ("bootstrap", "edge", "deploy") and not args.no_build and \
            stale(args.build_dir):
        from streamstack import build
        build.run(build_dir=args.build_dir)
    manifest = load_manifest(args.build_dir)
    params = params_mod.load(env, params_dir=args.params_dir, build_dir=args.build_dir)
    poll = args.poll_seconds or float(os.environ.get("STREAMSTACK_POLL_SECONDS", 0)) or (
        1.0 if aws.is_local() else 5.0)
    ctx = Context(params=params, session=aws.session(params.region), manifest=manifest,
                  build_dir=args.build_dir, args=args, poll_seconds=poll)
    if args.local and not params.sections.get("stackset"):
        local_profile.apply(ctx, *params_mod.root_parameters(args.build_dir),
                            announce=args.command == "deploy")
    if params.sections.get("stackset") and args.command in STACKSET_COMMANDS:
        stacksets = importlib.import_module("streamstack.stacksets.commands")
        try:   # Ctrl-C: the stack set operation already printed how to follow it
            return getattr(stacksets, STACKSET_COMMANDS[args.command])(ctx)
        except aws.FAILURES as exc:
            raise aws.as_error(exc) from None
    if args.command == "drift":
        raise StreamstackError("drift is for StackSet environments (a stackset: section); use "
                               f"`make status ENV={env}` for the drift of a stack")
    try:
        return COMMANDS[args.command](ctx)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted: a CloudFormation operation already started keeps "
                          f"running; follow it with `make status ENV={env}`") from None
    except aws.FAILURES as exc:
        raise aws.as_error(exc) from None
