"""The ``bfpdse`` command: a thin Typer app over the public API.

Each command lives in its own module and registers itself on ``app``. ``main`` turns a
``BfpdseError`` into one line on stderr and exit status 2; anything else is a bug and keeps its
traceback. ``--debug`` shows the traceback always.
"""

from __future__ import annotations

import sys

from bfpdse.cli._app import app, console_err, state

# Commands register themselves on import; the order here is the order in --help.
from bfpdse.cli import run as _run  # noqa: E402,F401  isort: skip
from bfpdse.cli import energy as _energy  # noqa: E402,F401  isort: skip
from bfpdse.cli import layers as _layers  # noqa: E402,F401  isort: skip
from bfpdse.cli import sweep as _sweep  # noqa: E402,F401  isort: skip
from bfpdse.cli import search as _search  # noqa: E402,F401  isort: skip
from bfpdse.cli import plot as _plot  # noqa: E402,F401  isort: skip
from bfpdse.cli import pareto as _pareto  # noqa: E402,F401  isort: skip
from bfpdse.cli import train as _train  # noqa: E402,F401  isort: skip

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    from bfpdse.errors import BfpdseError

    try:
        # without standalone mode, `raise typer.Exit(n)` in a command comes back as the return value
        code = app(standalone_mode=False)
    except BfpdseError as exc:
        if state.debug:
            raise
        from rich.markup import escape  # the message is text, not markup ('bfpdse[train]', 'a[0]')

        console_err.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        console_err.print("interrupted")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # Click's own usage errors arrive here in non-standalone mode
        import click
        import typer

        # newer typer vendors click (typer._click): its errors derive from typer.TyperException
        usage = (
            click.exceptions.ClickException,
            getattr(typer, "TyperException", click.ClickException),
        )
        if isinstance(exc, usage) and hasattr(exc, "show"):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort | typer.Abort):
            console_err.print("aborted")
            sys.exit(1)
        raise
    if isinstance(code, int) and code:
        sys.exit(code)
