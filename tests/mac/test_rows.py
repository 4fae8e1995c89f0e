# SPDX-License-Identifier: MIT
"""An ssidref one row past the policy's last Chinese Wall or STE row names no label: refused at
boot, by relabel, getdecision and domain creation, while the last row works
(images/tests/mac_ctl/rows.c). Kills the surviving mutant of issue 17 in which acm_ssidref_in
(hv/xsm/acm_decide.c) accepted the Chinese Wall row one past the last."""

from __future__ import annotations

import re

from moat.pytest_plugin import log_tail

from . import maclog


def test_one_row_past_the_last_is_no_label(run_scenario):
    result = run_scenario("mac_rows")
    log = maclog.controller(result, ["rows: one past the last row refused", "rows: the last row works"])
    for name in ("boot-row-chwall", "boot-row-ste"):
        assert re.search(rf"^domain '{name}' not created: error -\d+$", result.console, re.M), (
            f"{name} was not refused at boot\n{log_tail(result)}")
        assert not any(d.name == name for d in log.domains), f"{name} ran"
    assert log.named("boot-row-last").result == "SUCCESS"
