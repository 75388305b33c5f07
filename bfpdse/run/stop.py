"""Stopping a run on Ctrl-C (SIGINT) or SIGTERM (``kill``, batch schedulers, CI): first gently,
then at once.

The first signal stops launching work: the points already running may finish for up to
``grace_s`` seconds and are kept. A second signal, or the end of the grace period, stops at once
(``Interrupted`` is raised in the main thread; executors then kill their workers). Writing a
part file or the table is shielded: a signal that arrives meanwhile takes effect right after,
so nothing is left half-written. Only the main thread can install signal handlers; elsewhere
(a run started from a thread) signals keep their default behaviour.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: seconds that the points in flight may take to finish after the first signal
GRACE_S = 10.0


class Interrupted(KeyboardInterrupt):
    """The run was stopped by signal ``signum`` (its exit status is 128 + signum)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class Terminated(Interrupted):
    """SIGTERM, handled as Ctrl-C is (exit status 143)."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signum)


def interruption(signum: int) -> Interrupted:
    """The exception that stands for ``signum``."""
    return Terminated(signum) if signum == signal.SIGTERM else Interrupted(signum)


class Stop:
    """Signal handling for one run (a context manager); executors read ``requested``."""

    def __init__(self, grace_s: float = GRACE_S, say: Callable[[str], None] | None = None):
        self.grace_s = float(grace_s)
        self.say = say or (lambda text: None)
        self.requested = False  # no new work may start
        self.signum: int | None = None
        self._shielded = 0
        self._pending: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Stop:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._on_signal)
            self._previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, self._on_alarm)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous:
            signal.setitimer(signal.ITIMER_REAL, 0)
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)
            self._previous.clear()

    def exception(self) -> Interrupted:
        """The exception to end the run with, after a stop was requested."""
        return interruption(self.signum or signal.SIGINT)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.requested or self.grace_s <= 0:
            self._raise(signum)  # the second signal: stop now
            return
        self.requested, self.signum = True, signum
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        self.say(
            f"{name}: stopping; no new points start, the points running now have "
            f"{self.grace_s:g} s to finish (again to stop at once)"
        )
        signal.setitimer(signal.ITIMER_REAL, self.grace_s)

    def _on_alarm(self, signum: int, frame: Any) -> None:
        self.say(f"the {self.grace_s:g} s are over: stopping the points still running")
        self._raise(self.signum or signal.SIGINT)

    def _raise(self, signum: int) -> None:
        if self._shielded:
            self._pending = signum
            return
        raise interruption(signum)

    @contextmanager
    def shield(self, hold: bool = False) -> Iterator[None]:
        """Defer an interruption until the block (a file being written) is done; ``hold``:
        do not raise it then either (the run ends anyway, as ``requested`` says)."""
        self._shielded += 1
        try:
            yield
        finally:
            self._shielded -= 1
            if not self._shielded and self._pending is not None:
                signum, self._pending = self._pending, None
                self.requested, self.signum = True, self.signum or signum
                if not hold:
                    raise interruption(signum)
