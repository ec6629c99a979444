"""The secrets workflows behind `gripctl secrets`: init, edit, encrypt, decrypt to a file, updatekeys.

Each workflow checks everything it can before it changes anything (rules, keys, file states), so a
bad input fails with nothing written. Plaintext moves through pipes; the only plaintext files are the
ones a person asks for (`decrypt --to-file`, the input of `encrypt`, which is removed after a verified
round trip).
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from gripctl.adapters import age, sops
from gripctl.adapters.process import Completed
from gripctl.errors import ConfigError, Location, SecretsError, UsageError
from gripctl.model.settings import read_settings
from gripctl.secrets.decrypt import (
    decrypt_values,
    explain_failure,
    key_error,
    read_metadata,
    require_encrypted,
)
from gripctl.secrets.identity import available_public_keys, default_key_file, identity_sources
from gripctl.secrets.layout import (
    IGNORE_PATTERNS,
    PLAINTEXT_FILE,
    component_dir,
    component_file,
    ensure_gitignored,
    rel,
    secrets_files,
    sops_config,
)
from gripctl.secrets.rules import add_recipient, require_rule


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def _write_private(path: Path, data: bytes, *, append: bool = False) -> None:
    """Write a file only its owner can read (0600), tightening an existing file's mode first."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


# --- init -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InitResult:
    public_key: str
    key_file: Path | None  # where a new private key was appended; None with --recipient
    rules_changed: list[str]
    gitignore_added: list[str]


def init(
    root: Path, *, environment: str | None = None, recipient: str | None = None, key_file: Path | None = None
) -> InitResult:
    """Create an age key pair (or take `recipient`), add it to `.sops.yaml`, and git-ignore key files."""
    if environment is not None:
        envs = read_settings(root).get("environments")
        if isinstance(envs, dict) and envs and environment not in envs:
            raise UsageError(
                f"no environment {environment!r} in gripctl.yaml", hint=f"known: {', '.join(map(str, envs))}"
            )
    if recipient is not None:
        recipient = recipient.strip()
        if not age.is_recipient(recipient):
            raise UsageError(
                f"{recipient!r} is not an age public key",
                hint="an age public key starts with age1 and has 62 characters (`age-keygen -y KEYFILE`)",
            )
        if key_file is not None:
            raise UsageError("--recipient and --key-file do not go together: a public key needs no key file")
        public, target = recipient, None
    else:
        target = (key_file or default_key_file()).expanduser()
        pair = age.keygen()
        label = f"environment {environment}" if environment else "a person"
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        header = f"# gripctl secrets init: age identity for {label}, {stamp}\n"
        _write_private(target, (header + pair.identity_file).encode(), append=True)
        public = pair.public
    ignore = list(IGNORE_PATTERNS)
    if target is not None and _inside(target, root):
        relative = rel(target, root)
        if not any(fnmatch.fnmatch(target.name, p) for p in IGNORE_PATTERNS):
            ignore.append("/" + relative)
    changed = add_recipient(root, public, environment)
    added = ensure_gitignored(root, ignore)
    return InitResult(public, target, changed, added)


# --- edit -----------------------------------------------------------------------------------------


def check_can_decrypt(path: Path, root: Path) -> None:
    """Fail before anything starts when none of our identities is a recipient of `path`."""
    meta = require_encrypted(path, root)
    if meta.other_keys:
        return  # a KMS/PGP key may unlock it; sops will say if not
    sources = identity_sources()
    if any(s.where == "SOPS_AGE_KEY_CMD" for s in sources):
        return  # sops runs the command; we cannot know its keys
    if not set(meta.recipients) & available_public_keys(sources):
        raise key_error(rel(path, root), ", ".join(meta.recipients) or "(none)", meta, sources)


