# SPDX-License-Identifier: MIT
"""What a verdict says, for people: the verdict with its facts, and what one customer is assured of."""

from __future__ import annotations

import sys
from typing import Any

from moat.attest import AttestError, assurance, verify
from moat.attest.reference import Reference


def print_verdict(v: verify.Verdict, out: Any = None) -> None:
    """To out, or to sys.stdout as it is at the call (not as it was when this module was imported)."""
    out = sys.stdout if out is None else out
    f = v.facts
    if v.ok:
        print("VERIFIED: the system runs what the reference describes", file=out)
    else:
        print(f"NOT VERIFIED: {len(v.problems)} problem(s):", file=out)
        for p in v.problems:
            print(f"  - {p}", file=out)
    if not f:
        return
    print(f"  agent        {f['agent']}; EK certificate issued by {' <- '.join(f['ek_certificate_chain'][1:])}",
          file=out)
    if v.ok:
        hv = f["hypervisor"]
        print(f"  hypervisor   sha256 {hv['sha256']}, command line {hv['cmdline']!r}", file=out)
        bp = f["boot_policy"]
        print(f"  policy       '{bp['name']}' {bp['version']}, sha256 {bp['sha256']}", file=out)
        for d in f["domains"]:
            print(f"  domain {d['name']:<12} label {d['label']:<12} image {d['image']} sha256 {d['image_sha256']}",
                  file=out)
        for line in f["runtime"]:
            print(f"  since boot: {line}", file=out)



def for_label(ref: Reference, verdict: verify.Verdict, label: str) -> str:
    """What a customer with this label is assured of, or why nothing."""
    if not verdict.ok:
        return f"{label}: no assurance: the system did not verify"
    try:
        return assurance.format_assurance(assurance.assurance(current_policy(ref, verdict), ref.data["domains"],
                                                              label))
    except AttestError as e:
        return f"{label}: {e}"


def current_policy(ref: Reference, verdict: verify.Verdict) -> dict[str, Any]:
    want = verdict.facts["policy"]["sha256"]
    for p in ref.data["known_policies"]:
        if p["sha256"] == want:
            return dict(p)
    raise AttestError("the measured policy is not in the reference")
