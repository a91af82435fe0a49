#!/usr/bin/env python3
"""Render, lint and scan every template into build/ (make build)."""
import argparse
import sys

from streamstack import build, cli


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-lint", action="store_true", help="skip cfn-lint")
    parser.add_argument("--no-scan", action="store_true", help="skip the checkov scan")
    parser.add_argument("--jobs", type=int, default=None, help="lint processes (default: cores)")
    args = parser.parse_args()
    build.run(lint=not args.no_lint, scan=not args.no_scan, jobs=args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