def edit(root: Path, component: str) -> bool:
    """`sops edit` on the component's file (created when missing); True when it changed."""
    path = component_file(root, component, must_exist=False)
    require_rule(root, path)
    if path.exists():
        check_can_decrypt(path, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    code = sops.edit(path, config=sops_config(root))
    if code == sops.SopsExit.NOT_MODIFIED:
        return False
    if code != 0:
        raise SecretsError(
            f"sops edit of {rel(path, root)} failed (exit {code}); the file was left as it was",
            hint="see sops' message above; $EDITOR (or $SOPS_EDITOR) must wait until you close the file",
        )
    return True


# --- decrypt --to-file ----------------------------------------------------------------------------


def decrypt_to_file(root: Path, component: str, dest: Path) -> list[str]:
    """Write the component's plaintext to `dest` (mode 0600) and make sure git ignores it.
    Returns the .gitignore lines added."""
    values = decrypt_values(component_file(root, component), root=root)
    added: list[str] = []
    if _inside(dest, root):
        patterns = list(IGNORE_PATTERNS)
        if not any(fnmatch.fnmatch(dest.name, p) for p in IGNORE_PATTERNS):
            patterns.append("/" + rel(dest, root))
        added = ensure_gitignored(root, patterns)
    _write_private(dest, values)
    return added


# --- encrypt --------------------------------------------------------------------------------------


def _ciphertext_or_error(result: Completed, target: Path, root: Path) -> bytes:
    if result.ok:
        return result.stdout.encode()
    detail = sops.first_line(result)
    if "no matching creation rules" in detail:
        require_rule(root, target)  # raises the explained error
    raise SecretsError(f"sops could not encrypt {rel(target, root)}: {detail}")


def encrypt_bytes(root: Path, target: Path, plaintext: bytes) -> None:
    """Encrypt `plaintext` for `target`'s rule, verify the round trip, then replace `target`.

    The ciphertext goes to a temporary file next to `target` (ciphertext only), is decrypted back and
    compared in memory, and only then renamed over `target`: a failure leaves `target` as it was.
    """
    expected = yaml.safe_load(plaintext)
    require_rule(root, target)
    result = sops.encrypt(plaintext, filename=target, config=sops_config(root))
    ciphertext = _ciphertext_or_error(result, target, root)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".gripctl-", suffix=".sops.yaml")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(ciphertext)
        back = sops.decrypt(tmp, config=sops_config(root))
        if not back.ok:
            meta = read_metadata(tmp)
            reason = explain_failure(target, root, back, meta) if meta else None
            raise SecretsError(
                f"the encrypted {rel(target, root)} could not be decrypted back, so it was not written"
                + (f": {reason.message}" if reason else ""),
                hint="make sure your own public key is a recipient (`gripctl secrets init`), then retry",
            )
        if yaml.safe_load(back.stdout) != expected:
            raise SecretsError(
                f"the round trip of {rel(target, root)} changed the values, so it was not written",
                hint="report this as a bug with the sops version (`sops --version`)",
            )
        # Ciphertext is safe to share: keep the old file's mode, or the usual 0644 for a new one.
        os.chmod(tmp, stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class EncryptResult:
    target: Path
    removed: Path


def encrypt(root: Path, component: str, source: Path | None = None) -> EncryptResult:
    """Encrypt a plaintext values file (default `values.dec.yaml` in the component folder) into
    `values.sops.yaml`, verify the round trip, then delete the plaintext."""
    folder = component_dir(root, component, must_exist=source is None)
    source = source or folder / PLAINTEXT_FILE
    if not source.is_file():
        raise UsageError(
            f"no plaintext file {rel(source, root)} to encrypt",
            hint=f"write the values there (it is git-ignored), or pass --from PATH; "
            f"or use `gripctl secrets edit {component}` to edit without a plaintext file",
        )
    plaintext = source.read_bytes()
    if read_metadata(source) is not None:
        raise SecretsError(
            f"{rel(source, root)} is already SOPS-encrypted", hint="use `gripctl secrets edit` to change it"
        )
    try:
        data = yaml.safe_load(plaintext)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(
            f"not valid YAML: {getattr(exc, 'problem', exc)}",
            location=Location(rel(source, root), line),
            hint="fix the file and run encrypt again; nothing was encrypted",
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            "a values file must be a YAML mapping (key: value)", location=Location(rel(source, root))
        )
    target = component_file(root, component, must_exist=False)
    encrypt_bytes(root, target, plaintext)
    source.unlink()
    return EncryptResult(target, source)


# --- updatekeys -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyUpdate:
    path: Path
    before: tuple[str, ...]
    after: tuple[str, ...]
    rotated: bool

    @property
    def changed(self) -> bool:
        return set(self.before) != set(self.after)


def updatekeys(root: Path, *, rotate_all: bool = False) -> list[KeyUpdate]:
    """Re-encrypt every secrets file's data key for its rule's recipients (`sops updatekeys -y`), then
    rotate the data key (`sops rotate -i`) of each file whose recipients changed (or all with
    `rotate_all`): a removed recipient may have kept the old data key."""
    files = secrets_files(root)
    for path in files:  # everything checked first: a bad file stops the run before any file changes
        require_encrypted(path, root)
        require_rule(root, path)
        check_can_decrypt(path, root)
    config = sops_config(root)
    done: list[KeyUpdate] = []
    for path in files:
        before = read_metadata(path)
        assert before is not None
        try:
            result = sops.updatekeys(path, config=config)
            if not result.ok:
                raise explain_failure(path, root, result, before)
            after = read_metadata(path)
            recipients = after.recipients if after else ()
            rotate = rotate_all or set(recipients) != set(before.recipients)
            if rotate:
                result = sops.rotate(path, config=config)
                if not result.ok:
                    raise explain_failure(path, root, result, after or before)
        except SecretsError as exc:
            if done:
                exc.message += f" (already updated: {', '.join(rel(d.path, root) for d in done)})"
            raise
        done.append(KeyUpdate(path, before.recipients, recipients, rotate))
    return done


def tracked_files(root: Path) -> list[str] | None:
    """Files git tracks under `root` (relative paths), or None when `root` is not in a git work tree."""
    with contextlib.suppress(OSError):
        proc = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--full-name", "--", "."],
            capture_output=True,
            check=False,
        )
        if proc.returncode == 0:
            top = subprocess.run(
                ["git", "-C", str(root), "rev-parse", "--show-toplevel"], capture_output=True, check=False
            )
            base = Path(top.stdout.decode().strip())
            return [rel(base / name, root) for name in proc.stdout.decode().split("\0") if name]
    return None
