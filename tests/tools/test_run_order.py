# SPDX-License-Identifier: MIT
"""The pytest plugin's scheduling and measuring aids (docs/testing.md): long tests first, file by
file, from the last run's durations, and each test's CPU time in the JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from moat.pytest_plugin import last_durations

pytest_plugins = ("pytester",)

FILES = {
    "test_quick.py": "def test_q1():\n    pass\n\ndef test_q2():\n    pass\n",
    "test_slow.py": "def test_s1():\n    pass\n\ndef test_s2():\n    pass\n",
    "test_new.py": "def test_n1():\n    pass\n",
    "test_long.py": "import pytest\n\n@pytest.mark.long_running\ndef test_l1():\n    pass\n",
}

LAST_RUN = """<testsuites><testsuite>
<testcase classname="test_quick" name="test_q1" time="0.5"/>
<testcase classname="test_quick" name="test_q2" time="0.5"/>
<testcase classname="test_slow" name="test_s1" time="1.0"/>
<testcase classname="test_slow" name="test_s2" time="9.0"/>
<testcase classname="test_long" name="test_l1" time="0.1"/>
</testsuite></testsuites>
"""


def collected(pytester: pytest.Pytester) -> list[str]:
    result = pytester.runpytest_inprocess("-p", "moat.pytest_plugin", "--collect-only", "-q")
    return [line.split("::")[1] for line in result.outlines if "::" in line]


def test_long_running_then_the_longest_files_their_tests_together(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(**{name[:-3]: text for name, text in FILES.items()})
    # Without a last run: the marked test first, the rest in pytest's own order.
    assert collected(pytester) == ["test_l1", "test_n1", "test_q1", "test_q2", "test_s1", "test_s2"]
    junit = pytester.path / "build" / "test-results" / "junit.xml"
    junit.parent.mkdir(parents=True)
    junit.write_text(LAST_RUN)
    # test_slow took 10 s last time, test_quick 1 s, test_new never ran (it keeps its place after them).
    assert collected(pytester) == ["test_l1", "test_s1", "test_s2", "test_q1", "test_q2", "test_n1"]


def test_a_broken_or_missing_last_run_is_no_last_run(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    assert last_durations(junit) == {}
    junit.write_text("<testsuites><testsuite>")  # cut short: as if there were none
    assert last_durations(junit) == {}
    junit.write_text(LAST_RUN)
    assert last_durations(junit) == {"test_quick.py": 1.0, "test_slow.py": 10.0, "test_long.py": 0.1}


def test_each_test_has_its_cpu_time_in_the_junit_xml(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_spin="""
import subprocess, sys

def test_child():
    subprocess.run([sys.executable, "-c", "sum(range(3_000_000))"], check=True)

def test_idle():
    pass
""")
    out = pytester.path / "out.xml"
    result = pytester.runpytest_inprocess("-p", "moat.pytest_plugin", f"--junitxml={out}")
    result.assert_outcomes(passed=2)
    cpu = {case.get("name"): float(prop.get("value") or "nan")
           for case in ET.parse(out).getroot().iter("testcase")
           for prop in case.iter("property") if prop.get("name") == "cpu_seconds"}
    assert set(cpu) == {"test_child", "test_idle"}
    assert cpu["test_child"] > 0.02 and cpu["test_child"] > cpu["test_idle"] >= 0.0, cpu
