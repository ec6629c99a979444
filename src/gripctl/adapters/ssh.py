"""SSH signatures with `ssh-keygen -Y`: sign a message with a key, find who signed it in an allowed-signers
file and verify it, as git does for SSH-signed commits (gpg.format=ssh, gpg.ssh.allowedSignersFile).

A signature is public: it travels as text and is written to a temporary file only because
`ssh-keygen -Y verify` reads it from a file. The private key never leaves ssh-keygen (or ssh-agent).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from gripctl.adapters.process import run
from gripctl.errors import ToolError


def sign(key: Path, namespace: str, message: bytes) -> str:
    """The armored signature (`-----BEGIN SSH SIGNATURE-----`) of `message` by `key` (a private key
    file, or a public key whose private half is in ssh-agent)."""
    done = run(
        "ssh-keygen", ["-q", "-Y", "sign", "-f", str(key), "-n", namespace], stdin=message, check=False
    )
    if not done.ok or "BEGIN SSH SIGNATURE" not in done.stdout:
        reason = (done.stderr or done.stdout).strip() or f"exit {done.returncode}"
        raise ToolError(f"ssh-keygen could not sign with {key}: {reason}")
    return done.stdout


def _with_signature(signature: str) -> tempfile._TemporaryFileWrapper[str]:
    handle = tempfile.NamedTemporaryFile("w", suffix=".sig", prefix="gripctl-")  # noqa: SIM115
    handle.write(signature)
    handle.flush()
    return handle


def find_principals(allowed_signers: Path, signature: str) -> list[str]:
    """The principals of `allowed_signers` whose key made `signature` (empty when none)."""
    with _with_signature(signature) as sig:
        done = run(
            "ssh-keygen", ["-Y", "find-principals", "-s", sig.name, "-f", str(allowed_signers)], check=False
        )
    return [line.strip() for line in done.stdout.splitlines() if line.strip()] if done.ok else []


def verify(allowed_signers: Path, principal: str, namespace: str, message: bytes, signature: str) -> bool:
    """True when `signature` is `principal`'s signature of exactly `message` in `namespace`, by a key
    `allowed_signers` lists for that principal."""
    with _with_signature(signature) as sig:
        done = run(
            "ssh-keygen",
            ["-Y", "verify", "-f", str(allowed_signers), "-I", principal, "-n", namespace, "-s", sig.name],
            stdin=message,
            check=False,
        )
    return done.ok
