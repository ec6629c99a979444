"""`gripctl secrets rotate`: new values for named keys, from generators configured in gripctl.yaml.

```yaml
secrets_rotation:
  060-grafana-stack-secrets:
    grafana.adminPassword: {generator: password, length: 32, alphabet: alnum}
    grafana.secretKey: {generator: bytes, length: 32}          # random bytes, base64
    api.token: {generator: command, command: ["my-token-tool", "--new"]}
```

The file is decrypted into memory, the keys are replaced there, and the document is re-encrypted from
stdin with the file's creation rule. The rotation is recorded (who, when, which keys; never values).
"""

from __future__ import annotations

import base64
import secrets
import string
import subprocess
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from gripctl.errors import ConfigError, LedgerError, SecretsError, UsageError
from gripctl.identity import actor
from gripctl.model.settings import read_settings
from gripctl.secrets.decrypt import decrypt_values
from gripctl.secrets.layout import component_file, component_name, release_id
from gripctl.secrets.workflows import encrypt_bytes

ALPHABETS = {
    "alnum": string.ascii_letters + string.digits,
    "alpha": string.ascii_letters,
    "hex": "0123456789abcdef",
    "digits": string.digits,
    # Printable ASCII minus quotes, backslash and space: safe unquoted in YAML, shells and URLs' userinfo.
    "ascii": "".join(
        c for c in string.punctuation + string.ascii_letters + string.digits if c not in "'\"\\`"
    ),
}
GENERATORS = ("password", "bytes", "hex", "command")


@dataclass(frozen=True)
class Generator:
    key: str  # dotted path in the values document, e.g. grafana.adminPassword
    kind: str
    length: int = 32
    alphabet: str = ALPHABETS["alnum"]
    command: tuple[str, ...] = ()

    def generate(self) -> str:
        if self.kind == "password":
            return "".join(secrets.choice(self.alphabet) for _ in range(self.length))
        if self.kind == "bytes":
            return base64.b64encode(secrets.token_bytes(self.length)).decode()
        if self.kind == "hex":
            return secrets.token_hex(self.length)
        # command: its stdout (stripped) is the value; it is captured, never echoed or logged.
        try:
            proc = subprocess.run(list(self.command), capture_output=True, check=False, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SecretsError(f"the generator command for {self.key} could not run: {exc}") from None
        value = proc.stdout.decode().strip()
        if proc.returncode != 0 or not value:
            raise SecretsError(
                f"the generator command for {self.key} ({self.command[0]}) failed "
                f"(exit {proc.returncode}) or printed nothing; nothing was changed",
                hint="run the command by hand to see its error",
            )
        return value


def _config_error(component: str, key: str, problem: str) -> ConfigError:
    return ConfigError(
        f"gripctl.yaml secrets_rotation.{component}.{key}: {problem}",
        hint="see docs/secrets.md (generators: password, bytes, hex, command)",
    )


def generators(root: Path, component: str) -> dict[str, Generator]:
    """The rotation generators configured for `component` (gripctl.yaml `secrets_rotation:`)."""
    name = component_name(component)
    section = read_settings(root).get("secrets_rotation") or {}
    if not isinstance(section, dict):
        raise ConfigError("gripctl.yaml secrets_rotation: must be a mapping of component -> keys")
    entries = section.get(name) or section.get(release_id(name)) or {}
    if not isinstance(entries, dict):
        raise ConfigError(f"gripctl.yaml secrets_rotation.{name}: must be a mapping of key -> generator")
    out: dict[str, Generator] = {}
    for key, spec in entries.items():
        if not isinstance(spec, dict):
            raise _config_error(name, key, "must be a mapping like {generator: password, length: 32}")
        kind = spec.get("generator")
        if kind not in GENERATORS:
            raise _config_error(name, key, f"generator {kind!r} is not one of {', '.join(GENERATORS)}")
        length = spec.get("length", 32)
        if not isinstance(length, int) or not 8 <= length <= 4096:
            raise _config_error(name, key, "length must be a whole number from 8 to 4096")
        alphabet = str(spec.get("alphabet", "alnum"))
        alphabet = ALPHABETS.get(alphabet, alphabet)
        if len(set(alphabet)) < 10:
            raise _config_error(name, key, "alphabet needs at least 10 distinct characters")
        command = spec.get("command") or []
        if kind == "command" and (not isinstance(command, list) or not command):
            raise _config_error(name, key, 'a command generator needs command: ["program", "arg", ...]')
        out[str(key)] = Generator(str(key), kind, length, alphabet, tuple(str(c) for c in command))
    return out


def _set(doc: CommentedMap, dotted: str, value: str) -> bool:
    """Set a dotted key in the document; returns True when the key already existed."""
    node: Any = doc
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = CommentedMap()
            node[part] = child
        if not isinstance(child, dict):
            raise SecretsError(f"cannot rotate {dotted}: {part} is not a mapping in the secrets file")
        node = child
    existed = parts[-1] in node
    node[parts[-1]] = value
    return existed


@dataclass(frozen=True)
class RotationResult:
    component: str
    path: Path
    keys: tuple[str, ...]  # rotated keys (never their values)
    added: tuple[str, ...]  # those that did not exist before
    actor: str
    ledger_problem: str | None  # why the ledger could not record it (None: recorded)


def rotate(
    root: Path, component: str, keys: list[str] | None = None, *, environment: str | None = None
) -> RotationResult:
    """Generate new values for `keys` (default: every configured key) and re-encrypt the file."""
    name = component_name(component)
    path = component_file(root, name)
    configured = generators(root, name)
    if not configured:
        raise UsageError(
            f"no rotation generators configured for {name}",
            hint=f"add secrets_rotation: {{{name}: {{KEY: {{generator: password, length: 32}}}}}} "
            "to gripctl.yaml (docs/secrets.md)",
        )
    wanted = list(dict.fromkeys(keys)) if keys else list(configured)
    unknown = [k for k in wanted if k not in configured]
    if unknown:
        raise UsageError(
            f"no rotation generator for {', '.join(unknown)} in {name}",
            hint=f"configured keys: {', '.join(configured)}",
        )
    yaml = YAML()
    yaml.preserve_quotes = True
    doc = yaml.load(decrypt_values(path, root=root))
    if not isinstance(doc, CommentedMap):
        raise SecretsError(f"{path.name} of {name} is not a YAML mapping; cannot rotate keys in it")
    added = [k for k in wanted if not _set(doc, k, configured[k].generate())]
    buf = BytesIO()
    yaml.dump(doc, buf)
    encrypt_bytes(root, path, buf.getvalue())
    who = actor()
    problem = record_rotation(root, name, wanted, who, environment)
    return RotationResult(name, path, tuple(wanted), tuple(added), who, problem)


def record_rotation(
    root: Path, component: str, keys: list[str], actor: str, environment: str | None
) -> str | None:
    """Record a rotation in the ledger (key names only, never values). Returns a problem, or None."""
    from gripctl.ledger import open_ledger  # SQLAlchemy and Alembic load only when a rotation happened

    try:
        with open_ledger(root=root) as ledger:
            ledger.record_secret_rotation(component, keys, actor, environment=environment)
    except LedgerError as exc:
        return exc.message
    return None
