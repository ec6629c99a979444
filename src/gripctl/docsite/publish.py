"""Publishing a built site: one commit of the site on a `gh-pages` branch of a git remote.

The way the seed repositories' documentation workflow publishes: the built site is copied into a fresh
repository, committed as the single commit of an orphan branch (so each publish is a clean snapshot,
not a history of generated files), and force-pushed to the remote's pages branch. `.nojekyll` is added
so GitHub Pages serves MkDocs' folders as they are; a CNAME file when a custom domain is given.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gripctl.adapters import git as gitcmd
from gripctl.errors import DocsError, UsageError


@dataclass(frozen=True)
class Published:
    remote: str
    branch: str
    commit: str
    files: int
    source_commit: str | None


def remote_url(root: Path, remote: str) -> str:
    """`remote` as a URL: a configured remote's name in the platform repository, a URL, or a path."""
    if "://" in remote or remote.startswith("git@") or "/" in remote or remote.startswith("."):
        path = Path(remote).expanduser()
        if "://" not in remote and not remote.startswith("git@"):
            resolved = path if path.is_absolute() else (Path.cwd() / path)
            if not resolved.exists():
                raise UsageError(
                    f"remote {remote!r} does not exist",
                    hint="pass a remote name of the platform repository, a git URL, or a repository path",
                )
            return str(resolved.resolve())
        return remote
    if gitcmd.toplevel(root) is None:
        raise UsageError(
            f"{root} is not a git repository, so it has no remote {remote!r}",
            hint="pass --remote with a git URL or a repository path",
        )
    found = gitcmd.git(root, "remote", "get-url", remote, check=False)
    if not found.ok:
        known = gitcmd.git(root, "remote", check=False).stdout.split()
        raise UsageError(
            f"the platform repository has no remote {remote!r}",
            hint=f"known remotes: {', '.join(known) or '(none)'}; or pass a git URL or a repository path",
        )
    return found.stdout.strip()


def publish(
    root: Path, site_dir: Path, remote: str, *, branch: str = "gh-pages", cname: str | None = None
) -> Published:
    """Commit the built `site_dir` as the only commit of `branch` and force-push it to `remote`."""
    if not (site_dir / "index.html").is_file():
        raise DocsError(
            f"{site_dir} holds no built site (no index.html)", hint="run `gripctl docs build` first"
        )
    url = remote_url(root, remote)
    source = gitcmd.head(root) if gitcmd.toplevel(root) else None
    with tempfile.TemporaryDirectory(prefix="gripctl-publish-") as tmp:
        work = Path(tmp) / "site"
        shutil.copytree(site_dir, work)
        (work / ".nojekyll").write_text("")
        if cname:
            (work / "CNAME").write_text(cname.strip() + "\n")
        env = dict(gitcmd.GRIPCTL_IDENTITY)
        gitcmd.git(work, "init", "--quiet")
        gitcmd.git(work, "checkout", "--quiet", "--orphan", branch)
        gitcmd.git(work, "add", "--all", "--force", ".", env=env)
        message = "docs: publish site" + (f" ({source})" if source else "")
        gitcmd.git(work, "commit", "--quiet", "--no-verify", "-m", message, env=env)
        commit = gitcmd.git(work, "rev-parse", "HEAD").stdout.strip()
        files = len(gitcmd.git(work, "ls-files").stdout.splitlines())
        pushed = gitcmd.push(work, url, [f"HEAD:refs/heads/{branch}"], force=True)
        if not pushed.ok:
            detail = (pushed.stderr or pushed.stdout).strip().splitlines()
            raise DocsError(
                f"git push to {url} ({branch}) failed: "
                f"{detail[-1] if detail else f'exit {pushed.returncode}'}",
                hint="check the remote's URL and your access to it; nothing was published",
            )
    return Published(remote=url, branch=branch, commit=commit, files=files, source_commit=source)
