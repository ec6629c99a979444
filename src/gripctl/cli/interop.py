"""gripctl export helmfile / gripctl import helmfile: to and from helmfile (docs/helmfile.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from gripctl.cli.context import state
from gripctl.cli.options import environment_option

if TYPE_CHECKING:
    from gripctl.cli.output import Output
    from gripctl.interop.helmfile import Gap

export_app = typer.Typer(help="Write the platform in another tool's format.", no_args_is_help=True)
import_app = typer.Typer(
    help="Turn another tool's description of a platform into gripctl.yaml.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add `gripctl export` and `gripctl import` to the root app."""
    app.add_typer(export_app, name="export")
    app.add_typer(import_app, name="import")


@export_app.command("helmfile")
def export_helmfile(
    ctx: typer.Context,
    environment: Annotated[str | None, environment_option] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="The helmfile to write (default: helmfile.yaml at the root, helmfile.yaml.gotmpl for "
            "several environments). '-' prints it (not with sops/plaintext secrets files).",
            show_default=False,
        ),
    ] = None,
    secrets: Annotated[
        str,
        typer.Option(
            "--secrets",
            metavar="MODE",
            help="sops: values files that run `sops --decrypt` when helmfile renders them (no plugin, no "
            "plaintext on disk); helm-secrets: `secrets:` entries for the helm-secrets plugin; plaintext: "
            "DECRYPT NOW and write the secrets to disk (mode 0600, git-ignored).",
        ),
    ] = "sops",
    force: Annotated[
        bool, typer.Option("--force", help="Replace files that an export did not write.")
    ] = False,
) -> None:
    """Write the helmfile state that deploys the same releases, namespaces, values and needs order.

    Without -e every environment of gripctl.yaml goes into one state file, switched by
    `helmfile -e ENV`. What helmfile has no place for (approvals, health checks, rollback, ...) is listed.
    """
    from gripctl.interop.helmfile import SecretsMode
    from gripctl.service.interop import STDOUT, ExportHelmfileRequest
    from gripctl.service.interop import export_helmfile as run_export

    try:
        mode = SecretsMode(secrets)
    except ValueError:
        raise typer.BadParameter(
            f"{secrets!r}: choose sops, helm-secrets or plaintext", param_hint="--secrets"
        ) from None
    app_state = state(ctx)
    out_ = app_state.output
    if mode is SecretsMode.plaintext:
        out_.err.print(
            "[bold red]WARNING: --secrets plaintext decrypts every secrets release and WRITES THE PLAINTEXT "
            "TO DISK.[/bold red] Never commit those files; delete them when you are done.",
            soft_wrap=True,
        )
    result = run_export(
        ExportHelmfileRequest(
            root=app_state.root, environment=environment, out=out, secrets=mode, force=force
        )
    )
    if app_state.output.json:
        app_state.output.document(result.to_dict())
    elif out == STDOUT:
        sys.stdout.write(result.document)
    else:
        out_.line(
            f"wrote {escape(result.out or '')}: {len(result.releases)} releases, environments "
            f"{escape(', '.join(result.environments))}" + (" (Go template)" if result.templated else "")
        )
        for path in result.written[1:]:
            out_.line(f"  and {escape(path)}")
        _gaps(out_, "not carried over (gripctl only)", result.gaps)
        env_flag = f" -e {result.environments[0]}" if result.environments[0] != "default" else ""
        out_.line(f"try it: helmfile -f {escape(result.out or '')}{escape(env_flag)} template")
    if result.plaintext_files:
        files = escape(", ".join(result.plaintext_files))
        out_.err.print(f"[bold red]PLAINTEXT SECRETS WRITTEN TO DISK:[/bold red] {files}", soft_wrap=True)


@import_app.command("helmfile")
def import_helmfile(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The helmfile state: helmfile.yaml or helmfile.yaml.gotmpl.")],
    into: Annotated[
        Path | None,
        typer.Option(
            "--into", help="Folder for gripctl.yaml (default: the helmfile's folder).", show_default=False
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Write nothing; show what would be written.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a gripctl.yaml that an import did not write.")
    ] = False,
) -> None:
    """Write gripctl.yaml for a helmfile: releases, needs, values, environments.

    What cannot be carried over (remote charts, hooks, templating, helm-secrets values, ...) is listed
    with its file:line, and written at the top of gripctl.yaml; nothing is dropped silently.
    """
    from gripctl.service.interop import ImportHelmfileRequest
    from gripctl.service.interop import import_helmfile as run_import

    app_state = state(ctx)
    result = run_import(ImportHelmfileRequest(source=file, into=into, dry_run=dry_run, force=force))
    out = app_state.output
    if out.json:
        out.document(result.to_dict())
        return
    verb = "would write" if result.dry_run else "wrote"
    out.line(
        f"{verb} {len(result.files)} files for {len(result.releases)} releases, environments "
        f"{escape(', '.join(result.environments))}"
    )
    for planned in result.files:
        out.line(f"--- {escape(str(planned.path))}", style="bold")
        if result.dry_run:
            out.console.print(planned.text, markup=False, highlight=False, soft_wrap=True, end="")
    _gaps(out, "not imported", result.gaps)
    _gaps(out, "imported, but gripctl behaves differently", result.notes)
    if not result.dry_run:
        out.line("next: gripctl validate, then gripctl plan -e ENV")


def _gaps(out: Output, title: str, gaps: tuple[Gap, ...]) -> None:
    if not gaps:
        return
    out.line(f"{title} ({len(gaps)}):", style="bold yellow")
    for gap in gaps:
        out.line(f"  {escape(gap.where)}: {escape(gap.topic)}: {escape(gap.detail)}")
