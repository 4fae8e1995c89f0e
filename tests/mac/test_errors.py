# SPDX-License-Identifier: MIT
"""Error returns of the hypercall handlers that only a domain with every permission reaches
(issue 17: every error return of every hypercall handler reached by a test). The controller
(images/tests/mac_ctl/errors.c) checks each result itself and prints one `errors: <what> rc=<n>`
line per check; the test wants each line with the expected code, so a check that is dropped or
never reached fails here too."""

from __future__ import annotations

import re

from . import maclog

EPERM, ENOENT, ESRCH, E2BIG, EFAULT, EINVAL, ENOSPC, ENOSYS = -1, -2, -3, -7, -14, -22, -28, -38
GNTST_GENERAL, GNTST_BAD_DOMAIN, GNTST_PERMISSION_DENIED, GNTST_BAD_PAGE = -1, -2, -8, -9

EXPECTED = {
    "domctl unknown cmd": ENOSYS,
    "domctl interface version": EINVAL,
    "domctl getinfo free id": ESRCH,
    "domctl destroy free id": ESRCH,
    "domctl pause free id": ESRCH,
    "domctl unpause id 1000": ESRCH,
    "domctl destroy self": EINVAL,
    "domctl pause self by id": EINVAL,
    "domctl unpause self": EINVAL,
    "domctl getinfo self by id": 0,
    "domctl read-only getvcpuinfo of no vcpu": EINVAL,
    "domctl read-only getinfo": EFAULT,
    "create name unterminated": EINVAL,
    "create name unterminated, not a label": EINVAL,
    "create cmdline unterminated": EINVAL,
    "create cmdline unterminated, not a label": EINVAL,
    "create ssidref not a label": EPERM,
    "create image past the modules": EINVAL,
    "create image not an ELF": EINVAL,
    "create memory not pages": EINVAL,
    "create memory below 64K": EINVAL,
    "create memory too small for the image": EINVAL,
    "create 64K sleeper": 0,
    "create 64K sleeper: getinfo": 0,
    "create 64K sleeper: pages": 16,
    "create 64K sleeper: vcpu 0": 0,
    "create 64K sleeper: no vcpu 1": EINVAL,
    "create max_vcpus past the most": EINVAL,
    "create max_vcpus the most": 0,
    "create unknown flag": EINVAL,
    "create memory too large": EINVAL,
    "create memory a page past 1 GiB": EINVAL,
    "create memory of 1 GiB": -12,  # -ENOMEM: the size is allowed, the machine (128 MiB) lacks it
    "create name with escape": EINVAL,
    "create empty name": EINVAL,
    "create with an unknown device": EINVAL,
    "create into a full table": ENOSPC,
    "create after one left": 0,
    "evtchn alloc_unbound owner free id": ESRCH,
    "evtchn alloc_unbound remote free id": ESRCH,
    "evtchn bind_interdomain free id": ESRCH,
    "evtchn status free id": ESRCH,
    "evtchn reset free id": ESRCH,
    "evtchn alloc_unbound in red for red": 0,
    "evtchn status of red's port": 0,
    "evtchn reset red": 0,
    "evtchn status after reset": 0,
    "evtchn alloc_unbound in domain 0 for a child": 0,
    "evtchn status of domain 0's port after the death": 0,
    "evtchn status of domain 0's port after the death: remote": 0x7FF4,
    "evtchn status port 0": 0,
    "gnttab query_size free id": 0,
    "gnttab query_size free id status": GNTST_BAD_DOMAIN,
    "gnttab query_size count 2": EINVAL,
    "gnttab query_size count 0": EINVAL,
    "gnttab setup_table count 2": EINVAL,
    "gnttab setup_table free id": 0,
    "gnttab setup_table free id status": GNTST_BAD_DOMAIN,
    "gnttab batch too long": EINVAL,
    "gnttab unknown op": ENOSYS,
    "gnttab map free id": 0,
    "gnttab map free id status": GNTST_BAD_DOMAIN,
    "gnttab map from a domain without a table": 0,
    "gnttab map without a table status": GNTST_GENERAL,
    "gnttab map of a grant past the granter's RAM": 0,
    "gnttab map of a grant past the granter's RAM status": GNTST_BAD_PAGE,
    "gnttab map own grant read-only": 0,
    "gnttab map own grant read-only status": 0,
    "gnttab map the rewritten pinned grant": 0,
    "gnttab map the rewritten pinned grant status": 0,
    "gnttab the second mapping shows the first frame": 0x11,
    "gnttab map a read-only pinned grant writable": 0,
    "gnttab map a read-only pinned grant writable status": GNTST_GENERAL,
    "gnttab unmap first": 0,
    "gnttab unmap first again": -4,
    "gnttab copy from a foreign PFN": 0,
    "gnttab copy from a foreign PFN status": GNTST_PERMISSION_DENIED,
    "gnttab copy to a PFN past RAM": 0,
    "gnttab copy to a PFN past RAM status": GNTST_BAD_PAGE,
    "gnttab copy within own page": 0,
    "gnttab copy within own page status": 0,
    "gnttab copy from a free id's grant": 0,
    "gnttab copy from a free id's grant status": GNTST_BAD_DOMAIN,
    "gnttab copy from a grant past the granter's RAM": 0,
    "gnttab copy from a grant past the granter's RAM status": GNTST_BAD_PAGE,
    "gnttab copy to a table-less domain's grant": 0,
    "gnttab copy to a table-less domain's grant status": GNTST_GENERAL,
    "acm getssid get_by 3": EINVAL,
    "acm getssid free id": ESRCH,
    "acm getssid by a non-label": EINVAL,
    "acm getssid by ssidref DOMID_SELF": EINVAL,
    "acm getdecision unknown hook": EINVAL,
    "acm getdecision beta beside alpha": 0,
    "acm getdecision beta beside alpha decision": 1,
    "acm getdecision alpha beside beta": 0,
    "acm getdecision alpha beside beta decision": 1,
    "acm getdecision non-label 1": EINVAL,
    "acm getdecision non-label 2": EINVAL,
    "acm relabel free id": ESRCH,
    "acm relabel to a non-label": EINVAL,
    "acm dumpstats short buffer": ENOSPC,
    "acm unknown op": ENOSYS,
    "acm setpolicy violations to a bad buffer": EFAULT,
    "acm setpolicy first MiB unmapped": EFAULT,
    "acm setpolicy header-sized blob is read": EFAULT,
    "acm setpolicy largest blob is read": EFAULT,
    "acm setpolicy blob shorter than a header is not read": EINVAL,
    "acm setpolicy blob over the largest is not read": E2BIG,
    "acm setpolicy truncated, counts preset": EINVAL,
    "acm setpolicy truncated, counts written back": 0,
    "acm getpolicy after the refusal": 0,
    "acm getpolicy into an unmapped buffer": EFAULT,
    "acm getpolicy into an unmapped buffer, len untouched": 0x55,
    "acm dumpstats exact buffer": 0,
    "acm getpolicy into a buffer of the blob's size": 0,
    "sched shutdown reason 7": EINVAL,
    "sched shutdown reason past crash": EINVAL,
    "sched shutdown bad pointer": EFAULT,
    "sched unknown op": ENOSYS,
    "set_callbacks below RAM": EINVAL,
    "set_callbacks past RAM": EINVAL,
    "set_callbacks at RAM's first byte": 0,  # guest_code_address's edges (hv/core/sched.c)
    "set_callbacks at RAM's last byte": 0,
    "set_callbacks 0 (none)": 0,
    "xen_version unknown": ENOSYS,
    "memory_op free id": ESRCH,
    "memory_op unknown": ENOSYS,
    "memory_op bad pointer": EFAULT,
    "console_io unknown": ENOSYS,
    "console_io too long": EINVAL,
    "measure_op without the TPM": EPERM,
}


