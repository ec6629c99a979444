"""gripctl ci init: the platform repository's GitHub Actions workflows (docs/ci.md)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from gripctl.cli.context import state

ci_app = typer.Typer(
    help="Continuous integration: the platform repository's workflows.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add `gripctl ci init` to the root app."""
    app.add_typer(ci_app, name="ci")


@ci_app.command("init")
def init_cmd(
    ctx: typer.Context,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite workflow files that already exist.")
    ] = False,
    action: Annotated[
        str | None,
        typer.Option(
            "--action",
            metavar="REF",
            help="gripctl's composite action, pinned: OWNER/REPO@REF (default: this gripctl's release), "
            "or ./ for the action.yml of the repository itself.",
            show_default=False,
        ),
    ] = None,
    branch: Annotated[
        str | None,
        typer.Option(
            "--branch",
            metavar="NAME",
            help="Pushes to this branch deploy the `deploy: auto` environments (default: the repository's "
            "default branch, else main).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write .github/workflows: validate and plan every pull request (one comment, updated), deploy the
    `deploy: auto` environments on a push, and a dispatch for people to deploy the `deploy: manual` ones."""
    from gripctl.service import ci

    st = state(ctx)
    request = ci.CiInitRequest(st.root, force=force, branch=branch, action=action or ci.DEFAULT_ACTION)
    result = ci.init(request)
    out = st.output
    if out.json:
        out.document(result.to_dict())
        return
    out.line(f"workflows for {escape(str(result.repository))}:", style="bold")
    for path in result.written:
        mark = "~" if path in result.overwritten else "+"
        out.line(f"  {mark} {escape(path)}")
    out.line("  pull requests: validate (code scanning, annotations) and one plan comment")
    if result.auto:
        out.line(f"  push to {escape(result.branch)}: deploy --auto {escape(', '.join(result.auto))}")
    if result.manual:
        out.line(f"  dispatch by a person: deploy {escape(', '.join(result.manual))}")
    out.line(
        "set the repository secrets SOPS_AGE_KEY, GRIPCTL_KUBECONFIG and GRIPCTL_DATABASE_URL (docs/ci.md)"
    )
    for note in result.notes:
        out.line(f"note: {escape(note)}")
