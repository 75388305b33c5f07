"""Run design points on an existing Dask distributed cluster (``--dask tcp://host:port``).

Dask is imported only here and only when asked for; without it the user is told which extra to
install. Each point is one task; the task caps numba's threads at the worker's cores divided by
its task slots, so that threads x concurrent tasks <= cores on every worker machine. The workers
must be able to import bfpdse (and the evaluate function, which travels by reference).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from bfpdse.errors import BfpdseError
from bfpdse.run.local import Evaluate, Task, cpu_cores, failed_record, run_point

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
    """Before anything is written: the scheduler answers and has a worker; returns workers."""
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
        return len(client.scheduler_info().get("workers", {}))
    finally:
        client.close()


def run_task_on_worker(
    evaluate: Evaluate, point_id: str, settings: dict[str, Any], sections: Mapping[str, str]
) -> dict[str, Any]:
    """The Dask task: cap numba's threads for this worker, then run the point."""
    from bfpdse.run.local import limit_threads
    from bfpdse.spec import point

    point.SECTIONS.update(sections)
    try:
        from distributed import get_worker

        slots = max(1, int(get_worker().state.nthreads))
    except (ImportError, ValueError, AttributeError):
        slots = 1
    limit_threads(max(1, cpu_cores() // slots))
    return run_point(evaluate, point_id, settings)


def run_dask(
    tasks: Sequence[Task], evaluate: Evaluate, address: str, warm_up: Any = None
) -> Iterator[dict[str, Any]]:
    """Send every point to the scheduler at ``address``; records in completion order.

    Closing the iterator early (fail-fast, Ctrl-C) cancels the points not finished.
    """
    import uuid

    from bfpdse.spec.point import SECTIONS

    distributed = _import_distributed()
    client = connect(address)
    futures: dict[Any, Task] = {}
    try:
        if warm_up is not None:
            client.run(warm_up)  # compile the jit once per worker before the points
        run_id = uuid.uuid4().hex[:8]
        sections = dict(SECTIONS)
        for point_id, settings in tasks:
            future = client.submit(
                run_task_on_worker,
                evaluate,
                point_id,
                settings,
                sections,
                key=f"bfpdse-{point_id}-{run_id}",
                pure=False,
            )
            futures[future] = (point_id, settings)
        for future in distributed.as_completed(list(futures), loop=client.loop):
            point_id, settings = futures[future]
            try:
                yield future.result()
            except Exception as exc:  # the worker died or the task could not run there
                yield failed_record(point_id, settings, f"dask: {type(exc).__name__}: {exc}")
    finally:
        if futures:
            client.cancel(list(futures))
        client.close()
