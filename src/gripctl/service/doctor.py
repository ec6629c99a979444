"""`gripctl doctor`: is this machine ready to run gripctl on this platform? (like `flux check --pre`)

One check per line, each with the fix when it fails: the programs gripctl runs and their versions,
each environment's cluster reachable and its server version, the age key able to decrypt the
repository's secrets, and the ledger reachable at the newest schema. Read-only: nothing is created,
migrated or deployed.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gripctl.adapters.process import run
from gripctl.adapters.toolchain import find_tool
from gripctl.errors import GripError
from gripctl.model.loader import environment_names, load_platform
from gripctl.model.settings import CONFIG_FILE
from gripctl.observe.cluster import check_cluster
from gripctl.observe.snapshot import target_for

# name -> (version arguments, pattern of the version in the output, required major, minimum, why)
TOOLS: dict[str, tuple[list[str], str, int | None, tuple[int, ...], bool]] = {
    "helm": (["version", "--template", "{{.Version}}"], r"v?(\d+)\.(\d+)\.(\d+)", 4, (4, 0, 0), True),
    "sops": (["--version", "--disable-version-check"], r"(\d+)\.(\d+)\.(\d+)", 3, (3, 8, 0), True),
    "age": (["--version"], r"v?(\d+)\.(\d+)\.(\d+)", 1, (1, 1, 0), True),
    "kubectl": (
        ["version", "--client", "-o", "json"],
        r'"gitVersion":\s*"v(\d+)\.(\d+)\.(\d+)',
        None,
        (1, 28, 0),
        False,
    ),
}


@dataclass(frozen=True)
class Check:
    name: str  # e.g. "helm", "context staging", "age key", "ledger"
    ok: bool
    detail: str  # what was found
    fix: str = ""  # what to do when not ok
    required: bool = True  # a failed optional check is a warning

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class DoctorResult:
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok or not c.required for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [c.to_dict() for c in self.checks]}


def _tool(name: str) -> Check:
    args, pattern, major, minimum, required = TOOLS[name]
    try:
        path = find_tool(name)
    except GripError as exc:
        return Check(name, False, "not found", exc.hint or "install it", required)
    result = run(path, args, check=False)
    found = re.search(pattern, result.stdout + result.stderr)
    if found is None:
        return Check(
            name, False, f"{path}: cannot read its version", f"run `{name} {' '.join(args)}`", required
        )
    version = tuple(int(x) for x in found.groups())
    text = ".".join(map(str, version))
    if (major is not None and version[0] != major) or version < minimum:
        need = f"{major}.x" if major is not None else ""
        want = ".".join(map(str, minimum))
        return Check(
            name,
            False,
            f"{path} is {text}; gripctl needs {need or '>= ' + want} (at least {want})",
            f"install {name} {need or want} or newer first on PATH, or `make setup` for the pinned toolchain",
            required,
        )
    return Check(name, True, f"{text} ({path})", required=required)


async def _context(root: Path, env: str | None) -> Check:
    platform = load_platform(root, env)
    env = platform.environment.name
    where = platform.environment.context or "the current kubeconfig context"
    try:
        version = await check_cluster(target_for(platform))
    except GripError as exc:
        return Check(f"cluster of {env}", False, f"{where}: {exc.message}", exc.hint or "")
    return Check(f"cluster of {env}", True, f"{where}: Kubernetes {version}")


def _age_key(root: Path) -> Check:
    from gripctl.secrets.decrypt import decrypt_values
    from gripctl.secrets.layout import rel, secrets_files

    files = secrets_files(root)
    if not files:
        return Check("age key", True, "no encrypted secrets in the repository")
    for path in files:
        try:
            decrypt_values(path, root=root)
        except GripError as exc:
            return Check("age key", False, f"{rel(path, root)}: {exc.message}", exc.hint or "")
    return Check("age key", True, f"decrypts all {len(files)} secrets file(s)")


def _ledger(root: Path) -> Check:
    from gripctl.ledger.probe import probe

    found = probe(root)
    if found.error:
        return Check("ledger", False, f"{found.url}: {found.error}", found.hint)
    if not found.at_head:
        return Check(
            "ledger",
            False,
            f"{found.url}: schema {found.revision or 'empty'}, this gripctl expects {found.head}",
            "any gripctl command that records (e.g. `gripctl runs`) migrates it; "
            "never downgrade a shared ledger",
        )
    return Check("ledger", True, f"{found.url} ({found.note or 'schema ' + str(found.revision)})")


async def doctor(root: Path, environment: str | None = None) -> DoctorResult:
    checks = [_tool(name) for name in TOOLS]
    if not (root / CONFIG_FILE).is_file():
        checks.append(
            Check(
                "platform",
                False,
                f"no {CONFIG_FILE} in {root}",
                "run inside the platform repository, or pass -C PATH",
            )
        )
        return DoctorResult(checks)
    names: list[str | None] = [environment] if environment else [*environment_names(root)] or [None]
    checks += await asyncio.gather(*(_context(root, name) for name in names))
    checks.append(await asyncio.to_thread(_age_key, root))
    checks.append(await asyncio.to_thread(_ledger, root))
    return DoctorResult(checks)
