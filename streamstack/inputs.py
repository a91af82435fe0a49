"""What a build is made of, hashed without importing any of it: the template and build
code, the params files, the Python version and the packages of the build's venv and of
the scan venv (troposphere, awacs, cfn-lint and checkov versions among them).

`make build` compares the hash with the one its last successful build recorded: when it
is the same, the checks asked for were run then, and every template in build/ still has
the bytes the manifest names, nothing is rendered or checked again.
"""

from __future__ import annotations

import hashlib
import json
import sys
import sysconfig
from pathlib import Path

from streamstack import ROOT

SOURCES = ("templates", "streamstack")
STATE = Path(".cache") / "inputs.json"


def installed(site_packages: Path) -> list[str]:
    """Names (with versions) of the distributions installed in a site-packages."""
    return sorted(p.name for p in site_packages.glob("*.dist-info"))


def digest(params_dir: Path, root: Path = ROOT) -> str:
    """sha256 over everything a build reads."""
    h = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        h.update(f"{label}\0{len(data)}\0".encode())
        h.update(data)

    for folder in SOURCES:
        for path in sorted((root / folder).rglob("*.py")):
            add(str(path.relative_to(root)), path.read_bytes())
    for path in sorted(params_dir.rglob("*.yaml")):  # profiles/ included
        add(f"params/{path.relative_to(params_dir)}", path.read_bytes())
    add("python", sys.version.encode())
    add("venv", "\n".join(installed(Path(sysconfig.get_paths()["purelib"]))).encode())
    for site in sorted((root / ".venv-scan").glob("lib/python*/site-packages")):
        add("scan venv", "\n".join(installed(site)).encode())
    return h.hexdigest()


def up_to_date(build_dir: Path, inputs: str, *, lint: bool, scan: bool) -> bool:
    """The last successful build had these inputs and ran at least these checks, and its
    templates are intact."""
    try:
        state = json.loads((build_dir / STATE).read_text())
        manifest = json.loads((build_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    if (
        state.get("inputs") != inputs
        or (lint and not state.get("lint"))
        or (scan and not state.get("scan"))
    ):
        return False
    entries = manifest.get("templates", {}).values()
    files = {build_dir / entry["file"] for entry in entries}
    if set((build_dir / "templates").glob("*.json")) != files:
        return False  # a template is missing, or one no build wrote is there
    return all(
        hashlib.sha256((build_dir / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]
        for entry in entries
    )


def record(build_dir: Path, inputs: str, *, lint: bool, scan: bool) -> None:
    path = build_dir / STATE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"inputs": inputs, "lint": lint, "scan": scan}) + "\n")


def forget(build_dir: Path) -> None:
    """A build that starts (and may fail) is not up to date until it succeeds."""
    (build_dir / STATE).unlink(missing_ok=True)
