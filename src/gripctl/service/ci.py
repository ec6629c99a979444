"""`gripctl ci init`: write the platform repository's GitHub Actions workflows (docs/ci.md).

The workflows come from the platform's environments (scaffold/workflows.py) and go into the git
repository's `.github/workflows/`, wherever in the repository gripctl.yaml is. Existing workflow files
are never overwritten without `force`: then nothing at all is written, and the refusal names them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gripctl import __version__
from gripctl.adapters import git
from gripctl.errors import UsageError
from gripctl.scaffold.workflows import WorkflowSettings, workflows
from gripctl.service.workspace import load

DEFAULT_ACTION = f"webgrip/gripctl@v{__version__}"
# owner/repo[/path]@ref, or a local action folder (./ or ./path)
_ACTION = re.compile(
    r"^(?:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_./-]+)?@[A-Za-z0-9_./-]+|\./[A-Za-z0-9_./-]*)$"
)
_BRANCH = re.compile(r"^[A-Za-z0-9_./-]+$")


@dataclass(frozen=True)
class CiInitRequest:
    root: Path
    force: bool = False  # overwrite existing workflow files
    action: str = DEFAULT_ACTION  # `uses:` of gripctl's composite action, pinned
    branch: str | None = None  # None: the repository's default branch (origin/HEAD), else main


@dataclass
class CiInitResult:
    repository: Path
    platform_dir: str
    written: list[str]
    overwritten: list[str]
    auto: list[str]
    manual: list[str]
    branch: str
    action: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "repository": str(self.repository),
            "platform_dir": self.platform_dir,
            "written": self.written,
            "overwritten": self.overwritten,
            "deploy_auto": self.auto,
            "deploy_manual": self.manual,
            "branch": self.branch,
            "action": self.action,
            "notes": self.notes,
        }


def _default_branch(repository: Path) -> str:
    head = git.git(repository, "symbolic-ref", "--quiet", "refs/remotes/origin/HEAD", check=False)
    if head.ok and head.stdout.strip():
        return head.stdout.strip().rsplit("/", 1)[-1]
    return "main"


def init(req: CiInitRequest) -> CiInitResult:
    """Write the workflows; refuse (writing nothing) on bad input or existing files without `force`."""
    if not _ACTION.match(req.action):
        raise UsageError(
            f"--action {req.action!r} is not an action reference",
            hint=f"write OWNER/REPO@REF (pin a tag or a commit), e.g. {DEFAULT_ACTION}, or ./ for an "
            "action.yml in the repository itself",
        )
    if req.branch is not None and not _BRANCH.match(req.branch):
        raise UsageError(f"--branch {req.branch!r} is not a branch name", hint="e.g. --branch main")
    platform = load(req.root, None)
    environments = list(platform.environments.values())
    if not environments:
        raise UsageError(
            f"{platform.config_path.name} declares no environments: the workflows plan and deploy each one",
            hint="declare them under environments: (docs/config.md), with deploy: auto or manual",
        )
    notes: list[str] = []
    repository = git.toplevel(platform.root)
    if repository is None:
        repository = platform.root
        notes.append(f"{platform.root} is not in a git repository: the workflows went into its .github/")
        branch = req.branch or "main"
    else:
        branch = req.branch or _default_branch(repository)
    relative = platform.root.resolve().relative_to(repository.resolve()).as_posix()
    settings = WorkflowSettings(action=req.action, platform_dir=relative, branch=branch, version=__version__)
    files = workflows(settings, environments)

    existing = [path for path in files if (repository / path).exists() or (repository / path).is_symlink()]
    if existing and not req.force:
        raise UsageError(
            "these workflows already exist, nothing was written: " + ", ".join(existing),
            hint="review them, then `gripctl ci init --force` to write them again",
        )
    for path, text in files.items():
        try:
            _write(repository / path, text)
        except OSError as exc:
            raise UsageError(
                f"cannot write {path} in {repository}: {exc.strerror}",
                hint="check that .github/workflows is a writable folder",
            ) from None
    if any(e.approval.value == "required" for e in environments):
        notes.append(
            "environments with approval: required deploy only an approved plan: `gripctl approve ID`"
        )
    return CiInitResult(
        repository=repository,
        platform_dir=relative,
        written=list(files),
        overwritten=existing,
        auto=[e.name for e in environments if e.deploy == "auto"],
        manual=[e.name for e in environments if e.deploy != "auto"],
        branch=branch,
        action=req.action,
        notes=notes,
    )


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()  # --force replaces the link itself, never the file it points at
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
