# SPDX-License-Identifier: MIT
"""The image names in the start-info page (start_info.image_names): each module's name is the
first word of its multiboot string without its directories, at most 31 bytes, zero-padded, and
the entries past nr_images are zero.

tests/scenarios/abi.toml's modules are booted with more behind them (before the policy, which
stays last), made for the edges of the hypervisor's scan (hv/core/domain.c, fill_start_info):
arguments holding slashes, a file name longer than 31 bytes, a module without arguments (its
string ends at the file's name), a path longer than the 127 bytes the hypervisor keeps of a
module's string (so the name ends where that string is cut), and more modules than the page has
entries for. The abi guest prints every entry (`image <i>: <hex>`) and checks the padding itself.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from moat import iso, manifest, paths, qemu, scenario
from moat.pytest_plugin import Booter, skip_or_fail

from . import domlog
from .conftest import GUEST_TIMEOUT, scenario_path

NAME_BYTES = 32       # start_info.image_names[i]
MAX_IMAGES = 16       # START_MAX_IMAGES
LOADER_STRING = 127   # boot_module.cmdline keeps this many bytes of a module's string

MODULE_LINE = re.compile(r"^module (\d+): \[0x[0-9a-f]+-0x[0-9a-f]+\) \d+ bytes '(.*)'$")
IMAGE_LINE = re.compile(r"^image (\d+): ([0-9a-f]{64})$")


def expected_name(string: str) -> bytes:
    """The name the hypervisor gives a module whose (kept) multiboot string is `string`."""
    first = string.split(" ", 1)[0]
    base = first.rsplit("/", 1)[-1]
    return base.encode()[:NAME_BYTES - 1].ljust(NAME_BYTES, b"\0")


def extra_modules(tmp_path: Path) -> list[tuple[Path, str]]:
    def file(rel: str) -> Path:
        f = tmp_path / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"not an image\n")
        return f

    # A path whose byte 125 is its last slash and that goes on past byte 127: the kept string
    # ends one byte into the file's name, and the next module's record follows the cut at once.
    prefix = f"{tmp_path}/deep/"
    assert len(prefix) < 120, f"tmp_path {tmp_path} is too long for this test"
    deep = file(f"deep/{'d' * (125 - len(prefix))}/{'n' * 24}")
    assert str(deep)[125] == "/" and len(str(deep)) > LOADER_STRING + 1
    mods = [
        (file("dir.one/named-module"), "arg/with/slashes x=1"),
        (file("a-module-file-name-longer-than-31-bytes"), "long"),
        (file("noargs"), ""),
        (deep, ""),
    ]
    # Fillers, so that there are more modules (17 with the policy) than image names (16).
    filler = file("sub/filler")
    mods += [(filler, f"f{i}") for i in range(9)]
    return mods


def boot_abi(boot: Booter, modules: list[tuple[Path, str]], **kwargs: Any) -> tuple[qemu.BootResult, domlog.Domain]:
    """Boot the abi guest with these modules; it must report no failure and end in SUCCESS."""
    result = boot(modules=modules, timeout=GUEST_TIMEOUT, **kwargs)
    abi = domlog.parse(result.console).named("abi")
    fails = [line for line in abi.lines if line.startswith(("Fail:", "Error:"))]
    assert not fails and abi.result == "SUCCESS", "\n".join(fails) + "\n" + result.tail()
    return result, abi


def test_image_names_are_base_names_cut_and_zero_padded(boot, tmp_path: Path):
    mods = manifest.build_boot_modules(scenario.load(scenario_path("abi")), paths.build_dir())
    modules = [*mods[:-1], *extra_modules(tmp_path), mods[-1]]  # the policy stays last
    assert len(modules) > MAX_IMAGES
    result, abi = boot_abi(boot, modules)

    strings = {int(m.group(1)): m.group(2) for line in result.lines if (m := MODULE_LINE.match(line))}
    assert len(strings) == len(modules), result.tail()
    assert len(strings[6]) == LOADER_STRING  # the deep one, cut
    images = {int(m.group(1)): bytes.fromhex(m.group(2)) for line in abi.lines if (m := IMAGE_LINE.match(line))}
    assert sorted(images) == list(range(MAX_IMAGES)), abi.lines
    for i in range(MAX_IMAGES):
        assert images[i] == expected_name(strings[i]), f"image {i} of module string {strings[i]!r}"
    # the edges, spelt out
    assert images[3].rstrip(b"\0") == b"named-module"
    assert images[4].rstrip(b"\0") == b"a-module-file-name-longer-than-"
    assert images[5].rstrip(b"\0") == b"noargs"
    assert images[6].rstrip(b"\0") == b"n"
    assert images[15].rstrip(b"\0") == b"filler"


def test_a_module_string_whose_first_word_ends_in_a_slash_gives_an_empty_name(boot, tmp_path: Path):
    """Through GRUB a module's multiboot string is its arguments alone (tools/moat/manifest.py), so
    a boot can give one whose first word is a directory (`dir/ tail`): its name is the empty word
    after that slash, not the next word (a scan that looked one byte past the name's end named it
    ` tail`). Also a module with no arguments at all, whose string is empty."""
    if not iso.have_grub_mkrescue():
        skip_or_fail("grub-mkrescue is missing")
    mods = manifest.build_boot_modules(scenario.load(scenario_path("abi")), paths.build_dir())
    payload = tmp_path / "payload"
    payload.write_bytes(b"not an image\n")
    extra = [(payload, "dir/ tail"), (payload, "sub/dir/ x=1"), (payload, ""), (payload, "plain/name z")]
    modules = [*mods[:-1], *extra, mods[-1]]  # the policy stays last
    assert len(modules) <= MAX_IMAGES
    result, abi = boot_abi(boot, modules, iso=True)

    strings = {int(m.group(1)): m.group(2) for line in result.lines if (m := MODULE_LINE.match(line))}
    assert len(strings) == len(modules), result.tail()
    first = len(mods) - 1
    assert [strings[first + k] for k in range(len(extra))] == ["dir/ tail", "sub/dir/ x=1", "", "plain/name z"]
    images = {int(m.group(1)): bytes.fromhex(m.group(2)) for line in abi.lines if (m := IMAGE_LINE.match(line))}
    assert sorted(images) == list(range(MAX_IMAGES)), abi.lines
    for i in range(len(modules)):
        assert images[i] == expected_name(strings[i]), f"image {i} of module string {strings[i]!r}"
    assert [images[first + k].rstrip(b"\0") for k in range(len(extra))] == [b"", b"", b"", b"name"]
