#!/usr/bin/env python3
"""Benchmark of `make build` as a user runs it: the build.py process, timed from the
outside, on a copy of the source tree in a temporary directory.

    cold        an empty build directory: render, params, cfn-lint and checkov of every
                template
    no change   the same build again, nothing edited
    one tier    one tier module edited (its description): that tier and the root are
                checked again

Each is run --runs times; the best and median wall times are printed, and the median
CPU time of build.py with every process it starts (less sensitive to other load).
--before REF measures the same three on a git commit too (extracted with `git archive`,
run with this checkout's venvs), alternating with this checkout run by run, so the
numbers sit side by side under the same load on the same machine. Prints numbers;
asserts nothing. Run with `make bench` (BEFORE=<commit> to compare).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("build.py", "templates", "streamstack", "params")
VENVS = (".venv-scan",)
# An edit of one tier that changes its rendered template and nothing else.
EDITED_TIER = Path("templates") / "messaging.py"
EDIT = '\nMessagingTier.description += " (bench edit {n})"\n'


def copy_tree(source: Path, dest: Path) -> None:
    for name in SOURCES:
        path = source / name
        if path.is_dir():
            shutil.copytree(path, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif path.exists():
            shutil.copy2(path, dest / name)
    for venv in VENVS:
        (dest / venv).symlink_to(ROOT / venv)


def extract_commit(ref: str, dest: Path) -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", ref], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    archive = dest / "source.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", commit, *SOURCES], cwd=ROOT, check=True, stdout=out)
    with tarfile.open(archive) as tar:
        tar.extractall(dest / "tree", filter="data")
    return commit


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_build(tree: Path, build_dir: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of build.py and every process it started)."""
    start, cpu = time.perf_counter(), cpu_of_children()
    proc = subprocess.run(
        [sys.executable, "build.py", "--build-dir", str(build_dir)],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"build.py failed in {tree}:\n{proc.stdout}{proc.stderr}")
    return elapsed, cpu_of_children() - cpu


def measure_once(source: Path, n: int, times: dict[str, list[float]]) -> None:
    with tempfile.TemporaryDirectory(prefix="streamstack-bench-") as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        copy_tree(source, tree)
        build_dir = Path(tmp) / "build"
        # Warm the interpreter's byte-code cache of the copy, as a checkout has it.
        subprocess.run(
            [
                sys.executable,
                "-m",
                "compileall",
                "-q",
                str(tree / "templates"),
                str(tree / "streamstack"),
            ],
            check=True,
        )
        times["cold"].append(run_build(tree, build_dir))
        times["no change"].append(run_build(tree, build_dir))
        with (tree / EDITED_TIER).open("a") as tier:
            tier.write(EDIT.format(n=n))
        times["one tier"].append(run_build(tree, build_dir))


def measure(sources: dict[str, Path], runs: int) -> dict[str, dict[str, list[float]]]:
    """Every source once per run, in turn."""
    times = {label: {"cold": [], "no change": [], "one tier": []} for label in sources}
    for n in range(runs):
        for label, source in sources.items():
            measure_once(source, n, times[label])
    return times


def report(label: str, times: dict[str, list[tuple[float, float]]]) -> None:
    print(label)
    for what, values in times.items():
        walls, cpus = [w for w, _ in values], [c for _, c in values]
        print(
            f"  {what:<10} best {min(walls):6.2f} s   median {statistics.median(walls):6.2f} s"
            f"   CPU median {statistics.median(cpus):6.2f} s   ({len(values)} runs)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--before", metavar="REF", help="also measure this git commit")
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} cores; build.py as a process, timed from outside; load "
        f"average {os.getloadavg()[0]:.1f} at the start"
    )
    with tempfile.TemporaryDirectory(prefix="streamstack-before-") as tmp:
        sources = {}
        if args.before:
            commit = extract_commit(args.before, Path(tmp))
            sources[f"before ({commit}):"] = Path(tmp) / "tree"
        sources["this checkout:"] = ROOT
        for label, times in measure(sources, args.runs).items():
            report(label, times)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
