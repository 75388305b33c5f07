"""The optuna study of a search: journal file, sampler, owners of running trials, trial budget.

The study lives in ``<folder>/study/journal.log`` (optuna's JournalStorage on a
JournalFileBackend: an append-only log that several processes, also on other hosts sharing the
folder, read and extend under a lock file). So a killed search resumes where it stopped, and two
processes given the same search share one study.

Every trial this code asks for records its ``owner`` (host, pid, process start time). A trial
left RUNNING by a process that is gone (``kill -9``, a crash, a lost machine) is an orphan: the
next process to start marks it failed (``orphaned``) and puts its parameters back in the queue,
so that the design is still evaluated, once. A process is gone when, on this host, its pid is not
alive (or is another process now), and elsewhere when its heartbeat file in ``study/owners/``
has not been touched for ``STALE_S`` seconds.

The trial budget (``search.trials``) counts every trial except orphans and ``surplus`` ones: when
two processes ask at the same moment for the last trial, the one with the higher number finds
itself beyond the budget, marks its trial surplus and stops.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from bfpdse.search.signals import shielded
from bfpdse.search.spec import SearchSpec

STUDY_DIR = "study"
JOURNAL = "journal.log"
OWNERS = "owners"
#: a heartbeat file touched this often (s) ...
HEARTBEAT_S = 20.0
#: ... and its owner is taken for gone when it is older than this (s)
STALE_S = 120.0
#: a RUNNING trial without an owner yet (asked a moment ago) is left alone this long (s)
UNOWNED_GRACE_S = 60.0

#: trial user attributes set by this module
OWNER, ORPHANED, SURPLUS, REQUEUED_FROM = "owner", "orphaned", "surplus", "requeued_from"
#: the point_id a trial evaluates (claimed under the folder lock: one process per design)
EVALUATING = "evaluating"


def quiet_optuna() -> None:
    """optuna logs every trial at INFO; the search has its own progress bar."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def _start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot; Linux), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


@lru_cache(maxsize=1)
def this_owner() -> str:
    """'host:pid:start' of this process."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid()) or ''}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_alive(owner: str, owners_dir: Path) -> bool:
    """Whether the process named by ``owner`` still runs (see the module docs)."""
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host == socket.gethostname() and pid_text.isdigit():
        pid = int(pid_text)
        return _pid_alive(pid) and (not start or _start_time(pid) in (start, None))
    try:
        age = time.time() - (owners_dir / _owner_file(owner)).stat().st_mtime
    except OSError:
        return False
    return age < STALE_S


def _owner_file(owner: str) -> str:
    return owner.replace(":", "_").replace("/", "_") + ".json"


@contextmanager
def heartbeat(owners_dir: Path, owner: str) -> Iterator[None]:
    """While the search runs, touch ``owners/<owner>.json`` every HEARTBEAT_S seconds."""
    owners_dir.mkdir(parents=True, exist_ok=True)
    path = owners_dir / _owner_file(owner)
    path.write_text(json.dumps({"owner": owner, "since": time.time()}))
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            try:
                os.utime(path)
            except OSError:
                pass

    thread = threading.Thread(target=beat, daemon=True, name="bfpdse-search-heartbeat")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        path.unlink(missing_ok=True)


def live_owners(owners_dir: Path) -> list[str]:
    """Owners of other processes that are running this search now."""
    out = []
    me = this_owner()
    for path in sorted(owners_dir.glob("*.json")) if owners_dir.is_dir() else []:
        try:
            owner = json.loads(path.read_text())["owner"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if owner != me and owner_alive(owner, owners_dir):
            out.append(owner)
    return out


class _JournalLock:
    """The journal's write lock: an OS file lock (flock), which the kernel releases when its
    holder dies. optuna's own lock files are released by a grace period (30 s) instead, so a
    search killed while appending would hold up the next one for that long."""

    def __init__(self, path: Path):
        from filelock import FileLock

        self._lock = FileLock(str(path) + ".flock")
        self._shield: Any = None

    def acquire(self) -> bool:
        self._shield = shielded()  # a signal waits until the write is done and the lock free
        self._shield.__enter__()
        self._lock.acquire()
        return True

    def release(self) -> None:
        try:
            self._lock.release()
        finally:
            shield, self._shield = self._shield, None
            shield.__exit__(None, None, None)


def storage(folder: Path) -> Any:
    """The JournalStorage of the search folder (created empty on first use)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    (folder / STUDY_DIR).mkdir(parents=True, exist_ok=True)
    journal = folder / STUDY_DIR / JOURNAL
    return JournalStorage(JournalFileBackend(str(journal), lock_obj=_JournalLock(journal)))


