# SPDX-License-Identifier: MIT
"""Remote attestation of a moat system (docs/attestation.md).

eventlog   TCG crypto-agile event logs: parse, replay, moat's own event records
reference  the expected measurements of a scenario, computed from the build without booting
tpm        TPM structures (tpm2-pytss) and signatures (cryptography): EK, AK, credentials, quotes
swtpm      a software TPM (swtpm) with an EK certificate from its local CA, per system
agent      the line protocol to the agent guest over the second serial port
verify     the verifier: enrolment, quote, replay, item-by-item comparison, the verdict
assurance  what a customer is assured of, from the measured policy
"""

from __future__ import annotations


class AttestError(Exception):
    """Something the verifier refuses, with a message that says what and why (never a traceback)."""
