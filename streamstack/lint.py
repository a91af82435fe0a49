"""cfn-lint in worker processes that share one Runner: the first worker imports cfn-lint
and builds the Runner (building the rules is the slow part), then forks the others,
which inherit it. They take templates from one queue, largest first, so they finish
together. The build starts the workers before it renders, so their start-up overlaps
the render; a pass-cache keeps an unchanged template from being linted again."""

from __future__ import annotations

import multiprocessing
import os
import queue
from pathlib import Path

from streamstack.cache import PassCache

_runner = None  # one per worker process
_CONTEXT = multiprocessing.get_context("fork")
# The cfn-lint release whose Context.evolve and Validator.evolve _faster_evolve was
# checked against (same result, without dataclasses.fields on every call).
FASTER_EVOLVE_FOR = "1.58.0"


def cfn_lint_version(site_packages: Path | None = None) -> str:
    """The installed cfn-lint's version, read without importing it (that takes a second)."""
    import sysconfig

    site = site_packages or Path(sysconfig.get_paths()["purelib"])
    dists = sorted(site.glob("cfn_lint-*.dist-info"))
    return dists[-1].name.split("-")[1].removesuffix(".dist-info") if dists else "unknown"


def _faster_evolve() -> None:
    """cfn-lint's Path.descend/evolve, Context.evolve and Validator.evolve call
    dataclasses.fields() and the dataclass __init__ on every call, hundreds of thousands
    of times per build. Here each looks its field names up once and fills the new
    object's __dict__ directly, as __init__ would: the fields given, the others copied,
    fields __init__ does not take reset to their defaults, __post_init__ run. Only for
    the release it was checked against: another one lints unchanged."""
    from collections import deque
    from dataclasses import MISSING, fields

    from cfnlint.context import context
    from cfnlint.jsonschema import validators
    from cfnlint.version import __version__

    if __version__ != FASTER_EVOLVE_FOR:
        return

    def plan(cls):
        """(names __init__ takes, {name: default} of the fields it does not take)."""
        taken = tuple(f.name for f in fields(cls) if f.init)
        fixed = {
            f.name: f.default if f.default_factory is MISSING else f.default_factory()
            for f in fields(cls)
            if not f.init
        }
        return taken, fixed

    def builder(cls):
        taken, fixed = plan(cls)
        post_init = getattr(cls, "__post_init__", None)

        def build(self, kwargs):
            if type(self) is not cls:  # a subclass: its own fields, the slow way
                for name in taken:
                    kwargs.setdefault(name, getattr(self, name))
                return type(self)(**kwargs)
            own = self.__dict__
            state = dict(fixed)
            for name in taken:
                state[name] = kwargs.pop(name) if name in kwargs else own[name]
            if kwargs:
                raise TypeError(f"unexpected fields {sorted(kwargs)}")
            new = object.__new__(cls)
            object.__setattr__(new, "__dict__", state)
            if post_init is not None:
                post_init(new)
            return new

        return build

    new_path = builder(context.Path)
    path_functions = context.FUNCTIONS

    def path_descend(self, **kwargs):
        step = kwargs.get("cfn_path")
        if step in path_functions:
            raise ValueError(f"{step!r} cannot be in 'cfn_path'")
        if isinstance(step, int):
            raise ValueError(f"{step!r} cannot be an integer")
        own = self.__dict__
        for name in ("path", "value_path", "cfn_path"):
            value = kwargs.get(name)
            kwargs[name] = own[name] if value is None else own[name] + deque([value])
        return new_path(self, kwargs)

    context.Path.descend = path_descend
    context.Path.evolve = lambda self, **kwargs: new_path(self, kwargs)

    new_context = builder(context.Context)

    def context_evolve(self, **kwargs):
        if "ref_values" in kwargs:
            ref_values = self.ref_values.copy()
            ref_values.update(kwargs["ref_values"])
            kwargs["ref_values"] = ref_values
        return new_context(self, kwargs)

    context.Context.evolve = context_evolve

    def faster(cls):
        new_validator = builder(cls)
        cls.evolve = lambda self, **kwargs: new_validator(self, kwargs)
        return cls

    create = validators.create
    validators.create = lambda *args, **kwargs: faster(create(*args, **kwargs))
    for cls in (validators.CfnTemplateValidator, validators.StandardValidator):
        faster(cls)


