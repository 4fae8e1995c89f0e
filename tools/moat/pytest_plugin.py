# SPDX-License-Identifier: MIT
"""pytest support for boot tests: the `boot` fixture and assert_xtf().

Each call of boot(...) starts its own QEMU with a timeout and keeps the serial
log in build/test-logs/<test id>.log, so tests are independent and can run in
parallel (pytest-xdist). Without QEMU the boot tests skip, except in CI
(CI=true), where a missing QEMU is a failure.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from moat import coverage_trace, paths, qemu, scenario
from moat.errors import UserError
from moat.xtf import Outcome

BOOT_TIMEOUT = 60.0
TAIL_LINES = 30
_session_smp: int | None = None  # the --smp option of this pytest run


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> None:
    """Skip the test with reason, or fail it when running in CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


def require_qemu() -> None:
    if shutil.which(qemu.QEMU) is None:
        skip_or_fail(f"{qemu.QEMU} not found (apt-get install {qemu.QEMU_PACKAGE})")


def host_program(name: str) -> Path:
    """build/host/NAME, a test driver `moat build` makes for the host (tests/host/SConscript), or the
    test fails: run ./moat build. The build makes it once for every worker, from the sources it
    depends on (`moat test` builds first)."""
    path = paths.build_dir() / "host" / name
    if not path.is_file():
        pytest.fail(f"{paths.display(path)} is missing: run ./moat build first", pytrace=False)
    return path


