# SPDX-License-Identifier: MIT
"""Host tests of the scenario [[domain]] format and the boot manifest (no QEMU): the Python
layout agrees with hv/include/public/manifest.h (checked by compiling C), encode/decode round
trips, the CRC covers everything after it, and mistakes are reported with their scenario key."""

from __future__ import annotations

import os
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

from moat import bootpolicy, manifest, policy, scenario
from moat.errors import UserError

ROOT = Path(__file__).resolve().parents[2]


def load(tmp_path: Path, text: str) -> scenario.Scenario:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return scenario.load(path)


def test_layout_matches_the_c_header(tmp_path: Path):
    if shutil.which("gcc") is None:
        pytest.skip("gcc not found")
    checks = [
        ("sizeof(struct manifest_header)", manifest.HEADER.size),
        ("sizeof(struct manifest_domain)", manifest.DOMAIN.size),
        ("offsetof(struct manifest_header, crc32)", 4),
        ("offsetof(struct manifest_header, total_size)", 16),
        ("offsetof(struct manifest_header, slice_us)", 20),
        ("offsetof(struct manifest_domain, image_module)", manifest.NAME_MAX),
        ("offsetof(struct manifest_domain, vcpus)", manifest.NAME_MAX + 9 * 4),
        ("offsetof(struct manifest_domain, weight)", manifest.NAME_MAX + 10 * 4),
        ("offsetof(struct manifest_domain, cap)", manifest.NAME_MAX + 11 * 4),
        ("offsetof(struct manifest_domain, vcpu_cpus)", manifest.NAME_MAX + 12 * 4),
        ("offsetof(struct manifest_domain, cmdline)", manifest.NAME_MAX + 12 * 4 + manifest.MANIFEST_MAX_VCPUS),
        ("MANIFEST_MAX_VCPUS", manifest.MANIFEST_MAX_VCPUS),
        ("MANIFEST_CPU_PLACED", manifest.CPU_PLACED),
        ("sizeof(((struct manifest_domain *)0)->cmdline)", manifest.CMDLINE_MAX),
        ("MANIFEST_MAGIC", manifest.MANIFEST_MAGIC),
        ("MANIFEST_VERSION", manifest.MANIFEST_VERSION),
        ("MANIFEST_MAX_DOMAINS", manifest.MANIFEST_MAX_DOMAINS),
        ("MDOM_PRIVILEGED", manifest.MDOM_PRIVILEGED),
        ("EXPECT_POWEROFF", manifest.EXPECT["poweroff"]),
        ("EXPECT_CRASH", manifest.EXPECT["crash"]),
        ("EXPECT_ANY", manifest.EXPECT["any"]),
    ]
    src = tmp_path / "layout.c"
    src.write_text("#include <stddef.h>\n#include <public/manifest.h>\n#include <public/hv.h>\n" + "".join(
        f"_Static_assert({expr} == {value}, \"{expr}\");\n" for expr, value in checks) +
        f"_Static_assert(GUEST_RAM_VA == {manifest.GUEST_RAM_VA}, \"ram\");\n"
        f"_Static_assert(GUEST_STACK_PAGES == {manifest.GUEST_STACK_PAGES}, \"stack\");\n"
        f"_Static_assert(START_MAX_IMAGES == {manifest.START_MAX_IMAGES}, \"images\");\n")
    proc = subprocess.run(["gcc", "-std=c11", "-fsyntax-only", "-I", str(ROOT / "hv" / "include"), str(src)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_encode_decode_round_trip(tmp_path: Path):
    scen = load(tmp_path, """
[scheduler]
slice_ms = 3
[[domain]]
name = "a"
image = "hello"
memory = "512K"
label = 5
cmdline = "x=1"
privileged = true
[[domain]]
image = "ticker"
count = 2
expect = "crash"
max_evtchn = 64
max_grant_frames = 4
[[domain]]
name = "z"
image = "hello"
expect = "any"
""")
    blob = manifest.encode(scen)
    header, recs = manifest.decode(blob)
    assert header.magic == manifest.MANIFEST_MAGIC and header.version == manifest.MANIFEST_VERSION == 5
    assert header.domain_count == 4 and header.total_size == len(blob) == 40 + 4 * 344
    assert header.slice_us == 3000
    assert header.crc32 == zlib.crc32(blob[8:])
    assert [r.name for r in recs] == ["a", "ticker-0", "ticker-1", "z"]
    # Module 0 is the manifest; images are numbered in order of first use.
    assert [r.image_module for r in recs] == [1, 2, 2, 1]
    assert manifest.image_names(scen) == ["hello", "ticker"]
    a, t0 = recs[0], recs[1]
    assert (a.memory_kib, a.ssidref, a.flags, a.expect, a.cmdline) == (512, 5, manifest.MDOM_PRIVILEGED, 0, "x=1")
    assert (t0.memory_kib, t0.expect, t0.max_evtchn, t0.max_grant_frames, t0.flags) == (1024, 1, 64, 4, 0)
    assert recs[3].expect == 2


def test_a_cpu_for_each_vcpu(tmp_path: Path):
    """`cpu = [k0, k1, ...]`: vCPU 0's CPU in `cpu` (pinned), the others' in vcpu_cpus."""
    text = "[[domain]]\nimage = 'hello'\nvcpus = 4\ncpu = [1, 2, 3, 0]\n[[domain]]\nimage = 'hello'\nname = 'b'\n"
    [a, b] = manifest.decode(manifest.encode(load(tmp_path, text)))[1]
    assert (a.cpu, a.flags & manifest.MDOM_PINNED, a.vcpus) == (1, manifest.MDOM_PINNED, 4)
    assert a.vcpu_cpus == bytes([0xFF, 2, 3, 0, 0xFF, 0xFF, 0xFF, 0xFF])
    assert b.vcpu_cpus == bytes([0xFF] * 8) and not b.flags & manifest.MDOM_PINNED


def test_crc_covers_every_byte_after_it(tmp_path: Path):
    blob = bytearray(manifest.encode(load(tmp_path, "[[domain]]\nimage = 'hello'\n")))
    for offset in (20, 24, 40, len(blob) - 1):  # slice_us, flags, a name, the last cmdline byte
        damaged = bytearray(blob)
        damaged[offset] ^= 0x01
        with pytest.raises(ValueError, match="crc32"):
            manifest.decode(bytes(damaged))


@pytest.mark.parametrize("text,key,message", [
    ("[[domain]]\nname = 'x'\n", "domain[0].image", "missing"),
    ("[[domain]]\nimage = 'hello'\nmemory = '102K'\n", "domain[0].memory", "multiple of 4K"),
    ("[[domain]]\nimage = 'hello'\nmemory = '32K'\n", "domain[0].memory", "outside"),
    ("[[domain]]\nimage = 'hello'\nmemory = '2G'\n", "domain[0].memory", "outside"),
    ("[[domain]]\nimage = 'hello'\nmemory = 'lots'\n", "domain[0].memory", "not a memory size"),
    ("[[domain]]\nimage = 'hello'\nexpect = 'success'\n", "domain[0].expect", "is not one of"),
    ("[[domain]]\nimage = 'hello'\nprivileged = 1\n", "domain[0].privileged", "must be a boolean"),
    ("[[domain]]\nimage = 'hello'\nflavour = 1\n", "domain[0].flavour", "unknown key"),
    ("[[domain]]\nimage = 'hello'\n[[domain]]\nimage = 'hello'\n", "domain[1].name", "used by another"),
    ("[[domain]]\nimage = 'hello'\nname = 'has space'\n", "domain[0].name", "domain names"),
    ("[[domain]]\nimage = 'hello'\ncount = 65\n", "domain[0].count", "1 to 64"),
    ("[[domain]]\nimage = 'no such/../x y.elf'\n", "domain[0].image", "image names"),
    ("[[domain]]\nimage = 'hello'\ncmdline = '" + "x" * 256 + "'\n", "domain[0].cmdline", "255"),
    ("[scheduler]\nslice_ms = -1\n", "scheduler.slice_ms", "0 (default) to 1000"),
    ("[scheduler]\nslice = 1\n", "scheduler.slice", "unknown key"),
    ("images = 'hello'\n", "images", "array"),
    ("[[domain]]\nimage = 'hello'\nvcpus = 2\ncpu = [1]\n", "domain[0].cpu", "each of its 2 vcpus"),
    ("[[domain]]\nimage = 'hello'\nvcpus = 2\ncpu = [1, 'x']\n", "domain[0].cpu", "an integer"),
    ("[[domain]]\nimage = 'hello'\nvcpus = 2\ncpu = [1, 64]\n", "domain[0].cpu", "must be 0 to"),
])
def test_domain_errors_name_the_key(tmp_path: Path, text, key, message):
    with pytest.raises(scenario.ScenarioError) as info:
        load(tmp_path, text)
    assert info.value.key == key
    assert message in info.value.message


def test_65_domains_are_too_many(tmp_path: Path):
    text = "".join(f"[[domain]]\nname = 'd{i}'\nimage = 'hello'\n" for i in range(65))
    with pytest.raises(scenario.ScenarioError, match="at most 64"):
        load(tmp_path, text)


def _fake_build(tmp_path: Path, names: list[str]) -> Path:
    build = tmp_path / "build"
    (build / "images").mkdir(parents=True)
    for name in names:
        shutil.copyfile(ROOT / "build" / "images" / "hello.elf", build / "images" / f"{name}.elf")
    return build


def test_boot_modules_are_manifest_then_images(tmp_path: Path):
    if not (ROOT / "build" / "images" / "hello.elf").is_file():
        pytest.skip("build/images/hello.elf is not built (./moat build)")
    build = _fake_build(tmp_path, ["hello", "ticker", "extra"])
    (tmp_path / "mod.txt").write_text("m")
    scen = load(tmp_path, "images = ['extra']\n[[domain]]\nimage = 'ticker'\n[[domain]]\nimage = 'hello'\n"
                          "[[module]]\npath = 'mod.txt'\nargs = 'a=b'\n")
    mods = manifest.build_boot_modules(scen, build)
    names = [path.name for path, _ in mods]
    assert names[:4] == ["manifest", "ticker", "hello", "extra"]
    assert names[-2] == "mod.txt" and mods[-2][1] == "a=b"
    assert policy.is_blob(mods[-1][0].read_bytes())  # the compiled (default) policy comes last
    # The hypervisor names a module by the first word of its multiboot string: QEMU gives
    # "path args", GRUB just "args", and both must read as the module's name.
    assert [(path.name, args) for path, args in mods[:4]] == [(n, n) for n in names[:4]]
    _, recs = manifest.decode(mods[0][0].read_bytes())
    assert [r.image_module for r in recs] == [1, 2]
    # Staged without its debug sections (the hypervisor measures every byte it boots), the code,
    # data and symbol table (fault records name functions from it) unchanged.
    staged, built = mods[1][0].read_bytes(), (build / "images" / "ticker.elf").read_bytes()
    assert staged == manifest.boot_image_bytes(build / "images" / "ticker.elf")
    assert len(staged) < len(built) and b".debug_info" in built and b".debug_info" not in staged
    assert b".symtab" in staged and b".text" in staged


def test_an_image_rebuilt_in_place_is_checked_and_staged_anew(tmp_path: Path):
    """The checks and the stripped copy are kept per image bytes, not per path: a guest rebuilt
    between two boots of one process (a test run, `moat mutate`) is never booted as it was."""
    if not (ROOT / "build" / "images" / "hello.elf").is_file():
        pytest.skip("build/images/hello.elf is not built (./moat build)")
    build = _fake_build(tmp_path, ["hello"])
    scen = load(tmp_path, "[[domain]]\nimage = 'hello'\n")
    first = manifest.build_boot_modules(scen, build)[1][0].read_bytes()
    image = build / "images" / "hello.elf"
    shutil.copyfile(ROOT / "build" / "images" / "ticker.elf", image)  # rebuilt: other code, same path
    second = manifest.build_boot_modules(scen, build)[1][0].read_bytes()
    assert second != first and second == manifest.boot_image_bytes(image)
    image.write_bytes(b"not an elf at all")  # and now broken: refused, not staged from before
    with pytest.raises(UserError, match="not an ELF"):
        manifest.build_boot_modules(scen, build)


def test_a_policy_changed_between_boots_is_compiled_anew(tmp_path: Path):
    """compile_for_boot keeps what it made per source bytes, not per path: the same bytes give the
    same policy, a blob deleted meanwhile is made again, and a source rewritten between two boots
    of one process gives the new policy's blob and labels."""
    policies = ROOT / "tests" / "scenarios" / "policies"
    src, cache = tmp_path / "p.toml", tmp_path / "policies"
    shutil.copyfile(policies / "sched-test.toml", src)
    first = bootpolicy.compile_for_boot(src, cache)
    assert bootpolicy.compile_for_boot(src, cache) == first
    first.blob.unlink()
    again = bootpolicy.compile_for_boot(src, cache)
    assert again == first and again.blob.read_bytes() == policy.compile_policy(policy.read_policy(src))
    shutil.copyfile(policies / "quota-test.toml", src)  # rewritten in place: other labels
    changed = bootpolicy.compile_for_boot(src, cache)
    want = bootpolicy.compile_for_boot(policies / "quota-test.toml", tmp_path / "elsewhere")
    assert changed.blob != first.blob and changed.labels == want.labels != first.labels
    assert changed.blob.read_bytes() == want.blob.read_bytes()


def test_two_workers_compiling_one_policy_at_once_both_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Test workers share build/policies/: two may compile the same policy at the same moment. The
    second here starts while the first has written its blob aside but not yet renamed it into
    place (CI once failed two tests so: with one fixed temporary name, the second's rename took the
    first one's file away under it). Both must get the policy, and the blob must be whole."""
    src, cache = ROOT / "tests" / "scenarios" / "policies" / "sched-test.toml", tmp_path / "policies"
    real_replace = os.replace
    inner: list[bootpolicy.BootPolicy] = []
    renames = [0]

    def replace_after_another_worker(a: str, b: str) -> None:
        renames[0] += 1
        if renames[0] == 1:  # the first writer, between its write and its rename: the other runs
            monkeypatch.setattr(bootpolicy, "_compiled", {})  # a process of its own: nothing kept
            inner.append(bootpolicy.compile_for_boot(src, cache))
        return real_replace(a, b)

    monkeypatch.setattr(bootpolicy, "_compiled", {})
    monkeypatch.setattr(os, "replace", replace_after_another_worker)
    outer = bootpolicy.compile_for_boot(src, cache)
    assert inner and inner[0].blob == outer.blob
    assert outer.blob.read_bytes() == policy.compile_policy(policy.read_policy(src))
    assert [p.name for p in cache.iterdir()] == [outer.blob.name]  # no temporary file left behind


def test_missing_image_says_build_first(tmp_path: Path):
    scen = load(tmp_path, "[[domain]]\nimage = 'nonesuch'\n")
    with pytest.raises(UserError, match=r"run \./moat build first"):
        manifest.build_boot_modules(scen, tmp_path / "build")


def test_image_refused_by_the_loader_checks(tmp_path: Path):
    (tmp_path / "bad.elf").write_bytes(b"not an elf at all")
    scen = load(tmp_path, "[[domain]]\nimage = './bad.elf'\n")
    with pytest.raises(UserError, match="not an ELF"):
        manifest.build_boot_modules(scen, tmp_path / "build")


def test_image_too_big_for_its_memory(tmp_path: Path):
    if not (ROOT / "build" / "images" / "hello.elf").is_file():
        pytest.skip("build/images/hello.elf is not built (./moat build)")
    build = _fake_build(tmp_path, ["hello"])
    # 64 KiB: 16 pages minus the stack and guard page leave 11 for the image, which is enough;
    # the window check itself is what matters: an image must end below the guard page.
    lo, hi = manifest.guest_window(64)
    assert (lo, hi) == (0x400000, 0x400000 + 64 * 1024 - 5 * 4096)
    scen = load(tmp_path, "[[domain]]\nimage = 'hello'\nmemory = '64K'\n")
    manifest.build_boot_modules(scen, build)  # fits


def test_every_scenario_in_the_tree_parses():
    for path in sorted((ROOT / "tests" / "scenarios").glob("*.toml")):
        scen = scenario.load(path)
        assert scen.domains, path
        manifest.encode(scen)


def test_any_domain_may_be_privileged(tmp_path: Path):
    # The MAC policy decides what a domain may do (its label); the flag is no longer limited to
    # the first domain.
    scen = load(tmp_path, "[[domain]]\nimage = 'hello'\n[[domain]]\nname = 'b'\nimage = 'hello'\nprivileged = true\n")
    recs = manifest.records(scen)
    assert [r.flags for r in recs] == [0, manifest.MDOM_PRIVILEGED]
    assert recs[0].ssidref != recs[1].ssidref  # domU and the bootstrap label
