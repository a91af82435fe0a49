"""cfn-lint, in-process: one Runner per worker process, built once and reused for
every template (building the rules is the slow part), templates spread over the
cores, and a pass-cache so an unchanged template is not linted again."""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from streamstack.cache import PassCache

_runner = None  # one per process


def _init(regions: list[str]) -> None:
    global _runner
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner
    _runner = Runner(ConfigMixIn(regions=regions))


def _lint_one(item: tuple[str, str]) -> tuple[str, list[str]]:
    from cfnlint.decode.decode import decode_str
    name, text = item
    template, errors = decode_str(text)
    matches = errors or list(_runner.validate_template(template))
    return name, [f"{name}.json:{m.linenumber}:{m.columnnumber} {m.rule.id} {m.message}"
                  for m in matches]


def cfn_lint_version() -> str:
    from cfnlint.version import __version__
    return __version__


def lint_templates(templates: dict[str, str], regions: list[str], cache_dir: Path,
         jobs: int | None = None) -> tuple[dict[str, list[str]], int]:
    """Lint templates (name -> text) for regions; returns (findings by name, templates linted).

    Any error or warning is a finding. Clean templates are remembered in the cache.
    """
    cache = PassCache(cache_dir, f"cfn-lint {cfn_lint_version()} {','.join(sorted(regions))}")
    todo = [(n, t) for n, t in templates.items() if not cache.passed(t)]
    if not todo:
        return {}, 0
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
    if jobs == 1:
        _init(regions)
        results = [_lint_one(item) for item in todo]
    else:
        with ProcessPoolExecutor(jobs, initializer=_init, initargs=(regions,)) as pool:
            # Largest first, so the two workers finish together.
            results = list(pool.map(_lint_one, sorted(todo, key=lambda i: -len(i[1]))))
    findings = {name: lines for name, lines in results if lines}
    for name, text in todo:
        if name not in findings:
            cache.record(text)
    return findings, len(todo)
