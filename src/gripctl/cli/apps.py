"""gripctl new app / app update: applications from a copier template (docs/apps.md)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from gripctl.cli.context import state
from gripctl.errors import ExitCode

new_app_group = typer.Typer(help="Create something new in the platform repository.", no_args_is_help=True)
app_group = typer.Typer(help="Work on an application made from a template.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `gripctl new app` and `gripctl app update` to the root app."""
    app.add_typer(new_app_group, name="new")
    app.add_typer(app_group, name="app")


@new_app_group.command("app")
def new_app_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The app's name: lowercase letters, digits and dashes.")],
    number: Annotated[
        int | None,
        typer.Option("--number", "-n", help="Its NNN prefix (default: the next multiple of ten above all)."),
    ] = None,
    needs: Annotated[
        list[str] | None,
        typer.Option("--needs", help="A release it needs (repeat, or a,b); its number must be higher."),
    ] = None,
    template: Annotated[
        str | None,
        typer.Option("--template", help="A copier template: a folder or git URL (default: gripctl's own)."),
    ] = None,
) -> None:
    """Render a new application: chart, encrypted secrets release, per-environment values, docs page,
    and its gripctl.yaml entry. Nothing is written unless all of it is."""
    from gripctl.service.apps import NewAppRequest, new_app

    st = state(ctx)
    wanted = tuple(part.strip() for item in needs or [] for part in item.split(",") if part.strip())
    result = new_app(NewAppRequest(st.root, name, number=number, needs=wanted, template=template))
    out = st.output
    if out.json:
        out.document(result.to_dict())
        return
    out.line(f"created {escape(result.release_id)} in namespace {escape(result.namespace)}", style="bold")
    for path in result.files:
        out.line(f"  + {escape(path)}")
    needs_text = ", ".join(result.needs) or "nothing"
    out.line(f"  ~ gripctl.yaml (releases.{escape(result.release_id)}: needs {escape(needs_text)})")
    if result.encrypted_for:
        out.line(f"secrets encrypted for {escape(', '.join(result.encrypted_for))}")
    version = f" {result.template_version}" if result.template_version else ""
    out.line(f"template: {escape(result.template)}{escape(version)}")
    for note in result.notes:
        out.warn(escape(note))
    out.line(f"next: gripctl validate --only {escape(result.release_id)}, then commit and deploy")


@app_group.command("update")
def app_update_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The app's release id (955-billing) or name (billing).")],
) -> None:
    """Apply the newest version of the app's template (copier update) in a clean git work tree.
    Conflicts are left inline in the files, as copier leaves them; the exit code is then 1."""
    from gripctl.service.apps import AppUpdateRequest, update_app

    st = state(ctx)
    result = update_app(AppUpdateRequest(st.root, name))
    out = st.output
    if out.json:
        out.document(result.to_dict())
    else:
        versions = f"{result.from_version} -> {result.to_version}"
        out.line(f"{escape(result.release_id)}: template {escape(result.template)} {escape(versions)}")
        if not result.changed:
            out.line("no changes: the app already has everything its template version brings")
        for line in result.changed:
            out.line(f"  {escape(line)}")
        if result.conflicts:
            out.warn(
                f"{len(result.conflicts)} file(s) with conflicts, left inline (<<<<<<< before updating / "
                f">>>>>>> after updating): {escape(', '.join(result.conflicts))}"
            )
            out.line("resolve them, then commit; `git diff` shows everything the update changed")
        else:
            out.line("review with `git diff`, then commit")
    if result.conflicts:
        raise typer.Exit(ExitCode.FAILED)