def _init(regions: list[str]) -> None:
    global _runner
    _faster_evolve()
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner

    _runner = Runner(ConfigMixIn(regions=regions))


def _lint_one(item: tuple[str, str]) -> tuple[str, list[str]]:
    from cfnlint.decode.decode import decode_str

    name, text = item
    template, errors = decode_str(text)
    matches = errors or list(_runner.validate_template(template))
    return name, [
        f"{name}.json:{m.linenumber}:{m.columnnumber} {m.rule.id} {m.message}" for m in matches
    ]


def _work(tasks, results) -> None:
    while (item := tasks.get()) is not None:
        try:
            results.put(_lint_one(item))
        except Exception as exc:  # noqa: BLE001 - reported as a finding, never lost
            results.put((item[0], [f"{item[0]}.json: cfn-lint failed: {exc}"]))


def _serve(regions: list[str], jobs: int, tasks, results) -> None:
    """The first worker: build the Runner, fork the others, then work alongside them."""
    try:
        _init(regions)
    except Exception as exc:  # noqa: BLE001 - the build reports it
        results.put(("", [f"cfn-lint did not start: {exc}"]))
        return
    others = [_CONTEXT.Process(target=_work, args=(tasks, results)) for _ in range(jobs - 1)]
    for process in others:
        process.start()
    _work(tasks, results)
    for process in others:
        process.join()


class Lint:
    """cfn-lint workers for `regions`, started now and given their templates later."""

    def __init__(self, regions: list[str], jobs: int | None = None) -> None:
        self.regions = regions
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self.tasks = _CONTEXT.Queue()
        self.results_queue = _CONTEXT.Queue()
        self.first = _CONTEXT.Process(
            target=_serve, args=(regions, self.jobs, self.tasks, self.results_queue)
        )
        self.first.start()

    def submit(self, templates: dict[str, str], cache_dir: Path) -> None:
        """Hand the workers the templates (name -> text) not linted clean before; they
        start at once (results() waits for them)."""
        self.cache = PassCache(
            cache_dir, f"cfn-lint {cfn_lint_version()} {','.join(sorted(self.regions))}"
        )
        self.todo = sorted(
            ((n, t) for n, t in templates.items() if not self.cache.passed(t)),
            key=lambda item: -len(item[1]),
        )
        for item in self.todo:
            self.tasks.put(item)

    def results(self) -> tuple[dict[str, list[str]], int]:
        """(findings by name, templates linted) of what was submitted. Any error or
        warning is a finding."""
        results = []
        while len(results) < len(self.todo):
            try:
                name, lines = self.results_queue.get(timeout=1)
            except queue.Empty:
                if not self.first.is_alive():
                    raise RuntimeError("the cfn-lint workers stopped unexpectedly") from None
                continue
            if not name:
                from streamstack.errors import BuildError

                raise BuildError(lines[0])
            results.append((name, lines))
        self.close()
        findings = {name: lines for name, lines in results if lines}
        for name, text in self.todo:
            if name not in findings:
                self.cache.record(text)
        return findings, len(self.todo)

    def run(self, templates: dict[str, str], cache_dir: Path) -> tuple[dict[str, list[str]], int]:
        """submit() and results()."""
        self.submit(templates, cache_dir)
        return self.results()

    def close(self) -> None:
        """No more templates: the workers finish what they have and exit."""
        if self.first.is_alive():
            for _ in range(self.jobs):
                self.tasks.put(None)
            self.first.join(timeout=30)
        if self.first.is_alive():
            self.first.terminate()
            self.first.join()


def lint_templates(
    templates: dict[str, str], regions: list[str], cache_dir: Path, jobs: int | None = None
) -> tuple[dict[str, list[str]], int]:
    """Lint templates (name -> text) for regions; returns (findings by name, templates linted)."""
    return Lint(regions, jobs).run(templates, cache_dir)
