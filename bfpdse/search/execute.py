"""Run a search's trials as they are asked for, on the sweep's executors.

``bfpdse.run``'s executors (``run_inline``, ``run_pool``, ``run_dask``) take an iterator of jobs
and draw the next one only when a worker is free. A search feeds them a generator that asks
optuna for the next trial at that moment (``next_task()``; ``None``: no more), so that each
suggestion sees the results told before it. A job is the sweep's ``run_point(evaluate,
point_id, settings)``: a trial is evaluated exactly as a sweep point is.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

from bfpdse.run.local import Evaluate, Job, Lost, Task, failed_record, run_point

NextTask = Callable[[], Task | None]


def stream(
    next_task: NextTask,
    evaluate: Evaluate,
    jobs: int = 1,
    threads: int = 1,
    dask: str | None = None,
    warm_up: Callable[[], Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """Part records of the tasks ``next_task`` gives, in completion order."""
    from bfpdse.run.local import check_picklable, run_inline, run_pool

    def asked() -> Iterator[Job]:
        for n in itertools.count():
            task = next_task()
            if task is None:
                return
            yield Job(f"{task[0]}-{n}", run_point, (evaluate, *task))

    if dask:
        from bfpdse.run.dask import run_dask

        outcomes = run_dask(asked(), dask, warm_up=warm_up)
    else:
        if warm_up is not None:
            warm_up()  # compile once here; numba's on-disk cache then serves the workers
        if jobs > 1:
            check_picklable(evaluate)
        outcomes = run_inline(asked()) if jobs == 1 else run_pool(asked(), jobs, threads)
    try:
        for job, outcome in outcomes:
            if isinstance(outcome, Lost):  # the worker died: the trial failed, the search goes on
                _, point_id, settings = job.args
                outcome = failed_record(point_id, settings, outcome.error)
            yield outcome
    finally:
        outcomes.close()
