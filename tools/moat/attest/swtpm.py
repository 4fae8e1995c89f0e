# SPDX-License-Identifier: MIT
"""A software TPM 2.0 (swtpm) for one system, with an EK certificate from swtpm's local CA.

State lives under build/attest/: `ca/` is the local CA (made by swtpm_localca on first use: a
root and an intermediate), `tpm/<name>/` one TPM each. `swtpm_setup` creates a TPM's EK and
writes its certificate into NV (index 0x01c00002), signed by that CA; the verifier trusts the CA
and nothing else. Each boot starts `swtpm socket` on that state, with the control socket QEMU's
tpm-emulator backend connects to; swtpm ends when QEMU disconnects.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from moat import paths
from moat.errors import UserError

PACKAGES = "swtpm swtpm-tools"


def attest_dir() -> Path:
    return paths.build_dir() / "attest"


def ca_dir() -> Path:
    return attest_dir() / "ca"


def trusted_ca_files() -> list[Path]:
    """The local CA's certificates (root and issuer): what the verifier trusts."""
    files = [ca_dir() / "swtpm-localca-rootca-cert.pem", ca_dir() / "issuercert.pem"]
    return [f for f in files if f.is_file()]


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise UserError(f"{tool} not found: install it with: apt-get install {PACKAGES}")
    return path


def _write(path: Path, text: str) -> None:
    """Atomically: parallel test workers may set up TPMs at the same time (swtpm_localca itself
    serializes its CA with a lock file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _write_config(base: Path) -> Path:
    ca = ca_dir()
    ca.mkdir(parents=True, exist_ok=True)
    _write(base / "localca.conf", f"statedir = {ca}\nsigningkey = {ca}/signkey.pem\nissuercert = "
                                  f"{ca}/issuercert.pem\ncertserial = {ca}/certserial\n")
    _write(base / "localca.options", "--platform-manufacturer moat\n--platform-version 2.1\n--platform-model QEMU\n")
    conf = base / "swtpm_setup.conf"
    _write(conf, f"create_certs_tool = {_need('swtpm_localca')}\ncreate_certs_tool_config = {base}/localca.conf\n"
                 f"create_certs_tool_options = {base}/localca.options\nactive_pcr_banks = sha256\n")
    return conf


def tpm_state(name: str, *, fresh: bool = False) -> Path:
    """The state directory of TPM `name`, manufactured (EK + certificate) when it is new."""
    state = attest_dir() / "tpm" / name
    if fresh and state.exists():
        shutil.rmtree(state)
    if (state / "tpm2-00.permall").is_file():
        return state
    state.mkdir(parents=True, exist_ok=True)
    conf = _write_config(attest_dir())
    r = subprocess.run([_need("swtpm_setup"), "--tpm2", "--tpmstate", str(state), "--create-ek-cert",
                        "--create-platform-cert", "--lock-nvram", "--pcr-banks", "sha256", "--config", str(conf),
                        "--overwrite"],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or not (state / "tpm2-00.permall").is_file():
        raise UserError(f"swtpm_setup failed for {state}:\n{r.stdout}{r.stderr}")
    return state


@dataclass
class RunningTpm:
    ctrl: Path
    process: subprocess.Popen[bytes]

    def qemu_args(self) -> list[str]:
        return ["-chardev", f"socket,id=chrtpm,path={self.ctrl}", "-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
                "-device", "tpm-tis,tpmdev=tpm0"]


@contextlib.contextmanager
def running(state: Path, sock_dir: Path) -> Iterator[RunningTpm]:
    """swtpm on state, for one boot; stopped (if QEMU did not end it) on exit."""
    ctrl = sock_dir / "tpm.ctrl"
    log = state.parent / f"{state.name}.swtpm.log"
    proc = subprocess.Popen([_need("swtpm"), "socket", "--tpm2", "--tpmstate", f"dir={state}",
                             "--ctrl", f"type=unixio,path={ctrl}", "--terminate",
                             "--log", f"file={log},level=1"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not ctrl.exists():
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise UserError(f"swtpm exited at start: {err.strip() or 'no message'}")
            if time.monotonic() > deadline:
                raise UserError("swtpm did not open its control socket within 10 s")
            time.sleep(0.02)
        yield RunningTpm(ctrl, proc)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr:
            proc.stderr.close()
