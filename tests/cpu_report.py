"""Where the suite's CPU goes: ``pytest --cpu-report`` (``make test PYTEST_ARGS=--cpu-report``).

On a two-core machine the suite is CPU-bound (docs/benchmarks.md), so its time is what its
processes compute, not how long each test waits. For each test, each phase (set-up, the test,
teardown) is measured with ``getrusage``: the CPU of the test process itself and of the child
processes it reaped in that phase (the servers, commands and browsers a test starts count when
they end). Under pytest-xdist each worker sends its figures to the controlling process
(``workeroutput``), which prints one report at the end: the total, per phase, and the modules
and tests that cost the most. PostgreSQL's own CPU is not a child of any test, so it is not in
these figures.
"""

from __future__ import annotations

import json
import resource
from collections import defaultdict
from dataclasses import dataclass, field

import pytest

PHASES = ("setup", "call", "teardown")
OPTION = "--cpu-report"
SHOWN = 15


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        OPTION,
        action="store_true",
        help="print the CPU time (the test process's own and its children's) per phase, "
        "module and test at the end of the run",
    )


def _cpu() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


@dataclass
class Figures:
    """CPU seconds per test and phase: ``{nodeid: {phase: [own, children]}}``."""

    tests: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    processes: int = 0
    whole_own: float = 0.0  # each process's CPU from start to end, tests or not
    whole_children: float = 0.0

    def add(self, other: dict) -> None:
        self.tests.update(other["tests"])
        self.processes += 1
        self.whole_own += other["whole_own"]
        self.whole_children += other["whole_children"]


_KEY = pytest.StashKey[Figures]()


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption(OPTION, False):
        config.stash[_KEY] = Figures()


def _figures(config: pytest.Config) -> Figures | None:
    return config.stash.get(_KEY, None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    yield from _measured(item, "setup")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    yield from _measured(item, "call")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item):
    yield from _measured(item, "teardown")


def _measured(item: pytest.Item, phase: str):
    figures = _figures(item.config)
    if figures is None:
        yield
        return
    own, children = _cpu()
    yield
    own_after, children_after = _cpu()
    figures.tests.setdefault(item.nodeid, {})[phase] = [own_after - own, children_after - children]


def pytest_sessionfinish(session: pytest.Session) -> None:
    figures = _figures(session.config)
    if figures is None:
        return
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is None:
        if not figures.processes:  # one process, no workers: its own totals
            figures.processes = 1
            figures.whole_own, figures.whole_children = _cpu()
        return
    own, children = _cpu()
    workeroutput["cpu_report"] = json.dumps(
        {"tests": figures.tests, "whole_own": own, "whole_children": children}
    )


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """The controlling process (pytest-xdist): a worker's figures, as it ends."""
    figures = _figures(node.config)
    sent = getattr(node, "workeroutput", {}).get("cpu_report")
    if figures is not None and sent:
        figures.add(json.loads(sent))


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    figures = _figures(config)
    if figures is None or not figures.tests:
        return
    for line in report(figures):
        terminalreporter.write_line(line)


def report(figures: Figures, shown: int = SHOWN) -> list[str]:
    """The report's lines: totals, then the costliest modules and tests (CPU seconds)."""
    per_phase = dict.fromkeys(PHASES, 0.0)
    modules: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])  # own, kids, tests
    tests = []
    for nodeid, phases in figures.tests.items():
        own = sum(p[0] for p in phases.values())
        children = sum(p[1] for p in phases.values())
        for phase, (o, c) in phases.items():
            per_phase[phase] += o + c
        module = modules[nodeid.split("::")[0]]
        module[0] += own
        module[1] += children
        module[2] += 1
        tests.append((own + children, own, children, nodeid))
    in_tests = sum(per_phase.values())
    lines = [
        "",
        f"CPU seconds ({figures.processes} test process{'' if figures.processes == 1 else 'es'}): "
        f"{figures.whole_own + figures.whole_children:,.0f} in all "
        f"({figures.whole_own:,.0f} the processes' own, {figures.whole_children:,.0f} "
        f"their children's), {in_tests:,.0f} in {len(tests):,} tests: "
        + ", ".join(f"{phase} {per_phase[phase]:,.0f}" for phase in PHASES),
        f"modules by CPU (own + children, tests): the first {shown}",
    ]
    by_cost = sorted(modules.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))
    for name, (own, children, count) in by_cost[:shown]:
        lines.append(f"  {own + children:8.1f}  {own:7.1f} + {children:6.1f}  {count:5.0f}  {name}")
    lines.append(f"tests by CPU (own + children): the first {shown}")
    for total, own, children, nodeid in sorted(tests, reverse=True)[:shown]:
        lines.append(f"  {total:8.1f}  {own:7.1f} + {children:6.1f}  {nodeid}")
    return lines
