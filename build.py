#!/usr/bin/env python3
"""Render, lint and scan every template into build/ (make build)."""

import argparse
import sys
from pathlib import Path

from streamstack import BUILD_DIR, PARAMS_DIR, build, cli


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-lint", action="store_true", help="skip cfn-lint")
    parser.add_argument("--no-scan", action="store_true", help="skip the checkov scan")
    parser.add_argument("--jobs", type=int, default=None, help="lint processes (default: cores)")
    parser.add_argument(
        "--params-dir",
        type=Path,
        default=PARAMS_DIR,
        help="params files to validate (default: params/)",
    )
    parser.add_argument(
        "--build-dir", type=Path, default=BUILD_DIR, help="output directory (default: build/)"
    )
    args = parser.parse_args()
    build.run(
        build_dir=args.build_dir,
        params_dir=args.params_dir,
        lint=not args.no_lint,
        scan=not args.no_scan,
        jobs=args.jobs,
    )
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
