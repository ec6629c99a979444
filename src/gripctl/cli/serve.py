"""gripctl serve: the shared, authenticated, always-on server (API, dashboard, event streams, worker).

The web face is a room of its own on the same floor as the CLI, so this command does not import it:
uvicorn loads `gripctl.web.app:from_environment` by name, and the options travel as GRIPCTL_SERVE_*
variables of this process.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from gripctl.cli.context import state


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", metavar="ADDRESS", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", metavar="PORT", help="Port to listen on.")] = 8080,
    status_every: Annotated[
        float,
        typer.Option(
            "--status-every", metavar="SECONDS", help="How often release health and drift are looked at."
        ),
    ] = 60.0,
    drift_every: Annotated[
        float,
        typer.Option(
            "--drift-every", metavar="SECONDS", help="The worker's drift check of every environment (0: off)."
        ),
    ] = 300.0,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Do not run the periodic jobs here (another replica does).")
    ] = False,
    forwarded_allow_ips: Annotated[
        str,
        typer.Option(
            "--forwarded-allow-ips",
            metavar="IPS",
            help="Reverse proxies whose X-Forwarded-For/-Proto are trusted (comma-separated, or *).",
        ),
    ] = "127.0.0.1",
    secure_cookies: Annotated[
        bool, typer.Option("--secure-cookies", help="Mark session cookies Secure (serve behind HTTPS).")
    ] = False,
) -> None:
    """Serve the API (/api/v1), the dashboard, /metrics and the worker over this platform's ledger.

    Session cookies are signed with GRIPCTL_SESSION_SECRET (every replica needs the same one), else a key
    kept in .gripctl/session.key. The ledger is the platform's (GRIPCTL_DATABASE_URL for PostgreSQL).
    docs/server.md explains running it behind a reverse proxy, on PostgreSQL, with replicas."""
    import uvicorn

    app_state = state(ctx)
    os.environ["GRIPCTL_SERVE_ROOT"] = str(app_state.root)
    os.environ["GRIPCTL_SERVE_STATUS_EVERY"] = str(status_every)
    os.environ["GRIPCTL_SERVE_WORKER"] = "0" if no_worker else "1"
    os.environ["GRIPCTL_SERVE_DRIFT_EVERY"] = str(drift_every)
    os.environ["GRIPCTL_SERVE_SECURE_COOKIES"] = "1" if secure_cookies else "0"
    shown = f"[{host}]" if ":" in host else host
    app_state.output.line(f"gripctl serving {app_state.root.name} on http://{shown}:{port}/", style="bold")
    uvicorn.run(
        "gripctl.web.app:from_environment",
        factory=True,
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
