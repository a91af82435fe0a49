"""`make build`: render every template into build/templates, check quotas, validate
every params file against the rendered root, lint and scan (cached), and write
build/manifest.json. Any finding fails the build with the finding printed."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from streamstack import BUILD_DIR, PARAMS_DIR
from streamstack import lint as lint_mod
from streamstack import params as params_mod
from streamstack import profiles
from streamstack import quotas, resolution, scan as scan_mod
from streamstack.cache import PassCache
from streamstack.identity import check as identity_check
from streamstack.errors import BuildError, ParamsError
from streamstack.render import render_all, sha256
from templates import TIERS
from templates.base import DEPLOY_TIME_KEY, deterministic_json
from templates.root import artifact_key

# CloudFront's certificate and WAF (the edge stack) must be in us-east-1.
ALWAYS_LINTED_REGIONS = ("us-east-1",)


@dataclass
class BuildResult:
    templates: dict[str, str]
    manifest: dict
    timings: dict[str, float] = field(default_factory=dict)
    linted: int = 0
    scanned: int = 0


def lint_regions(params_dir: Path = PARAMS_DIR) -> list[str]:
    """Regions the params files deploy to (including StackSet regions), plus us-east-1."""
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
    return sorted(r for r in regions if r in params_mod.SUPPORTED_REGIONS)


def manifest_for(templates: dict[str, str], regions: list[str]) -> dict:
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


def validate_params_files(templates: dict[str, str], params_dir: Path = PARAMS_DIR
                          ) -> list[str]:
    """Every params file against the rendered root (and bootstrap and edge templates)."""
    root = json.loads(templates["root"])
    standalone = params_mod.standalone_declared(templates)
    problems = []
    for env in params_mod.known_environments(params_dir):
        try:
            params_mod.load(env, params_dir=params_dir,
                            template_parameters=root.get("Parameters", {}),
                            deploy_time=set(root.get("Metadata", {}).get(DEPLOY_TIME_KEY, [])),
                            standalone=standalone)
        except ParamsError as exc:
            problems.extend(exc.lines)
    problems += profiles.validate_all(root, params_dir)
    return problems


def run(*, build_dir: Path = BUILD_DIR, params_dir: Path = PARAMS_DIR, lint: bool = True,
        scan: bool = True, jobs: int | None = None, log=print) -> BuildResult:
    timings = {}
    start = time.perf_counter()
    templates = render_all()
    timings["render"] = time.perf_counter() - start
    write_templates(templates, build_dir)

    over = [line for name, text in templates.items() for line in quotas.check(name, text)]
    over += resolution.check(templates)
    if over:
        raise BuildError(over[0], lines=over)
    bad_params = validate_params_files(templates, params_dir)
    if bad_params:
        raise ParamsError(bad_params[0], lines=bad_params)
    start = time.perf_counter()
    identity_line = prove_identity(templates, build_dir / ".cache" / "identity")
    timings["identity"] = time.perf_counter() - start

    regions = lint_regions(params_dir)
    result = BuildResult(templates, manifest_for(templates, regions), timings)
    if lint:
        start = time.perf_counter()
        findings, result.linted = lint_mod.lint(templates, regions, build_dir / ".cache" / "lint",
                                                jobs)
        timings["lint"] = time.perf_counter() - start
        _fail_on("cfn-lint", findings)
    if scan:
        start = time.perf_counter()
        findings, result.scanned = scan_mod.scan(templates, build_dir / ".cache" / "scan")
        timings["scan"] = time.perf_counter() - start
        _fail_on("checkov", findings)

    (build_dir / "manifest.json").write_text(deterministic_json(result.manifest))
    log(identity_line)
    log(f"built {len(templates)} templates into {build_dir / 'templates'} "
        f"(linted {result.linted}, scanned {result.scanned}, the rest unchanged since their "
        f"last clean check; regions {', '.join(regions)})")
    return result


def prove_identity(templates: dict[str, str], cache_dir: Path) -> str:
    """The deploy identity's permission, escalation and boundary proofs (cached: the same
    templates and proof code were proven before)."""
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


def _fail_on(tool: str, findings: dict[str, list[str]]) -> None:
    lines = [f"{tool}: {line}" for name in sorted(findings) for line in findings[name]]
    if lines:
        raise BuildError(lines[0], lines=lines)
