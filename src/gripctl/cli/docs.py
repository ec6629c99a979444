"""gripctl docs: build, check, serve and publish the platform's documentation (docs/docs-site.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from gripctl.cli.context import state
from gripctl.errors import ExitCode

docs_app = typer.Typer(
    help=(
        "The platform's documentation site: docs/ with MkDocs (Material, TechDocs-compatible) plus "
        "generated pages (releases, dependency graph, environments, a runbook per release)."
    ),
    no_args_is_help=True,
)

SiteDir = Annotated[
    Path | None, typer.Option("--site-dir", "-d", help="Where the site is written (default: <root>/site).")
]


def register(app: typer.Typer) -> None:
    """Add `gripctl docs` to the root app."""
    app.add_typer(docs_app, name="docs")


@docs_app.command("build")
def build_cmd(
    ctx: typer.Context,
    site_dir: SiteDir = None,
    strict: Annotated[
        bool, typer.Option("--strict/--no-strict", help="Fail on any MkDocs warning (broken link, anchor).")
    ] = True,
) -> None:
    """Build the site (the generated pages join docs/)."""
    from gripctl.service.docs import DocsBuildRequest, build

    st = state(ctx)
    result = build(DocsBuildRequest(st.root, site_dir, strict=strict))
    out = st.output
    if out.json:
        out.document(result.to_dict())
        return
    out.line(
        f"built {result.pages} pages ({len(result.generated)} generated) into {escape(str(result.site_dir))} "
        f"in {result.seconds:.1f}s"
    )
    for warning in result.warnings:
        out.warn(escape(warning))
    for note in result.notes:
        out.warn(escape(note))


@docs_app.command("check")
def check_cmd(
    ctx: typer.Context,
    site_dir: SiteDir = None,
    external: Annotated[
        bool, typer.Option("--external", help="Also fetch external URLs (by default they are only listed).")
    ] = False,
) -> None:
    """A strict build plus a link check of every internal link and anchor, offline."""
    from gripctl.service.docs import DocsCheckRequest, check

    st = state(ctx)
    result = check(DocsCheckRequest(st.root, site_dir, external=external))
    out = st.output
    if out.json:
        out.document(result.to_dict())
    else:
        out.line(
            f"{result.pages} pages, {result.internal_links} internal links checked, "
            f"{len(result.broken)} broken"
        )
        for broken in result.broken:
            out.line(f"  {escape(broken['page'])}: {escape(broken['target'])} ({escape(broken['reason'])})")
        verb = "checked" if result.external_checked else "listed, not fetched (--external fetches them)"
        out.line(f"{len(result.external)} external URLs {verb}")
        for url, pages in sorted(result.external.items()):
            out.line(f"  {escape(url)}  ({len(pages)} page{'s' if len(pages) != 1 else ''})")
        for failed in result.external_failed:
            out.line(f"  FAILED {escape(failed['target'])}: {escape(failed['reason'])}")
    if not result.ok:
        raise typer.Exit(ExitCode.FAILED)


@docs_app.command("serve")
def serve_cmd(
    ctx: typer.Context,
    dev_addr: Annotated[
        str, typer.Option("--dev-addr", "-a", help="Address to serve on (IP:PORT).")
    ] = "127.0.0.1:8000",
    livereload: Annotated[bool, typer.Option("--livereload/--no-livereload")] = True,
) -> None:
    """Serve the site locally, rebuilding when docs/, gripctl.yaml or the charts change."""
    from gripctl.service.docs import DocsServeRequest, serve

    st = state(ctx)
    st.output.line(f"serving on http://{escape(dev_addr)}/ (Ctrl-C stops)")
    serve(DocsServeRequest(st.root, dev_addr, livereload=livereload))


@docs_app.command("publish")
def publish_cmd(
    ctx: typer.Context,
    remote: Annotated[
        str, typer.Option("--remote", help="A remote of the platform repository, a git URL, or a path.")
    ] = "origin",
    branch: Annotated[str, typer.Option("--branch", help="The pages branch.")] = "gh-pages",
    cname: Annotated[str | None, typer.Option("--cname", help="A custom domain (CNAME file).")] = None,
) -> None:
    """Check the site, then commit it as the only commit of the remote's pages branch (force-pushed)."""
    from gripctl.service.docs import DocsPublishRequest, publish

    st = state(ctx)
    result = publish(DocsPublishRequest(st.root, remote=remote, branch=branch, cname=cname))
    out = st.output
    if out.json:
        out.document(result.to_dict())
        return
    out.line(
        f"published {result.files} files to {escape(result.remote)} {escape(result.branch)} "
        f"(commit {result.commit[:12]})"
    )
