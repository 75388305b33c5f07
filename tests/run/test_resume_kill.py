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
