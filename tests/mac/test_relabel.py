# SPDX-License-Identifier: MIT
"""A relabel moves a domain's Chinese Wall types: the old label's stop counting at once, the new
label's count until the next relabel or the domain's end (images/tests/mac_ctl/relabel.c). Kills
the surviving mutant of issue 17 in which relabel never released the old label's types."""

from __future__ import annotations

from domains import domlog

from moat.pytest_plugin import assert_xtf, log_tail

from . import maclog


def test_relabel_moves_chinese_wall_types(run_scenario):
    result = run_scenario("mac_relabel")
    log = domlog.parse(result.console)
    ctl = log.named("ctl")
    assert not maclog.guest_fails(ctl.lines), "\n".join(maclog.guest_fails(ctl.lines)) + "\n" + log_tail(result)
    assert_xtf(result)
    for step in ("relabel: the old label's Chinese Wall types are released",
                 "relabel: the new label's types count until the next relabel",
                 "relabel: a refused relabel and the domain's end leave the counts right"):
        assert step in ctl.lines, f"{step!r} missing\n{log_tail(result)}"
    walls = [d.obj for d in maclog.denials(result.console) if d.op == "chinese-wall"]
    assert walls == ["new:beta-while-alpha", "new:alpha-while-beta"], walls
