"""Helpers for the secrets tests: real age identities and a small platform with real SOPS files."""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gripctl.adapters import sops
from gripctl.adapters.toolchain import find_tool


@dataclass(frozen=True)
class Identity:
    public: str
    key_file: Path

    def env(self) -> dict[str, str]:
        return {"SOPS_AGE_KEY_FILE": str(self.key_file)}


def make_identity(path: Path) -> Identity:
    """A real age identity made by age-keygen into `path` (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([find_tool("age-keygen"), "-o", str(path)], check=True, capture_output=True)
    public = subprocess.run(
        [find_tool("age-keygen"), "-y", str(path)], check=True, capture_output=True, text=True
    ).stdout.strip()
    return Identity(public, path)


def write_sops_config(
    root: Path, recipients: list[str], regex: str = r"^ops/secrets/.*\.sops\.ya?ml$"
) -> None:
    (root / ".sops.yaml").write_text(
        yaml.safe_dump({"creation_rules": [{"path_regex": regex, "age": ",".join(recipients)}]})
    )


def encrypt_file(root: Path, component: str, values: dict[str, Any]) -> Path:
    """Encrypt `values` for the rules' recipients straight through the sops adapter (no gripctl
    workflow), so fixtures do not depend on the code under test."""
    target = root / "ops" / "secrets" / component / "values.sops.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    result = sops.encrypt(
        yaml.safe_dump(values, sort_keys=False).encode(),
        filename=target,
        config=root / ".sops.yaml",
        cwd=root,
    )
    assert result.ok, result.stderr
    target.write_text(result.stdout)
    return target


def make_platform(root: Path, recipients: list[str], components: dict[str, dict[str, Any]]) -> Path:
    """A platform root with gripctl.yaml, .sops.yaml for `recipients`, and one encrypted file each."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "gripctl.yaml").write_text(
        "apiVersion: gripctl/v1\nsecrets: ops/secrets\nenvironments:\n  staging: {}\n  production: {}\n"
    )
    write_sops_config(root, recipients)
    for component, values in components.items():
        encrypt_file(root, component, values)
    return root


def random_secret(prefix: str = "s") -> str:
    """A value that cannot occur by chance anywhere on the machine."""
    return f"{prefix}-{secrets.token_urlsafe(24)}"


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under `root` (to prove a failed command changed nothing)."""
    out: dict[str, str] = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def decrypt_with(identity: Identity | None, path: Path) -> subprocess.CompletedProcess[str]:
    """Decrypt with exactly one identity (or none), straight with the sops binary."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_AGE")}
    if identity is not None:
        env["SOPS_AGE_KEY_FILE"] = str(identity.key_file)
    return subprocess.run(
        [find_tool("sops"), "decrypt", str(path)], env=env, capture_output=True, text=True, check=False
    )