def make_sampler(spec: SearchSpec, seed: int) -> Any:
    """The spec's sampler. Constraints reach it per trial (``Trial.set_constraint``, optuna 5):
    TPE and NSGA-II then prefer feasible designs."""
    import optuna

    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if spec.sampler == "nsga2":
        population = max(4, min(50, spec.trials // 4))
        return optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
    return optuna.samplers.TPESampler(n_startup_trials=max(1, min(10, spec.trials // 4)), seed=seed)


def open_study(folder: Path, spec: SearchSpec) -> tuple[Any, bool]:
    """The study (created on first use: then the uniform starts are queued); and whether this
    process created it. Call with the folder's lock held, so that one process creates it."""
    import optuna

    quiet_optuna()
    store = storage(folder)
    created = spec.name not in {s.study_name for s in store.get_all_studies()}
    existing = 0 if created else len(_trials(store, spec.name))
    # a fresh study with a seed is reproducible; a process joining or resuming one draws its own
    # numbers (the same seed would suggest what the first process suggests)
    seed = spec.seed if created or existing == 0 else _joined_seed(spec.seed, existing)
    sampler = make_sampler(spec, seed)
    if not created:  # load, not create_study(load_if_exists): that appends to the journal
        return optuna.load_study(storage=store, study_name=spec.name, sampler=sampler), False
    study = optuna.create_study(
        storage=store,
        study_name=spec.name,
        directions=[o.direction for o in spec.objectives],
        sampler=sampler,
    )
    study.set_user_attr("spec_hash", spec.spec_hash)
    if spec.per_layer and spec.start_uniform:
        starts = spec.uniform_starts()
        if len(starts) <= max(1, spec.trials // 2):
            for values in starts:
                study.enqueue_trial(values, user_attrs={"start": "uniform"})
    return study, True


def _trials(store: Any, name: str) -> list[Any]:
    study_id = store.get_study_id_from_name(name)
    return store.get_all_trials(study_id, deepcopy=False)


def _joined_seed(seed: int, existing: int) -> int:
    return zlib.crc32(f"{seed}:{existing}:{this_owner()}".encode()) & 0x7FFFFFFF


def counted(trial: Any) -> bool:
    """Whether a trial counts toward the budget (orphans and surplus trials do not)."""
    return not (trial.user_attrs.get(ORPHANED) or trial.user_attrs.get(SURPLUS))


def used(study: Any) -> int:
    """Trials that count and are not just queued: finished or running."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    return sum(1 for t in trials if counted(t) and t.state != TrialState.WAITING)


def beyond_budget(study: Any, number: int, budget: int) -> bool:
    """Whether trial ``number`` is not among the first ``budget`` counted trials."""
    trials = study.get_trials(deepcopy=False)
    rank = sum(1 for t in trials if t.number <= number and counted(t))
    return rank > budget


def recover_orphans(study: Any, owners_dir: Path) -> list[int]:
    """Fail and requeue the RUNNING trials of processes that are gone; their numbers."""
    from optuna.trial import TrialState

    recovered = []
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    others = live_owners(owners_dir) if running else []
    for trial in running:
        owner = trial.user_attrs.get(OWNER)
        if owner is None:  # killed between asking and naming itself, or another is asking now
            started = trial.datetime_start or datetime.now()
            young = (datetime.now() - started).total_seconds() < UNOWNED_GRACE_S
            if others and young:
                continue
        elif owner_alive(owner, owners_dir):
            continue
        if release(study, trial, ORPHANED):
            recovered.append(trial.number)
    return recovered


def release(study: Any, trial: Any, why: str) -> bool:
    """Mark a running trial failed for ``why`` (orphaned: it did not finish) and queue its
    parameters again; False if another process finished it first."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import Trial, TrialState

    try:
        # a FrozenTrial has no setter; Trial(study, id) writes to the trial of any process
        Trial(study, trial._trial_id).set_user_attr(why, True)
        study.tell(trial.number, state=TrialState.FAIL)
    except (UpdateFinishedTrialError, RuntimeError, ValueError):
        return False
    if trial.params:
        study.enqueue_trial(dict(trial.params), user_attrs={REQUEUED_FROM: trial.number})
    return True
