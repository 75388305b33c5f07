"""Run work here: in this process (one job) or in a pool of worker processes.

An executor runs ``Job``s (a function and its arguments: a whole point, or a shard of one) and
yields each job with its outcome, in completion order. It takes jobs from an iterator only when
a worker is free, so at most one job per worker is in flight, and none is taken once a stop was
requested (``bfpdse.run.stop``): the jobs in flight may finish, and are kept.

Threads x processes <= cores: with N processes each worker's numba (and BLAS) pool gets
cores // N threads (``bfpdse.threads``), set by the pool initializer before the worker imports
numba. Within a process the two pools take turns, and their idle threads sleep. One job (the
default) runs the points in this process, with all cores for numba's parallel kernels; that is
also the lightest on memory. More jobs pay off when a point's kernels do not use every core
(small models, small sample counts).

Points travel to workers as their plain dotted settings and are rebuilt there with
``make_point``: plain data pickles everywhere, and the rebuilt point must have the same id.
This module imports little at the top, since every worker process imports it.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing import get_context
from typing import TYPE_CHECKING, Any

from bfpdse.errors import BfpdseError
from bfpdse.threads import limit_threads

if TYPE_CHECKING:
    from bfpdse.run.stop import Stop

#: one unit of work: (point_id, dotted settings)
Task = tuple[str, dict[str, Any]]
Evaluate = Callable[..., Mapping[str, Any]]


def _exit_with_parent(parent: int, every_s: float = 1.0) -> None:
    """Watchdog thread: a worker whose parent was killed (kill -9) would idle forever."""
    while os.getppid() == parent:
        time.sleep(every_s)
    os._exit(1)


def init_worker(threads: int, sections: Mapping[str, str], managed: bool = False) -> None:
    """Pool initializer: thread caps first (before numba loads), then the section classes.

    ``managed``: the worker ignores SIGINT and SIGTERM (a Ctrl-C reaches the whole process
    group; a batch scheduler may signal every process), so that the parent decides whether
    the job in flight finishes (``bfpdse.run.stop``); the parent kills it to stop at once.
    """
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    if managed:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    limit_threads(threads)
    from bfpdse.spec import point

    point.SECTIONS.update(sections)  # the parent's sections (tests may swap them)
    point.known_keys()  # import the section classes now, not inside the first point's wall time


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def run_point(evaluate: Evaluate, point_id: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Evaluate one point and return its part record; an exception becomes status=failed."""
    from bfpdse.spec.point import make_point

    started, t0 = _now(), time.perf_counter()
    record: dict[str, Any] = {"point_id": point_id, "status": "ok", "error": "", "metrics": {}}
    try:
        point = make_point(settings)
        if point.point_id != point_id:  # the settings round trip must be exact
            raise RuntimeError(f"point rebuilt with id {point.point_id}, expected {point_id}")
        metrics = evaluate(point)
        if not isinstance(metrics, Mapping):
            raise TypeError(f"evaluate returned {type(metrics).__name__}, expected a dict")
        record["metrics"] = dict(metrics)
    except Exception as exc:  # failures are data: the sweep goes on
        record.update(
            status="failed",
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
        )
    record.update(
        settings=settings,
        wall_s=time.perf_counter() - t0,
        started=started,
        finished=_now(),
        host=os.uname().nodename if hasattr(os, "uname") else "",
        pid=os.getpid(),
    )
    return record


def failed_record(point_id: str, settings: dict[str, Any], error: str) -> dict[str, Any]:
    """A record for a point whose worker died (no metrics, no timing)."""
    return {
        "point_id": point_id,
        "status": "failed",
        "error": error,
        "metrics": {},
        "settings": settings,
        "wall_s": None,
        "started": None,
        "finished": _now(),
    }


@dataclass(frozen=True)
class Job:
    """One unit of work: ``fn(*args)``, run wherever the executor runs it.

    ``fn`` must be importable by name (a module's top-level function) for worker processes and
    Dask; ``key`` names the job uniquely within a run.
    """

    key: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Lost:
    """The outcome of a job whose worker went away (died, or lost with its scheduler)."""

    error: str


Outcome = tuple[Job, Any]  # a job and fn's return value, or Lost


def check_picklable(fn: Any) -> None:
    """BfpdseError unless ``fn`` can be sent to worker processes."""
    try:
        pickle.dumps(fn)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise BfpdseError(
            f"evaluate {fn!r} cannot be sent to worker processes ({exc}); define it at the "
            "top level of an importable module, or run with one job"
        ) from None


def run_inline(jobs: Iterable[Job], stop: Stop | None = None) -> Iterator[Outcome]:
    """One job at a time in this process (numba keeps all cores).

    A stop lets the job in flight finish (it runs in the main thread, so the end of the grace
    period interrupts it there).
    """
    for job in jobs:
        if stop is not None and stop.requested:
            return
        yield job, job.fn(*job.args)


def _new_pool(processes: int, threads: int) -> ProcessPoolExecutor:
    from bfpdse.spec.point import SECTIONS

    return ProcessPoolExecutor(
        max_workers=processes,
        mp_context=get_context("spawn"),  # no fork: numba's threads and locks do not survive it
        initializer=init_worker,
        initargs=(threads, dict(SECTIONS), True),
    )


def _kill(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: its workers ignore signals but not SIGKILL (the executor keeps its
    processes in ``_processes``, the only handle on them)."""
    for process in list(getattr(pool, "_processes", {}).values()):
        process.kill()
    pool.shutdown(wait=True, cancel_futures=True)


def run_pool(
    jobs: Iterable[Job], processes: int, threads: int, stop: Stop | None = None
) -> Iterator[Outcome]:
    """A spawn-context process pool of ``processes`` workers; outcomes in completion order.

    A worker that dies fails every job in flight in the pool (``Lost``); the next jobs get a
    new pool. Closing the iterator early (fail-fast, the end of a grace period) kills the
    workers: the jobs in flight are lost, as they would be after a kill of the whole sweep.
    """
    todo = iter(jobs)
    pool = _new_pool(processes, threads)
    pending: dict[Future, Job] = {}
    try:
        while True:
            while len(pending) < processes and not (stop is not None and stop.requested):
                job = next(todo, None)
                if job is None:
                    break
                try:
                    pending[pool.submit(job.fn, *job.args)] = job
                except BrokenProcessPool:  # a worker died before: a new pool for the rest
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = _new_pool(processes, threads)
                    pending[pool.submit(job.fn, *job.args)] = job
            if not pending:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    outcome = future.result()
                except BrokenProcessPool as exc:
                    outcome = Lost(f"worker process died: {exc}")
                yield job, outcome
    finally:
        if pending:
            _kill(pool)
        else:
            pool.shutdown(wait=True, cancel_futures=True)
