"""The Typer app object and what every command shares (consoles, the --debug flag)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer
from rich.console import Console

from bfpdse._version import __version__

console = Console()
console_err = Console(stderr=True)


@dataclass
class _State:
    debug: bool = False


state = _State()

app = typer.Typer(
    name="bfpdse",
    help=(
        "Design-space exploration of analog compute-in-memory CNN accelerators with low-precision,"
        " range-aware ADCs (BFP-CIM): accuracy, error, energy, latency and area per design point."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"bfpdse {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Print the version."
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks, even for input errors.")
    ] = False,
) -> None:
    state.debug = debug
