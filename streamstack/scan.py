"""Security scan with checkov, which lives in its own venv (.venv-scan) because it
pins an old boto3. One checkov process (streamstack/checkov_runner.py: the
CloudFormation runner only, through checkov's Python API) covers every template not
already scanned clean. The build starts it before rendering, so its start-up overlaps
the render and cfn-lint runs beside it; results are cached by template hash.

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
RUNNER = Path(__file__).with_name("checkov_runner.py")
MIN_REASON = 15  # characters: a reason, not a placeholder


def checkov_version(venv: Path = SCAN_VENV) -> str:
    dists = sorted(venv.glob("lib/python*/site-packages/checkov-*.dist-info"))
    if not dists:
        raise BuildError(
            f"checkov is not installed in {venv.name}: run `make build` (the Makefile creates it)"
        )
    return dists[-1].name.split("-")[1].removesuffix(".dist-info")


class Scan:
    """One checkov process, started now and given its templates later (run), or told
    there is nothing to do (cancel)."""

    def __init__(self, venv: Path = SCAN_VENV) -> None:
        self.version = checkov_version(venv)
        self.process = subprocess.Popen(
            [str(venv / "bin" / "python"), str(RUNNER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(
        self, templates: dict[str, str], cache_dir: Path, view=None, view_name: str = ""
    ) -> tuple[dict[str, list[str]], int]:
        """Scan templates (name -> text) not scanned clean before; returns (findings by
        name, templates scanned). view: how checkov sees a template (default scan_view),
        named by view_name in the cache."""
        view = view or scan_view
        # The key names the view, so passes recorded before scan_view existed do not count.
        cache = PassCache(cache_dir, f"checkov {self.version} unconditional{view_name}")
        todo = {n: t for n, t in templates.items() if not cache.passed(t)}
        if not todo:
            self.cancel()
            return {}, 0
        with tempfile.TemporaryDirectory(prefix="streamstack-scan-") as tmp:
            for name, text in todo.items():
                (Path(tmp) / f"{name}.json").write_text(view(text))
            stdout, stderr = self.process.communicate(json.dumps({"directory": tmp}) + "\n")
        if self.process.returncode != 0:
            last = (stderr or stdout).strip().splitlines()[-1:] or ["no output"]
            raise BuildError(f"checkov failed to run (exit {self.process.returncode}): {last[0]}")
        findings = parse_report(stdout)
        for name, text in todo.items():
            if name not in findings:
                cache.record(text)
        return findings, len(todo)

    def cancel(self) -> None:
        """Nothing to scan: the process exits without scanning."""
        if self.process.poll() is None:
            self.process.communicate("{}\n")

    def stop(self) -> None:
        """Whatever it is doing, end it (the build is over, or failed)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def scan_templates(
    templates: dict[str, str], cache_dir: Path, venv: Path = SCAN_VENV
) -> tuple[dict[str, list[str]], int]:
    """Scan templates (name -> text); returns (findings by name, templates scanned)."""
    return Scan(venv).run(templates, cache_dir)


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


def forced_view(branch: bool):
    """A view that also decides every Fn::If for `branch` (True: each first value, False:
    each second), so checkov sees each side of every condition, whatever the parameter
    defaults say; a branch of AWS::NoValue removes the property, as CloudFormation does."""

    def force(node):
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                _, yes, no = node["Fn::If"]
                return force(yes if branch else no)
            kept = {key: force(value) for key, value in node.items()}
            return {key: value for key, value in kept.items() if value != NO_VALUE}
        if isinstance(node, list):
            return [item for item in (force(v) for v in node) if item != NO_VALUE]
        return node

    def view(text: str) -> str:
        template = json.loads(scan_view(text))
        template["Resources"] = force(template.get("Resources", {}))
        return json.dumps(template, indent=1, sort_keys=True)

    return view


NO_VALUE = {"Ref": "AWS::NoValue"}


def parse_report(stdout: str) -> dict[str, list[str]]:
    """Findings by template name from checkov_runner's answer."""
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        raise BuildError(
            "checkov printed no report; run it by hand to see why: "
            ".venv-scan/bin/checkov -d build/templates --framework cloudformation "
            "--skip-download"
        ) from None
    findings: dict[str, list[str]] = {}
    for path in report.get("parsing_errors", []):
        name = Path(path).stem
        findings.setdefault(name, []).append(f"{name}.json could not be parsed by checkov")
    for check in report.get("failed", []):
        name = Path(check["file"]).stem
        findings.setdefault(name, []).append(
            f"{name}.json {check['resource']} {check['check_id']} {check['check_name']}"
        )
    for check in report.get("skipped", []):
        if len(check["comment"].strip()) < MIN_REASON:
            name = Path(check["file"]).stem
            findings.setdefault(name, []).append(
                f"{name}.json {check['resource']} {check['check_id']} is suppressed "
                "without a written reason; give one in the resource's Metadata"
            )
    return findings
