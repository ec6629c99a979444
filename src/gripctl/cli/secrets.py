"""gripctl secrets: SOPS + age workflows (init, edit, decrypt, encrypt, rotate, updatekeys, check)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from gripctl.cli.context import state
from gripctl.errors import ExitCode
from gripctl.secrets.layout import rel
from gripctl.service import secrets as service

secrets_app = typer.Typer(
    help=(
        "Secrets as SOPS + age encrypted values (ops/secrets/NNN-name-secrets/values.sops.yaml). "
        "COMPONENT is the secrets folder (060-grafana-stack-secrets) or the release it serves "
        "(060-grafana-stack). Keys come from SOPS_AGE_KEY, SOPS_AGE_KEY_FILE or ~/.config/sops/age/keys.txt."
    ),
    no_args_is_help=True,
)

Component = Annotated[str, typer.Argument(help="Secrets folder or release id, e.g. 060-grafana-stack.")]


@secrets_app.command("init")
def init_cmd(
    ctx: typer.Context,
    env: Annotated[
        str | None,
        typer.Option(
            "--environment",
            "-e",
            "--env",
            metavar="ENV",
            envvar="GRIPCTL_ENVIRONMENT",
            help="The key is this environment's.",
        ),
    ] = None,
    recipient: Annotated[
        str | None, typer.Option("--recipient", help="Use this existing age public key; make no key pair.")
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option("--key-file", help="Append the new private key here (default: sops' keys.txt)."),
    ] = None,
) -> None:
    """Make an age key pair (or take a public key), add it to .sops.yaml, git-ignore key files."""
    st = state(ctx)
    result = service.init(st.root, environment=env, recipient=recipient, key_file=key_file)
    out = st.output
    if out.json:
        out.document(
            {
                "public_key": result.public_key,
                "key_file": str(result.key_file) if result.key_file else None,
                "rules_changed": result.rules_changed,
                "gitignore_added": result.gitignore_added,
            }
        )
        return
    out.line(f"public key: {result.public_key}")
    if result.key_file is not None:
        out.line(f"private key appended to {result.key_file} (mode 0600; never share or commit it)")
    if result.rules_changed:
        out.line(f".sops.yaml rules updated: {', '.join(result.rules_changed)}")
    else:
        out.line(".sops.yaml already lists this key")
    if result.gitignore_added:
        out.line(f".gitignore now covers: {', '.join(result.gitignore_added)}")
    out.line(
        "next: a current key holder runs `gripctl secrets updatekeys` so existing files include this key"
    )


@secrets_app.command("edit")
def edit_cmd(ctx: typer.Context, component: Component) -> None:
    """Edit with sops' own flow ($EDITOR on sops' private temp file); no plaintext file of ours."""
    st = state(ctx)
    changed = service.edit(st.root, component)
    st.output.line("saved and re-encrypted" if changed else "no changes")


@secrets_app.command("decrypt")
def decrypt_cmd(
    ctx: typer.Context,
    component: Component,
    to_file: Annotated[
        Path | None,
        typer.Option("--to-file", help="Write the plaintext to this file (mode 0600, git-ignored)."),
    ] = None,
) -> None:
    """Print the decrypted values (default), or write them to a file only when asked to."""
    st = state(ctx)
    out = st.output
    if to_file is None:
        values = service.decrypt(st.root, component)
        sys.stdout.buffer.write(values)
        sys.stdout.flush()
        return
    out.warn(f"writing plaintext secrets to {to_file}; delete it when done (or use `gripctl secrets edit`)")
    added = service.decrypt_to_file(st.root, component, to_file)
    if added:
        out.warn(f".gitignore now covers: {', '.join(added)}")
    if out.json:
        out.document({"written": str(to_file), "mode": "0600", "gitignore_added": added})


@secrets_app.command("encrypt")
def encrypt_cmd(
    ctx: typer.Context,
    component: Component,
    source: Annotated[
        Path | None,
        typer.Option("--from", help="Plaintext values file (default: values.dec.yaml in the component)."),
    ] = None,
) -> None:
    """Encrypt plaintext values into values.sops.yaml, verify the round trip, delete the plaintext."""
    st = state(ctx)
    result = service.encrypt(st.root, component, source)
    if st.output.json:
        st.output.document(
            {"encrypted": rel(result.target, st.root), "removed": rel(result.removed, st.root)}
        )
        return
    st.output.line(f"encrypted {rel(result.target, st.root)} (round trip verified)")
    st.output.line(f"removed the plaintext {rel(result.removed, st.root)}")


@secrets_app.command("rotate")
def rotate_cmd(
    ctx: typer.Context,
    component: Component,
    keys: Annotated[
        list[str] | None, typer.Argument(help="Dotted keys to rotate (default: all configured).")
    ] = None,
    env: Annotated[
        str | None,
        typer.Option(
            "--environment",
            "-e",
            "--env",
            metavar="ENV",
            envvar="GRIPCTL_ENVIRONMENT",
            help="Environment to record and to offer a deploy to.",
        ),
    ] = None,
) -> None:
    """New values for the named keys from gripctl.yaml's secrets_rotation generators; recorded (no values)."""
    st = state(ctx)
    out = st.output
    rotation = service.rotate(st.root, component, keys or None, env)
    result, commands = rotation.result, rotation.deploy
    if result.ledger_problem:
        out.warn(f"the rotation is done but was not recorded in the ledger: {result.ledger_problem}")
    if out.json:
        out.document(
            {
                "component": result.component,
                "file": rel(result.path, st.root),
                "rotated": list(result.keys),
                "added": list(result.added),
                "actor": result.actor,
                "recorded": result.ledger_problem is None,
                "deploy": commands,
            }
        )
        return
    out.line(f"rotated in {rel(result.path, st.root)}: {', '.join(result.keys)}")
    if result.added:
        out.line(f"  (new keys: {', '.join(result.added)})")
    out.line("the running release still uses the old values until it is deployed:")
    for command in commands:
        out.line(f"  {command}")
    if env and out.interactive and typer.confirm(f"deploy {rotation.release_id} to {env} now?"):
        argv = [sys.executable, "-m", "gripctl.cli.app", "-C", str(st.root), *commands[0].split()[1:]]
        raise typer.Exit(subprocess.run(argv, check=False).returncode)


