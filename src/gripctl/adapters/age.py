"""The `age-keygen` binary as typed calls: make a key pair, derive public keys from identities.

Private keys travel only through pipes (stdin/stdout of age-keygen), never through argv or temp files,
and the KeyPair type hides its private half from repr() so it cannot leak into a log by accident.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gripctl.adapters.process import run
from gripctl.errors import SecretsError

# An age X25519 recipient: "age1" + 58 bech32 characters (the bech32 alphabet has no 1, b, i, o).
RECIPIENT_RE = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")
IDENTITY_PREFIX = "AGE-SECRET-KEY-1"


def is_recipient(text: str) -> bool:
    """Whether `text` looks like an age X25519 public key."""
    return bool(RECIPIENT_RE.match(text.strip()))


@dataclass(frozen=True)
class KeyPair:
    """A fresh age identity. `identity_file` is the age-keygen output (comments + secret key line)."""

    public: str
    identity_file: str = field(repr=False)


def keygen() -> KeyPair:
    """Generate a new age identity with `age-keygen` (written to a pipe, never to disk here)."""
    out = run("age-keygen", []).stdout
    public = next(
        (line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("# public key:")),
        None,
    )
    if public is None or IDENTITY_PREFIX not in out:
        raise SecretsError("age-keygen produced no key pair", hint="check the age-keygen binary (make setup)")
    return KeyPair(public=public, identity_file=out if out.endswith("\n") else out + "\n")


def public_keys(identities: str) -> list[str]:
    """The public keys of every identity in an age identity file's text (`age-keygen -y`, via stdin).

    Raises SecretsError when the text holds no valid identity; the message never repeats the text.
    """
    if IDENTITY_PREFIX not in identities.upper():
        return []
    result = run("age-keygen", ["-y"], stdin=identities.encode(), check=False)
    if not result.ok:
        raise SecretsError(
            "an age identity could not be read (malformed AGE-SECRET-KEY line)",
            hint="regenerate it with `gripctl secrets init`, or fix the key file",
        )
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]
