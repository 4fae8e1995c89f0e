# SPDX-License-Identifier: MIT
"""`moat noninterference`, booted (docs/covert-channels.md).

The demo's customers A and B (demo policy: no shared STE type, no conflict) in the default
configuration: what B observes differs with A's secret only in time readings (its TSC and its own
CPU time), which is the cpu channel; everything else it sees is the same for every secret. Under
partitioned scheduling (sched=partition) nothing B observes differs, its TSC readings and every
hypercall result included: noninterference holds.

Two creators (tx, rx): rx's child ids give tx's secret away (domid), and with mitigate=domid no
longer do."""

from __future__ import annotations

import json
import re
from pathlib import Path

from moat.covert import noninterference as ni
from moat.pytest_plugin import MoatCli, require_qemu

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "tests" / "covert"
LOGS = ROOT / "build" / "test-logs" / "covert"


def differing_keys(a: list[str], b: list[str]) -> set[str]:
    """Every key whose value differs anywhere between two views of the same length."""
    assert len(a) == len(b)
    keys = set()
    for x, y in zip(a, b, strict=True):
        for (kx, vx), (ky, vy) in zip(ni.words(x), ni.words(y), strict=True):
            assert kx == ky
            if vx != vy:
                keys.add(kx)
    return keys


def test_demo_customers_a_and_b(tmp_path, moat_cli: MoatCli):
    require_qemu()
    out = tmp_path / "ni.json"
    proc = moat_cli("noninterference", str(SCENARIOS / "ni_demo.toml"), "--high", "a-web", "--low", "b-app",
                    "--no-build", "--ignore-timing", "--json", str(out), cwd=ROOT)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text  # --ignore-timing: only time readings differ
    rep = json.loads(out.read_text())
    assert rep["reproducible"] and not rep["problems"], rep
    assert rep["verdict"] == "DIFFERS (timing only)" and rep["channels"] == ["cpu"], rep
    assert "share no STE type" in rep["policy"]
    (first,) = rep["divergences"]
    assert first["timing"] and first["key"] == "tsc" and first["channel"] == "cpu", first
    assert rep["functional_divergences"] == []
    assert "with every time reading masked, low's view is the same for every secret" in proc.stdout
    # Exactly which observations differ: b-app's time readings, nothing else it sees.
    logs = [Path(r["log"]) for r in rep["runs"] if not r["control"]]
    views = [ni.low_view(log.read_text().splitlines(), "b-app")[0] for log in logs]
    assert len(views[0]) == 18  # 16 steps, its last line and its end
    assert differing_keys(*views) == {"tsc", "cpu_ns"}
    # Every answer about customer A is a refusal, the same in every run.
    assert all("info=-1 unbound=-13 memop=-1 gntq=-8" in v for v in views[0][:16])
    # Without --ignore-timing the same difference is a failure (exit 1).
    again = moat_cli("noninterference", str(SCENARIOS / "ni_demo.toml"), "--high", "a-web", "--low", "b-app",
                     "--no-build", "--no-control", cwd=ROOT)
    assert again.returncode == 1 and "DIFFERS (timing only) (cpu)" in again.stdout, again.stdout + again.stderr


def test_creators_domid_channel_and_its_mitigation():
    require_qemu()
    path = SCENARIOS / "ni_create.toml"
    default = ni.run(path, ROOT, high="tx", low="rx", control=False, hypercalls=True, log_dir=LOGS / "ni-default")
    assert default.verdict == "DIFFERS", default.to_json()
    (_, d), = default.functional
    assert d.channel == "domid", default.to_json()
    assert d.base is not None and d.base.startswith("hc: nr=36 op=1 ret=0 out=")  # the create's result
    mitigated = ni.run(path, ROOT, high="tx", low="rx", control=False, append="mitigate=domid",
                       log_dir=LOGS / "ni-mitigated")
    assert mitigated.verdict == "DIFFERS (timing only)", mitigated.to_json()
    assert mitigated.functional == []


def partitioned_pair_holds(tmp_path: Path, moat_cli: MoatCli, scenario: str) -> tuple[str, list[Path]]:
    """`moat noninterference` on a partitioned a-web/b-app pair (two secrets and the control run,
    hypercall log included): it must exit 0 and say HOLDS with no divergence and no channel, each
    run seen making over 100 observations in two partitions of 10 ms. Returns its standard output
    and the three runs' console logs."""
    require_qemu()
    out = tmp_path / "ni.json"
    proc = moat_cli("noninterference", str(SCENARIOS / scenario), "--high", "a-web", "--low", "b-app",
                    "--no-build", "--runs", "2", "--hypercalls", "--json", str(out), cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rep = json.loads(out.read_text())
    assert rep["verdict"] == "HOLDS" and rep["divergences"] == [] and rep["channels"] == [], rep
    logs = [Path(r["log"]) for r in rep["runs"]]
    assert len(logs) == 3 and all(r["observations"] > 100 for r in rep["runs"]), rep["runs"]
    assert "sched: partitioned: 2 partitions of 10 ms" in logs[1].read_text()
    return proc.stdout, logs


def test_demo_customers_a_and_b_partitioned(tmp_path, moat_cli: MoatCli):
    """The same pair with [scheduler] mode = "partition": b-app's whole view, time readings and
    the hypercall log included, is the same for two secrets (and the control run)."""
    stdout, logs = partitioned_pair_holds(tmp_path, moat_cli, "ni_partition.toml")
    assert "moat noninterference: HOLDS" in stdout
    # The high domain did act on its secret in that run (0xff..ff: it spun in every step).
    assert "ni: high done" in logs[1].read_text()
    views = [ni.low_view(log.read_text().splitlines(), "b-app")[0] for log in logs]
    assert views[0] == views[1] == views[2]
    assert sum(v.startswith("out: ni: step=") for v in views[0]) == 16


def test_a_capped_domain_under_partitions_leaks_nothing(tmp_path, moat_cli: MoatCli):
    """ni_partition_cap.toml: the partitioned pair with a-web capped at 10 %, so whether it spends
    its budget (parked until the next period or not) depends on its secret. Its cap is kept in its
    own partition's time only (sched_share.c share_tick_partitioned): b-app's whole view, TSC
    readings included, is the same for both secrets. Before, the refill at a period's start ran in
    whichever partition's tick came first after it, and its work (un-parking and queueing a-web or
    not), and each tick's park test, fell in b-app's time: its TSC readings differed by 10
    instructions (the `tick` channel)."""
    _, logs = partitioned_pair_holds(tmp_path, moat_cli, "ni_partition_cap.toml")
    # The secret did change what the cap did: with every bit set a-web asked for 3/4 of every
    # step (67.5 ms) and got its cap (about 10 % of its life, in microseconds), parked the rest;
    # with none it used a fraction of a budget.
    stats = [re.search(r"stats: t=(\d+) d=0 name=a-web cpu=(\d+) .* end", log.read_text()) for log in logs[:2]]
    assert all(stats), [log.name for log in logs]
    (t0, cpu0), (t1, cpu1) = ((int(m[1]), int(m[2])) for m in stats if m)
    assert cpu0 < 1000 and 5000 < cpu1 <= 110 * t1, (t0, cpu0, t1, cpu1)
    views = [ni.low_view(log.read_text().splitlines(), "b-app")[0] for log in logs]
    assert views[0] == views[1] == views[2]
    assert sum(v.startswith("out: ni: step=") for v in views[0]) == 16
