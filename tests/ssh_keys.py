"""Real SSH keys for approval tests: `ssh-keygen -t ed25519` per person and an allowed-signers file
naming them (the file git reads for SSH-signed commits: `PRINCIPAL namespaces="..." KEY`)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def make_key(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / name
    if key.exists():
        return key
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@test", "-f", str(key)], check=True
    )
    return key


def allowed_signers(path: Path, keys: dict[str, Path]) -> Path:
    lines = [
        f'{name} namespaces="gripctl-approval" {" ".join(key.with_suffix(".pub").read_text().split()[:2])}'
        for name, key in keys.items()
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def signers(folder: Path, names: list[str], file: Path) -> dict[str, Path]:
    """Keys for `names` under `folder`, all listed in the allowed-signers `file`."""
    keys = {name: make_key(folder, name) for name in names}
    allowed_signers(file, keys)
    return keys
