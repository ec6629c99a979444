"""The age identities sops will use, found where sops looks, described by their public keys only.

sops reads `SOPS_AGE_KEY` (the key text), then `SOPS_AGE_KEY_FILE`, and only when that is unset its
default file `$XDG_CONFIG_HOME/sops/age/keys.txt` (`~/.config/sops/age/keys.txt`). gripctl looks in
the same places so that its messages ("your key age1abc... is not a recipient of ...") match what sops
does. Private keys are read into memory, handed to `age-keygen -y` through a pipe, and never printed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gripctl.adapters import age
from gripctl.errors import SecretsError


@dataclass(frozen=True)
class IdentitySource:
    """One place age identities come from; `public_keys` is empty when it holds none."""

    where: str  # "SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE=/path", or the default file's path
    public_keys: tuple[str, ...]
    error: str | None = None  # set when the source exists but cannot be read

    def describe(self) -> str:
        keys = ", ".join(self.public_keys) or "no valid key"
        return f"{self.where} ({keys})"


def default_key_file() -> Path:
    """sops' default age key file on Linux."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sops" / "age" / "keys.txt"


def _source(where: str, text: str) -> IdentitySource:
    try:
        return IdentitySource(where, tuple(age.public_keys(text)))
    except SecretsError as exc:
        return IdentitySource(where, (), error=exc.message)


def identity_sources() -> list[IdentitySource]:
    """Every place sops would take an age identity from that is set in this environment."""
    sources: list[IdentitySource] = []
    if text := os.environ.get("SOPS_AGE_KEY"):
        sources.append(_source("SOPS_AGE_KEY", text))
    if file := os.environ.get("SOPS_AGE_KEY_FILE"):
        path = Path(file).expanduser()
        where = f"SOPS_AGE_KEY_FILE={path}"
        try:
            sources.append(_source(where, path.read_text()))
        except OSError as exc:
            sources.append(IdentitySource(where, (), error=f"cannot read it: {exc.strerror}"))
    elif (path := default_key_file()).is_file():
        try:
            sources.append(_source(str(path), path.read_text()))
        except OSError as exc:
            sources.append(IdentitySource(str(path), (), error=f"cannot read it: {exc.strerror}"))
    if os.environ.get("SOPS_AGE_KEY_CMD"):
        # Running the command just for a message could prompt or cost; sops will run it itself.
        sources.append(IdentitySource("SOPS_AGE_KEY_CMD", ()))
    return sources


def available_public_keys(sources: list[IdentitySource] | None = None) -> set[str]:
    return {key for s in (identity_sources() if sources is None else sources) for key in s.public_keys}


HOW_TO_GET_A_KEY = (
    "Put the matching private key in a file and set SOPS_AGE_KEY_FILE to it (or use sops' default "
    "~/.config/sops/age/keys.txt); if you hold none of these keys, run `gripctl secrets init` and ask a "
    "holder of one to add your public key and run `gripctl secrets updatekeys`"
)
