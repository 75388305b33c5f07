"""Resume after kill -9: only points in flight are lost; the final table equals a clean run's."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from fakes import fake_evaluate

from bfpdse.run import run_sweep
from bfpdse.spec import load_spec

from .helpers import calls, sweep_file, table

SCRIPT = (
    "import sys\n"
    "from bfpdse.run import run_sweep\n"
    "from fakes import slow_evaluate\n"
    "run_sweep(sys.argv[1], out=sys.argv[2], jobs=int(sys.argv[3]), evaluate=slow_evaluate,"
    " progress=False)\n"
)


def session(sid: int) -> list[int]:
    """Live processes of session ``sid`` (the killed sweep and any workers it left)."""
    found = []
    for name in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if name.isdigit():
            try:
                if os.getsid(int(name)) == sid:
                    found.append(int(name))
            except OSError:
                pass
    return found


@pytest.mark.parametrize("jobs", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_resume_after_sigkill_equals_an_uninterrupted_run(tmp_path, monkeypatch, jobs):
    path = sweep_file(tmp_path)
    ids = set(load_spec(path).point_ids)
    out = tmp_path / "out"
    parts = out / "s" / "parts"
    first_calls = tmp_path / "calls_killed.txt"
    env = {
        **os.environ,
        "BFPDSE_FAKE_SLEEP": "0.25",
        "BFPDSE_FAKE_CALLS": str(first_calls),
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }  # tests/: the fakes
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(path), str(out), str(jobs)],
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(list(parts.glob("*.json")) if parts.is_dir() else []) < 3:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "no parts appeared"
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while session(proc.pid) and time.monotonic() < deadline:  # workers notice and exit
        time.sleep(0.1)
    assert session(proc.pid) == []
    survived = {p.stem for p in parts.glob("*.json")}
    assert 3 <= len(survived) < len(ids)
    assert survived <= set(calls(first_calls))  # finished points were evaluated once

    resumed_calls = tmp_path / "calls_resumed.txt"
    monkeypatch.setenv("BFPDSE_FAKE_CALLS", str(resumed_calls))
    summary = run_sweep(path, out=out, evaluate=fake_evaluate, progress=False)
    again = calls(resumed_calls)
    assert len(again) == len(set(again))  # no point evaluated twice
    assert set(again) == ids - survived  # finished points were not recomputed
    assert summary.skipped == len(survived) and summary.complete

    monkeypatch.delenv("BFPDSE_FAKE_CALLS")
    run_sweep(path, out=tmp_path / "clean", evaluate=fake_evaluate, progress=False)
    resumed, clean = table(out), table(tmp_path / "clean")
    assert resumed["point_id"].is_unique
    pd.testing.assert_frame_equal(resumed, clean)


SLOW = "name: s\nmodel: lenet5\nsweep:\n  cim.adc_bits: [3, 4, 5, 6, 7, 8]\n  cim.adc: [rar]\n"


def _start(tmp_path, sleep, *args):
    """``bfpdse sweep`` of 6 slow fake points in a process; (process, parts folder, starts file)."""
    spec = tmp_path / "s.yaml"
    spec.write_text(SLOW)
    starts = tmp_path / "starts.txt"
    env = {**os.environ, "BFPDSE_FAKE_SLEEP": str(sleep), "BFPDSE_FAKE_STARTS": str(starts),
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}  # fmt: skip
    cmd = [sys.executable, "-c", "from bfpdse.cli import main; main()", "sweep", str(spec),
           "--out", str(tmp_path / "out"), "--evaluator", "fakes:slow_evaluate", *args]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    return proc, tmp_path / "out" / "s" / "parts", starts


def _wait_for(check, proc, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not check():
        assert proc.poll() is None, f"the sweep ended before {what}"
        assert time.monotonic() < deadline, f"no {what}"
        time.sleep(0.02)


def _stored(parts: Path) -> set[str]:
    return {p.stem for p in parts.glob("*.json")}


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_first_signal_lets_the_points_in_flight_finish(tmp_path, jobs):
    proc, parts, starts = _start(tmp_path, 1.0, "--jobs", jobs)

    def finished_and_one_in_flight() -> bool:
        # the signal must land while a point runs: between two points there is none to keep
        done = _stored(parts)
        return len(done) >= 1 and len(set(calls(starts)) - done) >= 1

    _wait_for(finished_and_one_in_flight, proc, "finished point and one in flight")
    os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the workers get it too
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Ctrl-C: stopping; no new points start" in err and "Traceback" not in err
    assert "run the same command to resume" in err
    stored = _stored(parts)
    # every point that started was finished and kept, none was thrown away; not all ran
    assert set(calls(starts)) == stored and 2 <= len(stored) < 6
    done = pd.read_parquet(parts.parent / "results.parquet")
    assert set(done["point_id"]) == stored and set(done["status"]) == {"ok"}
    _no_process_left(proc.pid)


def _no_process_left(sid: int) -> None:
    """The sweep's workers (and multiprocessing's helper) are gone soon after it exits."""
    deadline = time.monotonic() + 10
    while session(sid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert session(sid) == []


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_second_signal_stops_at_once(tmp_path, jobs):
    proc, parts, starts = _start(tmp_path, 20, "--jobs", jobs)
    _wait_for(lambda: len(calls(starts)) >= int(jobs), proc, "point in flight")
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 10  # not the 20 s of the points in flight
    assert proc.returncode == 143, err
    assert "interrupted: 0 of 6 points done" in err and "Traceback" not in err
    assert _stored(parts) == set() and (parts.parent / "results.parquet").exists()
    assert not (parts.parent / ".lock.owner").exists()
    _no_process_left(proc.pid)  # killed, not left to finish their 20 s


def test_the_grace_period_ends_the_points_still_running(tmp_path):
    proc, parts, starts = _start(tmp_path, 20, "--grace", "1")
    _wait_for(lambda: len(calls(starts)) >= 1, proc, "point in flight")
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert 1 <= time.monotonic() - t0 < 10
    assert proc.returncode == 143, err
    assert "have 1 s to finish" in err and "the 1 s are over" in err
    assert "Traceback" not in err and _stored(parts) == set()


def test_dask_first_signal_keeps_the_points_in_flight(tmp_path, monkeypatch):
    import threading

    from distributed import LocalCluster
    from fakes import slow_evaluate

    from bfpdse.run.stop import Interrupted

    path = sweep_file(tmp_path)
    starts = tmp_path / "starts.txt"
    monkeypatch.setenv("BFPDSE_FAKE_SLEEP", "0.8")
    monkeypatch.setenv("BFPDSE_FAKE_STARTS", str(starts))
    parts = tmp_path / "out" / "s" / "parts"

    def interrupt_after_a_part() -> None:
        deadline = time.monotonic() + 60
        while not _stored(parts) and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                      host="127.0.0.1", dashboard_address=None) as cluster:  # fmt: skip
        threading.Thread(target=interrupt_after_a_part, daemon=True).start()
        with pytest.raises(Interrupted) as info:
            run_sweep(path, out=tmp_path / "out", dask=cluster.scheduler_address,
                      evaluate=slow_evaluate, progress=False)  # fmt: skip
    assert info.value.exit_code == 130
    stored = _stored(parts)
    assert set(calls(starts)) == stored and 2 <= len(stored) < 12
    assert len(pd.read_parquet(parts.parent / "results.parquet")) == len(stored)


def test_a_lost_dask_scheduler_fails_the_points_in_flight_in_one_line(tmp_path, capfd,
                                                                      monkeypatch):  # fmt: skip
    import threading

    from distributed import LocalCluster
    from fakes import slow_evaluate

    from bfpdse.run.dask import SchedulerLost

    path = sweep_file(tmp_path)
    monkeypatch.setenv("BFPDSE_FAKE_SLEEP", "0.8")
    parts = tmp_path / "out" / "s" / "parts"
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                           host="127.0.0.1", dashboard_address=None)  # fmt: skip

    def lose_the_scheduler() -> None:
        deadline = time.monotonic() + 60
        while len(_stored(parts)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # points are in flight
        cluster.close()

    threading.Thread(target=lose_the_scheduler, daemon=True).start()
    with pytest.raises(SchedulerLost) as info:
        run_sweep(path, out=tmp_path / "out", dask=cluster.scheduler_address,
                  evaluate=slow_evaluate, progress=False)  # fmt: skip
    message = str(info.value)
    assert "lost the connection to the scheduler" in message and "\n" not in message
    assert "run the same command to resume" in message and info.value.exit_code == 1
    df = pd.read_parquet(parts.parent / "results.parquet")
    ok, failed = df[df["status"] == "ok"], df[df["status"] == "failed"]
    assert len(ok) >= 2 and 1 <= len(failed) <= 2  # the points in flight, one line each
    assert failed["error"].str.contains("lost the connection to the scheduler").all()
    assert "Traceback" not in capfd.readouterr().err
    summary = run_sweep(path, out=tmp_path / "out", evaluate=fake_evaluate, progress=False)
    assert summary.complete and summary.skipped == len(ok)  # finished points were kept
