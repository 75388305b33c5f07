"""A run's points as jobs for an executor, and the jobs' outcomes as part records.

A point is one job (``run_point`` on a worker) unless the run has more worker slots than CIM
passes to compute and the evaluate is bfpdse's own. Then each pass's test images are cut into
shards of whole engine batches, one job each (``bfpdse.evaluate.run_shard``), and once a pass's
shards are in, every point that shares the pass (points that differ only in ``energy.*``) gets
its record from them (``bfpdse.evaluate.merge_shards``, bit for bit the one-process result).
A shard that fails, or whose worker dies, fails the points of its pass.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import traceback
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bfpdse.errors import BfpdseError
from bfpdse.run.local import (
    Evaluate,
    Job,
    Lost,
    Outcome,
    Task,
    _now,
    failed_record,
    run_point,
)


class PointFailed(BfpdseError):
    """``evaluate_point``'s point failed on a worker (not an input error: exit status 1)."""

    exit_code = 1


def shard_ranges(images: int, shards: int, batch: int) -> list[tuple[int, int]]:
    """``shards`` [start, stop) ranges over ``images``, cut at multiples of ``batch`` and as even
    as whole batches allow (fewer when there are fewer batches)."""
    batches = max(1, math.ceil(images / batch))
    shards = max(1, min(shards, batches))
    per, extra = divmod(batches, shards)
    out, b = [], 0
    for i in range(shards):
        n = per + (i < extra)
        out.append((b * batch, min(images, (b + n) * batch)))
        b += n
    return out


#: what the module of an evaluate offers when its points can be sharded (bfpdse.evaluate does)
SHARD_API = ("run_shard", "merge_shards", "shared_known", "shard_batch")


def own_evaluate(evaluate: Evaluate) -> tuple[bool, str | None]:
    """Whether ``evaluate`` is bfpdse's (its module offers SHARD_API, so its points can be
    sharded), and its cache folder (``bfpdse.evaluate.CachedEvaluate.cache``; None: memory)."""
    name = getattr(evaluate, "__module__", None)
    module = sys.modules.get(name) if name == "bfpdse.evaluate" else None
    own = module is not None and all(callable(getattr(module, n, None)) for n in SHARD_API)
    return own, getattr(evaluate, "cache", None)


def pass_group(settings: dict[str, Any]) -> str:
    """Points with the same group run the same network pass (they differ in ``energy.*``)."""
    return json.dumps(
        {k: v for k, v in settings.items() if not k.startswith("energy.")},
        sort_keys=True,
        default=str,
    )


