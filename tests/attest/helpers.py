# SPDX-License-Identifier: MIT
"""Attestation test helpers (fixtures exported by conftest.py): boot a scenario with a fresh swtpm
and the agent's serial line, and talk to the agent through the verifier's own Session."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from moat import paths
from moat.attest import swtpm, system, verify
from moat.attest.reference import Reference, compute
from moat.pytest_plugin import log_name, require_qemu, skip_or_fail

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios"
PERMALL = "tpm2-00.permall"  # a TPM's permanent state, all swtpm_setup writes (swtpm.tpm_state)


def require_swtpm() -> None:
    require_qemu()
    for tool in ("swtpm", "swtpm_setup", "swtpm_localca"):
        if shutil.which(tool) is None:
            skip_or_fail(f"{tool} not found (apt-get install {swtpm.PACKAGES})")


_template: list[Path] = []


def _manufactured_template() -> Path:
    """One TPM manufactured for this test run, shared by its xdist workers: the first to get the
    lock makes it (swtpm_setup), the others wait for it; a template of an earlier run (whose
    certificate may chain to a CA since remade) is made again."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid-{os.getpid()}"
    base = swtpm.attest_dir() / "tpm"
    base.mkdir(parents=True, exist_ok=True)
    with (base / "template.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = base / "template.run"
        if not marker.is_file() or marker.read_text() != run or not (base / "template" / PERMALL).is_file():
            marker.unlink(missing_ok=True)
            swtpm.tpm_state("template", fresh=True)
            marker.write_text(run)
    return base / "template"


def fresh_tpm(name: str) -> Path:
    """The state of a TPM `name` as swtpm_setup leaves it: a copy of one manufactured for this run
    (EK, its certificate from the local CA). swtpm_setup takes 0.6 s (its own waits, little CPU);
    a copy of its 6 KB takes none. The copies share one EK, which no test here compares across
    boots (test_enrolment's other TPM is its own, with seeds of its own)."""
    if not _template:
        _template.append(_manufactured_template())
    state = swtpm.attest_dir() / "tpm" / name
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    shutil.copy2(_template[0] / PERMALL, state / PERMALL)
    return state


@pytest.fixture
def attested(request: pytest.FixtureRequest):
    """attested(scenario, tpm=...) -> a context manager yielding (System, Session); the console goes
    to build/test-logs/<test>.log, and each call gets a fresh TPM (fresh_tpm) unless one is named."""
    require_swtpm()
    base = log_name(request.node.nodeid)
    count = [0]

    @contextmanager
    def run(scen: Path, tpm: str | None = None, ready: bool = True) -> Iterator[tuple[system.System, verify.Session]]:
        count[0] += 1
        suffix = "" if count[0] == 1 else f".{count[0]}"
        log = paths.build_dir() / "test-logs" / f"{base}{suffix}.log"
        name = tpm or f"test-{base[-60:]}{suffix}"
        state = swtpm.tpm_state(name) if tpm else fresh_tpm(name)
        with system.boot(scen, tpm_name=name, tpm_state=state, log=log) as s:
            session = verify.Session(s.link, swtpm.trusted_ca_files())
            if ready:
                s.link.wait_ready()
            yield s, session

    return run


@pytest.fixture(scope="session")
def reference_of(tmp_path_factory: pytest.TempPathFactory):
    cache: dict[tuple[str, tuple[str, ...]], Reference] = {}

    def get(scen: Path, allow: tuple[Path, ...] = ()) -> Reference:
        key = (str(scen), tuple(map(str, allow)))
        if key not in cache:
            cache[key] = compute(scen, list(allow))
        return cache[key]

    return get


def console_has(s: system.System, pattern: str, timeout: float = 30.0) -> str | None:
    rx = re.compile(pattern)
    return s.wait_for_line(lambda line: rx.search(line) is not None, timeout)
