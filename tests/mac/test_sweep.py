# SPDX-License-Identifier: MIT
"""The sweep of a policy change among live domains (images/tests/mac_ctl/sweep.c checks the codes,
the violation tuples and what is left bound; here the hypervisor's own lines): allowed and
forbidden sharing mixed in the order the sweep meets it, channels between two children and a
loopback channel, VIRQ_DOM_EXC bindings kept and lost, a conflict at Chinese Wall type 0 that comes
with sharing violations, more revocations than a load audits line by line, and a blob that parses
but has no bootstrap row; and a domain labelled __UNLABELED__ (ssidref 0) walked first."""

from __future__ import annotations

import re

from . import maclog

STEPS = [
    "sweep: a policy without a bootstrap row refused as not loadable",
    "sweep: a conflict at type 0 refused alone in both modes",
    "sweep: refuse: 14 violations",
    "sweep: revoke: 12 channels, 0 grant mappings, 1 VIRQ bindings",
    "sweep: a loopback channel of an unlabeled domain kept",
]


def test_a_policy_change_sweeps_every_kind_of_sharing(run_scenario):
    result = run_scenario("mac_sweep", timeout=180)
    maclog.controller(result, STEPS)
    console = result.console
    # The hand-made blob parses (a malformed one would be refused as such, with the same -EINVAL).
    assert console.count("mac: setpolicy refused: not a loadable policy of the running policy's type") == 2
    assert "mac: setpolicy refused: malformed" not in console
    # The conflict alone (both modes), then the sweep's 14 violations.
    assert console.count("mac: setpolicy 'mac-test' refused: 1 violations (refuse mode)") == 1
    assert console.count("mac: setpolicy 'mac-test' refused: 1 violations (revoke mode)") == 1
    assert console.count("mac: setpolicy 'mac-test' refused: 14 violations (refuse mode)") == 1
    # 13 revocations in one load: the first 8 audited one line each, all counted in the summary.
    assert console.count("mac: policy 'mac-test' version 1.2 loaded (revoke mode): revoked 12 event channels, "
                         "0 grant mappings, 1 VIRQ bindings (the first 8 audited above)") == 1
    revoked = re.findall(r"^MAC revoke .*$", console, re.M)
    assert len(revoked) == 8, revoked
    # In the sweep's order: our channels to green come first (domain 0 is walked first).
    assert all(re.fullmatch(r"MAC revoke evtchn 0:ctl port \d+ <-> \d+:apart-green", line) for line in revoked), revoked
