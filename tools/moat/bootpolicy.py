# SPDX-License-Identifier: MIT
"""The security policy a boot carries: compiled on demand, with its label names.

The hypervisor refuses to run without a policy module, so every boot gets one: the scenario's
`policy`, or data/default-policy.toml. Compiled blobs are cached under build/policies/ by the
SHA-1 of their source and of the compiler's own sources, so repeated boots do not recompile and a
changed compiler (a new binary layout) never boots a stale blob.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from moat.errors import UserError
from moat.outputs import write_atomically
from moat.policy import is_blob, read_policy_bytes
from moat.policy.binary import compile_policy
from moat.policy.model import numbering
from moat.policy.validate import check, fatal
from moat.policy.xmlreader import PolicyReadError

DEFAULT_POLICY = Path(__file__).parent / "data" / "default-policy.toml"
POLICY_MODULE_ARGS = "policy"
_compiler_digest: bytes | None = None


def compiler_digest() -> bytes:
    """SHA-1 of the policy compiler's sources (moat/policy/*.py), computed once."""
    global _compiler_digest
    if _compiler_digest is None:
        h = hashlib.sha1()
        for src in sorted((Path(__file__).parent / "policy").glob("*.py")):
            h.update(src.name.encode() + b"\0" + src.read_bytes())
        _compiler_digest = h.digest()
    return _compiler_digest


@dataclass(frozen=True)
class BootPolicy:
    blob: Path
    labels: dict[str, int]  # VM label name -> ssidref
    bootstrap: str
    is_default: bool
    source: Path = DEFAULT_POLICY
    name: str = ""
    ste: dict[str, tuple[str, ...]] = field(default_factory=dict)  # VM label -> its STE types
    ste_columns: tuple[str, ...] = ()  # STE types in the binary's column order (type t = bit t)

    def ssidref(self, label: str) -> int | None:
        return self.labels.get(label)

    def label_of(self, ssidref: int) -> str | None:
        """The VM label with this ssidref, if any."""
        return next((name for name, ref in self.labels.items() if ref == ssidref), None)


# What compile_for_boot gave before, in this process, keyed by the source's path, the SHA-1 of its
# bytes and the compiler's, and the cache directory: a test run boots a few policies some 500
# times, and reading, checking and numbering one again is most of staging a boot's Python. A
# changed source (or compiler) is a new key; a blob deleted meanwhile is compiled again.
_compiled: dict[tuple[str, str, str], BootPolicy] = {}


def compile_for_boot(source: Path, cache_dir: Path) -> BootPolicy:
    """Compile source (XML or TOML) into cache_dir; a policy with errors is a UserError."""
    try:
        data = source.read_bytes()
    except OSError as e:
        raise UserError(f"{source}: {e.strerror}") from None
    if is_blob(data):
        raise UserError(f"{source}: a compiled blob has no label names; give the policy's XML or TOML")
    digest = hashlib.sha1(compiler_digest() + data).hexdigest()[:16]
    key = (str(source), digest, str(cache_dir))
    before = _compiled.get(key)
    if before is not None and before.blob.is_file():
        return before
    try:
        pol = read_policy_bytes(data, str(source))  # the bytes the digest is of
    except (PolicyReadError, ValueError) as e:
        raise UserError(str(e)) from None
    bad = fatal(check(pol), xen_compat=False)
    if bad:
        raise UserError("\n".join(str(d) for d in bad) + f"\n{source}: the policy has errors")
    num = numbering(pol)
    out = cache_dir / f"{source.stem}-{digest}.bin"
    if not out.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        write_atomically(out, compile_policy(pol, num))  # parallel test workers may compile the same policy
    labels = {name: (row << 16) | row for row, name in enumerate(num.vm_rows) if row > 0}
    ste = {v.name: tuple(sorted({t.name for t in v.ste})) for v in num.vm_by_row[1:] if v is not None}
    made = _compiled[key] = BootPolicy(out, labels, pol.bootstrap, source.resolve() == DEFAULT_POLICY.resolve(),
                                       source=source, name=pol.name, ste=ste, ste_columns=tuple(num.ste_types))
    return made


def default_policy(cache_dir: Path) -> BootPolicy:
    return compile_for_boot(DEFAULT_POLICY, cache_dir)


def has_policy_module(modules: list[tuple[Path, str]], base: Path) -> bool:
    for path, _ in modules:
        try:
            with (base / path).open("rb") as f:
                if is_blob(f.read(4)):
                    return True
        except OSError:
            continue
    return False
