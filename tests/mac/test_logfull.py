# SPDX-License-Identifier: MIT
"""A full measurement log: the hypervisor refuses (-ENOSPC) a policy load, a relabel and a domain
creation it can no longer measure, and each leaves the state as it was
(images/tests/mac_ctl/logfull.c checks the state; here the hypervisor's own lines)."""

from __future__ import annotations

import re

from . import maclog


def test_what_cannot_be_measured_is_refused(run_scenario):
    result = run_scenario("mac_logfull", timeout=240)
    log = maclog.controller(result, ["logfull: policy, relabel and creation refused unmeasured, nothing changed"])
    ctl = log.named("ctl")
    loads = [m for line in ctl.lines if (m := re.fullmatch(r"logfull: (\d+) loads, then rc=-28", line))]
    assert len(loads) == 1
    # Every load the guest counted was measured and announced; then two policies were refused.
    assert result.console.count("mac: policy 'mac-test' version 1.0 loaded (refuse mode)") == int(loads[0].group(1))
    assert result.console.count("refused: it could not be measured (error -28)") == 2
    assert re.search(r"^\(d0\) logfull: then \d+ relabels, then rc=-28$", result.console, re.M)
    # The refusals: the first load, the last relabel, the other policy, the creation.
    assert result.console.count("measure: the event log is full: refusing to proceed unmeasured") == 4
    assert "domain 'full-new' not created" not in result.console  # a domctl creation, not the boot's
