"""Security scan with checkov, which lives in its own venv (.venv-scan) because it
pins an old boto3. One checkov run covers every template not already scanned clean
(checkov's start-up dominates); results are cached by template hash.

A failed check fails the build. A check is only accepted as suppressed when the
resource's Metadata skips it with a written reason (Tier.suppress writes both).
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from streamstack import ROOT
from streamstack.cache import PassCache
from streamstack.errors import BuildError

SCAN_VENV = ROOT / ".venv-scan"
MIN_REASON = 15  # characters: a reason, not a placeholder


def checkov_version(venv: Path = SCAN_VENV) -> str:
    dists = sorted(venv.glob("lib/python*/site-packages/checkov-*.dist-info"))
    if not dists:
        raise BuildError(f"checkov is not installed in {venv.name}: run `make build` "
                         "(the Makefile creates it)")
    return dists[-1].name.split("-")[1].removesuffix(".dist-info")


def scan_templates(templates: dict[str, str], cache_dir: Path,
         venv: Path = SCAN_VENV) -> tuple[dict[str, list[str]], int]:
    """Scan templates (name -> text); returns (findings by name, templates scanned)."""
    # The key names the view, so passes recorded before scan_view existed do not count.
    cache = PassCache(cache_dir, f"checkov {checkov_version(venv)} unconditional")
    todo = {n: t for n, t in templates.items() if not cache.passed(t)}
    if not todo:
        return {}, 0
    with tempfile.TemporaryDirectory(prefix="streamstack-scan-") as tmp:
        for name, text in todo.items():
            (Path(tmp) / f"{name}.json").write_text(scan_view(text))
        proc = subprocess.run(
            [str(venv / "bin" / "checkov"), "-d", tmp, "--framework", "cloudformation",
             "--skip-download", "-o", "json", "--compact"],
            capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1):
        raise BuildError(f"checkov failed to run (exit {proc.returncode}): "
                         f"{(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    findings = parse_report(proc.stdout)
    for name, text in todo.items():
        if name not in findings:
            cache.record(text)
    return findings, len(todo)


def scan_view(text: str) -> str:
    """The template as checkov should see it: every resource, whatever its Condition.

    checkov decides conditions with the parameters' defaults and skips resources
    whose condition is false, so a feature toggled off by default (the EC2 fleet,
    the HTTPS listener without a certificate) would never be scanned.
    """
    template = json.loads(text)
    for resource in template.get("Resources", {}).values():
        if isinstance(resource, dict):
            resource.pop("Condition", None)
    return json.dumps(template, indent=1, sort_keys=True)


def parse_report(stdout: str) -> dict[str, list[str]]:
    try:
        report = json.loads(stdout) if stdout.strip() else []
    except json.JSONDecodeError:
        raise BuildError("checkov printed no JSON report; run it by hand to see why: "
                         ".venv-scan/bin/checkov -d build/templates --framework cloudformation "
                         "--skip-download") from None
    findings: dict[str, list[str]] = {}
    for section in report if isinstance(report, list) else [report]:
        results = section.get("results", {}) if isinstance(section, dict) else {}
        for check in results.get("failed_checks", []):
            name = Path(check["file_path"]).stem
            findings.setdefault(name, []).append(
                f"{name}.json {check['resource']} {check['check_id']} {check['check_name']}")
        for check in results.get("skipped_checks", []):
            reason = (check.get("check_result") or {}).get("suppress_comment") or ""
            if len(reason.strip()) < MIN_REASON:
                name = Path(check["file_path"]).stem
                findings.setdefault(name, []).append(
                    f"{name}.json {check['resource']} {check['check_id']} is suppressed "
                    "without a written reason; give one in the resource's Metadata")
    return findings