def log_name(nodeid: str) -> str:
    """A file name for a test id: anything but [A-Za-z0-9_.-] becomes '_'."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_") or "test"


def log_tail(result: qemu.BootResult, n: int = TAIL_LINES) -> str:
    where = f" (full log: {result.log_path})" if result.log_path else ""
    body = result.tail(n) or "(no console output)"
    return f"last {n} console lines{where}:\n{body}"


class Booter:
    """The `boot` fixture: call it to boot once; every call gets its own log file."""

    def __init__(self, nodeid: str, root: Path, default_smp: int | None = None) -> None:
        self.root = root
        # `--smp N`: the CPUs of every boot that names none.
        self.default_smp = default_smp if default_smp is not None else _session_smp
        self.log_dir = paths.build_dir(root) / "test-logs"
        self._base = log_name(nodeid)
        self._count = 0
        self.results: list[qemu.BootResult] = []

    def _next_log(self) -> Path:
        self._count += 1
        suffix = "" if self._count == 1 else f".{self._count}"
        return self.log_dir / f"{self._base}{suffix}.log"

    def __call__(
        self,
        cmdline: str = "",
        *,
        build: str = "moat",
        selftest: bool = False,
        modules: Sequence[tuple[Path, str]] = (),
        scenario_file: Path | str | None = None,
        timeout: float = BOOT_TIMEOUT,
        memory: str | None = None,
        icount: bool = False,
        icount_shift: int = 0,
        iso: bool = False,
        cdrom: Path | None = None,
        default_policy: bool = True,
        smp: int | None = None,
        extra_args: Sequence[str] = (),
        one_thread: bool = False,
    ) -> qemu.BootResult:
        """Boot once. smp: the CPUs (else the scenario's cpus, else `--smp`, else 1). one_thread:
        all CPUs in one host thread (moat.qemu.qemu_command), for tests not about parallel CPUs;
        icount_shift: the ns an instruction takes under icount (moat.qemu.qemu_command)."""
        require_qemu()
        mods = list(modules)
        mem = memory or "128M"
        if scenario_file is not None:
            scen = scenario.load(scenario_file)
            build, cmdline = scen.hypervisor.build, cmdline or scen.hypervisor.cmdline
            mem = memory or scen.hypervisor.memory
            mods = scen.module_pairs() + mods
            smp = smp or scen.hypervisor.cpus
        if selftest:
            build = "moat-selftest"
        kernel = paths.hv_image(build, root=self.root)
        if cdrom is None and not kernel.is_file():
            pytest.fail(f"{kernel} is missing: run ./moat build first", pytrace=False)
        if cdrom is not None and not Path(cdrom).is_file():
            pytest.fail(f"{cdrom} is missing: run ./moat build first", pytrace=False)
        try:
            result = qemu.boot(kernel, cmdline, mods, timeout=timeout, log=self._next_log(),
                               memory=mem, icount=icount, icount_shift=icount_shift, iso=iso, cdrom=cdrom,
                               iso_dir=paths.build_dir(self.root) / "test-iso",
                               default_policy=default_policy,
                               smp=smp or self.default_smp or 1, extra_args=extra_args,
                               one_thread=one_thread)
        except UserError as exc:
            pytest.fail(str(exc), pytrace=False)
        self.results.append(result)
        return result


@pytest.fixture
def moat_root() -> Path:
    return paths.repo_root()


@pytest.fixture
def boot(request: pytest.FixtureRequest, moat_root: Path) -> Booter:
    return Booter(request.node.nodeid, moat_root)


@dataclass
class CliResult:
    """What a `moat` command run in-process by the `moat_cli` fixture returned and printed."""

    returncode: int
    stdout: str
    stderr: str


MoatCli = Callable[..., CliResult]  # the type of the moat_cli fixture: moat_cli(*args, cwd=, **env)


@pytest.fixture
def moat_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> MoatCli:
    """Run `moat ARGS` in this process: moat.cli.main, its exit status and its output.

    For tests of what a command does, not of the `moat` process itself (its start-up, signals,
    tracebacks): a `python -m moat` costs 0.1 to 0.3 s of CPU to start (docs/testing.md), this
    nothing. env: variables to set for the call (MOAT_ROOT=...); cwd: the directory to run in.
    An exception the CLI does not turn into a message fails the test, as a traceback would.
    """
    from moat import cli

    def run(*args: str, cwd: Path | None = None, **env: str) -> CliResult:
        capsys.readouterr()  # what the test printed before is not the command's
        with monkeypatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            if cwd is not None:
                patch.chdir(cwd)
            try:
                code = cli.main(list(args))
            except SystemExit as exc:  # argparse's usage errors and --help
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out = capsys.readouterr()
        return CliResult(code, out.out, out.err)

    return run


def assert_status(result: qemu.BootResult, expected: qemu.Status | str) -> None:
    """Fail unless the system stopped with the expected status, showing the console tail."""
    want = qemu.Status(expected)
    if result.status is not want:
        pytest.fail(f"expected the system to stop with {want.value}, got "
                    f"{result.status.value}: {result.describe()}\n{log_tail(result)}",
                    pytrace=False)


def assert_xtf(result: qemu.BootResult, expected: str = "SUCCESS") -> None:
    """Fail unless the XTF outcome (result line + exit status) is expected.

    No `Test result:` line, a crash or a timeout is CRASH; a SUCCESS line with a
    failure exit is FAILURE; SKIP (when not expected) skips the test.
    """
    want = Outcome(expected)
    got = result.outcome
    if got is want:
        return
    if got is Outcome.SKIP:
        pytest.skip(f"the test reported SKIP: {result.xtf_reason or 'no reason given'}")
    reason = f": {result.xtf_reason}" if result.xtf_reason else ""
    if got is Outcome.CRASH and result.xtf is None:
        detail = f"no 'Test result:' line; {result.describe()}"
    else:
        detail = f"Test result: {result.xtf}{reason}; {result.describe()}"
    pytest.fail(f"expected {want.value}, got {got.value} ({detail})\n{log_tail(result)}",
                pytrace=False)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--smp", type=int, default=None, metavar="N",
                     help="boot every test with N CPUs unless it names its own (QEMU -smp)")


def pytest_configure(config: pytest.Config) -> None:
    global _session_smp
    smp = config.getoption("smp", None)
    _session_smp = qemu.check_cpus(smp, "--smp") if smp is not None else None
    config.addinivalue_line("markers", "boot: boots the hypervisor in QEMU")
    config.addinivalue_line("markers", "long_running: runs for minutes; started before everything else")
    # pytest-xdist's load scheduling hands each worker a quarter of its share of the tests at once
    # (about 120 of ~1,000): the tests queued behind a long one (the `moat check` test) wait for
    # it even when the other worker is idle. One test at a time (two pending) keeps the workers
    # busy to the end; the cost is a message per test.
    if getattr(config.option, "maxschedchunk", "absent") is None:
        config.option.maxschedchunk = 1


def last_durations(junit: Path) -> dict[str, float]:
    """Seconds per test file in the JUnit XML of the last run ({} without one or if unreadable)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(junit).getroot()
    except (OSError, ET.ParseError):
        return {}
    per_file: dict[str, float] = {}
    for case in root.iter("testcase"):
        module = (case.get("classname") or "").replace(".", "/") + ".py"
        try:
            per_file[module] = per_file.get(module, 0.0) + float(case.get("time") or 0.0)
        except ValueError:
            continue
    return per_file


def run_order(items: Sequence[pytest.Item], durations: dict[str, float]) -> list[pytest.Item]:
    """Longest first, file by file: long_running tests, then the files that took longest last time.

    A file's tests stay together and in their order (so module-scoped fixtures, shared boots, are
    set up once per worker); files never timed keep their place after the timed ones' ordering
    (a stable sort). Every worker computes the same order from the same file, as xdist requires.
    """
    def key(item: pytest.Item) -> tuple[int, float]:
        module = item.nodeid.split("::", 1)[0]
        return (0 if item.get_closest_marker("long_running") else 1, -durations.get(module, 0.0))
    return sorted(items, key=key)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the long tests first (see run_order), so that the short ones fill in around them."""
    from moat.pytest_args import JUNIT

    items[:] = run_order(items, last_durations(paths.build_dir(Path(str(config.rootpath))) / JUNIT))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Under `moat coverage` (MOAT_COVERAGE set), name the boots of this test in their records."""
    if coverage_trace.enabled():
        os.environ[coverage_trace.ENV_TEST] = item.nodeid


CPU_PROPERTY = "cpu_seconds"  # the JUnit property with a test's CPU time (docs/testing.md)
_cpu_start: dict[str, float] = {}


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its children that have ended (QEMU, moat run)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    """Start the test's CPU clock (before its fixtures are set up)."""
    _cpu_start[nodeid] = cpu_seconds()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    """Record the CPU time of set-up, call and teardown as the JUnit property cpu_seconds.

    Wall time on a shared machine says more about the neighbours than about the test; the CPU
    time a test (its boots included: QEMU is a child that has ended) costs does not. A worker of
    pytest-xdist runs one test at a time, so the difference is this test's alone.
    """
    yield
    start = _cpu_start.pop(item.nodeid, None)
    if start is not None:
        item.user_properties.append((CPU_PROPERTY, f"{cpu_seconds() - start:.2f}"))
