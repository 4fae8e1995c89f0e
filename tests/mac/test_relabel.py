# SPDX-License-Identifier: MIT
"""A relabel moves a domain's Chinese Wall types: the old label's stop counting at once, the new
label's count until the next relabel or the domain's end (images/tests/mac_ctl/relabel.c). Kills
the surviving mutant of issue 17 in which relabel never released the old label's types."""

from __future__ import annotations

from . import maclog


def test_relabel_moves_chinese_wall_types(run_scenario):
    result = run_scenario("mac_relabel")
    maclog.controller(result, ["relabel: the old label's Chinese Wall types are released",
                               "relabel: the new label's types count until the next relabel",
                               "relabel: a refused relabel and the domain's end leave the counts right"])
    walls = [d.obj for d in maclog.denials(result.console) if d.op == "chinese-wall"]
    assert walls == ["new:beta-while-alpha", "new:alpha-while-beta"], walls
