"""Run a sweep: resume diff, execution (here, a process pool or Dask), parts, consolidation.

Resume is a set difference: every point id of the spec minus the ids whose part says ``ok``.
Failed points are run again. Each finished point is stored at once (one atomic part file), so
``kill -9`` loses only the points in flight; the table is rebuilt from the parts at the end of
every run, also after an error, Ctrl-C or SIGTERM (``bfpdse.run.stop``: the first signal lets
the points in flight finish for a grace period, a second stops at once). The points become
executor jobs in ``bfpdse.run.shard`` (a whole point each, or shards of one's test images when
there are more workers than points).
"""

from __future__ import annotations

import importlib
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from bfpdse.errors import BfpdseError
from bfpdse.run.local import (
    Evaluate,
    Job,
    Outcome,
    check_picklable,
    run_inline,
    run_pool,
)
from bfpdse.run.shard import Plan, own_evaluate
from bfpdse.run.stop import GRACE_S, Stop, Terminated
from bfpdse.spec.load import load_spec
from bfpdse.spec.schema import Spec
from bfpdse.store.folder import SweepFolder
from bfpdse.store.parts import DAMAGED, PARTS
from bfpdse.store.table import CSV, PARQUET
from bfpdse.threads import cpu_cores, default_jobs, plan_threads
from bfpdse.versions import describe_change, identity

#: at most this many failures are listed in the summary
SHOWN_FAILURES = 5


@dataclass
class SweepSummary:
    """What a sweep run did. Counts of ok/failed are over the whole table, not just this run."""

    name: str
    folder: Path
    table: Path  # results.csv
    parquet: Path
    points: int  # points of the spec
    skipped: int  # finished ok before this run, not recomputed
    ran: int  # evaluated in this run
    ok: int  # rows with status ok in the table
    failed: int  # rows with status failed in the table
    missing: int  # points with no row yet (stopped early)
    wall_s: float
    stopped: bool = False  # fail-fast stopped the sweep
    failures: list[tuple[str, str]] = field(default_factory=list)  # (point_id, error), first few

    @property
    def complete(self) -> bool:
        """Every point of the spec finished ok."""
        return self.ok == self.points


