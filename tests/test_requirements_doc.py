"""docs/requirements.md traces each requirement to where it is met: every parameter,
output or resource it names in backticks exists in the rendered templates, and every
file it names exists."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cfn import mappings

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "requirements.md"


def test_every_name_the_requirements_cite_exists(rendered):
    """Parameters, outputs, logical ids and the properties the notes point at."""
    known = {key for template in rendered.values() for node in mappings(template) for key in node}
    cited = set(re.findall(r"`([A-Z][A-Za-z0-9]+)`", DOC.read_text()))
    assert sorted(cited - known) == []


def test_every_file_the_requirements_cite_exists():
    paths = set(
        re.findall(r"`?((?:templates|params|tests|\.github)/[\w./-]*\w)`?", DOC.read_text())
    )
    missing = [p for p in sorted(paths) if "<" not in p and not (ROOT / p).exists()]
    assert missing == []
