"""Run work on an existing Dask distributed cluster (``--dask tcp://host:port``).

Dask is imported only here and only when asked for; without it the user is told which extra to
install. Each job (a point, or a shard of one) is one task; the task caps numba's threads at the
worker's cores divided by its task slots, so that threads x concurrent tasks <= cores on every
worker machine. The workers must be able to import bfpdse (and the evaluate function, which
travels by reference). At most one task per worker thread is in flight, so a stop (Ctrl-C)
waits only for tasks that run, and a lost scheduler fails only those: each becomes a failed
point, the others are not started, and ``SchedulerLost`` says so in one line.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from bfpdse.errors import BfpdseError
from bfpdse.run.local import Evaluate, Job, Lost, Outcome, run_point
from bfpdse.threads import cpu_cores

if TYPE_CHECKING:
    from bfpdse.run.stop import Stop


class SchedulerLost(BfpdseError):
    """The connection to the scheduler broke mid-run (finished points are kept)."""

    exit_code = 1


#: how long to wait for the scheduler before giving up (seconds)
CONNECT_TIMEOUT_S = 10
#: how long a scheduler may have no worker before the sweep gives up (seconds)
WORKER_TIMEOUT_S = 30


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise BfpdseError(
            "--dask needs Dask distributed: install the extra with pip install 'bfpdse[dask]'"
        ) from None
    return distributed


def connect(address: str) -> Any:
    """A Client on the scheduler at ``address`` (e.g. tcp://10.0.0.5:8786)."""
    distributed = _import_distributed()
    try:
        return distributed.Client(address, timeout=f"{CONNECT_TIMEOUT_S}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise BfpdseError(
            f"--dask {address}: cannot reach a Dask scheduler there ({exc}); start one with "
            "'dask scheduler' and give its tcp://host:port"
        ) from None


def check_scheduler(address: str, worker_timeout_s: float | None = None) -> int:
    """Before anything is written: the scheduler answers and has a worker; returns the task
    slots (worker threads) it has."""
    if worker_timeout_s is None:
        worker_timeout_s = WORKER_TIMEOUT_S
    client = connect(address)
    try:
        try:
            client.wait_for_workers(1, timeout=worker_timeout_s)
        except (TimeoutError, OSError):
            raise BfpdseError(
                f"--dask {address}: the scheduler has no workers (none joined within "
                f"{worker_timeout_s:g} s); start some with 'dask worker {address}'"
            ) from None
        return slots(client)
    finally:
        client.close()


def slots(client: Any) -> int:
    """Task slots of the cluster: its workers' threads (at least 1)."""
    workers = client.scheduler_info().get("workers", {})
    return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))


def run_on_worker(fn: Callable[..., Any], sections: Mapping[str, str], *args: Any) -> Any:
    """A Dask task: cap numba's threads for this worker, then ``fn(*args)``."""
    from bfpdse.spec import point
    from bfpdse.threads import limit_threads

    point.SECTIONS.update(sections)
    try:
        from distributed import get_worker

        slots = max(1, int(get_worker().state.nthreads))
    except (ImportError, ValueError, AttributeError):
        slots = 1
    limit_threads(max(1, cpu_cores() // slots))
    return fn(*args)


def run_task_on_worker(
    evaluate: Evaluate, point_id: str, settings: dict[str, Any], sections: Mapping[str, str]
) -> dict[str, Any]:
    """The Dask task of one whole point (``run_point`` on the worker)."""
    return run_on_worker(run_point, sections, evaluate, point_id, settings)


@contextmanager
def _quiet() -> Iterator[None]:
    """Dask's own log lines (a lost connection logs tracebacks) stay out of the user's way:
    what went wrong is reported once, by the sweep."""
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def run_dask(
    jobs: Iterable[Job], address: str, stop: Stop | None = None, warm_up: Any = None
) -> Iterator[Outcome]:
    """Send the jobs to the scheduler at ``address``, at most one per worker thread at a time;
    outcomes in completion order.

    Closing the iterator early (fail-fast, the end of a grace period) cancels the tasks in
    flight. A lost scheduler: the tasks in flight come back ``Lost``, then SchedulerLost.
    """
    from bfpdse.spec.point import SECTIONS

    distributed = _import_distributed()
    todo = iter(jobs)
    with _quiet():
        client = connect(address)
        futures: dict[Any, Job] = {}
        try:
            if warm_up is not None:
                client.run(warm_up)  # compile the jit once per worker before the points
            room = slots(client)
            run_id = uuid.uuid4().hex[:8]
            sections = dict(SECTIONS)
            running = distributed.as_completed(loop=client.loop)
            lost = False

            def submit() -> None:
                while not lost and len(futures) < room and not (stop and stop.requested):
                    job = next(todo, None)
                    if job is None:
                        return
                    key = f"bfpdse-{job.key}-{run_id}"
                    future = client.submit(
                        run_on_worker, job.fn, sections, *job.args, key=key, pure=False
                    )
                    futures[future] = job
                    running.add(future)

            submit()
            for future in running:
                job = futures.pop(future)
                try:
                    outcome = future.result()
                except Exception as exc:  # the worker died, or the scheduler went away
                    lost = lost or client.status != "running" or "connection-lost" in str(exc)
                    why = "lost the connection to the scheduler" if lost else type(exc).__name__
                    outcome = Lost(f"dask: {why}: {exc}".split("\n")[0])
                future.release()
                yield job, outcome
                submit()
            if lost:
                raise SchedulerLost(f"--dask {address}: lost the connection to the scheduler")
        finally:
            if futures:
                client.cancel(list(futures))
            client.close()
