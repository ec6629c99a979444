"""Decrypting one SOPS file into memory, with errors that say which key is missing and what to do.

`decrypt_values` is the deploy path's entry: sops writes the plaintext to a pipe that we read, so it
never exists as a file. When sops fails, the failure is turned into a SecretsError naming the file,
the recipients it is encrypted for, and the public keys of the identities we have (never a private key).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from gripctl.adapters import sops
from gripctl.adapters.process import Completed
from gripctl.errors import SecretsError, UsageError
from gripctl.secrets.identity import HOW_TO_GET_A_KEY, IdentitySource, identity_sources
from gripctl.secrets.layout import rel, sops_config


@dataclass(frozen=True)
class SopsMetadata:
    """What a SOPS file says about itself in its `sops:` block (readable without any key)."""

    recipients: tuple[str, ...]  # age recipients the data key is encrypted for
    has_mac: bool
    other_keys: bool  # pgp/kms/vault/... master keys that gripctl does not manage
    last_modified: str | None


def read_metadata(path: Path) -> SopsMetadata | None:
    """The `sops:` block of an encrypted YAML file, or None when the file is not SOPS-encrypted."""
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError):
        return None
    meta = data.get("sops") if isinstance(data, dict) else None
    if not isinstance(meta, dict):
        return None
    recipients: list[str] = []
    groups = [meta, *[g for g in meta.get("key_groups") or [] if isinstance(g, dict)]]
    for group in groups:
        for entry in group.get("age") or []:
            if isinstance(entry, dict) and entry.get("recipient"):
                recipients.append(str(entry["recipient"]))
    others = any(meta.get(k) for k in ("pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms"))
    return SopsMetadata(tuple(recipients), bool(meta.get("mac")), others, meta.get("lastmodified"))


def require_encrypted(path: Path, root: Path) -> SopsMetadata:
    """The file's metadata; SecretsError when it is missing or plaintext where ciphertext belongs."""
    if not path.is_file():
        raise UsageError(
            f"{rel(path, root)} does not exist",
            hint="check the path, or create it with `gripctl secrets encrypt COMPONENT` "
            "or `gripctl secrets edit COMPONENT`",
        )
    meta = read_metadata(path)
    if meta is None:
        raise SecretsError(
            f"{rel(path, root)} is not SOPS-encrypted (it has no `sops:` metadata): plaintext where an "
            "encrypted file is expected",
            hint="encrypt it with `gripctl secrets encrypt COMPONENT --from FILE`; if the plaintext was "
            "ever committed, treat its values as leaked and rotate them",
        )
    return meta


def explain_failure(path: Path, root: Path, result: Completed, meta: SopsMetadata) -> SecretsError:
    """Turn a failed `sops decrypt` into an error a person can act on."""
    where = rel(path, root)
    recipients = ", ".join(meta.recipients) or "(no age recipients)"
    if result.returncode in (sops.SopsExit.DECRYPTING_TREE, sops.SopsExit.MAC_MISMATCH):
        return SecretsError(
            f"{where} failed its integrity check (the MAC or a value's authentication tag does not verify): "
            "the file was changed outside sops",
            hint="restore the file from version control and redo the change with "
            "`gripctl secrets edit`; if nobody on the team changed it by hand, treat it as tampering",
        )
    if result.returncode == sops.SopsExit.NO_KEY:
        sources = identity_sources()
        return key_error(where, recipients, meta, sources)
    return SecretsError(f"sops could not decrypt {where}: {sops.first_line(result)}")


def key_error(where: str, recipients: str, meta: SopsMetadata, sources: list[IdentitySource]) -> SecretsError:
    broken = [s for s in sources if s.error]
    usable = [s for s in sources if s.public_keys]
    if not usable:
        detail = "; ".join(f"{s.where}: {s.error}" for s in broken)
        return SecretsError(
            f"no age key available to decrypt {where}" + (f" ({detail})" if detail else ""),
            hint=f"{where} is encrypted for: {recipients}. {HOW_TO_GET_A_KEY}",
        )
    have = "; ".join(s.describe() for s in usable)
    if not set(meta.recipients) & {k for s in usable for k in s.public_keys}:
        return SecretsError(
            f"wrong age key for {where}: none of your keys is one of its recipients (yours: {have})",
            hint=f"{where} is encrypted for: {recipients}. {HOW_TO_GET_A_KEY}",
        )
    return SecretsError(
        f"sops could not unlock {where} although your key is listed as a recipient (yours: {have})",
        hint="the file's data key may have been re-encrypted incorrectly; ask another recipient to run "
        "`gripctl secrets updatekeys`",
    )


def decrypt_values(path: Path, *, root: Path) -> bytes:
    """The decrypted YAML of one SOPS file, in memory (sops writes to a pipe we read; no temp file).

    Raises SecretsError: plaintext file, no or wrong age key (naming the recipients), failed MAC.
    """
    path = path if path.is_absolute() else root / path
    meta = require_encrypted(path, root)
    config = sops_config(root)
    result = sops.decrypt(path, config=config if config.is_file() else None)
    if not result.ok:
        raise explain_failure(path, root, result, meta)
    return result.stdout.encode()
