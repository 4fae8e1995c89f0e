#!/bin/sh
# SPDX-License-Identifier: MIT
# Fuzz the hypervisor's ACM policy parser for a bounded time.
#   tests/fuzz/run.sh [SECONDS]      (default 60)
# (Its -I flags are tools/moat/include_roots.py's HOST roots.)
# Builds build/fuzz/acm_policy_fuzz with clang -fsanitize=fuzzer,address,undefined, seeds the
# corpus with blobs compiled from every policy the tests use, runs libFuzzer, and prints a last
# line "fuzz: runs=N crashes=M". Exit status 0 if nothing crashed. `moat check` runs it (20 s;
# `moat check --fuzz-seconds S` for longer); clang's libFuzzer runtime is Debian's libclang-rt-dev.
set -eu
SECONDS_TO_RUN=${1:-60}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT="$ROOT/build/fuzz"
CLANG=${CLANG:-clang}
PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
mkdir -p "$OUT/corpus" "$OUT/seeds"
# The corpus grows from run to run; crash files are this run's only (a stale one is no finding).
rm -rf "$OUT/artifacts" && mkdir -p "$OUT/artifacts"

"$CLANG" -std=c11 -g -O1 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -I "$ROOT/hv/internal" -I "$ROOT/hv/arch/x86_64/include" -I "$ROOT/hv/include" \
    -I "$ROOT/hv/lib/include" -I "$ROOT/hv" \
    "$ROOT/tests/fuzz/acm_policy_fuzz.c" "$ROOT/hv/xsm/acm_policy.c" -o "$OUT/acm_policy_fuzz"

# Seeds: every corpus and example policy, compiled (with --xen-compat so Xen's oddities are in).
PYTHONPATH="$ROOT/tools" "$PYTHON" - "$ROOT" "$OUT/seeds" <<'PY'
import sys
from pathlib import Path
from moat.policy import PolicyReadError, compile_policy, read_policy
from moat.policy.validate import check, fatal
root, out = Path(sys.argv[1]), Path(sys.argv[2])
n = 0
for src in sorted([*(root / "tests/data/policies").rglob("*.xml"), *(root / "docs/examples/policies").glob("*.*")]):
    try:
        p = read_policy(src)
    except PolicyReadError:
        continue
    if fatal(check(p), xen_compat=True):
        continue
    (out / f"{n:03d}-{src.stem}.bin").write_bytes(compile_policy(p))
    n += 1
print(f"fuzz: {n} seed blobs")
PY

LOG="$OUT/fuzz.log"
set +e
"$OUT/acm_policy_fuzz" -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$OUT/artifacts/" "$OUT/corpus" "$OUT/seeds" >"$LOG" 2>&1
RC=$?
set -e
RUNS=$(sed -n 's/^stat::number_of_executed_units: *//p' "$LOG" | tail -n 1)
CRASHES=$(find "$OUT/artifacts" -type f | wc -l)
tail -n 5 "$LOG"
echo "fuzz: runs=${RUNS:-0} crashes=$CRASHES (exit $RC; log $LOG)"
[ "$RC" -eq 0 ] && [ "$CRASHES" -eq 0 ]