def run_shard_job(
    point_id: str,
    settings: dict[str, Any],
    start: int,
    stop: int,
    reference: bool,
    cache: str | None,
) -> dict[str, Any]:
    """The worker side of a shard: its ``Shard``, or its error (failures are data)."""
    from bfpdse.spec.point import make_point

    out: dict[str, Any] = {"started": _now(), "host": os.uname().nodename, "pid": os.getpid()}
    try:
        point = make_point(settings)
        if point.point_id != point_id:  # the settings round trip must be exact
            raise RuntimeError(f"point rebuilt with id {point.point_id}, expected {point_id}")
        from bfpdse.evaluate import run_shard

        out["shard"] = run_shard(point, start, stop, reference=reference, cache=cache)
    except Exception as exc:
        out.update(error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
    out["finished"] = _now()
    return out


@dataclass
class _Pass:
    """The points that share one CIM pass, and its shards as they come in."""

    tasks: list[Task]
    ranges: list[tuple[int, int]] = field(default_factory=list)
    results: dict[int, dict[str, Any]] = field(default_factory=dict)
    t0: float = 0.0
    done: bool = False


class Plan:
    """The jobs of ``tasks`` for ``slots`` worker slots, and their records."""

    def __init__(
        self,
        tasks: Sequence[Task],
        evaluate: Evaluate,
        slots: int,
        details: bool = False,
        always: bool = False,
    ) -> None:
        self.evaluate = evaluate
        self.details = details  # records hold per-layer details (bfpdse run)
        own, self.cache = own_evaluate(evaluate)
        groups: dict[str, list[Task]] = {}
        for task in tasks:
            groups.setdefault(pass_group(task[1]), []).append(task)
        # shard when workers would idle otherwise (``always``: also into one shard)
        sharded = own and bool(groups) and (always or len(groups) < slots)
        self.shards = max(1, math.ceil(slots / len(groups))) if sharded else 1
        self.passes = [_Pass(group) for group in groups.values()] if sharded else []
        self.tasks = list(tasks)
        self._jobs: dict[str, tuple[_Pass | None, Any]] = {}

    @property
    def sharded(self) -> bool:
        return bool(self.passes)

    def jobs(self) -> Iterator[Job]:
        """The jobs, made as the executor asks for them."""
        if not self.sharded:
            for task in self.tasks:
                yield self._job(None, task, task[0], run_point, (self.evaluate, *task))
            return
        from bfpdse.evaluate import shard_batch, shared_known
        from bfpdse.spec.point import make_point

        for group in self.passes:
            point_id, settings = group.tasks[0]
            point = make_point(settings)
            ref_known, pass_known = shared_known(point, self.cache)
            if pass_known:  # nothing left to compute but prices: one job per point
                for task in group.tasks:
                    yield self._job(None, task, task[0], run_point, (self.evaluate, *task))
                continue
            group.ranges = shard_ranges(point.samples, self.shards, shard_batch())
            group.t0 = time.perf_counter()
            for i, (start, stop) in enumerate(group.ranges):
                args = (point_id, settings, start, stop, not ref_known, self.cache)
                yield self._job(group, i, f"{point_id}-{start}", run_shard_job, args)

    def _job(self, group: _Pass | None, what: Any, key: str, fn: Any, args: tuple) -> Job:
        job = Job(key, fn, args)
        self._jobs[key] = (group, what)
        return job

    def records(self, outcomes: Iterable[Outcome]) -> Iterator[dict[str, Any]]:
        """Part records of the points, as their jobs come back."""
        for job, outcome in outcomes:
            group, what = self._jobs.pop(job.key)
            if group is None:
                point_id, settings = what
                yield (
                    outcome
                    if isinstance(outcome, dict)
                    else failed_record(point_id, settings, outcome.error)
                )
            else:
                yield from self._shard_in(group, what, outcome)

    def _shard_in(self, group: _Pass, i: int, outcome: Any) -> Iterator[dict[str, Any]]:
        if group.done:  # its points failed with an earlier shard
            return
        error = outcome.error if isinstance(outcome, Lost) else outcome.get("error")
        if error:
            group.done = True
            start, stop = group.ranges[i]
            for point_id, settings in group.tasks:
                record = failed_record(point_id, settings, f"images {start}-{stop}: {error}")
                if not isinstance(outcome, Lost):
                    record["traceback"] = outcome.get("traceback", "")
                yield record
            return
        group.results[i] = outcome
        if len(group.results) == len(group.ranges):
            group.done = True
            yield from self._merge(group)

    def _merge(self, group: _Pass) -> Iterator[dict[str, Any]]:
        from bfpdse.evaluate import merge_shards
        from bfpdse.spec.point import make_point

        results = [group.results[i] for i in range(len(group.ranges))]
        shards = [r["shard"] for r in results]
        hosts = sorted({r["host"] for r in results})
        for point_id, settings in group.tasks:
            record: dict[str, Any] = {"point_id": point_id, "status": "ok", "error": ""}
            try:
                point = make_point(settings)
                metrics = merge_shards(point, shards, cache=self.cache, details=self.details)
                record["metrics"] = {**metrics, "wall_s": time.perf_counter() - group.t0}
            except Exception as exc:  # a bug: the point fails, the sweep goes on
                record.update(
                    status="failed",
                    error=f"{type(exc).__name__}: {exc}",
                    metrics={},
                    traceback=traceback.format_exc(),
                )
            record.update(
                settings=settings,
                wall_s=time.perf_counter() - group.t0,
                started=min(r["started"] for r in results),
                finished=_now(),
                host=",".join(hosts),
                pid=os.getpid(),
                shards=len(shards),
            )
            yield record


def evaluate_point(
    point: Any,
    jobs: int | None = None,
    dask: str | None = None,
    *,
    details: bool = False,
    grace_s: float | None = None,
) -> dict[str, Any]:
    """bfpdse's evaluate of one point with its images in shards over ``jobs`` local processes
    or the workers of the Dask scheduler at ``dask``: the same metrics as in one process.

    Raises PointFailed if the point fails (its error), Interrupted if stopped by a signal.
    """
    from bfpdse.evaluate import evaluate, warm_up
    from bfpdse.run.local import check_picklable, run_pool
    from bfpdse.run.stop import GRACE_S, Stop
    from bfpdse.threads import cpu_cores, plan_threads

    slots = min(jobs or 1, cpu_cores())
    if dask:
        from bfpdse.run.dask import check_scheduler, run_dask

        slots = check_scheduler(dask)
    plan = Plan([(point.point_id, point.settings())], evaluate, slots, details, always=True)
    with Stop(GRACE_S if grace_s is None else grace_s) as stop:
        if dask:
            outcomes = run_dask(plan.jobs(), dask, stop, warm_up=warm_up)
        else:
            check_picklable(evaluate)
            warm_up()
            processes = min(slots, plan.shards)
            outcomes = run_pool(plan.jobs(), processes, plan_threads(processes), stop)
        try:
            records = list(plan.records(outcomes))
        finally:
            outcomes.close()
        if stop.requested:
            raise stop.exception()
    record = records[0]
    if record["status"] != "ok":
        raise PointFailed(f"the point failed: {record['error']}")
    return record["metrics"]
