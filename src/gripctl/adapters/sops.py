"""The `sops` binary as typed calls: decrypt to a pipe, encrypt from a pipe, updatekeys, rotate, edit.

Thin on purpose: builds argv, pipes data, and returns the result; it never decides what a failure
means (the secrets room turns exit codes into messages). Plaintext goes in and out through stdin and
stdout only. `--config` is always passed explicitly (sops otherwise searches upward from the current
directory and may find the wrong `.sops.yaml`), and must come before the subcommand.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from gripctl.adapters.process import Completed, run
from gripctl.adapters.toolchain import find_tool, tool_env


class SopsExit:
    """The sops exit codes gripctl tells apart (sops' cmd/sops/codes)."""

    GENERIC = 1  # also "sops metadata not found" and "no matching creation rules found"
    DECRYPTING_TREE = 25  # a value's authentication tag failed: the ciphertext was changed
    MAC_MISMATCH = 51  # the file's MAC does not match its values: a value was changed or removed
    MAC_NOT_FOUND = 52
    CONFIG_NOT_FOUND = 61
    NO_KEY = 128  # none of the file's recipients could be unlocked with the available identities
    NOT_MODIFIED = 200  # `sops edit`: the file was saved unchanged
    ALREADY_ENCRYPTED = 203


def _global(config: Path | None) -> list[str]:
    return ["--config", str(config)] if config is not None else []


def decrypt(path: Path, *, config: Path | None = None, cwd: Path | None = None) -> Completed:
    """`sops decrypt PATH`: the plaintext comes back through a pipe (stdout), never a file."""
    return run("sops", [*_global(config), "decrypt", str(path)], check=False, cwd=str(cwd) if cwd else None)


def encrypt(
    plaintext: bytes, *, filename: Path, config: Path | None = None, cwd: Path | None = None
) -> Completed:
    """`sops encrypt --filename-override FILENAME` reading the plaintext from stdin.

    The override name picks the creation rule (recipients) and the format (from its extension).
    """
    args = [*_global(config), "encrypt", "--filename-override", str(filename)]
    return run("sops", args, stdin=plaintext, check=False, cwd=str(cwd) if cwd else None)


def updatekeys(path: Path, *, config: Path | None = None, cwd: Path | None = None) -> Completed:
    """`sops updatekeys -y PATH`: re-encrypt the data key for the recipients of the matching rule."""
    return run(
        "sops", [*_global(config), "updatekeys", "-y", str(path)], check=False, cwd=str(cwd) if cwd else None
    )


def rotate(path: Path, *, config: Path | None = None, cwd: Path | None = None) -> Completed:
    """`sops rotate -i PATH`: a new data key, every value re-encrypted with it, in place."""
    return run(
        "sops", [*_global(config), "rotate", "-i", str(path)], check=False, cwd=str(cwd) if cwd else None
    )


def edit(path: Path, *, config: Path | None = None, cwd: Path | None = None) -> int:
    """`sops edit PATH` attached to this terminal; sops keeps the plaintext in its own private temp
    file and runs $EDITOR (or $SOPS_EDITOR) on it. Returns sops' exit code."""
    argv = [find_tool("sops"), *_global(config), "edit", str(path)]
    return subprocess.run(argv, env=tool_env(), cwd=str(cwd) if cwd else None, check=False).returncode


def first_line(result: Completed) -> str:
    """The first meaningful line of sops' stderr, for messages (sops' full report is long)."""
    for line in (result.stderr or result.stdout).splitlines():
        if line.strip() and not line.startswith("[CMD]"):
            return line.strip()
    return f"sops exited with {result.returncode}"
