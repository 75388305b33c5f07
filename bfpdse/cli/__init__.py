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
from bfpdse.cli import sweep as _sweep  # noqa: E402,F401  isort: skip
from bfpdse.cli import plot as _plot  # noqa: E402,F401  isort: skip
from bfpdse.cli import pareto as _pareto  # noqa: E402,F401  isort: skip
from bfpdse.cli import train as _train  # noqa: E402,F401  isort: skip

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    from bfpdse.errors import BfpdseError

    try:
        app(standalone_mode=False)
    except BfpdseError as exc:
        if state.debug:
            raise
        console_err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        console_err.print("interrupted")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # Click's own usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            console_err.print("aborted")
            sys.exit(1)
        raise
