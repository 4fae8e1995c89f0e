# SPDX-License-Identifier: MIT
"""A large generated policy, for the compile-time figures (`moat bench policy_compile`).

The default is the size issue 12 measures: 1,000 STE types (and as many Chinese Wall types),
200 disjoint conflict sets of 5 types, 5,000 labels (4,000 VM labels with 3 STE types and one
Chinese Wall type each, 1,000 resource labels); the bootstrap label holds every STE type.
The same seed gives the same policy.
"""

from __future__ import annotations

import random

from .model import ConflictSet, Named, Policy, ResourceLabel, VmLabel


def generate(ste: int = 1000, sets: int = 200, labels: int = 5000, seed: int = 1) -> Policy:
    rnd = random.Random(seed)
    p = Policy(file="generated", source_kind="toml", name="perf", version="1.0", bootstrap="vm0")
    p.ste_types = [Named(f"t{i}", 1) for i in range(ste)]
    p.chwall_types = [Named(f"t{i}", 1) for i in range(ste)]  # one Chinese Wall type per STE type
    # disjoint conflict sets of 5 types each, so a label with one type per set never self-conflicts
    for k in range(sets):
        p.conflict_sets.append(ConflictSet(f"cs{k}", 1, [Named(f"t{5 * k + j}", 1) for j in range(5)]))
    n_vm = labels * 4 // 5
    for i in range(n_vm):
        st = rnd.sample(range(ste), 3)
        p.vm_labels.append(VmLabel(f"vm{i}", 1, [Named(f"t{t}", 1) for t in st], [Named(f"t{st[0]}", 1)]))
    p.vm_labels[0].ste = [Named(f"t{t}", 1) for t in range(ste)]
    for i in range(labels - n_vm):
        p.resource_labels.append(ResourceLabel(f"res{i}", 1, [Named(f"t{rnd.randrange(ste)}", 1)]))
    return p