def test_error_returns_with_every_permission(run_scenario):
    result = run_scenario("mac_errors", timeout=180)
    log = maclog.controller(result, ["errors: done"])
    ctl = log.named("ctl")
    assert ctl.domid == 1
    got = {}
    for line in ctl.lines:
        if line.startswith("errors: ") and " rc=" in line:
            what, rc = line[len("errors: "):].rsplit(" rc=", 1)
            got[what] = int(rc)
    assert got == EXPECTED
    # Only the two images refused for what they are were read: module 0 (the boot manifest, not
    # an ELF) and the peer's (too big for 64 KiB). An image index past the modules is refused
    # before any module is read (under the speculation mask it would read module 0).
    refused = re.findall(r"^domain \d+ 'err-child': image module (\d+) refused: (.*)$", result.console, re.MULTILINE)
    assert refused == [("0", "not a little-endian ELF64 file"), ("1", "segment outside the guest's memory")], refused
    # A created domain is never marked privileged (SIF_PRIVILEGED), though its creator may create.
    assert log.named("err-flags").lines == ["peer: start_info flags=0x0", "Test result: SUCCESS"]
    # The table filled with the controller's children, not because the event log ran out.
    filled = [line for line in ctl.lines if line.startswith("errors: filled the table with ")]
    assert filled == [f"errors: filled the table with {64 - 2} domains"]
    assert "event log is full" not in result.console
    # The bad violations buffer: the policy was checked (a Chinese Wall conflict), nothing loaded.
    assert "mac: setpolicy 'mac-test' refused: 1 violations (refuse mode)" in result.console
