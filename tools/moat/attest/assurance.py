# SPDX-License-Identifier: MIT
"""What a customer is assured of, read from the measured policy (`moat attest run --for LABEL`).

Only after a passing verdict: the policy named here is the one whose hash the TPM quoted, and the
domains are the ones the hypervisor measured before they ran.
"""

from __future__ import annotations

from typing import Any

from moat.attest import AttestError


def assurance(policy: dict[str, Any], domains: list[dict[str, Any]], label: str) -> dict[str, Any]:
    labels = policy["labels"]
    if label not in labels:
        raise AttestError(f"--for {label}: not a label of the measured policy '{policy['name']}' "
                          f"({', '.join(sorted(labels))})")
    mine = labels[label]
    ste, chw = set(mine["ste"]), set(mine["chwall"])
    share = sorted(n for n, lab in labels.items() if set(lab["ste"]) & ste)
    barred_types: dict[str, list[str]] = {}
    for set_name, types in policy["conflict_sets"].items():
        if set(types) & chw:
            for t in set(types) - chw:
                barred_types.setdefault(t, []).append(set_name)
    barred = {n: sorted({s for t in lab["chwall"] for s in barred_types.get(t, [])})
              for n, lab in labels.items() if set(lab["chwall"]) & set(barred_types)}
    return {
        "label": label,
        "policy": {"name": policy["name"], "version": policy["version"], "sha256": policy["sha256"]},
        "domains": [d["name"] for d in domains if d["label"] == label],
        "may_share_with": share,
        "cannot_run_alongside": barred,
        "others_running": sorted({d["label"] for d in domains if d["label"] != label}),
    }


def format_assurance(a: dict[str, Any]) -> str:
    pol = a["policy"]
    lines = [f"What {a['label']} is assured of (policy '{pol['name']}' {pol['version']}, sha256 "
             f"{pol['sha256'][:16]}..., as measured):"]
    lines.append(f"  its domains: {', '.join(a['domains']) or '(none running)'}")
    others = [n for n in a["may_share_with"] if n != a["label"]]
    lines.append(f"  labels that may share event channels or pages with it: {', '.join(others) or 'none'}"
                 " (a shared STE type); no other label can bind a channel or map a page of its domains")
    if a["cannot_run_alongside"]:
        parts = [f"{n} ({', '.join(s)})" for n, s in sorted(a["cannot_run_alongside"].items())]
        lines.append(f"  labels that can never run while it runs (Chinese Wall): {', '.join(parts)}")
    else:
        lines.append("  no Chinese Wall conflict set names its types")
    lines.append(f"  other labels running beside it: {', '.join(a['others_running']) or 'none'}")
    return "\n".join(lines)
