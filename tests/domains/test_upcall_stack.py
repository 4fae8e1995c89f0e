# SPDX-License-Identifier: MIT
"""An event upcall whose frame cannot go onto the guest stack (images/tests/upcall_stack/): the
hypervisor writes the frame straight from the saved registers (upcall_frame_push in
hv/arch/x86_64/syscall.S, checked by arch_upcall_push in hv/arch/x86_64/upcall.c). An rsp that
would wrap, a frame at 0, past GUEST_VA_LIMIT or in the hypervisor's half is refused before any
write; a frame that ends exactly at GUEST_VA_LIMIT (the last user range) is tried and faults (no
guest memory is mapped there); a frame on unmapped memory faults on its first store or, at the top
of RAM, on a store of its last words, and each fault resumes at the fixup. Every way, only that
domain is killed. Where a frame that fits goes (images/tests/upcall_place/): 16-byte aligned, right
below the 128-byte red zone, for an rsp of any alignment."""

from __future__ import annotations

import re

from moat.pytest_plugin import assert_xtf, log_tail

from . import domlog
from .conftest import GUEST_TIMEOUT, scenario_path

WAYS = ("low", "zero", "edge", "top", "high", "unmapped", "tail")
# Which ways the range test refuses before any write; the others are tried and a store faults.
REFUSED = {"low", "zero", "edge", "high"}


def test_an_upcall_frame_with_no_room_kills_only_its_domain(boot):
    result = boot(scenario_file=scenario_path("upcall_stack"), timeout=GUEST_TIMEOUT)
    log = domlog.parse(result.console)
    for name in WAYS:
        dom = log.named(name)
        assert any(line.startswith("upcall due with rsp at") for line in dom.lines), log_tail(result)
        assert not any(line.startswith(("Fail:", "Error:")) for line in dom.lines), dom.lines
        assert dom.outcome == "killed" and dom.reason == "bad stack for an event upcall", log_tail(result)
        why = "out of the user range" if name in REFUSED else "a store faulted"
        assert any(re.fullmatch(rf"domain {dom.domid} '{name}': cannot push an upcall frame at rsp=0x[0-9a-f]+: {why}",
                                line) for line in result.lines), log_tail(result)
    # No domain prints a Test result (each is killed first): the hypervisor's own count says all
    # ended as the scenario expects.
    assert (log.as_expected, log.not_expected) == (len(WAYS), 0), log_tail(result)
    assert "moat: all domains stopped: 7 as expected, 0 not" in result.lines, log_tail(result)
    # Exactly the three frames in user ranges with nothing mapped faulted in the hypervisor's copy
    # (top, unmapped, tail; the four others were refused before any write: a frame at 0 or past
    # the limit is never tried), and each fault was answered by its fixup: none stopped it. (The
    # count alone would not tell a frame at 0 tried and one at the top refused: each kill line
    # says which way its push failed.)
    faults = next(m for line in result.lines if (m := re.match(r"faults at stop: (\d+) on guest addresses.*"
                                                               r"none in the hypervisor", line)))
    assert int(faults[1]) == 3, log_tail(result)


def test_upcall_frames_go_aligned_right_below_the_red_zone(run_scenario):
    result = run_scenario("upcall_place")
    guest = domlog.parse(result.console).named("upcall_place")
    fails = [line for line in guest.lines if line.startswith(("Fail:", "Error:"))]
    assert not fails, "\n".join(fails) + "\n" + log_tail(result)
    assert_xtf(result)
    placed = {int(m[1]): (int(m[2], 16), int(m[3], 16)) for line in guest.lines
              if (m := re.fullmatch(r"rsp % 16 = +(\d+): rsp (0x[0-9a-f]+), frame (0x[0-9a-f]+)", line))}
    assert sorted(placed) == [0, 1, 7, 8, 15], log_tail(result)
    for rsp, frame in placed.values():
        # The highest 16-byte aligned address whose frame (18 words) leaves the red zone whole.
        assert frame % 16 == 0 and frame + 144 <= rsp - 128 < frame + 144 + 16, (hex(rsp), hex(frame))
    assert "upcall frames: 16-byte aligned, right below the red zone" in guest.lines, log_tail(result)
