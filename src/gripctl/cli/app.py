"""The `gripctl` command: global options, subcommand registration, and error-to-exit-code mapping."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from gripctl import __version__
from gripctl.cli.context import AppState
from gripctl.cli.output import Output, OutputFormat
from gripctl.errors import ExitCode, GripError


def _no_flag_metavar() -> None:
    """Typer 0.29 prints a `<bool>` type column for flags in --help; a flag takes no value, so show
    none (other options name their value with a metavar such as ENV, SECONDS or N)."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich

    def display(self: TyperOption, ctx: object) -> str | None:
        return None if self.is_flag else shown(self, ctx)  # type: ignore[arg-type]

    TyperOption.display_type_rich = display  # type: ignore[method-assign]


_no_flag_metavar()

app = typer.Typer(
    name="gripctl",
    help=(
        "Deploy a Helm-based Kubernetes platform: validate, plan, approve, deploy in dependency order, "
        "verify, roll back, and record every run.\n\n"
        "Run inside a platform repository (the folder with gripctl.yaml), or pass --root."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Each module owns one group of commands and exposes `register(app)`. Only the module of the command
# being run is registered (Typer builds every registered command on each call); unknown commands and
# top-level --help register them all. Command modules import heavy libraries (kubernetes, SQLAlchemy,
# Alembic, the validators) inside their command bodies, so that registering one costs little and
# `--help` stays fast; tests/unit/test_cli_startup.py holds them to that.
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "gripctl.cli.sandbox": ("sandbox",),
    "gripctl.cli.validate": ("validate",),
    "gripctl.cli.graph": ("graph",),
    "gripctl.cli.plan": ("plan", "diff"),
    "gripctl.cli.drift": ("drift",),
    "gripctl.cli.deploy": ("deploy", "apply", "approve", "reject", "rollback", "recover", "unlock"),
    "gripctl.cli.status": ("status", "history", "verify", "runs"),
    "gripctl.cli.secrets": ("secrets",),
    "gripctl.cli.metrics": ("metrics",),
    "gripctl.cli.incidents": ("incident",),
    "gripctl.cli.doctor": ("doctor",),
    "gripctl.cli.apps": ("new", "app"),
    "gripctl.cli.docs": ("docs",),
    "gripctl.cli.interop": ("export", "import"),
    "gripctl.cli.ci": ("ci",),
    "gripctl.cli.serve": ("serve",),
    "gripctl.cli.access": ("token", "audit"),
}
_OPTIONS_WITH_VALUE = {"--output", "-o", "--root", "-C"}
_FLAGS = {"--verbose", "-v"}
_registered: set[str] = set()


def hoist_global_options(argv: list[str]) -> list[str]:
    """Global options anywhere on the line, as with kubectl and helm: `gripctl plan -e staging -o json`
    is `gripctl -o json plan -e staging`. They are moved in front of the command, where click reads
    them; nothing after `--` is touched."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest += argv[i:]
            break
        if arg in _OPTIONS_WITH_VALUE and i + 1 < len(argv):
            front += [arg, argv[i + 1]]
            i += 2
            continue
        if arg in _FLAGS or arg.startswith(("--output=", "--root=")):
            front.append(arg)
        elif len(arg) > 2 and arg[:2] in ("-o", "-C") and not arg.startswith("--"):
            front += [arg[:2], arg[2:]]  # -ojson, -C/path
        else:
            rest.append(arg)
        i += 1
    return front + rest


def _requested_command(argv: list[str]) -> str | None:
    """The first positional argument (the command name), skipping global options and their values."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _OPTIONS_WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def _only_version(argv: list[str]) -> bool:
    """True when --version comes before any command and any other eager option (--help): its callback
    prints and exits while the root options are parsed, before any command is looked at."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--version":
            return True
        elif arg in _OPTIONS_WITH_VALUE:
            skip = True
        elif arg not in _FLAGS and not arg.startswith(("--output=", "--root=")):
            return False  # a command, --help, or something to leave to click
    return False


def register_commands(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if _only_version(args):
        return
    command = _requested_command(args)
    wanted = [m for m, names in COMMAND_MODULES.items() if command in names] or list(COMMAND_MODULES)
    for name in wanted:
        if name not in _registered:  # main() may run many times in one process (tests)
            importlib.import_module(name).register(app)
            _registered.add(name)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gripctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    output: Annotated[
        OutputFormat,
        typer.Option(
            "--output",
            "-o",
            help="text for people, wide (no cell cut short), json for machines. Anywhere on the line.",
        ),
    ] = OutputFormat.text,
    root_dir: Annotated[
        Path | None,
        typer.Option(
            "--root", "-C", metavar="PATH", help="Platform repository root (default: the current directory)."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show the commands gripctl runs.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    ctx.obj = AppState(output=Output(format=output), root=(root_dir or Path.cwd()).resolve(), verbose=verbose)


def main() -> None:
    """Entry point: run the app and turn GripErrors into a message and an exit code, never a traceback."""
    try:
        argv = hoist_global_options(sys.argv[1:])
        register_commands(argv)
        # Without standalone mode click returns the code of `typer.Exit(code)` instead of raising it.
        code = app(args=argv, standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except GripError as exc:
        _report(exc)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        # Typer vendors click privately, so its usage errors are recognised by shape, not by class.
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(ExitCode.USAGE if code == 2 else code)  # 2 means "changes" for plan; usage is 64
        raise


def _report(exc: GripError) -> None:
    argv = hoist_global_options(sys.argv[1:])
    for i, arg in enumerate(argv[:-1]):
        if (arg in ("--output", "-o") and argv[i + 1] == "json") or arg == "--output=json":
            # JSON mode: the error is a document on stdout too, so machines never parse a half-result.
            Output(format=OutputFormat.json).document(exc.to_dict())
            break
    Output().error(str(exc).replace("[", "\\["))


if __name__ == "__main__":
    main()
