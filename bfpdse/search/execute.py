"""Run a search's trials as they are asked for: here, in a process pool, or on Dask.

A sweep knows its points in advance and hands the whole list to ``bfpdse.run``'s executors. A
search asks optuna for the next trial only when a slot is free, so that each suggestion sees the
results before it. These loops are that streaming form of the same executors: they call
``next_task()`` whenever fewer than ``slots`` trials are in flight (``None``: no more), and
yield each finished record as ``bfpdse.run`` does, built by the same pieces (``run_point``,
``init_worker``, ``failed_record``, ``run_task_on_worker``), so a trial is evaluated exactly as a
sweep point is. The consumer tells optuna before the loop asks again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Any

from bfpdse.run.local import Evaluate, Task, failed_record, init_worker, run_point

NextTask = Callable[[], Task | None]


def stream(
    next_task: NextTask,
    evaluate: Evaluate,
    jobs: int = 1,
    threads: int = 1,
    dask: str | None = None,
    warm_up: Callable[[], Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """Records of the tasks ``next_task`` gives, in completion order."""
    if dask:
        return _dask(next_task, evaluate, dask, warm_up)
    if warm_up is not None:
        warm_up()  # compile once here; numba's on-disk cache then serves the workers
    if jobs == 1:
        return _inline(next_task, evaluate)
    return _pool(next_task, evaluate, jobs, threads)


def _inline(next_task: NextTask, evaluate: Evaluate) -> Iterator[dict[str, Any]]:
    while (task := next_task()) is not None:
        yield run_point(evaluate, *task)


def _new_pool(jobs: int, threads: int) -> ProcessPoolExecutor:
    from bfpdse.spec.point import SECTIONS

    return ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=get_context("spawn"),  # no fork: numba's threads and locks do not survive it
        initializer=init_worker,
        initargs=(threads, dict(SECTIONS)),
    )


def _pool(
    next_task: NextTask, evaluate: Evaluate, jobs: int, threads: int
) -> Iterator[dict[str, Any]]:
    pool = _new_pool(jobs, threads)
    pending: dict[Future, Task] = {}
    more = True
    try:
        while True:
            while more and len(pending) < jobs:
                task = next_task()
                if task is None:
                    more = False
                    break
                try:
                    pending[pool.submit(run_point, evaluate, *task)] = task
                except BrokenProcessPool:  # a worker died earlier: a new pool for the rest
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = _new_pool(jobs, threads)
                    pending[pool.submit(run_point, evaluate, *task)] = task
            if not pending:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                point_id, settings = pending.pop(future)
                try:
                    record = future.result()
                except BrokenProcessPool as exc:
                    record = failed_record(point_id, settings, f"worker process died: {exc}")
                yield record
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _dask(
    next_task: NextTask, evaluate: Evaluate, address: str, warm_up: Callable[[], Any] | None
) -> Iterator[dict[str, Any]]:
    import uuid

    from bfpdse.run.dask import _import_distributed, connect, run_task_on_worker
    from bfpdse.spec.point import SECTIONS

    distributed = _import_distributed()
    client = connect(address)
    futures: dict[Any, Task] = {}
    try:
        if warm_up is not None:
            client.run(warm_up)
        workers = client.scheduler_info().get("workers", {})
        slots = max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))
        run_id = uuid.uuid4().hex[:8]
        sections = dict(SECTIONS)
        running = distributed.as_completed(loop=client.loop)

        def submit() -> bool:
            task = next_task()
            if task is None:
                return False
            future = client.submit(
                run_task_on_worker, evaluate, *task, sections,
                key=f"bfpdse-search-{task[0]}-{run_id}-{len(futures)}", pure=False,
            )  # fmt: skip
            futures[future] = task
            running.add(future)
            return True

        more = True
        while more and len(futures) < slots:
            more = submit()
        for future in running:
            point_id, settings = futures[future]
            try:
                record = future.result()
            except Exception as exc:  # the worker died or the task could not run there
                record = failed_record(point_id, settings, f"dask: {type(exc).__name__}: {exc}")
            future.release()
            yield record
            if more:
                more = submit()
    finally:
        unfinished = [f for f in futures if not f.done()]
        if unfinished:
            client.cancel(unfinished)
        client.close()
