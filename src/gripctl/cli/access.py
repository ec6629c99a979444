"""gripctl token create|list|revoke and gripctl audit: the server's API tokens and the audit log."""

from __future__ import annotations

from typing import Annotated

import typer

from gripctl.cli.context import state
from gripctl.cli.options import as_option
from gripctl.cli.output import Column
from gripctl.identity import actor
from gripctl.ledger.types import TokenRole

token_app = typer.Typer(help="API tokens of the server: each a user, a role, and the environments it covers.")


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")
    app.command("audit")(audit)


@token_app.command("create")
def create(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", "-u", metavar="NAME", help="Who the token speaks for.")],
    role: Annotated[TokenRole, typer.Option("--role", "-r", help="viewer, deployer, approver or admin.")],
    scopes: Annotated[
        list[str] | None,
        typer.Option(
            "--env",
            "--environment",
            "-e",
            metavar="ENV",
            help="Environments it covers (repeat; default all).",
        ),
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option("--expires", metavar="WHEN", help="A duration (90d, 12h) or a date; default never."),
    ] = None,
    who: Annotated[str | None, as_option] = None,
) -> None:
    """Create a token and print it once: the ledger keeps only an argon2 hash of its secret."""
    from gripctl.service.access import TokenRequest, create_token

    st = state(ctx)
    created = create_token(TokenRequest(st.root, user, role, tuple(scopes or ()), expires, who or actor()))
    if st.output.json:
        st.output.document(created.to_dict())
        return
    r = created.record
    scope = ", ".join(r.environments) or "every environment"
    until = f", until {r.expires_at:%Y-%m-%d %H:%M} UTC" if r.expires_at else ""
    st.output.line(f"token {r.id} for {r.user} ({r.role.value} in {scope}{until}); shown once:", style="bold")
    print(created.token)


@token_app.command("list")
def list_tokens(
    ctx: typer.Context,
    user: Annotated[
        str | None, typer.Option("--user", "-u", metavar="NAME", help="Only this user's.")
    ] = None,
) -> None:
    """Every token, newest first (revoked and expired ones too); never a secret."""
    from gripctl.service.access import list_tokens as get

    st = state(ctx)
    result = get(st.root, user)
    if st.output.json:
        st.output.document(result.to_dict())
        return
    if not result.tokens:
        st.output.line("no tokens")
        return
    st.output.table(
        [Column(h) for h in ("id", "user", "role", "state", "created", "expires", "used")]
        + [Column("environments", flex=True)],
        [
            [
                t.id,
                t.user,
                t.role.value,
                "revoked" if t.revoked_at else "active",
                f"{t.created_at:%Y-%m-%d}",
                f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "never",
                f"{t.last_used_at:%Y-%m-%d}" if t.last_used_at else "never",
                ", ".join(t.environments) or "all",
            ]
            for t in result.tokens
        ],
    )


@token_app.command("revoke")
def revoke(
    ctx: typer.Context,
    token_id: Annotated[str, typer.Argument(help="The token's id (`gripctl token list`).")],
    who: Annotated[str | None, as_option] = None,
) -> None:
    """Revoke a token for good: it stops working at once, on every replica."""
    from gripctl.service.access import revoke_token

    st = state(ctx)
    record = revoke_token(st.root, token_id, actor=who or actor())
    if st.output.json:
        st.output.document({"id": record.id, "revoked_at": record.revoked_at})
    else:
        st.output.line(f"token {record.id} of {record.user} revoked")


def audit(
    ctx: typer.Context,
    who: Annotated[str | None, typer.Option("--actor", metavar="NAME", help="Only this actor's.")] = None,
    action: Annotated[
        str | None,
        typer.Option("--action", metavar="ACTION", help="approve, reject, deploy, token.create, ..."),
    ] = None,
    since: Annotated[str | None, typer.Option("--since", metavar="WHEN", help="7d, 12h, or a date.")] = None,
    before: Annotated[
        int | None, typer.Option("--before", metavar="ID", help="Older than this entry (paging).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", metavar="N", help="How many entries.")] = 50,
) -> None:
    """The audit log: who did what, when, from where — every approval, deploy, rollback, incident
    acknowledgement and resolution, and token change, newest first."""
    from gripctl.service.access import AuditRequest, audit_log

    st = state(ctx)
    page = audit_log(AuditRequest(st.root, who, action, since, before, limit))
    if st.output.json:
        st.output.document(page.to_dict())
        return
    if not page.entries:
        st.output.line("nothing recorded")
        return
    st.output.table(
        [Column("id", justify="right"), Column("when"), Column("who"), Column("from"), Column("action"),
         Column("target"), Column("detail", flex=True)],
        [
            [str(e.id), f"{e.ts:%Y-%m-%d %H:%M:%S}", e.actor, e.source, e.action, (e.target or "")[:16],
             " ".join(f"{k}={v}" for k, v in (e.detail or {}).items() if k != "signature")]
            for e in page.entries
        ],
    )  # fmt: skip
