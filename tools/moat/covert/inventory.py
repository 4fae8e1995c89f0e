# SPDX-License-Identifier: MIT
"""The inventory of shared state (docs/covert-channels.md), as data.

Every piece of state that one domain can influence and another can observe, whether or not the
policy lets the two share anything. `moat covert` takes each measured channel's mechanism from
here and `moat noninterference` names the entry that explains a divergence; tests/covert checks
that docs/covert-channels.md lists exactly these ids.

status:
  open         a channel in the default configuration, with a measured pair where one exists
  mitigable    open by default, closed or cut down by a hypervisor option: `mitigate=domid`,
               `mitigate=pools` (cheap) or `sched=partition` (not cheap: the timing channels);
               exist is only cut down (the receiver must scan every id)
  inherent     the policy's own rule creates it (the Chinese Wall's "may I create X now?")
  permission   only a label holding a permission can observe or send (read_state, load_policy,
               the TPM): the holder is trusted for it
  closed       shared, but by design nothing crosses (per-domain tables, scrubbed memory)
  hardware     microarchitectural state TCG does not model: stated, not measurable here
"""

from __future__ import annotations

from dataclasses import dataclass

STATUSES = ("open", "mitigable", "inherent", "permission", "closed", "hardware")


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    mechanism: str  # what is shared and how a domain sees it (one sentence, for tables)
    status: str
    mitigation: str | None = None  # the hypervisor option that closes it (`mitigate=...`, `sched=partition`)
    pair: bool = False  # measured by a pair of tests/covert/ (`moat covert ID`)


ENTRIES: tuple[Entry, ...] = (
    Entry("cpu", "CPU time (scheduling)",
          "one CPU runs every domain round robin (10 ms slices); a domain that spins takes time from "
          "the others, which see the gap in their TSC or system time",
          "mitigable", mitigation="sched=partition", pair=True),
    Entry("timer", "timer and wake-up latency",
          "a domain woken by its timer waits until the running domain's slice ends (the waker is not "
          "preempted), so its lateness shows whether another domain was running",
          "mitigable", mitigation="sched=partition", pair=True),
    Entry("tick", "the timer tick's work",
          "the 1 kHz tick walks every domain's timer and poll state on the running domain's time; its "
          "length depends on what the other domains wait for",
          "mitigable", mitigation="sched=partition", pair=True),
    Entry("console", "console output",
          "a console write (up to 4 KiB) is printed in the writer's hypercall with interrupts off; "
          "the time goes to the writer, and a reader of the time sees it as for cpu",
          "mitigable", mitigation="sched=partition", pair=True),
    Entry("exist", "existence by the time of a refusal",
          "a lookup of a live domain the caller may not touch and of a free id give the same answer "
          "(-EPERM) but run different code, so a timed refusal says whether the id is in use",
          "mitigable", mitigation="mitigate=domid", pair=True),
    Entry("domid", "domain ids",
          "ids are the lowest free entry of one 64-entry table: a creator learns from its child's id "
          "(a child from its own) which lower ids were in use",
          "mitigable", mitigation="mitigate=domid", pair=True),
    Entry("frames", "free frames and creation success",
          "one pool of machine frames for everyone: a create (or a grant mapping's maptrack page) "
          "fails with -ENOMEM when another label holds the memory",
          "mitigable", mitigation="mitigate=pools", pair=True),
    Entry("domtable", "the number of domains",
          "the domain table has 64 entries: a create fails with -ENOSPC when other labels' domains "
          "fill it",
          "mitigable", mitigation="mitigate=pools", pair=True),
    Entry("chwall", "Chinese Wall state",
          "a create of a label is refused (-EPERM) while a running domain holds a type of the same "
          "conflict set: whoever may create that label learns whether a rival runs",
          "inherent", pair=True),
    Entry("fairshare", "the fair-share window",
          "a woken domain jumps the run queue only while under its share, the window divided by the "
          "number of live domains (a global count): timing only, part of cpu",
          "mitigable", mitigation="sched=partition"),
    Entry("hv-work", "hypervisor work for others",
          "a domain's death walks every domain's ports and decision caches, a policy load or relabel "
          "sweeps every binding, on the time of whoever runs: timing only, part of cpu and tick",
          "mitigable", mitigation="sched=partition"),
    Entry("mac-state", "MAC counters, decisions and the live policy",
          "dumpstats, getpolicy, getdecision and getssid of a label need read_state over every "
          "label; a domain's own denials depend only on the two labels (except chwall)",
          "permission"),
    Entry("dom-exc", "deaths of other domains",
          "VIRQ_DOM_EXC needs read_state, and a death is delivered only to watchers that may read "
          "the dead domain's label; getdomaininfo, memory_op and getssid of another domain the same",
          "permission"),
    Entry("policy", "the policy version and revocations",
          "a policy load or relabel changes decisions, revokes channels and rewrites the links' "
          "vlans in start_info: only a load_policy label can send this way (trusted, threat 3)",
          "permission"),
    Entry("tpm", "TPM PCRs and the measurement log",
          "every domain creation, policy load and relabel is extended into the TPM and logged; the "
          "TPM's holder reads both, so its label learns what every creator did",
          "permission"),
    Entry("switch", "a shared service domain (switch, backup)",
          "a domain that serves several customers shares its CPU time, queues and ring space "
          "between them: one customer's load changes what another gets (docs/networking.md)",
          "open"),
    Entry("ports", "event-channel port numbers",
          "each domain has its own port table: a new port's number counts only its own ports; "
          "another domain's table needs foreign_evtchn, a peer's port is seen only by a peer",
          "closed"),
    Entry("gnttab", "grant-table sizes and entries",
          "each domain's table is its own; query_size and mapping of another domain need a shared "
          "STE type",
          "closed"),
    Entry("memory", "memory and register contents",
          "frames are cleared when allocated, extended state starts clean, guest registers are "
          "cleared on entry: nothing a domain leaves behind reaches the next user",
          "closed"),
    Entry("microarch", "caches, TLBs, branch predictors",
          "shared by every domain on real CPUs (prime+probe, speculation: docs/security.md); QEMU's "
          "TCG models none of them",
          "hardware"),
)

BY_ID: dict[str, Entry] = {e.id: e for e in ENTRIES}


def entry(channel_id: str) -> Entry:
    return BY_ID[channel_id]
