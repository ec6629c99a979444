"""Service: the platform repository's documentation site (build, check, serve, publish)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DocsBuildRequest:
    root: Path
    site_dir: Path | None = None  # default <root>/site
    strict: bool = True


@dataclass(frozen=True)
class DocsBuildResult:
    site_dir: Path
    pages: int
    generated: tuple[str, ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "site_dir": str(self.site_dir),
            "pages": self.pages,
            "generated": list(self.generated),
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "seconds": round(self.seconds, 3),
        }


def build(request: DocsBuildRequest) -> DocsBuildResult:
    """Build the site: the hand-written docs/ plus the generated reference pages and runbooks."""
    from gripctl.docsite import site

    done = site.build(request.root, request.site_dir, strict=request.strict)
    return DocsBuildResult(
        site_dir=done.site_dir,
        pages=done.pages,
        generated=done.sources.generated,
        warnings=done.warnings,
        notes=done.sources.notes,
        seconds=done.seconds,
    )


@dataclass(frozen=True)
class DocsCheckRequest:
    root: Path
    site_dir: Path | None = None  # default: a temporary folder, removed afterwards
    external: bool = False  # fetch external URLs (otherwise only listed)


@dataclass(frozen=True)
class DocsCheckResult:
    build: DocsBuildResult
    pages: int
    internal_links: int
    broken: tuple[dict[str, str], ...]
    external: dict[str, list[str]]
    external_checked: bool
    external_failed: tuple[dict[str, str], ...]

    @property
    def ok(self) -> bool:
        return not self.broken and not self.external_failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "build": self.build.to_dict(),
            "pages": self.pages,
            "internal_links": self.internal_links,
            "broken": list(self.broken),
            "external": self.external,
            "external_checked": self.external_checked,
            "external_failed": list(self.external_failed),
        }


def check(request: DocsCheckRequest) -> DocsCheckResult:
    """A strict build, then every internal link and anchor of the built site; external URLs are listed
    (fetched only with `external`)."""
    import tempfile

    from gripctl.docsite.links import check_site, http_fetch

    with tempfile.TemporaryDirectory(prefix="gripctl-docs-check-") as tmp:
        site_dir = request.site_dir or Path(tmp) / "site"
        built = build(DocsBuildRequest(request.root, site_dir, strict=True))
        fetch = http_fetch() if request.external else None
        report = check_site(built.site_dir, check_external=request.external, fetch=fetch)
    return DocsCheckResult(
        build=built,
        pages=report.pages,
        internal_links=report.internal,
        broken=tuple(b.to_dict() for b in report.broken),
        external=report.external,
        external_checked=request.external,
        external_failed=tuple(b.to_dict() for b in report.external_failed),
    )


@dataclass(frozen=True)
class DocsPublishRequest:
    root: Path
    remote: str = "origin"  # a remote of the platform repository, a git URL, or a repository path
    branch: str = "gh-pages"
    cname: str | None = None


@dataclass(frozen=True)
class DocsPublishResult:
    check: DocsCheckResult
    remote: str
    branch: str
    commit: str
    files: int
    source_commit: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "branch": self.branch,
            "commit": self.commit,
            "files": self.files,
            "source_commit": self.source_commit,
            "check": self.check.to_dict(),
        }


def publish(request: DocsPublishRequest) -> DocsPublishResult:
    """Check the site (strict build + link check), then commit it to the remote's pages branch."""
    import tempfile

    from gripctl.docsite import publish as publisher
    from gripctl.errors import DocsError

    publisher.remote_url(request.root, request.remote)  # a bad remote fails before the build
    with tempfile.TemporaryDirectory(prefix="gripctl-docs-publish-") as tmp:
        site_dir = Path(tmp) / "site"
        checked = check(DocsCheckRequest(request.root, site_dir))
        if not checked.ok:
            first = checked.broken[0]
            raise DocsError(
                f"{len(checked.broken)} broken link(s), first: {first['page']} -> {first['target']} "
                f"({first['reason']}); nothing was published",
                hint="`gripctl docs check` lists them all",
            )
        done = publisher.publish(
            request.root.resolve(), site_dir, request.remote, branch=request.branch, cname=request.cname
        )
    return DocsPublishResult(
        check=checked,
        remote=done.remote,
        branch=done.branch,
        commit=done.commit,
        files=done.files,
        source_commit=done.source_commit,
    )


@dataclass(frozen=True)
class DocsServeRequest:
    root: Path
    dev_addr: str = "127.0.0.1:8000"
    livereload: bool = True


def serve(request: DocsServeRequest) -> None:
    """Serve the site with MkDocs' development server, rebuilding on changes, until interrupted."""
    from gripctl.docsite import site

    site.serve(request.root, request.dev_addr, livereload=request.livereload)
