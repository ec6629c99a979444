"""`gripctl secrets check` and the secrets part of `gripctl validate`: findings, not exceptions.

Checks (ids are what `policies.checks` in gripctl.yaml can tune):
- secrets-plaintext: a secrets file that is not SOPS-encrypted.
- secrets-rule: no `.sops.yaml` rule (with age recipients) covers a secrets file.
- secrets-no-key: no age identity is available here, so files could not be decrypted (warning: CI
  jobs that only validate have no key).
- secrets-decrypt: a file does not decrypt with the available key (wrong key, or not a recipient).
- secrets-mac: a file's MAC or a value's authentication tag does not verify (changed outside sops).
- secrets-recipients: a file's recipients differ from its rule's: stale ones (still able to decrypt
  though removed from the rules) are errors, missing ones are warnings; both are fixed by updatekeys.
- secrets-tools: sops or age-keygen is not installed, so nothing could be checked.
- secrets-tracked: git tracks a plaintext secrets file (`*.dec.yaml`) or an age private key. A key
  file that labels itself "TEST ONLY" (in its name or comments) is reported as info only.
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass
from pathlib import Path

from gripctl.adapters import sops
from gripctl.adapters.age import IDENTITY_PREFIX
from gripctl.errors import ConfigError, GripError, ToolMissingError
from gripctl.secrets.decrypt import explain_failure, read_metadata
from gripctl.secrets.identity import available_public_keys, identity_sources
from gripctl.secrets.layout import IGNORE_PATTERNS, rel, secrets_files, sops_config
from gripctl.secrets.rules import load_rules, rule_for
from gripctl.secrets.workflows import tracked_files


@dataclass(frozen=True)
class SecretFinding:
    check: str
    severity: str  # info | warning | error
    path: str  # relative to the platform root
    message: str
    hint: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _is_test_only(path: Path, text: str) -> bool:
    marker = (path.name + "\n" + text).lower().replace("_", "-")
    return "test-only" in marker or "test only" in marker


def _tracked_findings(root: Path) -> list[SecretFinding]:
    tracked = tracked_files(root)
    if tracked is None:
        return []
    findings: list[SecretFinding] = []
    for name in tracked:
        path = root / name
        if any(fnmatch.fnmatch(path.name, p) for p in ("*.dec.yaml", "*.dec.yml")):
            findings.append(
                SecretFinding(
                    "secrets-tracked",
                    "error",
                    name,
                    "git tracks a plaintext secrets file",
                    "remove it from git (`git rm --cached`), keep it ignored, and rotate its values: "
                    "they are in the history",
                )
            )
            continue
        is_key_name = fnmatch.fnmatch(path.name, "*.agekey") or path.name == "keys.txt"
        if not is_key_name and path.suffix not in ("", ".txt", ".key"):
            continue
        try:
            text = path.read_text(errors="replace")[:65536]
        except OSError:
            continue
        if IDENTITY_PREFIX not in text.upper():
            continue
        if _is_test_only(path, text):
            findings.append(
                SecretFinding(
                    "secrets-tracked",
                    "info",
                    name,
                    "git tracks an age private key labelled TEST ONLY",
                    "fine for examples and tests; never encrypt real secrets for it",
                )
            )
        else:
            findings.append(
                SecretFinding(
                    "secrets-tracked",
                    "error",
                    name,
                    "git tracks an age private key",
                    "remove it from git, generate a new key (`gripctl secrets init`), run "
                    "`gripctl secrets updatekeys`, and rotate the values it protected",
                )
            )
    return findings


def check_secrets(root: Path) -> list[SecretFinding]:
    """Every secrets problem of the platform at `root`, as findings (an empty list when all is well).

    Never raises for a broken platform: a missing sops/age-keygen or an unreadable `.sops.yaml`
    becomes a finding (`secrets-tools`, `secrets-rule`) so that `validate` can report it with the rest.
    """
    try:
        return _check(root)
    except ToolMissingError as exc:
        return [SecretFinding("secrets-tools", "error", rel(sops_config(root), root), exc.message, exc.hint)]
    except ConfigError as exc:
        return [SecretFinding("secrets-rule", "error", rel(sops_config(root), root), exc.message, exc.hint)]


def _check(root: Path) -> list[SecretFinding]:
    findings: list[SecretFinding] = []
    files = secrets_files(root)
    config = sops_config(root)
    rules = load_rules(root) if config.is_file() else []
    sources = identity_sources()
    have = available_public_keys(sources)
    key_cmd = any(s.where == "SOPS_AGE_KEY_CMD" for s in sources)
    if files and not have and not key_cmd:
        findings.append(
            SecretFinding(
                "secrets-no-key",
                "warning",
                rel(config, root),
                f"no age key available here; {len(files)} secrets file(s) were not test-decrypted",
                "set SOPS_AGE_KEY_FILE to a key that is a recipient to check decryption and MACs",
            )
        )
    for path in files:
        where = rel(path, root)
        meta = read_metadata(path)
        if meta is None:
            findings.append(
                SecretFinding(
                    "secrets-plaintext",
                    "error",
                    where,
                    "not SOPS-encrypted: plaintext where an encrypted file is expected",
                    "encrypt it with `gripctl secrets encrypt COMPONENT --from FILE` and rotate its values",
                )
            )
            continue
        rule = rule_for(root, path, rules) if rules else None
        if rule is None or not rule.recipients:
            findings.append(
                SecretFinding(
                    "secrets-rule",
                    "error",
                    where,
                    f"no creation rule with age recipients in {config.name} covers this file",
                    "add one with `gripctl secrets init --recipient age1...`",
                )
            )
        else:
            stale = sorted(set(meta.recipients) - set(rule.recipients))
            missing = sorted(set(rule.recipients) - set(meta.recipients))
            if stale:
                findings.append(
                    SecretFinding(
                        "secrets-recipients",
                        "error",
                        where,
                        f"stale recipients (removed from {config.name} but still able to decrypt): "
                        + ", ".join(stale),
                        "run `gripctl secrets updatekeys` (re-encrypts and rotates the data key)",
                    )
                )
            if missing:
                findings.append(
                    SecretFinding(
                        "secrets-recipients",
                        "warning",
                        where,
                        f"recipients in {config.name} that cannot decrypt this file yet: "
                        + ", ".join(missing),
                        "run `gripctl secrets updatekeys`",
                    )
                )
        if not have and not key_cmd:
            continue
        result = sops.decrypt(path, config=config if config.is_file() else None)
        if result.ok:
            continue
        error: GripError = explain_failure(path, root, result, meta)
        integrity = result.returncode in (sops.SopsExit.MAC_MISMATCH, sops.SopsExit.DECRYPTING_TREE)
        findings.append(
            SecretFinding(
                "secrets-mac" if integrity else "secrets-decrypt", "error", where, error.message, error.hint
            )
        )
    findings += _tracked_findings(root)
    return findings


__all__ = ["IGNORE_PATTERNS", "SecretFinding", "check_secrets"]
