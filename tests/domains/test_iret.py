# SPDX-License-Identifier: MIT
"""HYPERVISOR_iret checks the frame a guest hands it (images/tests/iret/): rip and rsp at or above
GUEST_VA_LIMIT are refused with -EINVAL and the guest goes on; an rflags asking for IOPL 3, NT, AC
or TF resumes without them. Each check kills a mutant that once survived the suite (issue 17):
the rip check, the rsp check and the rflags mask of the iret hypercall (do_iret, hv/core/sched.c,
and arch_upcall_pop, hv/arch/x86_64/upcall.c). The direct sysret of a plain hypercall keeps IF
from the flags saved at the syscall (ring 3 cannot clear it) and masks NT and AC away. The iret
resumes with all 15 general registers exactly as its frame has them (none left from the hypercall
that asked for it: the syscall fast path keeps the guest's rbx outside the frame until its way
out)."""

from __future__ import annotations

import re

from moat.pytest_plugin import assert_xtf, log_tail

from . import domlog


def test_iret_refuses_bad_frames_and_masks_rflags(run_scenario):
    result = run_scenario("iret")
    log = domlog.parse(result.console)
    guest = log.named("iret")
    fails = [line for line in guest.lines if line.startswith(("Fail:", "Error:"))]
    assert not fails, "\n".join(fails) + "\n" + log_tail(result)
    assert_xtf(result)
    for step in ("iret: rip at or above GUEST_VA_LIMIT refused", "iret: rsp at or above GUEST_VA_LIMIT refused",
                 "iret: unreadable frames refused", "iret: IOPL, NT, AC and TF never reach the guest",
                 "iret: a clear rflags resumes clear", "iret: events unmasked",
                 "iret: every register as the frame has it",
                 "sysret: IF kept, NT and AC taken away, CF and DF kept",
                 "iret: the domain went on after every refusal"):
        assert step in guest.lines, f"{step!r} missing\n{log_tail(result)}"
    seen = next(m for line in guest.lines if (m := re.fullmatch(r"iret: asked for rflags (\S+), resumed with (\S+)",
                                                                  line)))
    asked, got = int(seen[1], 16), int(seen[2], 16)
    assert asked & 0x3000 == 0x3000 and got & 0x3000 == 0, f"IOPL leaked: {got:#x}"
    assert got & ~0xcd5 & ~0x202 == 0, f"flags outside the arithmetic ones and IF: {got:#x}"
