# SPDX-License-Identifier: MIT
"""`moat new-test NAME`: scaffold a guest test, one C file and one scenario.

    images/tests/NAME/NAME.c     a test_main that reports success (docs/guest-library.md)
    tests/scenarios/NAME.toml    one domain running it (docs/scenarios.md)

SCons picks the new directory up by itself (build/images/NAME.elf), and
tests/domains/test_scenarios.py boots every scenario that has no test of its own,
so the new test is part of `moat test` at once. Existing files are never overwritten.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from moat.errors import UserError
from moat.paths import repo_root

# A guest name is a file name, an image module name (31 bytes in start_info) and a C identifier.
_NAME = re.compile(r"[a-z][a-z0-9_]{0,30}")

C_TEMPLATE = """\
// SPDX-License-Identifier: MIT
// {name}: say here what this test checks and why it would fail if that broke.
#include <moat/test.h>

void test_main(void)
{{
    printf("{name}: running in domain %u ('%s')\\n", start_info->domid, start_info->name);

    // Check something; xtf_check records a FAILURE and goes on, xtf_assert ends the test.
    xtf_check(start_info->nr_pages > 0, "no memory?");

    xtf_success(NULL);
}}
"""

TOML_TEMPLATE = """\
# SPDX-License-Identifier: MIT
# {name}: boots images/tests/{name} as one domain; it must end with `Test result: SUCCESS`.
# Every key is in docs/scenarios.md.
[[domain]]
image = "{name}"
memory = "1M"
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("new-test", help="scaffold a guest test: one C file and one scenario",
                       description="Create images/tests/NAME/NAME.c (a test_main that reports "
                                   "success) and tests/scenarios/NAME.toml (one domain running "
                                   "it). Refuses to overwrite anything.", allow_abbrev=False)
    p.add_argument("name", metavar="NAME",
                   help="lower-case letters, digits and _, starting with a letter, at most 31")
    p.set_defaults(func=run)


def scaffold(name: str, root: Path) -> list[Path]:
    """Write the two files; return them. UserError when the name is bad or taken."""
    if not _NAME.fullmatch(name):
        raise UserError(f"{name!r} is not a test name: use lower-case letters, digits and _, "
                        "starting with a letter, at most 31 characters")
    guest_dir = root / "images" / "tests" / name
    source = guest_dir / f"{name}.c"
    scen = root / "tests" / "scenarios" / f"{name}.toml"
    taken = [p for p in (guest_dir, root / "images" / "demo" / name, scen) if p.exists()]
    if taken:
        listed = ", ".join(str(p.relative_to(root)) for p in taken)
        raise UserError(f"{name!r} already exists ({listed}); nothing was written")
    guest_dir.mkdir(parents=True)
    source.write_text(C_TEMPLATE.format(name=name), encoding="utf-8")
    scen.parent.mkdir(parents=True, exist_ok=True)
    scen.write_text(TOML_TEMPLATE.format(name=name), encoding="utf-8")
    return [source, scen]


def run(args: argparse.Namespace) -> int:
    root = repo_root()
    for path in scaffold(args.name, root):
        print(f"created {path.relative_to(root)}")
    name = args.name
    print(f"""
Next:
  1. write the test in images/tests/{name}/{name}.c (docs/guest-library.md: the runtime and
     the xtf_* helpers); more domains or other settings go in tests/scenarios/{name}.toml
     (docs/scenarios.md)
  2. ./moat build                              builds build/images/{name}.elf
  3. ./moat run tests/scenarios/{name}.toml     boots it and shows the console
  4. ./moat test tests/domains/test_scenarios.py -k {name}
     (every scenario without a test of its own is booted there and must end in SUCCESS;
     write tests/domains/test_<area>.py when you need to check the console in detail)""")
    return 0
