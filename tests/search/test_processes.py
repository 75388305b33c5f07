"""A search killed with -9 resumes without losing or repeating trials; two processes share one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fakes import fake_evaluate

from bfpdse.search import run_search
from bfpdse.store.read import read_results

from .helpers import calls, counted_finished, search_file, study_trials

SCRIPT = (
    "import sys\n"
    "from bfpdse.search import run_search\n"
    "from fakes import slow_evaluate\n"
    "run_search(sys.argv[1], out=sys.argv[2], evaluate=slow_evaluate, progress=False)\n"
)

#: 36 designs, so that two processes have distinct designs to evaluate
WIDE = "    cim.rows: [64, 128, 256]\n"


def _env(calls_file: Path, sleep: str) -> dict[str, str]:
    return {
        **os.environ,
        "BFPDSE_FAKE_SLEEP": sleep,
        "BFPDSE_FAKE_CALLS": str(calls_file),
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),  # tests/: the fakes
    }


def _evaluating(out: Path, parts: Path) -> bool:
    """A trial is running and its design has no part yet."""
    for t in study_trials(out):
        pid = t.user_attrs.get("evaluating")
        if t.state.name == "RUNNING" and pid and not (parts / f"{pid}.json").exists():
            return True
    return False


def test_kill_9_mid_search_resumes_without_losing_or_repeating_trials(tmp_path, monkeypatch):
    path = search_file(tmp_path, trials=12, extra_space=WIDE)
    out = tmp_path / "out"
    parts = out / "s" / "parts"
    killed_calls = tmp_path / "calls_killed.txt"
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(path), str(out)],
        env=_env(killed_calls, "0.3"),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(list(parts.glob("*.json")) if parts.is_dir() else []) < 3:
            assert proc.poll() is None, "the search ended before it could be killed"
            assert time.monotonic() < deadline, "no parts appeared"
            time.sleep(0.02)
        while not _evaluating(out, parts):  # kill it in the middle of a trial's evaluation
            assert proc.poll() is None and time.monotonic() < deadline
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = study_trials(out)
    finished_before = {t.number: (t.values, t.user_attrs["point_id"]) for t in before
                       if t.state.name == "COMPLETE"}  # fmt: skip
    running = [t.number for t in before if t.state.name == "RUNNING"]
    assert finished_before and running, "the kill should leave done and running trials"
    survived = {p.stem for p in parts.glob("*.json")}

    resumed_calls = tmp_path / "calls_resumed.txt"
    monkeypatch.setenv("BFPDSE_FAKE_CALLS", str(resumed_calls))
    summary = run_search(path, out=out, evaluate=fake_evaluate, progress=False)
    assert summary.recovered == running and summary.done
    again = calls(resumed_calls)
    assert len(again) == len(set(again)) and not set(again) & survived  # nothing recomputed
    after = study_trials(out)
    for number, (values, pid) in finished_before.items():  # finished trials kept as they were
        assert after[number].state.name == "COMPLETE"
        assert (after[number].values, after[number].user_attrs["point_id"]) == (values, pid)
    for number in running:  # the orphans: failed, marked, and their designs queued again
        assert after[number].state.name == "FAIL" and after[number].user_attrs["orphaned"]
        requeued = [t for t in after if t.user_attrs.get("requeued_from") == number]
        assert len(requeued) == 1 and requeued[0].params == after[number].params
    assert len(counted_finished(after)) == 12
    df = read_results(out / "s")
    assert df["point_id"].is_unique and set(df["point_id"]) == survived | set(again)
    assert all(calls(killed_calls).count(pid) == 1 for pid in survived)


def test_two_processes_share_one_study_without_duplicating_trials(tmp_path):
    path = search_file(tmp_path, trials=16, extra_space=WIDE)
    out = tmp_path / "out"
    record = tmp_path / "calls.txt"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(path), str(out)],
            env=_env(record, "0.3"),
            start_new_session=True,
        )
        for _ in range(2)
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    evaluated = calls(record)
    assert len(evaluated) == len(set(evaluated))  # no design evaluated by both
    trials = study_trials(out)
    done = counted_finished(trials)
    assert len(done) == 16 and all(t.state.name == "COMPLETE" for t in done)  # the budget, once
    owners = {t.user_attrs["owner"] for t in done}
    assert len(owners) == 2  # both processes ran trials
    df = read_results(out / "s")
    assert df["point_id"].is_unique and set(df["point_id"]) == set(evaluated)
    assert {t.user_attrs["point_id"] for t in done} == set(evaluated)


def test_trials_in_a_process_pool_give_what_one_process_gives(tmp_path):
    path = search_file(tmp_path, trials=8)
    summary = run_search(path, out=tmp_path / "two", jobs=2, evaluate=fake_evaluate, progress=False)
    assert summary.finished == 8
    df = read_results(tmp_path / "two" / "s")
    assert df["point_id"].is_unique and (df["status"] == "ok").all()
    trials = study_trials(tmp_path / "two")
    assert len(counted_finished(trials)) == 8
    for _, row in df.iterrows():  # the pool's numbers are the evaluator's
        assert row["energy_pj"] > 0 and 0 <= row["accuracy_drop"] <= 0.4


def test_trials_on_a_dask_cluster(tmp_path, monkeypatch):
    from distributed import LocalCluster

    from bfpdse.threads import THREAD_VARS

    for var in THREAD_VARS:  # the in-process worker caps threads through these
        monkeypatch.setenv(var, "1")
    path = search_file(tmp_path, trials=6)
    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, protocol="tcp", host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:  # fmt: skip
        summary = run_search(
            path, out=tmp_path / "dask", dask=cluster.scheduler_address, evaluate=fake_evaluate,
            progress=False,
        )  # fmt: skip
    assert summary.finished == 6 and summary.complete == 6
    df = read_results(tmp_path / "dask" / "s")
    assert df["point_id"].is_unique and df["trial"].notna().all()


def test_sigterm_stops_a_search_which_then_resumes(tmp_path, monkeypatch):
    path = search_file(tmp_path, trials=10, extra_space=WIDE)
    out = tmp_path / "out"
    parts = out / "s" / "parts"
    cli = "import sys\nfrom bfpdse.cli import main\nsys.argv = ['bfpdse', *sys.argv[1:]]\nmain()\n"
    args = ["search", str(path), "--out", str(out), "--evaluator", "fakes:slow_evaluate"]
    proc = subprocess.Popen(
        [sys.executable, "-c", cli, *args],
        env=_env(tmp_path / "calls.txt", "0.5"),
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(list(parts.glob("*.json")) if parts.is_dir() else []) < 2:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "run the same command to resume" in err
    trials = study_trials(out)
    assert not [t for t in trials if t.state.name == "RUNNING"]  # released, not left running
    assert (out / "s" / "results.parquet").is_file()  # the table written on the way out
    summary = run_search(path, out=out, evaluate=fake_evaluate, progress=False)
    assert summary.recovered == [] and summary.done
