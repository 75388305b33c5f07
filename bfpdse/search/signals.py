"""Ctrl-C and SIGTERM during a search: they stop it, but never while it holds a lock.

A search takes the folder's lock and the journal's lock many times for a moment each (a part,
a claim, an optuna write). An exception raised inside such a moment, between the OS granting a
file lock and the code recording it, would leave the lock held by this very process, so the
clean-up after the interrupt would wait on itself. Inside ``shielded()`` a signal is therefore
only noted, and raised as the outermost shielded section ends; elsewhere (while a trial is
evaluated) it is raised at once, as the sweep's Interrupted (Terminated for SIGTERM).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_state: dict[str, Any] = {"depth": 0, "pending": None}


def _interruption(signum: int) -> BaseException:
    from bfpdse.run.stop import interruption

    return interruption(signum)  # the sweep's: Interrupted (Ctrl-C) or Terminated (SIGTERM)


@contextmanager
def shielded() -> Iterator[None]:
    """A section that a signal does not interrupt (it takes effect right after)."""
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] -= 1
        pending = _state["pending"]
        if _state["depth"] == 0 and pending is not None:
            _state["pending"] = None
            raise pending


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """While a search runs: SIGINT and SIGTERM raise, outside shielded sections (main thread
    only: elsewhere signals keep their default behaviour)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        exc = _interruption(signum)
        if _state["depth"]:
            _state["pending"] = exc
            return
        raise exc

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
        _state["pending"] = None
