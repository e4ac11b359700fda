"""`pytest --cpu-report` (tests/cpu_report.py): each test's CPU, its own and its children's,
summed by the controlling process from every worker."""

import subprocess
import sys
from pathlib import Path

from tests.cpu_report import Figures, report

ROOT = Path(__file__).resolve().parents[2]

BUSY = """
import subprocess, sys, time

def _spin(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass

def test_busy_itself():
    _spin(0.6)

def test_busy_in_a_child():
    subprocess.run([sys.executable, "-c",
                    "import time\\nend = time.process_time() + 0.6\\n"
                    "while time.process_time() < end: pass"], check=True)

def test_idle():
    time.sleep(0.3)
"""


def test_the_report_sums_phases_modules_and_tests():
    figures = Figures(processes=2, whole_own=10.0, whole_children=4.0)
    figures.tests = {
        "tests/a.py::test_one": {"setup": [0.5, 0.0], "call": [1.0, 2.0], "teardown": [0, 0.5]},
        "tests/a.py::test_two": {"setup": [0.1, 0.0], "call": [0.2, 0.0]},
        "tests/b.py::test_three": {"call": [3.0, 0.0]},
    }
    lines = report(figures)
    assert "14 in all (10 the processes' own, 4 their children's)" in lines[1]
    assert "7 in 3 tests: setup 1, call 6, teardown 0" in lines[1]
    modules = lines[lines.index(next(x for x in lines if x.startswith("modules"))) + 1 :]
    assert modules[0].split()[-1] == "tests/a.py" and modules[0].split()[0] == "4.3"
    assert modules[1].split()[-1] == "tests/b.py"
    tests = lines[lines.index(next(x for x in lines if x.startswith("tests by"))) + 1 :]
    assert [t.split()[-1] for t in tests] == [
        "tests/a.py::test_one", "tests/b.py::test_three", "tests/a.py::test_two",
    ]  # fmt: skip


def test_two_workers_report_each_tests_own_and_childrens_cpu(tmp_path):
    (tmp_path / "test_busy.py").write_text(BUSY)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.cpu_report", "-p", "no:django",
         "-p", "no:cacheprovider", "--cpu-report", "-n", "2", "-q", "--rootdir", str(tmp_path),
         "-c", "/dev/null", str(tmp_path / "test_busy.py")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "CPU seconds (2 test processes)" in out and "in 3 tests" in out, out
    rows = {line.split()[-1].split("::")[-1]: line.split() for line in out.splitlines()
            if "::test_" in line}  # fmt: skip
    own, children = float(rows["test_busy_itself"][1]), float(rows["test_busy_in_a_child"][3])
    assert own >= 0.55 and children >= 0.55, out
    assert float(rows["test_idle"][0]) < 0.2, out
