"""Secrets as SOPS + age encrypted values: the operations a person runs on them.

The secrets room (`gripctl.secrets`) does the work; these are the operations the faces offer, with
what each needs to say next (e.g. which deploy puts a rotated secret live).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gripctl.model.settings import read_settings
from gripctl.secrets import check as checks
from gripctl.secrets import rotation, workflows
from gripctl.secrets.check import SecretFinding
from gripctl.secrets.decrypt import decrypt_values
from gripctl.secrets.layout import component_file, component_name, release_id
from gripctl.secrets.rotation import RotationResult
from gripctl.secrets.workflows import EncryptResult, InitResult, KeyUpdate


def init(root: Path, *, environment: str | None, recipient: str | None, key_file: Path | None) -> InitResult:
    """Make an age key pair (or take a public key), add it to .sops.yaml, git-ignore key files."""
    return workflows.init(root, environment=environment, recipient=recipient, key_file=key_file)


def edit(root: Path, component: str) -> bool:
    """sops' own edit flow; True when the values changed."""
    return workflows.edit(root, component)


def decrypt(root: Path, component: str) -> bytes:
    """The decrypted values, in memory."""
    return decrypt_values(component_file(root, component), root=root)


def decrypt_to_file(root: Path, component: str, dest: Path) -> list[str]:
    """Plaintext to a file (mode 0600, git-ignored) because a person asked; the .gitignore lines added."""
    return workflows.decrypt_to_file(root, component, dest)


def encrypt(root: Path, component: str, source: Path | None) -> EncryptResult:
    return workflows.encrypt(root, component, source)


@dataclass(frozen=True)
class Rotation:
    result: RotationResult
    deploy: list[str]  # the commands that put the new values live
    release_id: str


def rotate(root: Path, component: str, keys: list[str] | None, environment: str | None) -> Rotation:
    """New values for the named keys from the configured generators; recorded (never the values)."""
    result = rotation.rotate(root, component, keys, environment=environment)
    envs = read_settings(root).get("environments")
    names = [environment] if environment else (list(envs) if isinstance(envs, dict) and envs else ["ENV"])
    rid = release_id(result.component)
    commands = [f"gripctl deploy -e {name} --only {rid} --include-dependents" for name in names]
    return Rotation(result, commands, release_id(component_name(component)))


def updatekeys(root: Path, *, rotate_all: bool) -> list[KeyUpdate]:
    """Re-encrypt every secrets file for the recipients in .sops.yaml; rotate changed data keys."""
    return workflows.updatekeys(root, rotate_all=rotate_all)


def check(root: Path) -> list[SecretFinding]:
    """Every secrets file decrypts, verifies and has the right recipients; nothing leaks to git."""
    return checks.check_secrets(root)
