"""gripctl sandbox: start, stop and inspect a local kwok-based Kubernetes cluster."""

from __future__ import annotations

from typing import Annotated

import typer

from gripctl.cli.context import state

# The sandbox adapter imports the kubernetes client: each command imports the service in its body.

sandbox_app = typer.Typer(
    help=(
        "A real local Kubernetes control plane (etcd, kube-apiserver, controller manager, scheduler) with "
        "simulated nodes, from the pinned toolchain. Context: gripctl-sandbox (gripctl-sandbox-NAME for "
        "a second one started with --name NAME)."
    ),
    no_args_is_help=True,
)


name_option = typer.Option(
    "--name",
    metavar="NAME",
    help="A sandbox beside the default one: its own processes, ports, folder and context "
    "gripctl-sandbox-NAME (e.g. production).",
    show_default=False,
)


def _called(name: str | None) -> str:
    return "sandbox" if name is None else f"sandbox {name}"


def _flag(name: str | None) -> str:
    return "" if name is None else f" --name {name}"


@sandbox_app.command("up")
def up_cmd(
    ctx: typer.Context,
    name: Annotated[str | None, name_option] = None,
    nodes: Annotated[int, typer.Option("--nodes", "-n", min=1, help="Number of simulated nodes.")] = 3,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="kube-apiserver port (default: a free one)."),
    ] = None,
) -> None:
    """Start the sandbox, or return at once when it is already running."""
    from gripctl.service import sandbox

    out = state(ctx).output
    if not sandbox.running(name) and out.interactive:
        out.line(
            f"starting the {_called(name)} (etcd, kube-apiserver, controller manager, scheduler, kwok)..."
        )
    result = sandbox.up(nodes=nodes, port=port, name=name)
    info = result.info
    if out.json:
        out.document(result.to_dict())
        return
    verb = "already running" if result.already_running else f"up in {result.seconds}s"
    out.line(f"{_called(name)} {verb}: {info.server} (Kubernetes {info.kube_version})")
    out.line(f"  context:    {info.context} (in {result.user_kubeconfig})")
    out.line(f"  kubeconfig: {info.kubeconfig}")
    out.line(f"  try:        kubectl --context {info.context} get nodes")


@sandbox_app.command("down")
def down_cmd(ctx: typer.Context, name: Annotated[str | None, name_option] = None) -> None:
    """Stop the sandbox and remove its processes, files and kubeconfig context."""
    from gripctl.service import sandbox

    out = state(ctx).output
    was_running = sandbox.down(name)
    if out.json:
        out.document({"stopped": was_running})
    else:
        called = _called(name)
        out.line(
            f"{called} stopped and removed" if was_running else f"{called} was not running; nothing to do"
        )


@sandbox_app.command("status")
def status_cmd(ctx: typer.Context, name: Annotated[str | None, name_option] = None) -> None:
    """Show components, nodes and context. Exit code 0 when the sandbox runs and answers, 1 otherwise."""
    from gripctl.service import sandbox

    out = state(ctx).output
    st = sandbox.status(name)
    flag = _flag(name)
    if out.json:
        out.document(st.to_dict() if st else {"running": False})
    elif st is None:
        out.line(f"{_called(name)} is not running (start it with `gripctl sandbox up{flag}`)")
    else:
        health = (
            "running" if st.healthy else f"NOT ANSWERING (run `gripctl sandbox down{flag}` then `up{flag}`)"
        )
        out.line(f"sandbox {st.info.name}: {health}")
        out.line(f"  server:     {st.info.server} (Kubernetes {st.info.kube_version})")
        present = (
            "present" if st.context_present else f"MISSING (run `gripctl sandbox up{flag}` to restore it)"
        )
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
