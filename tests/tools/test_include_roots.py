# SPDX-License-Identifier: MIT
"""Guests see only the public ABI (docs/hypervisor.md, "Include roots"): no compile command of a
guest or of the guest library has a hypervisor-only root on its include path, nothing a guest
source includes comes from the hypervisor's own headers, and a guest that names one cannot reach it.

The commands are the build's own (build/compile_commands.json, written by every build), and so is
what each guest source includes: the dependency file the compiler wrote beside each guest object as
it compiled it (-MD, images/SConscript: x.o -> x.d)."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from moat.include_roots import GUEST_LIBRARY, HYPERVISOR_ONLY, PUBLIC
from moat.pytest_plugin import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
DB = ROOT / "build" / "compile_commands.json"
GUEST_OUTPUT = "build/obj/images/"  # every guest object and the library's (build/obj/images/lib/)
INCLUDE_OPTIONS = ("-I", "-isystem", "-iquote", "-idirafter")
# Where a header a guest reads may come from: the guest tree, the ABI, the shared code (headers and
# the sources the library compiles), generated files (embedded policies) and the compiler's own.
ALLOWED = ("images", f"{PUBLIC}/public", "hv/lib", "build")


def entries() -> list[dict[str, Any]]:
    if not DB.is_file():
        skip_or_fail(f"{DB.relative_to(ROOT)} is missing: run ./moat build first")
    return [e for e in json.loads(DB.read_text()) if e["output"].startswith(GUEST_OUTPUT)]


def include_dirs(argv: list[str]) -> list[tuple[str, str]]:
    """(option, directory) for every include-path option of a command line."""
    found = []
    for i, arg in enumerate(argv):
        for opt in INCLUDE_OPTIONS:
            if arg == opt and i + 1 < len(argv):
                found.append((opt, argv[i + 1]))
            elif arg.startswith(opt) and len(arg) > len(opt):
                found.append((opt, arg[len(opt):]))
    return found


def hypervisor_only_reach(directory: str, cwd: Path) -> list[str]:
    """The hypervisor-only roots a directory on the include path makes reachable: the root itself,
    one inside it, or one of its parents (from which `<internal/moat/...>` would resolve)."""
    d = (cwd / directory).resolve()
    reached = []
    for root in HYPERVISOR_ONLY:
        r = (ROOT / root).resolve()
        if d == r or r in d.parents or d in r.parents:
            reached.append(root)
    return reached


def findings(commands: list[dict[str, Any]]) -> list[str]:
    bad = []
    for e in commands:
        for opt, directory in include_dirs(shlex.split(e["command"])):
            bad += [f"{e['output']}: {opt} {directory} reaches {root}"
                    for root in hypervisor_only_reach(directory, Path(e["directory"]))]
    return bad


def test_the_build_compiles_guests_and_the_library():
    outputs = [e["output"] for e in entries()]
    assert any(o.startswith(GUEST_OUTPUT + "lib/") for o in outputs), "no guest library object"
    assert sum(not o.startswith(GUEST_OUTPUT + "lib/") for o in outputs) > 50, "too few guest objects"


def test_no_guest_command_has_a_hypervisor_root():
    assert findings(entries()) == []


@pytest.mark.parametrize("flag", ["-Ihv/internal", "-I hv/internal/moat", "-isystem hv", "-I."])
def test_a_planted_hypervisor_root_is_found(flag):
    planted = [{"command": f"gcc -c {flag} -o build/obj/images/lib/x.o images/lib/x.c", "directory": str(ROOT),
                "output": "build/obj/images/lib/x.o", "file": "images/lib/x.c"}]
    assert findings(planted) != []


def dependency_command(command: str) -> tuple[list[str], str]:
    """The compile command without its output, source and dependency file (-MD), plus -M: the
    headers a source given to it reads, on stdout."""
    argv = shlex.split(command)
    out = []
    skip = False
    for arg in argv[1:]:
        if skip:
            skip = False
        elif arg == "-o":
            skip = True
        elif arg not in ("-c", "-MD") and not arg.endswith((".c", ".S")):
            out.append(arg)
    return [argv[0], *out, "-M"], argv[0]


def read_headers(entry: dict[str, Any]) -> set[Path]:
    """Every file the compiler read for one object of the build: its dependency file (-MD), a make
    rule `OUTPUT: SOURCE HEADER...` that the compile wrote beside the object."""
    cwd = Path(entry["directory"])
    depfile = (cwd / entry["output"]).with_suffix(".d")
    if not depfile.is_file():  # a failure, not a skip: images/SConscript's -MD is what this test reads
        pytest.fail(f"{depfile.relative_to(ROOT)} is missing: run ./moat build (guests compile with -MD)",
                    pytrace=False)
    target, sep, files = depfile.read_text().replace("\\\n", " ").partition(": ")
    assert sep and target.strip() == entry["output"], f"{depfile}: not the rule of {entry['output']}"
    return {(cwd / w).resolve() for w in files.split()}


def outside(headers: set[Path], argv: list[str], cwd: Path) -> list[str]:
    allowed = [(ROOT / a).resolve() for a in ALLOWED]
    allowed += [(cwd / d).resolve() for opt, d in include_dirs(argv) if opt == "-isystem"]
    return sorted(str(h) for h in headers if not any(h == a or a in h.parents for a in allowed))


def test_guest_sources_include_only_the_abi_the_library_and_shared_code():
    bad = []
    for e in entries():
        cwd = Path(e["directory"])
        headers = read_headers(e)
        assert (cwd / e["file"]).resolve() in headers, f"{e['output']}: its dependency file does not name its source"
        bad += outside(headers, shlex.split(e["command"]), cwd)
    assert bad == []


def hypervisor_headers() -> list[str]:
    """Every hypervisor-only header, as a guest would spell it (<moat/domain.h>)."""
    names = []
    for root in HYPERVISOR_ONLY:
        base = ROOT / root
        names += sorted(str(h.relative_to(base)) for h in base.rglob("*.h"))
    return names


def test_a_guest_that_names_a_hypervisor_header_cannot_reach_it(tmp_path):
    library = [e for e in entries() if e["output"].startswith(GUEST_OUTPUT + "lib/") and e["file"].endswith(".c")]
    argv, _ = dependency_command(library[0]["command"])
    cwd = Path(library[0]["directory"])
    names = hypervisor_headers()
    assert "moat/domain.h" in names and "moat/console.h" in names
    own = ROOT / GUEST_LIBRARY
    for name in names:
        probe = tmp_path / "probe.c"
        probe.write_text(f"#include <{name}>\n")
        proc = subprocess.run([*argv, str(probe)], cwd=cwd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            assert "No such file or directory" in proc.stderr, proc.stderr
            continue
        # Found: only the guest library's own header of that name will do (moat/console.h).
        headers = {(cwd / w).resolve() for w in proc.stdout.replace("\\\n", " ").split() if not w.endswith(":")}
        headers.discard(probe.resolve())
        assert (own / name).resolve() in headers, f"<{name}> resolved to {sorted(map(str, headers))}"
        assert outside(headers, argv, cwd) == [], name
