"""Run a search: ask optuna for a design, evaluate it as a sweep point, store it, tell optuna.

Each trial's settings become a design point (``make_point``); the point is evaluated by the
same ``evaluate(point)`` as a sweep's (``bfpdse.run.local.run_point``), stored as a part of the
results folder (parts/<point_id>.json, with its ``trial`` number) and told to the study. A design
that is already stored (suggested again, by this process or another, or evaluated before a kill)
is told from its part without evaluating it again; two trials of one design in flight at once
share one evaluation. At the end, and after an interrupt, the parts are consolidated into
results.parquet and results.csv, so ``bfpdse plot`` and ``bfpdse pareto`` read a search like a
sweep.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console

from bfpdse.errors import BfpdseError, SpecError, StoreError
from bfpdse.run.local import Evaluate, Task
from bfpdse.search.folder import SearchFolder
from bfpdse.search.spec import SearchSpec, load_search
from bfpdse.search.study import (
    EVALUATING,
    ORPHANED,
    OWNER,
    OWNERS,
    SURPLUS,
    beyond_budget,
    counted,
    heartbeat,
    live_owners,
    open_study,
    owner_alive,
    recover_orphans,
    release,
    this_owner,
    used,
)
from bfpdse.search.trial import PRUNED_AT, evaluate_trial
from bfpdse.spec.point import make_point
from bfpdse.store.table import CSV, PARQUET
from bfpdse.threads import cpu_cores, plan_threads

#: how often trials waiting for another process's design look for its part (s)
SETTLE_POLL_S = 0.2
#: how often a running search looks for trials orphaned by processes that died (s)
RECOVER_EVERY_S = 30.0


@dataclass
class SearchSummary:
    """What a search run did; trial counts are over the whole study, not just this run."""

    name: str
    folder: Path
    table: Path
    parquet: Path
    trials: int  # the budget
    finished: int  # counted trials that finished (complete, pruned or failed)
    complete: int
    pruned: int
    failed: int
    evaluated: int  # trials evaluated by this run
    reused: int  # trials of this run told from a stored design
    recovered: list[int] = field(default_factory=list)  # orphaned trials requeued at the start
    wall_s: float = 0.0
    errors: list[str] = field(default_factory=list)  # the first few failures

    @property
    def done(self) -> bool:
        return self.finished >= self.trials


def run_search(
    spec: SearchSpec | str | Path,
    out: str | Path = "results",
    jobs: int | None = None,
    dask: str | None = None,
    fresh: bool = False,
    evaluate: Evaluate | None = None,
    progress: bool = True,
    overrides: Iterable[str] = (),
    trials: int | None = None,
    cache: str | Path | None = None,
) -> SearchSummary:
    """Run ``spec``'s trials into <out>/<name>/ until the study holds ``trials`` of them.

    ``spec`` is a loaded SearchSpec or a path (then ``overrides`` and ``trials`` apply).
    ``jobs``/``dask``: as for ``run_sweep``. ``evaluate(point) -> dict`` defaults to
    ``bfpdse.evaluate.evaluate``, with the work points share kept in ``cache`` (default
    ``<out>/cache``, as for sweeps: a search and a sweep written to one --out share it). Several
    processes may run the same search into the same folder
    at once; they share the study and its budget.

    Raises SpecError for a bad spec and StoreError for a folder that holds something else,
    before anything is written.
    """
    from bfpdse.run.runner import _warm_up_of, default_evaluate
    from bfpdse.search.signals import stop_on_signals

    t0 = time.perf_counter()
    if not isinstance(spec, SearchSpec):
        spec = load_search(spec, overrides, trials)
    if jobs is not None and jobs < 1:
        raise BfpdseError(f"--jobs {jobs}: give 1 or more worker processes")
    log = Console(stderr=True, quiet=not progress)
    if jobs is not None and not dask and jobs > cpu_cores():
        log.print(f"note: --jobs {jobs} capped to the {cpu_cores()} cores of this machine")
        jobs = cpu_cores()
    cached = evaluate is None or evaluate is default_evaluate()
    evaluate = evaluate or default_evaluate()
    base = make_point(spec.base)
    from bfpdse.versions import identity as identity_of

    identity = identity_of(base.settings())  # a missing model stops here, unwritten
    if cached:
        from bfpdse.evaluate import check_inputs

        check_inputs(base)
    if dask:
        from bfpdse.run.dask import check_scheduler

        check_scheduler(dask)
    folder = SearchFolder(Path(out) / spec.name)
    owners = folder.study_dir / OWNERS
    with folder.lock():
        if fresh and live_owners(owners):
            raise StoreError(
                f"{folder.root}: --fresh refused: another process runs this search now "
                f"({live_owners(owners)[0]})"
            )
        folder.prepare(spec, fresh=fresh)
        damaged = folder.set_aside_damaged()
        study, _ = open_study(folder.root, spec)
        jobs_n = 1 if dask else max(1, jobs or 1)
        threads = plan_threads(jobs_n)
        executor = {"executor": f"dask {dask}"} if dask else {"jobs": jobs_n, "threads": threads}
    if damaged:
        log.print(f"[yellow]warning:[/] set aside {len(damaged)} damaged part(s)", highlight=False)
    warm_up = _warm_up_of(evaluate)
    if cached:  # the sweep's shared work (references, windows, CIM passes) in <out>/cache
        from bfpdse.evaluate import CachedEvaluate

        evaluate = CachedEvaluate(str((Path(cache or Path(out) / "cache")).resolve()))
    task_evaluate = partial(
        evaluate_trial,
        evaluate=evaluate,
        prune_samples=spec.prune.samples if spec.prune else None,
        prune_max_drop=spec.prune.max_drop if spec.prune else None,
    )
    from bfpdse.search.execute import stream

    loop = _Loop(spec, study, folder, identity, log, progress)
    interrupted: KeyboardInterrupt | None = None
    with heartbeat(owners, this_owner()), stop_on_signals():
        recovered = recover_orphans(study, owners)
        before = loop.finished()
        run = None  # a resume with the budget spent leaves provenance and the table alone
        if recovered or used(study) < spec.trials:
            with folder.lock():
                run = folder.start_run({"command": "search", **executor})
        where = f"Dask scheduler {dask}" if dask else f"{jobs_n} process(es) x {threads} thread(s)"
        log.print(
            f"{spec.name}: {spec.trials} trials ({before} done before"
            + (f", {len(recovered)} orphaned trial(s) requeued" if recovered else "")
            + f"), {spec.sampler} sampler, {len(spec.params)} parameters, on {where} "
            f"-> {folder.root}",
            highlight=False, soft_wrap=True,
        )  # fmt: skip
        try:
            with loop.bar:
                records = stream(loop.next_task, task_evaluate, jobs_n, threads, dask, warm_up)
                try:
                    for record in records:
                        loop.finish(record)
                finally:
                    records.close()
                loop.settle(task_evaluate)
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM
            interrupted = exc
        finally:
            loop.release_in_flight()
            if run is not None or not (folder.root / PARQUET).is_file():
                with folder.lock():
                    consolidate(folder)
                    if run is not None:
                        done = loop.finished()
                        folder.finish_run(run, trials_finished=done, interrupted=bool(interrupted))
    summary = loop.summary(t0, recovered)
    if interrupted is not None:
        log.print(
            f"interrupted: {summary.finished} of {spec.trials} trials done; run the same command "
            "to resume",
            highlight=False,
        )
        raise interrupted
    return summary


class _Loop:
    """The ask / evaluate / store / tell cycle of one process (see the module docs)."""

    def __init__(self, spec, study, folder: SearchFolder, identity, log: Console, progress: bool):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.spec, self.study, self.folder, self.identity = spec, study, folder, identity
        self.dists = {p.key: p.distribution() for p in spec.params}
        self.in_flight: dict[str, list[Any]] = {}  # point_id -> trials waiting for it
        # point_id -> (settings, trials) of designs another process is evaluating
        self.deferred: dict[str, tuple[dict[str, Any], list[Any]]] = {}
        self.owners = folder.study_dir / OWNERS
        self._recovered_at = time.monotonic()  # run_search recovers once before the first ask
        self.evaluated = self.reused = 0
        self.best: tuple[float, int, dict] | None = None
        self.errors: list[str] = []
        self.bar = Progress(
            TextColumn("[bold]trials"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[best]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=not progress,
        )
        self.task = self.bar.add_task("trials", total=spec.trials, best="", completed=0)
        self._best_from_study()

    # -- asking ------------------------------------------------------------------------------

    def next_task(self) -> Task | None:
        """The next design to evaluate, or None when the budget is used up."""
        from optuna.trial import TrialState

        if time.monotonic() - self._recovered_at > RECOVER_EVERY_S:  # a process died meanwhile
            self._recovered_at = time.monotonic()
            recover_orphans(self.study, self.owners)
        from bfpdse.search.signals import shielded

        while used(self.study) < self.spec.trials:
            with shielded():  # a trial asked is owned before a signal can stop us: we release it
                trial = self.study.ask(self.dists)
                trial.set_user_attr(OWNER, this_owner())
            if beyond_budget(self.study, trial.number, self.spec.trials):
                trial.set_user_attr(SURPLUS, True)  # another process took the last one
                self.study.tell(trial, state=TrialState.FAIL)
                return None
            settings = self.spec.settings({k: trial.params[k] for k in self.dists})
            try:
                point = make_point(settings)
            except SpecError as exc:  # a combination the space allows but a point does not
                self._fail(trial, f"invalid design: {exc}")
                continue
            pid = point.point_id
            trial.set_user_attr("point_id", pid)
            if pid in self.in_flight:  # the same design is being evaluated here: share it
                self.in_flight[pid].append(trial)
                continue
            if pid in self.deferred:
                self.deferred[pid][1].append(trial)
                continue
            claim, stored = self._claim(trial, pid)
            if claim == "stored":
                self.reused += 1
                self._tell(trial, stored)
                continue
            if claim == "elsewhere":  # another process evaluates it: take its part later
                self.deferred[pid] = (point.settings(), [trial])
                continue
            self.in_flight[pid] = [trial]
            return pid, point.settings()
        return None

    def _claim(self, trial: Any, pid: str) -> tuple[str, dict[str, Any] | None]:
        """'stored' (with the part), 'elsewhere' (another live process evaluates the design) or
        'mine' (this trial now claims it). Under the folder's lock, so two processes never both
        claim one design: part writes and claims are made under the same lock."""
        with self.folder.lock():
            stored = self.folder.part(pid)
            if stored and stored["status"] != "failed" and stored.get("identity") == self.identity:
                return "stored", stored
            if self._claimed_elsewhere(pid):
                return "elsewhere", None
            trial.set_user_attr(EVALUATING, pid)
            return "mine", None

    def _claimed_elsewhere(self, pid: str) -> bool:
        from optuna.trial import TrialState

        me = this_owner()
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            owner = t.user_attrs.get(OWNER)
            if t.user_attrs.get(EVALUATING) == pid and owner != me:
                if owner and owner_alive(owner, self.owners):
                    return True
        return False

    def settle(self, evaluate: Evaluate) -> None:
        """Resolve the trials waiting for designs other processes evaluate: from their parts,
        or, if such a process is gone, by evaluating the design here."""
        from bfpdse.run.local import run_point

        while self.deferred:
            for pid in list(self.deferred):
                settings, trials = self.deferred[pid]
                stored = self.folder.part(pid)
                if stored is not None:
                    del self.deferred[pid]
                    self.reused += len(trials)
                    for trial in trials:
                        self._tell(trial, stored)
                    continue
                claim, stored = self._claim(trials[0], pid)
                if claim == "elsewhere":
                    continue
                del self.deferred[pid]
                if claim == "stored":  # written between the two looks
                    self.reused += len(trials)
                    for trial in trials:
                        self._tell(trial, stored)
                    continue
                self.in_flight[pid] = trials
                self.finish(run_point(evaluate, pid, settings))
            if self.deferred:
                time.sleep(SETTLE_POLL_S)

    # -- results -----------------------------------------------------------------------------

    def finish(self, record: dict[str, Any]) -> None:
        """Store one evaluated design and tell every trial that waited for it."""
        trials = self.in_flight.pop(record["point_id"], [])
        metrics = record.setdefault("metrics", {})
        if record["status"] == "ok" and PRUNED_AT in metrics:
            record["status"] = "pruned"
            drop = metrics.get("accuracy_drop")
            record["error"] = (
                f"pruned: accuracy drop {100 * drop:.2f} points on the first "
                f"{metrics[PRUNED_AT]} images > {100 * self.spec.prune.max_drop:g}"
            )
        if trials:
            metrics["trial"] = trials[0].number
        record["identity"] = self.identity
        with self.folder.lock():
            self.folder.write_part(record)
        self.evaluated += 1
        for trial in trials:
            self._tell(trial, record)

    def _tell(self, trial: Any, record: dict[str, Any]) -> None:
        from optuna.trial import TrialState

        metrics = record.get("metrics") or {}
        wanted = {o.metric for o in self.spec.objectives} | {
            c.metric for c in self.spec.constraints
        }
        kept = {k: _number(metrics.get(k)) for k in sorted(wanted | {"accuracy_drop"})}
        trial.set_user_attr("metrics", kept)
        if record["status"] == "failed":
            self._fail(trial, record.get("error") or "failed")
            return
        for c in self.spec.constraints:  # <= 0 holds; the sampler steers by it
            trial.set_constraint(c.text, c.violation(kept.get(c.metric)))
        if record["status"] == "pruned":
            if len(self.spec.objectives) == 1 and kept.get("accuracy_drop") is not None:
                trial.report(kept["accuracy_drop"], step=int(metrics.get(PRUNED_AT, 0)))
            self.study.tell(trial, state=TrialState.PRUNED)
            self._advance()
            return
        values = [kept.get(o.metric) for o in self.spec.objectives]
        if any(v is None for v in values):
            self._fail(trial, "an objective metric is missing or not finite")
            return
        self.study.tell(trial, values)
        self._consider(trial.number, values, kept)
        self._advance()

    def _fail(self, trial: Any, error: str) -> None:
        from optuna.trial import TrialState

        trial.set_user_attr("error", error[:500])
        self.study.tell(trial, state=TrialState.FAIL)
        if len(self.errors) < 5:
            self.errors.append(f"trial {trial.number}: {error}")
        self._advance()

    def release_in_flight(self) -> None:
        """Trials still running here (interrupted) are released for the next run."""
        from optuna.trial import TrialState

        # every running trial of this process, also one interrupted between two steps
        me = this_owner()
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if trial.user_attrs.get(OWNER) == me:
                release(self.study, trial, ORPHANED)
        self.in_flight.clear()
        self.deferred.clear()

    # -- progress ----------------------------------------------------------------------------

    def finished(self) -> int:
        return sum(
            1 for t in self.study.get_trials(deepcopy=False) if counted(t) and t.state.is_finished()
        )

    def _feasible(self, metrics: dict[str, Any]) -> bool:
        return all(c.holds(metrics.get(c.metric)) for c in self.spec.constraints)

    def _consider(self, number: int, values: list[float], metrics: dict[str, Any]) -> None:
        if len(values) != 1 or not self._feasible(metrics):
            return
        sign = 1 if self.spec.objectives[0].direction == "minimize" else -1
        if self.best is None or sign * values[0] < sign * self.best[0]:
            self.best = (values[0], number, metrics)

    def _best_from_study(self) -> None:
        from optuna.trial import TrialState

        for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            self._consider(t.number, list(t.values), t.user_attrs.get("metrics") or {})
        self._advance()

    def _advance(self) -> None:
        best = ""
        if self.best is not None:
            from bfpdse.search.report import fmt_metric

            value, number, metrics = self.best
            metric = self.spec.objectives[0].metric
            extra = "".join(
                f", {c.metric} {fmt_metric(c.metric, metrics.get(c.metric))}"
                for c in self.spec.constraints
            )
            best = f"best {metric} {fmt_metric(metric, value)} (trial {number}{extra})"
        elif len(self.spec.objectives) > 1:
            best = f"{len(self.spec.objectives)} objectives"
        self.bar.update(self.task, completed=self.finished(), best=best)

    def summary(self, t0: float, recovered: list[int]) -> SearchSummary:
        from optuna.trial import TrialState

        trials = [t for t in self.study.get_trials(deepcopy=False) if counted(t)]

        def n(state: TrialState) -> int:
            return sum(1 for t in trials if t.state == state)

        folder = self.folder.root
        return SearchSummary(
            name=self.spec.name,
            folder=folder,
            table=folder / CSV,
            parquet=folder / PARQUET,
            trials=self.spec.trials,
            finished=n(TrialState.COMPLETE) + n(TrialState.PRUNED) + n(TrialState.FAIL),
            complete=n(TrialState.COMPLETE),
            pruned=n(TrialState.PRUNED),
            failed=n(TrialState.FAIL),
            evaluated=self.evaluated,
            reused=self.reused,
            recovered=recovered,
            wall_s=time.perf_counter() - t0,
            errors=self.errors,
        )


def _number(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def consolidate(folder: SearchFolder):
    """Merge the folder's parts into results.parquet and results.csv, in trial order."""
    from bfpdse.spec.point import known_keys
    from bfpdse.store.table import build_table, write_table

    records = list(folder.parts().values())
    known = known_keys()
    extra = sorted({k for r in records for k in r["settings"] if k not in known})
    order = sorted(records, key=lambda r: (r["metrics"].get("trial", math.inf), r["point_id"]))
    df = build_table(records, [*known, *extra], [r["point_id"] for r in order])
    write_table(folder.root, df)
    return df
