"""Where a platform keeps its secrets: the secrets folder, component folders, `.sops.yaml`, `.gitignore`.

Reads gripctl.yaml directly (only the `secrets:` and `secrets_rotation:` keys) so that secrets
commands work even when the rest of the platform file does not load yet.
"""

from __future__ import annotations

import re
from pathlib import Path

from gripctl.errors import UsageError
from gripctl.model.settings import read_settings

SOPS_CONFIG = ".sops.yaml"
DEFAULT_SECRETS_DIR = "ops/secrets"
SECRETS_FILE = "values.sops.yaml"
PLAINTEXT_FILE = "values.dec.yaml"
# Files that hold plaintext secrets or private keys and must never be committed.
IGNORE_PATTERNS = ("*.dec.yaml", "*.dec.yml", "*.agekey")
_ENCRYPTED_SUFFIXES = (".sops.yaml", ".sops.yml")


def secrets_dir(root: Path) -> Path:
    """The folder that holds one `NNN-name-secrets/` folder per component (gripctl.yaml `secrets:`)."""
    configured = read_settings(root).get("secrets")
    return root / (configured if isinstance(configured, str) else DEFAULT_SECRETS_DIR)


def sops_config(root: Path) -> Path:
    return root / SOPS_CONFIG


def rel(path: Path, root: Path) -> str:
    """`path` relative to the platform root when inside it (for messages), else as given."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def components(root: Path) -> list[str]:
    base = secrets_dir(root)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and p.name.endswith("-secrets"))


def component_name(component: str) -> str:
    """Accept the secrets folder name (`060-grafana-stack-secrets`) or the release id it serves."""
    name = component.strip().rstrip("/").split("/")[-1]
    return name if name.endswith("-secrets") else f"{name}-secrets"


def release_id(component: str) -> str:
    """The release a secrets component serves (`060-grafana-stack-secrets` -> `060-grafana-stack`)."""
    return component_name(component).removesuffix("-secrets")


def component_dir(root: Path, component: str, *, must_exist: bool = True) -> Path:
    """The folder of a secrets component; a UsageError naming the known ones when it is missing."""
    name = component_name(component)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise UsageError(f"{component!r} is not a component name", hint="e.g. 060-grafana-stack-secrets")
    path = secrets_dir(root) / name
    if must_exist and not path.is_dir():
        known = ", ".join(components(root)) or "(none)"
        raise UsageError(
            f"no secrets component {name!r} in {rel(secrets_dir(root), root)}/",
            hint=f"known components: {known}; create one with `gripctl secrets encrypt {name} --from FILE`",
        )
    return path


def component_file(root: Path, component: str, *, must_exist: bool = True) -> Path:
    """The encrypted values file of a component (`values.sops.yaml`)."""
    path = component_dir(root, component, must_exist=must_exist) / SECRETS_FILE
    if must_exist and not path.is_file():
        raise UsageError(
            f"{rel(path, root)} does not exist",
            hint=f"create it with `gripctl secrets encrypt {component_name(component)}` "
            f"or `gripctl secrets edit {component_name(component)}`",
        )
    return path


def secrets_files(root: Path) -> list[Path]:
    """Every encrypted values file under the secrets folder (`*/*.sops.yaml`), sorted."""
    base = secrets_dir(root)
    if not base.is_dir():
        return []
    return sorted(
        p
        for p in base.glob("*/*")
        if p.is_file() and p.name.endswith(_ENCRYPTED_SUFFIXES) and not p.name.startswith(".")
    )


def ensure_gitignored(root: Path, patterns: list[str]) -> list[str]:
    """Append the missing `patterns` to the platform's .gitignore; returns the ones added."""
    path = root / ".gitignore"
    lines = path.read_text().splitlines() if path.is_file() else []
    present = {line.strip() for line in lines}
    added = [p for p in patterns if p not in present]
    if added:
        text = "\n".join(lines)
        if text and not text.endswith("\n"):
            text += "\n"
        if not any("plaintext secrets" in line for line in lines):
            text += "# Plaintext secrets and private keys must never be committed (gripctl secrets)\n"
        text += "\n".join(added) + "\n"
        path.write_text(text)
    return added