def default_evaluate() -> Evaluate:
    """bfpdse.evaluate.evaluate, imported on first use (it pulls in numba, onnx, the models)."""
    from bfpdse.evaluate import evaluate

    return evaluate


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """While a sweep writes, SIGTERM stops it as Ctrl-C does: the finished points are kept,
    the table written and the lock released (only the main thread can install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _identities(spec: Spec) -> dict[str, dict[str, Any]]:
    """point_id -> identity (model file hash, arithmetic and cost model versions)."""
    return {p.point_id: identity(p.settings()) for p in spec.points}


def _preflight(spec: Spec) -> None:
    """Every model and dataset of the spec opens, and holds the samples asked for."""
    from bfpdse.evaluate import check_inputs

    seen = set()
    for p in spec.points:
        layers = tuple(name for name, _ in p.layers)  # per-layer settings name the model's layers
        key = (p.model, json.dumps(p.dataset, sort_keys=True, default=str), p.samples, layers)
        if key not in seen:
            seen.add(key)
            check_inputs(p)


def resolve_evaluate(ref: str) -> Evaluate:
    """'module:function' -> the function (for --evaluator and tests)."""
    module, sep, name = ref.partition(":")
    if not sep:
        raise BfpdseError(f"--evaluator {ref!r}: expected module:function")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise BfpdseError(f"--evaluator {ref!r}: {exc}") from None


def _warm_up_of(evaluate: Evaluate) -> Callable[[], Any] | None:
    """The ``warm_up()`` beside ``evaluate`` in its module, if there is one."""
    module = sys.modules.get(getattr(evaluate, "__module__", "") or "")
    warm = getattr(module, "warm_up", None)
    return warm if callable(warm) else None


def run_sweep(
    spec: Spec | str | Path,
    out: str | Path = "results",
    jobs: int | None = None,
    dask: str | None = None,
    fresh: bool = False,
    fail_fast: bool = False,
    evaluate: Evaluate | None = None,
    progress: bool = True,
    overrides: Iterable[str] = (),
    cache: str | Path | None = None,
    grace_s: float = GRACE_S,
) -> SweepSummary:
    """Run every unfinished point of ``spec`` and consolidate <out>/<name>/results.{parquet,csv}.

    ``spec`` is a loaded Spec or a path to a sweep file (then ``overrides`` are its --set items).
    ``jobs``: worker processes; with N > 1 each gets cores // N numba threads. Default: one
    per core for bfpdse's own evaluate on two or more points of at least
    ``threads.AUTO_PROCESS_SAMPLES`` images (``threads.default_jobs``), else 1: the points
    run in this process, numba uses all cores. ``dask``: a scheduler address; the
    points go there instead. ``fresh`` clears a folder holding another spec's results.
    ``fail_fast`` stops at the first failed point. ``evaluate(point) -> dict`` defaults to
    ``bfpdse.evaluate.evaluate``; it must be importable by name when jobs > 1 or with Dask.
    ``cache``: the folder of work points share (default ``<out>/cache``; bfpdse.store.cache).
    With more worker slots than points, bfpdse's evaluate runs each point's test images in
    shards on several workers (``bfpdse.run.shard``; same numbers). ``grace_s``: after a first
    Ctrl-C or SIGTERM the points in flight may finish for this long (``bfpdse.run.stop``).

    Raises SpecError for a bad spec (before anything is written), StoreError when the folder is
    locked by another sweep or holds another spec, SchedulerLost when the Dask scheduler goes
    away mid-run, and Interrupted (a KeyboardInterrupt; Terminated for SIGTERM) when stopped
    by a signal, after the table of what is done was written.
    """
    t0 = time.perf_counter()
    if not isinstance(spec, Spec):
        spec = load_spec(spec, overrides)
    if jobs is not None and jobs < 1:
        raise BfpdseError(f"--jobs {jobs}: give 1 or more worker processes")
    capped = jobs is not None and not dask and jobs > cpu_cores()
    evaluate = evaluate or default_evaluate()
    log = Console(stderr=True, quiet=not progress)
    for warning in spec.warnings:
        log.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    if capped:  # more processes than cores only makes them wait for each other
        log.print(
            f"note: --jobs {jobs} capped to the {cpu_cores()} cores of this machine",
            highlight=False, soft_wrap=True,
        )  # fmt: skip
        jobs = cpu_cores()
    # what the numbers depend on besides the settings; a missing model stops here, unwritten
    identities = _identities(spec)
    if evaluate is default_evaluate():
        _preflight(spec)
    slots = jobs or 1
    if dask:  # reached, with a worker, before the folder is touched
        from bfpdse.run.dask import check_scheduler

        slots = check_scheduler(dask)
    folder = SweepFolder(Path(out) / spec.name)
    say = lambda text: log.print(text, highlight=False, soft_wrap=True)  # noqa: E731
    with folder.lock(), Stop(grace_s, say) as stop:
        folder.prepare(spec, fresh=fresh)
        damaged = folder.set_aside_damaged()
        if damaged:
            log.print(
                f"[yellow]warning:[/] set aside {len(damaged)} damaged part(s) in "
                f"{folder.root / PARTS / DAMAGED} (their points run again): "
                + "; ".join(damaged[:3]) + (" …" if len(damaged) > 3 else ""),
                highlight=False, soft_wrap=True,
            )  # fmt: skip
        before = folder.parts()
        stale = {
            pid: r for pid, r in before.items()
            if r["status"] == "ok" and pid in identities and r.get("identity") != identities[pid]
        }  # fmt: skip
        if stale:
            first = next(iter(stale.values()))
            log.print(
                f"recomputing {len(stale)} point(s) whose results are stale: "
                f"{describe_change(first.get('identity'), identities[first['point_id']])}",
                highlight=False, soft_wrap=True,
            )  # fmt: skip
        tasks = [
            (p.point_id, p.settings())
            for p in spec.points
            if before.get(p.point_id, {}).get("status") != "ok" or p.point_id in stale
        ]
        retried = sum(1 for pid, _ in tasks if pid in before)
        if evaluate is default_evaluate():  # shared work (bfpdse.evaluate) kept in a cache folder
            from bfpdse.evaluate import CachedEvaluate, passes_first

            evaluate = CachedEvaluate(str(Path(cache or Path(out) / "cache").resolve()))
            tasks = passes_first(tasks)
        if jobs is None and not dask and own_evaluate(evaluate)[0]:
            samples = min((int(t[1]["samples"]) for t in tasks), default=0)
            slots = default_jobs(len(tasks), samples)
        plan = Plan(tasks, evaluate, slots)
        # no more processes than jobs; one process runs in this one
        jobs_n = 1 if dask else max(1, min(slots, len(tasks) * plan.shards))
        threads = plan_threads(jobs_n)
        where = f"Dask scheduler {dask}" if dask else _local_text(jobs_n, threads)
        shards = (
            f", each network pass in {plan.shards} shards of its images" if plan.sharded else ""
        )
        log.print(
            f"{spec.name}: {len(spec.points)} points, {len(spec.points) - len(tasks)} done "
            f"before, {len(tasks)} to run on {where}{shards} -> {folder.root}",
            highlight=False,
            soft_wrap=True,
        )
        if retried:
            log.print(
                f"retrying {retried} point(s) that failed before", highlight=False, soft_wrap=True
            )
        executor = {"executor": f"dask {dask}"} if dask else {"jobs": jobs_n, "threads": threads}
        # a resume with nothing to run leaves provenance alone: no run of this code made them
        run = folder.start_run(executor) if tasks else None
        state = {"ran": 0, "stopped": False}  # filled as points arrive, also if interrupted
        interrupted: KeyboardInterrupt | None = None
        lost: BfpdseError | None = None
        try:
            if tasks:
                outcomes = _execute(plan.jobs(), evaluate, jobs_n, threads, dask, stop)
                try:
                    stamped = (
                        {**r, "identity": identities.get(r["point_id"])}
                        for r in plan.records(outcomes)
                    )
                    _collect(stamped, folder, len(tasks), fail_fast, progress, state, stop)
                finally:
                    outcomes.close()  # stops the workers of jobs still in flight
        except KeyboardInterrupt as exc:  # a second signal, or the grace period is over
            interrupted = exc
        except BfpdseError as exc:  # SchedulerLost: the points in flight were stored failed
            lost = exc
        finally:
            with stop.shield(hold=True):  # the table is written whole, whatever arrives now
                df = folder.consolidate(spec)
                ok = int((df["status"] == "ok").sum())
                failed = int((df["status"] == "failed").sum())
                if run is not None:
                    info = {**state, "interrupted": interrupted is not None or stop.requested}
                    folder.finish_run(run, ok=ok, failed=failed, **info)
        if interrupted is None and stop.requested:  # the points in flight finished in time
            interrupted = stop.exception()
        if lost is not None:
            raise type(lost)(
                f"{lost}; {ok} point(s) ok and {failed} failed are in {folder.root} (the failed "
                f"ones were in flight), {len(spec.points) - ok - failed} not started: run the "
                "same command to resume"
            ) from None
        if interrupted is not None:
            log.print(
                f"interrupted: {ok + failed} of {len(spec.points)} points done; run the same "
                "command to resume",
                highlight=False, soft_wrap=True,
            )  # fmt: skip
            raise interrupted
    fails = df[df["status"] == "failed"]
    return SweepSummary(
        name=spec.name,
        folder=folder.root,
        table=folder.root / CSV,
        parquet=folder.root / PARQUET,
        points=len(spec.points),
        skipped=len(spec.points) - len(tasks),
        ran=state["ran"],
        ok=ok,
        failed=failed,
        missing=len(spec.points) - len(df),
        wall_s=time.perf_counter() - t0,
        stopped=state["stopped"],
        failures=list(zip(fails["point_id"], fails["error"], strict=True))[:SHOWN_FAILURES],
    )


def _local_text(jobs: int, threads: int) -> str:
    procs = "this process" if jobs == 1 else f"{jobs} processes"
    return f"{procs} x {threads} numba thread{'s' if threads > 1 else ''} ({cpu_cores()} cores)"


def _execute(
    jobs: Iterator[Job],
    evaluate: Evaluate,
    processes: int,
    threads: int,
    dask: str | None,
    stop: Stop,
) -> Iterator[Outcome]:
    warm_up = _warm_up_of(evaluate)
    if dask:
        from bfpdse.run.dask import run_dask

        return run_dask(jobs, dask, stop, warm_up=warm_up)
    if processes > 1:
        check_picklable(evaluate)
    if warm_up is not None:
        warm_up()  # compile once here; numba's on-disk cache then serves the workers
    if processes == 1:
        return run_inline(jobs, stop)
    return run_pool(jobs, processes, threads, stop)


def _collect(
    records: Iterator[Mapping[str, Any]],
    folder: SweepFolder,
    total: int,
    fail_fast: bool,
    progress: bool,
    state: dict[str, Any],
    stop: Stop,
) -> None:
    """Store each record as it arrives, counting in ``state`` (ran, stopped by fail-fast)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not progress,
    )
    failed = 0
    with bar:
        task = bar.add_task("points", total=total, failed=0)
        try:
            for record in records:
                with stop.shield():  # a part is written whole, even if a signal arrives
                    folder.write_part(dict(record))
                state["ran"] += 1
                failed += record["status"] == "failed"
                bar.update(task, advance=1, failed=failed)
                if fail_fast and record["status"] == "failed":
                    state["stopped"] = True
                    bar.console.print(
                        f"[red]stopping (--fail-fast):[/] {record['point_id']}: {record['error']}",
                        highlight=False,
                        soft_wrap=True,
                    )
                    return
        finally:
            close = getattr(records, "close", None)
            if close is not None:
                close()  # cancels what has not started
