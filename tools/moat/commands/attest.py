# SPDX-License-Identifier: MIT
"""`moat attest reference|run`: remote attestation of a booted scenario (docs/attestation.md)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from moat import building, paths
from moat.attest import AttestError, assurance
from moat.attest.reference import Reference, compute
from moat.attest.report import current_policy, for_label, print_verdict
from moat.attest.run import attested_run
from moat.errors import UserError

RUN_TIMEOUT = 300.0

DESCRIPTION = """\
Remote attestation with a TPM 2.0 (swtpm): compute what a scenario must measure (reference), or
boot it with a TPM and verify it through its attestation agent (run); docs/attestation.md.

reads:  SCENARIO and what it names (policy, images), build/hv/moat.bin, REF.json (run),
        swtpm's local CA (the EK certificate chain)
writes: REF.json (reference), build/attest/ (the TPM state, the console log), --json OUT (run)
"""

EPILOG = """\
exit status: 0 verified (run) or reference written; 1 the system did not verify, every
difference named; 3 moat could not do what was asked (bad arguments, a bad reference file,
nothing built, no swtpm)
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("attest", help="measured launch: reference measurements, and verify a booted system",
                       description=DESCRIPTION, epilog=EPILOG, allow_abbrev=False,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s = p.add_subparsers(dest="attest_command", metavar="COMMAND")
    s.required = True
    r = s.add_parser("reference", help="the expected measurements of a scenario, without booting",
                     allow_abbrev=False)
    r.add_argument("scenario", type=Path)
    r.add_argument("-o", "--output", type=Path, required=True, metavar="REF.json")
    r.add_argument("--allow-policy", type=Path, action="append", default=[], metavar="POLICY",
                   help="a policy the system may load at run time (repeatable)")
    r.add_argument("--no-build", action="store_true", help="do not run SCons first")
    r.set_defaults(func=cmd_reference)
    v = s.add_parser("run", help="boot a scenario with a TPM and verify it against a reference",
                     allow_abbrev=False)
    v.add_argument("scenario", type=Path)
    v.add_argument("--reference", type=Path, required=True, metavar="REF.json")
    v.add_argument("--json", type=Path, metavar="OUT", help="also write the verdict as JSON")
    v.add_argument("--for", dest="for_label", metavar="LABEL",
                   help="print what a customer with this label is assured of")
    v.add_argument("--tpm", default=None, metavar="NAME",
                   help="the TPM to use (build/attest/tpm/NAME; default: the scenario's name)")
    v.add_argument("--timeout", type=float, default=RUN_TIMEOUT, metavar="S",
                   help=f"give up after S seconds (default {RUN_TIMEOUT:g})")
    v.add_argument("--no-build", action="store_true", help="do not run SCons first")
    v.add_argument("-v", "--verbose", action="store_true", help="echo the system's console")
    v.set_defaults(func=cmd_run)


def cmd_reference(args: argparse.Namespace) -> int:
    if not args.no_build:
        building.build_or_fail()
    ref = compute(args.scenario, args.allow_policy)
    ref.write(args.output)
    d = ref.data
    print(f"moat attest: reference of {args.scenario}: hypervisor {d['hypervisor']['sha256'][:16]}..., policy "
          f"'{d['policy']['name']}' {d['policy']['version']}, {len(d['domains'])} domains, "
          f"{len(d['events'])} boot events -> {args.output}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    if not args.no_build:
        building.build_or_fail()
    ref = Reference.load(args.reference)
    tpm_name = args.tpm or args.scenario.stem
    log = paths.build_dir() / "attest" / f"{args.scenario.stem}-console.log"
    echo = (lambda line: print(f"  | {line}", flush=True)) if args.verbose else None
    print(f"moat attest: booting {args.scenario} with a TPM (build/attest/tpm/{tpm_name}); console in "
          f"{paths.display(log)}", file=sys.stderr, flush=True)
    run = attested_run(args.scenario, ref, tpm_name=tpm_name, timeout=args.timeout, log=log, on_line=echo)
    verdict = run.verdict
    print(f"moat attest: system stopped: {run.result.describe()}", file=sys.stderr)
    total = time.monotonic() - t0
    print_verdict(verdict)
    if args.for_label:
        print(for_label(ref, verdict, args.for_label))
    session_s = run.evidence.session_seconds if run.evidence else 0.0
    print(f"moat attest: {total:.1f} s in all (the verdict after {run.verified_after:.1f} s); agent session "
          f"{session_s:.2f} s; verification {verdict.verify_seconds * 1000:.1f} ms", file=sys.stderr)
    if args.json:
        out = {"verified": verdict.ok, "problems": verdict.problems, "facts": verdict.facts,
               "seconds": {"total": round(total, 3), "verdict": round(run.verified_after, 3),
                           "session": round(session_s, 3), "verification": round(verdict.verify_seconds, 6)}}
        if args.for_label and verdict.ok:
            try:
                out["assurance"] = assurance.assurance(current_policy(ref, verdict), ref.data["domains"],
                                                       args.for_label)
            except AttestError as e:
                raise UserError(str(e)) from e
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0 if verdict.ok else 1