@secrets_app.command("updatekeys")
def updatekeys_cmd(
    ctx: typer.Context,
    rotate_all: Annotated[
        bool, typer.Option("--rotate-all", help="Rotate every file's data key, not only changed ones.")
    ] = False,
) -> None:
    """Re-encrypt every secrets file for the recipients in .sops.yaml and rotate changed data keys."""
    st = state(ctx)
    out = st.output
    updates = service.updatekeys(st.root, rotate_all=rotate_all)
    if out.json:
        out.document(
            [
                {
                    "file": rel(u.path, st.root),
                    "added": sorted(set(u.after) - set(u.before)),
                    "removed": sorted(set(u.before) - set(u.after)),
                    "data_key_rotated": u.rotated,
                }
                for u in updates
            ]
        )
        return
    if not updates:
        out.line("no secrets files")
    for u in updates:
        added, removed = sorted(set(u.after) - set(u.before)), sorted(set(u.before) - set(u.after))
        detail = []
        if added:
            detail.append(f"+{len(added)} recipient(s): {', '.join(added)}")
        if removed:
            detail.append(f"-{len(removed)} recipient(s): {', '.join(removed)}")
        if u.rotated:
            detail.append("data key rotated")
        out.line(f"{rel(u.path, st.root)}: {'; '.join(detail) or 'up to date'}")


@secrets_app.command("check")
def check_cmd(ctx: typer.Context) -> None:
    """Every secrets file decrypts, its MAC verifies, its recipients match the rules; nothing leaks to git."""
    st = state(ctx)
    out = st.output
    findings = service.check(st.root)
    failed = any(f.severity == "error" for f in findings)
    if out.json:
        out.document({"ok": not failed, "findings": [f.to_dict() for f in findings]})
    else:
        for f in findings:
            out.line(escape(f"{f.severity:<8} {f.check:<20} {f.path}: {f.message}"))
            if f.hint:
                out.line(escape(f"{'':<30}hint: {f.hint}"))
        out.line("secrets check: " + ("FAILED" if failed else f"ok ({len(findings)} finding(s))"))
    if failed:
        raise typer.Exit(ExitCode.FAILED)


def register(app: typer.Typer) -> None:
    """Add `gripctl secrets ...` to the root app."""
    app.add_typer(secrets_app, name="secrets")
