"""`make build`: render every template into build/templates, check quotas, validate
every params file against the rendered root, lint and scan (cached), and write
build/manifest.json. Any finding fails the build with the finding printed.

When nothing the build reads changed since the last successful build (inputs.py),
nothing is rendered or checked. Otherwise the checkers start first: checkov in its own
process and the cfn-lint workers import while the templates render, then both check
at the same time, one per core.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from streamstack import BUILD_DIR, PARAMS_DIR, inputs
from streamstack.errors import BuildError, ParamsError

# CloudFront's certificate and WAF (the edge stack) must be in us-east-1.
ALWAYS_LINTED_REGIONS = ("us-east-1",)


@dataclass
class BuildResult:
    templates: dict[str, str]
    manifest: dict
    timings: dict[str, float] = field(default_factory=dict)
    linted: int = 0
    scanned: int = 0
    up_to_date: bool = False  # nothing changed: nothing was rendered or checked
    identity: str = ""  # the deploy identity proof's summary line


def lint_regions(params_dir: Path = PARAMS_DIR) -> list[str]:
    """Regions the params files deploy to (including StackSet and standby regions), plus
    us-east-1."""
    import yaml

    from streamstack.validation import SUPPORTED_REGIONS

    regions = set(ALWAYS_LINTED_REGIONS)
    for path in params_dir.glob("*.yaml"):
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError:
            continue  # reported by params validation
        if isinstance(data, dict):
            if isinstance(data.get("region"), str):
                regions.add(data["region"])
            stackset = data.get("stackset")
            if isinstance(stackset, dict) and isinstance(stackset.get("regions"), list):
                regions.update(r for r in stackset["regions"] if isinstance(r, str))
            standby = data.get("standby")
            if isinstance(standby, dict) and isinstance(standby.get("region"), str):
                regions.add(standby["region"])
    return sorted(r for r in regions if r in SUPPORTED_REGIONS)


def manifest_for(templates: dict[str, str], regions: list[str]) -> dict:
    from streamstack.render import sha256
    from templates import TIERS
    from templates.base import DEPLOY_TIME_KEY
    from templates.root import artifact_key

    nested = {tier.name for tier in TIERS}
    entries = {}
    for name, text in templates.items():
        template = json.loads(text)
        digest = sha256(text)
        entries[name] = {
            "file": f"templates/{name}.json",
            "sha256": digest,
            "key": artifact_key(digest),
            "size": len(text.encode()),
            "resources": len(template.get("Resources", {})),
            "parameters": sorted(template.get("Parameters", {})),
            "outputs": sorted(template.get("Outputs", {})),
            "deploy_time_parameters": template.get("Metadata", {}).get(DEPLOY_TIME_KEY, []),
            "kind": "root" if name == "root" else "tier" if name in nested else "standalone",
        }
    return {"lint_regions": regions, "templates": entries}


def write_templates(templates: dict[str, str], build_dir: Path) -> None:
    out = build_dir / "templates"
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.json"):
        if stale.stem not in templates:
            stale.unlink()
    for name, text in templates.items():
        path = out / f"{name}.json"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


def validate_params_files(templates: dict[str, str], params_dir: Path = PARAMS_DIR) -> list[str]:
    """Every params file against the rendered root (and bootstrap and edge templates), and
    every profile."""
    from streamstack import params, profiles
    from templates.base import DEPLOY_TIME_KEY

    root = json.loads(templates["root"])
    standalone = params.standalone_declared(templates)
    problems = []
    for env in params.known_environments(params_dir):
        try:
            params.load(
                env,
                params_dir=params_dir,
                template_parameters=root.get("Parameters", {}),
                deploy_time=set(root.get("Metadata", {}).get(DEPLOY_TIME_KEY, [])),
                standalone=standalone,
            )
        except ParamsError as exc:
            problems.extend(exc.lines)
    problems += profiles.validate_all(root, params_dir)
    return problems


def prove_identity(templates: dict[str, str], cache_dir: Path) -> str:
    """The deploy identity's permission, escalation and boundary proofs (cached: the same
    templates and proof code were proven before)."""
    from streamstack.cache import PassCache
    from streamstack.identity import check as identity_check

    cache = PassCache(cache_dir, "identity " + identity_check.source_digest())
    everything = "\0".join(f"{n}\0{t}" for n, t in sorted(templates.items()))
    summary = cache_dir / "summary.txt"
    if cache.passed(everything) and summary.is_file():
        return summary.read_text().strip() + " (unchanged since it was proven)"
    report = identity_check.run(templates)
    if report.findings:
        raise BuildError(report.findings[0], lines=report.findings)
    cache.record(everything)
    summary.write_text(report.line() + "\n")
    return report.line()


def previous(build_dir: Path) -> BuildResult:
    """The last build, as it is in build_dir."""
    manifest = json.loads((build_dir / "manifest.json").read_text())
    texts = {
        name: (build_dir / entry["file"]).read_text()
        for name, entry in manifest["templates"].items()
    }
    return BuildResult(texts, manifest, up_to_date=True)


def run(
    *,
    build_dir: Path = BUILD_DIR,
    params_dir: Path = PARAMS_DIR,
    lint: bool = True,
    scan: bool = True,
    jobs: int | None = None,
    log=print,
) -> BuildResult:
    start = time.perf_counter()
    digest = inputs.digest(params_dir)
    if inputs.up_to_date(build_dir, digest, lint=lint, scan=scan):
        log(
            f"build is up to date in {build_dir}: no template, build code, params file or "
            "tool changed since the last build"
        )
        return previous(build_dir)
    inputs.forget(build_dir)
    timings = {"inputs": time.perf_counter() - start}
    regions = lint_regions(params_dir)
    # Start the checkers first: their start-up overlaps the render below.
    from streamstack.lint import Lint
    from streamstack.scan import Scan

    linter = Lint(regions, jobs) if lint else None  # forked before checkov's pipes exist
    scanner = Scan() if scan else None
    try:
        result = _render_and_check(build_dir, params_dir, regions, linter, scanner, timings)
    finally:
        if linter is not None:
            linter.close()
        if scanner is not None:
            scanner.stop()
    (build_dir / "manifest.json").write_text(_deterministic(result.manifest))
    inputs.record(build_dir, digest, lint=lint, scan=scan)
    log(result.identity)
    log(
        f"built {len(result.templates)} templates into {build_dir / 'templates'} "
        f"(linted {result.linted}, scanned {result.scanned}, the rest unchanged since their "
        f"last clean check; regions {', '.join(regions)})"
    )
    return result


def _render_and_check(
    build_dir: Path,
    params_dir: Path,
    regions: list[str],
    linter,
    scanner,
    timings: dict[str, float],
) -> BuildResult:
    from streamstack import quotas, resolution
    from streamstack.render import render

    start = time.perf_counter()
    templates = render(build_dir / ".cache" / "render").texts
    timings["render"] = time.perf_counter() - start
    write_templates(templates, build_dir)

    over = [line for name, text in templates.items() for line in quotas.check(name, text)]
    over += resolution.check(templates)
    if over:
        raise BuildError(over[0], lines=over)

    result = BuildResult(templates, manifest_for(templates, regions), timings)
    start = time.perf_counter()
    # Both checkers start now, checkov in its process (waited for by a thread here) and
    # cfn-lint in its workers, while this process validates the params files and proves
    # the deploy identity.
    with ThreadPoolExecutor(1) as background:
        scanning = (
            background.submit(scanner.run, templates, build_dir / ".cache" / "scan")
            if scanner is not None
            else None
        )
        if linter is not None:
            linter.submit(templates, build_dir / ".cache" / "lint")
        try:
            bad_params = validate_params_files(templates, params_dir)
            if bad_params:
                raise ParamsError(bad_params[0], lines=bad_params)
            result.identity = prove_identity(templates, build_dir / ".cache" / "identity")
            timings["identity"] = time.perf_counter() - start
            if linter is not None:
                findings, result.linted = linter.results()
                timings["lint"] = time.perf_counter() - start
                _fail_on("cfn-lint", findings)
            if scanning is not None:
                findings, result.scanned = scanning.result()
                timings["scan"] = time.perf_counter() - start
                _fail_on("checkov", findings)
        finally:
            if scanner is not None:
                scanner.stop()  # a failure before leaves checkov nothing to report
    return result


def _deterministic(data: dict) -> str:
    from templates.base import deterministic_json

    return deterministic_json(data)


def _fail_on(tool: str, findings: dict[str, list[str]]) -> None:
    lines = [f"{tool}: {line}" for name in sorted(findings) for line in findings[name]]
    if lines:
        raise BuildError(lines[0], lines=lines)
