"""Run design points here: in this process (one job) or in a pool of worker processes.

Threads x processes <= cores: with N processes each worker's numba (and BLAS) pool gets
cores // N threads, set by the pool initializer before the worker imports numba. One job (the
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
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from multiprocessing import get_context
from typing import Any

from bfpdse.errors import BfpdseError

#: one unit of work: (point_id, dotted settings)
Task = tuple[str, dict[str, Any]]
Evaluate = Callable[..., Mapping[str, Any]]

#: thread-pool environment variables of numba and the BLAS libraries numpy may use
THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def cpu_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def plan_threads(jobs: int, cores: int | None = None) -> int:
    """numba threads per process so that threads x processes <= cores (at least 1)."""
    return max(1, (cores or cpu_cores()) // max(1, jobs))


def limit_threads(threads: int) -> None:
    """Cap numba's threads in this process (and BLAS's, if not imported yet)."""
    for var in THREAD_VARS:
        os.environ[var] = str(threads)
    numba = sys.modules.get("numba")
    if numba is not None:  # already imported: the env var came too late, set it directly
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


def _exit_with_parent(parent: int, every_s: float = 1.0) -> None:
    """Watchdog thread: a worker whose parent was killed (kill -9) would idle forever."""
    while os.getppid() == parent:
        time.sleep(every_s)
    os._exit(1)


def init_worker(threads: int, sections: Mapping[str, str]) -> None:
    """Pool initializer: thread caps first (before numba loads), then the section classes."""
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
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


def run_inline(tasks: Sequence[Task], evaluate: Evaluate) -> Iterator[dict[str, Any]]:
    """One job: the points one after the other in this process (numba keeps all cores)."""
    for point_id, settings in tasks:
        yield run_point(evaluate, point_id, settings)


def run_pool(
    tasks: Sequence[Task], evaluate: Evaluate, jobs: int, threads: int
) -> Iterator[dict[str, Any]]:
    """Several jobs: a spawn-context process pool; records in completion order.

    Closing the iterator early (fail-fast, Ctrl-C) cancels the points not started; the points in
    flight finish first.
    """
    from bfpdse.spec.point import SECTIONS

    try:
        pickle.dumps(evaluate)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise BfpdseError(
            f"evaluate {evaluate!r} cannot be sent to worker processes ({exc}); define it at the "
            "top level of an importable module, or run with one job"
        ) from None
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(tasks)),
        mp_context=get_context("spawn"),  # no fork: numba's threads and locks do not survive it
        initializer=init_worker,
        initargs=(threads, dict(SECTIONS)),
    )
    pending: dict[Future, Task] = {}
    try:
        for task in tasks:
            pending[pool.submit(run_point, evaluate, *task)] = task
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                point_id, settings = pending.pop(future)
                try:
                    yield future.result()
                except BrokenProcessPool as exc:
                    yield failed_record(point_id, settings, f"worker process died: {exc}")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
