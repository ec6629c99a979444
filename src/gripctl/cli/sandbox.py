"""gripctl sandbox: start, stop and inspect a local kwok-based Kubernetes cluster."""

from __future__ import annotations

from typing import Annotated

import typer

from gripctl.cli.context import state

# The sandbox adapter imports the kubernetes client: each command imports the service in its body.

sandbox_app = typer.Typer(
    help=(
        "A real local Kubernetes control plane (etcd, kube-apiserver, controller manager, scheduler) with "
        "simulated nodes, from the pinned toolchain. Context: gripctl-sandbox."
    ),
    no_args_is_help=True,
)


@sandbox_app.command("up")
def up_cmd(
    ctx: typer.Context,
    nodes: Annotated[int, typer.Option("--nodes", "-n", min=1, help="Number of simulated nodes.")] = 3,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="kube-apiserver port (default: a free one)."),
    ] = None,
) -> None:
    """Start the sandbox, or return at once when it is already running."""
    from gripctl.service import sandbox

    out = state(ctx).output
    if not sandbox.running() and out.interactive:
        out.line("starting the sandbox (etcd, kube-apiserver, controller manager, scheduler, kwok)...")
    result = sandbox.up(nodes=nodes, port=port)
    info = result.info
    if out.json:
        out.document(result.to_dict())
        return
    verb = "already running" if result.already_running else f"up in {result.seconds}s"
    out.line(f"sandbox {verb}: {info.server} (Kubernetes {info.kube_version})")
    out.line(f"  context:    {info.context} (in {result.user_kubeconfig})")
    out.line(f"  kubeconfig: {info.kubeconfig}")
    out.line(f"  try:        kubectl --context {info.context} get nodes")


@sandbox_app.command("down")
def down_cmd(ctx: typer.Context) -> None:
    """Stop the sandbox and remove its processes, files and kubeconfig context."""
    from gripctl.service import sandbox

    out = state(ctx).output
    was_running = sandbox.down()
    if out.json:
        out.document({"stopped": was_running})
    else:
        out.line("sandbox stopped and removed" if was_running else "sandbox was not running; nothing to do")


@sandbox_app.command("status")
def status_cmd(ctx: typer.Context) -> None:
    """Show components, nodes and context. Exit code 0 when the sandbox runs and answers, 1 otherwise."""
    from gripctl.service import sandbox

    out = state(ctx).output
    st = sandbox.status()
    if out.json:
        out.document(st.to_dict() if st else {"running": False})
    elif st is None:
        out.line("sandbox is not running (start it with `gripctl sandbox up`)")
    else:
        health = "running" if st.healthy else "NOT ANSWERING (run `gripctl sandbox down` then `up`)"
        out.line(f"sandbox {st.info.name}: {health}")
        out.line(f"  server:     {st.info.server} (Kubernetes {st.info.kube_version})")
        present = "present" if st.context_present else "MISSING (run `gripctl sandbox up` to restore it)"
        out.line(f"  context:    {st.info.context} in {st.user_kubeconfig}: {present}")
        out.line(f"  kubeconfig: {st.info.kubeconfig}")
        out.line("  components: " + ", ".join(f"{c.name}={c.status}" for c in st.components))
        ready = sum(n.ready for n in st.nodes)
        out.line(f"  nodes:      {ready}/{len(st.nodes)} Ready: " + ", ".join(n.name for n in st.nodes))
    if st is None or not st.healthy:
        # SystemExit, not typer.Exit: the root app runs click with standalone_mode=False, which turns
        # typer.Exit into a return value that main() does not pass on.
        raise SystemExit(1)


def register(app: typer.Typer) -> None:
    """Add `gripctl sandbox up|down|status` to the root app."""
    app.add_typer(sandbox_app, name="sandbox")
