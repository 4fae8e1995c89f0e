# SPDX-License-Identifier: MIT
"""Pack the hypervisor and its modules into a GRUB rescue ISO (grub-mkrescue)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from moat.errors import UserError

GRUB_MKRESCUE = "grub-mkrescue"
ISO_PACKAGES = "grub-pc-bin grub-common xorriso mtools"
_DEFAULT_TEMPLATE = Path(__file__).resolve().parent.parent.parent / "boot" / "grub.cfg.in"


def have_grub_mkrescue() -> bool:
    return shutil.which(GRUB_MKRESCUE) is not None


def _grub_word(text: str) -> str:
    """Quote one word for grub.cfg when it holds characters GRUB would interpret."""
    if re.fullmatch(r"[A-Za-z0-9_.,:=/+@%-]+", text):
        return text
    return "'" + text.replace("'", "'\\''") + "'"


def _grub_args(args: str) -> str:
    return " ".join(_grub_word(word) for word in args.split())


def module_name(index: int, path: Path) -> str:
    """The file name of module index on the ISO (unique, GRUB-safe)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", path.name) or "module"
    return f"{index}-{safe}"


def grub_cfg(template: str, cmdline: str, modules: Sequence[tuple[Path, str]]) -> str:
    """grub.cfg text: template with @CMDLINE@ and @MODULES@ replaced."""
    lines = []
    for i, (path, args) in enumerate(modules):
        line = f"    module --nounzip /boot/modules/{module_name(i, Path(path))}"
        if args:
            line += " " + _grub_args(args)
        lines.append(line)
    return template.replace("@CMDLINE@", _grub_args(cmdline)).replace("@MODULES@", "\n".join(lines))


def make_iso(
    output: Path,
    kernel: Path,
    cmdline: str = "",
    modules: Sequence[tuple[Path, str]] = (),
    *,
    template: Path | None = None,
) -> Path:
    """Build output (an ISO) that boots kernel with cmdline and modules through GRUB."""
    if not have_grub_mkrescue():
        raise UserError(f"{GRUB_MKRESCUE} not found: install it with: apt-get install {ISO_PACKAGES}")
    template_text = Path(template or _DEFAULT_TEMPLATE).read_text(encoding="utf-8")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="iso-", dir=output.parent) as tmp:
        root = Path(tmp) / "root"
        (root / "boot" / "grub").mkdir(parents=True)
        (root / "boot" / "modules").mkdir()
        shutil.copyfile(kernel, root / "boot" / "moat.bin")
        for i, (path, _) in enumerate(modules):
            shutil.copyfile(path, root / "boot" / "modules" / module_name(i, Path(path)))
        cfg = grub_cfg(template_text, cmdline, modules)
        (root / "boot" / "grub" / "grub.cfg").write_text(cfg, encoding="utf-8")
        partial = Path(tmp) / "moat.iso"
        proc = subprocess.run([GRUB_MKRESCUE, "-o", str(partial), str(root)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not partial.is_file():
            raise UserError(f"{GRUB_MKRESCUE} failed (status {proc.returncode}):\n"
                            f"{proc.stderr.strip()}")
        partial.replace(output)
    return output
