#!/usr/bin/env python3
"""Benchmark of the build: rendering alone (the deploy identity's derivation included),
the identity proofs cold and cached, cfn-lint cold and warm, checkov cold and warm.
Prints numbers; asserts nothing. Run with `make bench`."""
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streamstack.build import lint_regions, prove_identity  # noqa: E402
from streamstack.identity import check as identity_check  # noqa: E402
from streamstack.lint import lint  # noqa: E402
from streamstack.render import render_all  # noqa: E402
from streamstack.scan import scan  # noqa: E402


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def main() -> None:
    renders = [timed(render_all)[0] for _ in range(5)]
    templates = render_all()
    regions = lint_regions()
    total_bytes = sum(len(t) for t in templates.values())
    print(f"templates: {len(templates)} ({total_bytes / 1024:.0f} KiB), "
          f"lint regions: {', '.join(regions)}")
    print(f"render (all templates):     best {min(renders):6.2f} s, "
          f"mean {sum(renders) / len(renders):6.2f} s over {len(renders)} runs")
    with tempfile.TemporaryDirectory() as tmp:
        cold, report = timed(identity_check.run, templates)
        prove_identity(templates, Path(tmp) / "identity")
        cached, _ = timed(prove_identity, templates, Path(tmp) / "identity")
        print(f"identity proofs:            cold {cold:6.2f} s, cached {cached:6.2f} s")
        print(f"  {report.line()}")
        for jobs in (1, 2):
            cache = Path(tmp) / f"lint-{jobs}"
            cold, (findings, linted) = timed(lint, templates, regions, cache, jobs)
            warm, (_, relinted) = timed(lint, templates, regions, cache, jobs)
            print(f"cfn-lint {jobs} process(es): cold {cold:6.2f} s ({linted} linted, "
                  f"{sum(map(len, findings.values()))} findings), warm {warm:6.2f} s "
                  f"({relinted} linted)")
        cache = Path(tmp) / "scan"
        cold, (findings, scanned) = timed(scan, templates, cache)
        warm, (_, rescanned) = timed(scan, templates, cache)
        print(f"checkov:                    cold {cold:6.2f} s ({scanned} scanned, "
              f"{sum(map(len, findings.values()))} findings), warm {warm:6.2f} s "
              f"({rescanned} scanned)")
        one = next(iter(templates))
        changed = {**templates, one: templates[one].replace("streamstack", "streamstack ", 1)}
        incremental, (_, relinted) = timed(lint, changed, regions, Path(tmp) / "lint-2", 2)
        print(f"cfn-lint after one template changed: {incremental:6.2f} s "
              f"({relinted} linted)")


if __name__ == "__main__":
    main()
