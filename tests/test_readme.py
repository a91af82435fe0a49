"""The README is the short front door: under 300 lines, its make targets are the
Makefile's, its params keys are the ones the code accepts, and its links reach every
page of docs/ (and only pages that exist)."""

from __future__ import annotations

import re
from pathlib import Path

from streamstack import params
from streamstack.deploy import settings
from streamstack.stacksets import config

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def table(heading: str) -> list[list[str]]:
    """The rows of the first table under `heading` (cells without their backticks)."""
    section = README[README.index(heading) :]
    rows = []
    for line in section.splitlines()[1:]:
        if line.startswith("## "):
            break
        if line.startswith("| ") and not line.startswith("| ---"):
            rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows[1:]  # without the header


def test_the_readme_is_short():
    assert len(README.splitlines()) < 300


def test_make_targets_are_the_makefiles():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.M))
    listed = {
        name
        for row in table("## Make targets")
        for name in re.findall(r"make ([a-z][a-z0-9-]*)", row[0])
    }
    assert listed == targets


def test_params_keys_are_the_codes():
    rows = {row[0].strip("`"): row[1] for row in table("## Params files")}
    assert set(rows) == set(params.SETTINGS) | set(params.SECTIONS)
    assert re.findall(r"`(\w+)`", rows["deploy"]) == list(settings.KEYS)
    assert re.findall(r"`(\w+)`", rows["stackset"]) == list(config.TOP_KEYS)


def test_links_reach_every_page_of_docs_and_nothing_else():
    linked = set(re.findall(r"\]\((docs/[\w.-]+\.md)(?:#[\w-]+)?\)", README))
    assert all((ROOT / link).is_file() for link in linked), linked
    assert {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")} <= linked


def _slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_between_the_pages_resolves():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    anchors = {p: {_slug(h) for h in re.findall(r"^#+ (.*)$", p.read_text(), re.M)} for p in pages}
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists() or (anchor and anchor not in anchors.get(dest, {anchor})):
                broken.append(f"{page.name}: {target}")
    assert broken == []
