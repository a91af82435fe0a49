"""deploy.py's argument parsing, the command table and the one dispatcher (deploy.py
itself stays a few lines). An environment with a `stackset:` section runs the StackSet
command where the table has one, every other environment the stack command."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from streamstack import BUILD_DIR, PARAMS_DIR, ROOT, params
from streamstack.deploy import (
    aws,
    images,
    local,
    local_profile,
    refactor,
    releases,
    restore_test,
)
from streamstack.deploy import commands as stack
from streamstack.deploy.context import Context
from streamstack.deploy.exits import Interrupted
from streamstack.errors import ParamsError, StreamstackError
from streamstack.stacksets import commands as stackset

BUILT_FROM = ("templates", "streamstack")


@dataclass(frozen=True)
class Command:
    help: str
    stack: Callable[[Context], int] | None  # an environment that is one stack tree
    stackset: Callable[[Context], int] | None  # an environment with a stackset: section
    builds: bool = False  # builds first when the build is stale


COMMANDS = {
    "bootstrap": Command(
        "deploy the bootstrap stack", stack.bootstrap, stackset.bootstrap, builds=True
    ),
    "edge": Command(
        "deploy the edge stack (CloudFront WAF and certificate) to us-east-1",
        stack.edge,
        None,
        builds=True,
    ),
    "standby": Command(
        "deploy the standby stack (replicas, vault, secondary, warm standby) to its region",
        stack.standby,
        None,
        builds=True,
    ),
    "deploy": Command("build, upload and plan", stack.plan, stackset.plan, builds=True),
    "execute": Command("execute the reviewed plan", stack.execute, stackset.execute),
    "status": Command("tree, status, outputs, drift", stack.status, None),
    "doctor": Command("repair stuck stacks", stack.doctor, None),
    "destroy": Command("delete a throw-away environment", stack.destroy, stackset.destroy),
    "drift": Command("StackSet drift (StackSet environments)", None, stackset.drift),
    "rollback": Command("roll back the api/web release in progress", releases.rollback, None),
    "release-continue": Command(
        "continue an api/web release paused before its production traffic",
        releases.continue_release,
        None,
    ),
    "restore-test": Command(
        "restore the newest recovery points beside the live resources, then delete them",
        restore_test.run,
        None,
    ),
    "refactor": Command(
        "move the plan's MOVE rows between nested stacks without replacing them",
        refactor.run,
        None,
    ),
}


def parser(doc: str | None = None) -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="deploy.py", description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        cmd = sub.add_parser(name, help=command.help)
        cmd.add_argument("env", nargs="?", metavar="ENV", help="environment (params/ENV.yaml)")
        cmd.add_argument("--env", dest="env_option", metavar="ENV", help="same as ENV")
        cmd.add_argument(
            "--yes", action="store_true", help="confirm deletions and rollbacks without asking"
        )
        cmd.add_argument(
            "--allow-data-loss",
            action="store_true",
            help="let a plan replace or remove stateful resources",
        )
        cmd.add_argument(
            "--prune", action="store_true", help="StackSets: remove instances no longer targeted"
        )
        cmd.add_argument(
            "--deep-preview",
            action="store_true",
            help="StackSets: preview every instance before updating",
        )
        cmd.add_argument(
            "--local",
            action="store_true",
            help=f"use the local endpoint ({aws.LOCAL_ENDPOINT}, make local)",
        )
        cmd.add_argument(
            "--pull-request",
            action="store_true",
            help="deploy: plan for a pull request (templates under "
            "pull-requests/, a change set that can never be executed)",
        )
        cmd.add_argument(
            "--wait", action="store_true", help="wait for a running operation instead of refusing"
        )
        cmd.add_argument(
            "--images",
            metavar="SERVICE=IMAGE,...",
            help="deploy: plan with these images (ECR, by digest) as the services' image "
            "parameters (the image-delivery workflow)",
        )
        cmd.add_argument("--no-build", action="store_true", help="use build/ as it is")
        cmd.add_argument(
            "--no-drift", action="store_true", help="status, deploy: skip drift detection"
        )
        cmd.add_argument(
            "--revert-drift",
            action="store_true",
            help="deploy: plan drift-aware change sets that restore the templates' values "
            "where nested stacks drifted (and nothing else)",
        )
        cmd.add_argument(
            "--detailed-exitcode",
            action="store_true",
            help="deploy: exit 0 when there are no changes, 2 when the plan has changes",
        )
        cmd.add_argument(
            "--poll-seconds",
            type=float,
            default=None,
            help="seconds between polls (default 5, or 1 locally)",
        )
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
        raise StreamstackError(
            f"which environment? give ENV (e.g. `make {args.command} "
            f"ENV=dev`); known: "
            f"{', '.join(params.known_environments(args.params_dir))}"
        )
    if args.env and args.env_option and args.env != args.env_option:
        raise StreamstackError(f"ENV {args.env} and --env {args.env_option} disagree; give one")
    if args.local:
        aws.use_local_endpoint()
        if not local.answering():
            raise StreamstackError(
                f"nothing answers on {local.ENDPOINT}: start LocalStack with `make local` first"
            )
    try:
        params.params_path(env, args.params_dir)  # unknown environments fail first
        if COMMANDS[args.command].builds and not args.no_build and stale(args.build_dir):
            from streamstack import build

            build.run(build_dir=args.build_dir)
        manifest = load_manifest(args.build_dir)
        env_params = params.load(env, params_dir=args.params_dir, build_dir=args.build_dir)
    except ParamsError as exc:
        if args.detailed_exitcode:  # 2 means "changes" then: a bad params file is 1
            raise StreamstackError(str(exc), lines=exc.lines) from None
        raise
    poll = (
        args.poll_seconds
        or float(os.environ.get("STREAMSTACK_POLL_SECONDS", 0))
        or (1.0 if aws.is_local() else 5.0)
    )
    ctx = Context(
        params=env_params,
        session=aws.session(env_params.region),
        manifest=manifest,
        build_dir=args.build_dir,
        args=args,
        poll_seconds=poll,
    )
    if args.local and ctx.stackset is None:
        local_profile.apply(
            ctx, *params.root_parameters(args.build_dir), announce=args.command == "deploy"
        )
    if args.images:
        if args.command != "deploy" or ctx.stackset is not None:
            raise StreamstackError(
                "IMAGES belongs to `make deploy` of a stack environment: execute runs "
                "the reviewed plan, which already holds the images"
            )
        images.apply(ctx, args.images)
    return dispatch(ctx, args.command)


def dispatch(ctx: Context, name: str) -> int:
    """Run command `name` for the context's environment. The one place where a failed AWS
    call becomes an error line, for both kinds of environment."""
    command = COMMANDS[name]
    run = command.stackset if ctx.stackset is not None and command.stackset else command.stack
    if run is None and ctx.stackset is not None:
        raise StreamstackError(
            f"{name} acts on an environment that is one stack tree; {ctx.env} is a StackSet "
            "environment (a stackset: section), whose instances its stack set deploys"
        )
    if run is None:
        raise StreamstackError(
            f"{name} is for StackSet environments (a stackset: section); use "
            f"`make status ENV={ctx.env}` for the drift of a stack"
        )
    try:
        return run(ctx)
    except KeyboardInterrupt:
        if ctx.stackset is not None:
            raise  # the stack set operation already printed how to follow it
        raise Interrupted(
            f"interrupted: a CloudFormation operation already started keeps "
            f"running; follow it with `make status ENV={ctx.env}`"
        ) from None
    except aws.FAILURES as exc:
        raise aws.as_error(exc) from None
