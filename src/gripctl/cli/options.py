"""The options every command spells the same way: environment, release selection, identity, and the
options deploy and apply share. Used as Annotated metadata (Typer copies them, so sharing is safe).

The environment is `-e/--environment` (env var GRIPCTL_ENVIRONMENT) on every command. The selection
rules are in `gripctl.model.selection` and docs/config.md ("Selecting releases").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import typer

from gripctl.model.selection import Selection, split_ids

environment_option = typer.Option(
    "--environment",
    "-e",
    metavar="ENV",
    envvar="GRIPCTL_ENVIRONMENT",
    help="Environment from gripctl.yaml (default: the only one, else a neutral 'default' without values).",
    show_default=False,
)
only_option = typer.Option(
    "--only",
    metavar="ID",
    help="Act only on these release ids (repeat, or separate with commas).",
    show_default=False,
)
include_needs_option = typer.Option(
    "--include-needs", help="Also act on everything the selected releases need, transitively."
)
include_dependents_option = typer.Option(
    "--include-dependents", help="Also act on everything that needs the selected releases, transitively."
)
selector_option = typer.Option(
    "--selector",
    "-l",
    metavar="KEY=VALUE",
    help="Label selector key=value or key!=value; commas mean AND, repeating the option means OR. "
    "Built-in labels: id, name, namespace.",
    show_default=False,
)
changed_since_option = typer.Option(
    "--changed-since",
    metavar="REF",
    help="Only releases whose chart, values, environment files, secrets or gripctl.yaml entry changed "
    "between the git ref REF and the working tree, plus everything that needs them.",
    show_default=False,
)
as_option = typer.Option(
    "--as",
    metavar="NAME",
    help="Who you are, for approvals and the ledger (default: GRIPCTL_USER, then $USER).",
    show_default=False,
)
sign_option = typer.Option(
    "--sign",
    metavar="KEY",
    envvar="GRIPCTL_SIGNING_KEY",
    help="Sign the decision with this SSH key (`ssh-keygen -Y sign`); it must be in the allowed signers file "
    "gripctl.yaml names (approvals.allowed_signers).",
    show_default=False,
)
server_option = typer.Option(
    "--server", metavar="URL", envvar="GRIPCTL_SERVER", help="Decide through this gripctl server's API.",
    show_default=False,
)  # fmt: skip
token_option = typer.Option(
    "--token", metavar="TOKEN", envvar="GRIPCTL_TOKEN", help="The API token for --server.", show_default=False
)
wait_lock_option = typer.Option(
    "--wait-lock",
    metavar="SECONDS",
    help="Wait up to SECONDS for another run's environment lock instead of failing.",
    min=0,
)

# deploy and apply
concurrency_option = typer.Option(
    "--concurrency",
    "-j",
    metavar="N",
    help="Releases deployed at once (default: the environment's, else 4).",
    min=1,
)
serial_option = typer.Option("--serial", help="One release at a time, in topological order.")
on_failure_option = typer.Option(
    "--on-failure",
    help="halt: finish running releases, start nothing new (dependents skipped); "
    "rollback-run: also roll back every release this run changed.",
)
monitor_option = typer.Option(
    "--monitor",
    metavar="SECONDS",
    help="Override the environment's monitoring window after healthy.",
    min=0,
    show_default=False,
)
skip_validation_option = typer.Option(
    "--skip-validation", help="Deploy without the pre-deployment checks (recorded in the ledger)."
)

force_promotion_option = typer.Option(
    "--force-promotion",
    help="Deploy releases that the environment's promote_from source has not run successfully "
    "(recorded in the run's timeline).",
)

DEPLOY_OPTIONS = (
    "concurrency",
    "serial",
    "on_failure",
    "wait_lock",
    "monitor",
    "skip_validation",
    "force_promotion",
)


def selection(params: Mapping[str, Any]) -> Selection:
    """The release selection from a command's parsed parameters (the options above)."""
    return Selection(
        only=split_ids(params.get("only")),
        include_needs=bool(params.get("include_needs")),
        include_dependents=bool(params.get("include_dependents")),
        selectors=tuple(params.get("selector") or ()),
        changed_since=params.get("changed_since") or None,
    )


def deploy_options(params: Mapping[str, Any]) -> dict[str, Any]:
    """The DeployRequest fields deploy and apply share, from their parsed parameters."""
    return {
        "concurrency": params.get("concurrency"),
        "serial": bool(params.get("serial")),
        "on_failure": params["on_failure"],
        "wait_lock": params.get("wait_lock") or 0.0,
        "monitor_seconds": params.get("monitor"),
        "skip_validation": bool(params.get("skip_validation")),
        "force_promotion": bool(params.get("force_promotion")),
    }


def ids(values: Sequence[str] | None) -> tuple[str, ...]:
    return split_ids(values)
