"""``bfpdse sweep`` end to end: dry run, a run with a fake evaluator, exit codes, messages."""

import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bfpdse.cli import app, main

from .helpers import run_main

SPEC = (
    "name: cli\nmodel: lenet5\nsamples: 8\n"
    "sweep:\n  cim.adc: [ideal, rar, bfp]\n  cim.adc_bits: [3, 4]\n  cim.block: [4, 8]\n"
)
FAKE = ["--evaluator", "fakes:fake_evaluate"]


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "cli.yaml"
    path.write_text(SPEC)
    return path


def test_help_lists_options_with_units_and_hides_the_test_hook():
    result = CliRunner().invoke(app, ["sweep", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for text in ("--out", "--jobs", "--dask", "--dry-run", "--fresh", "--set", "--fail-fast"):
        assert text in result.output
    assert "numba threads" in result.output
    assert "--evaluator" not in result.output


def test_dry_run_prints_the_points_and_writes_nothing(tmp_path, spec, monkeypatch):
    from bfpdse.cli import _app

    # a console made where COLUMNS was set (pytest-xdist) keeps that width: the table's
    # headers would wrap
    monkeypatch.setattr(_app.console, "_width", 200)
    out = tmp_path / "results"
    result = CliRunner().invoke(
        app, ["sweep", str(spec), "--out", str(out), "--dry-run"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    # ideal: 1; rar: 2 widths; bfp: 2 widths x 2 blocks
    assert "7 points (12 combinations, 0 excluded, 5 collapsed as equal)" in result.output
    assert "cim.block" in result.output
    assert not out.exists()


def test_run_then_resume_with_a_fake_evaluator(tmp_path, spec):
    out = tmp_path / "results"
    args = ["sweep", str(spec), "--out", str(out), *FAKE]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "7 ok, 0 failed" in result.stderr
    assert str(out / "cli" / "results.csv") in result.stderr
    df = pd.read_csv(out / "cli" / "results.csv")
    assert len(df) == 7 and (df["status"] == "ok").all()
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0
    assert "0 run now, 7 done before" in again.stderr
    dry = CliRunner().invoke(
        app, ["sweep", str(spec), "--out", str(out), "--dry-run"], env={"COLUMNS": "200"}
    )
    assert dry.output.count(" ok ") == 7  # the stored column shows finished points


def test_failed_points_exit_1_and_fail_fast_stops(tmp_path, spec):
    out = tmp_path / "results"
    failing = ["--evaluator", "fakes:failing_evaluate"]
    result = CliRunner().invoke(app, ["sweep", str(spec), "--out", str(out), *failing])
    assert result.exit_code == 1
    assert "4 ok, 3 failed" in result.stderr  # adc_bits=3: rar, bfp with blocks 4 and 8
    assert "fake failure at cim.adc_bits=3" in result.stderr
    result = CliRunner().invoke(
        app, ["sweep", str(spec), "--out", str(out / "ff"), "--fail-fast", *failing]
    )
    assert result.exit_code == 1
    assert "--fail-fast" in result.stderr
    assert len(pd.read_csv(out / "ff" / "cli" / "results.csv")) < 7


def test_spec_error_exits_2_with_one_line_and_no_traceback(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsweep:\n  cim.adc_bits: [4, 99]\n")
    code, captured = run_main(monkeypatch, capsys, "sweep", str(bad), "--out", str(tmp_path))
    assert code == 2
    assert f"{bad}:3: " in captured.err and "adc_bits=99" in captured.err
    assert "Traceback" not in captured.err
    assert list(tmp_path.iterdir()) == [bad]


def test_changed_spec_exits_2_and_fresh_clears(tmp_path, spec, monkeypatch, capsys):
    out = str(tmp_path / "results")
    assert CliRunner().invoke(app, ["sweep", str(spec), "--out", out, *FAKE]).exit_code == 0
    code, captured = run_main(
        monkeypatch, capsys, "sweep", str(spec), "--out", out, "--set", "samples=4", *FAKE
    )
    assert code == 2 and "different spec" in captured.err and "--fresh" in captured.err
    code, captured = run_main(
        monkeypatch,
        capsys,
        "sweep",
        str(spec),
        "--out",
        out,
        "--set",
        "samples=4",
        "--fresh",
        *FAKE,
    )
    assert code == 0, captured.err
    assert set(pd.read_csv(tmp_path / "results" / "cli" / "results.csv")["samples"]) == {4}


def test_samples_beyond_the_dataset_exit_2_before_writing(tmp_path, capsys, monkeypatch):
    spec = tmp_path / "big.yaml"
    spec.write_text("name: big\nmodel: lenet5\nsamples: 20000\nsweep:\n  cim.adc: [ideal]\n")
    monkeypatch.setattr(sys, "argv", ["bfpdse", "sweep", str(spec), "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit) as info:
        main()
    err = capsys.readouterr().err
    assert info.value.code == 2 and "samples=20000, but it holds 10000 images" in err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


@pytest.mark.parametrize("sig, code", [(15, 143), (2, 130)], ids=["SIGTERM", "SIGINT"])
def test_signal_mid_sweep_keeps_finished_points_and_resumes(tmp_path, sig, code):
    import os
    import signal
    import subprocess
    import time

    spec = tmp_path / "slow.yaml"
    spec.write_text("name: slow\nmodel: lenet5\nsweep:\n  cim.adc_bits: [3, 4, 5, 6, 7, 8]\n"
                    "  cim.adc: [rar]\n")  # fmt: skip
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", "from bfpdse.cli import main; main()", "sweep", str(spec),
           "--out", str(out), "--evaluator", "fakes:slow_evaluate"]  # fmt: skip
    tests_dir = str(Path(__file__).resolve().parents[1])  # where the fakes live
    env = {**os.environ, "BFPDSE_FAKE_SLEEP": "0.5", "PYTHONPATH": tests_dir}
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    parts = out / "slow" / "parts"
    deadline = time.time() + 60
    while time.time() < deadline and len(list(parts.glob("*.json")) if parts.exists() else []) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.Signals(sig))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "interrupted: " in err and "run the same command to resume" in err
    assert "Traceback" not in err
    done = pd.read_parquet(out / "slow" / "results.parquet")
    assert 2 <= len(done) < 6 and set(done["status"]) == {"ok"}
    assert not (out / "slow" / ".lock.owner").exists()
    again = subprocess.run(cmd, env={**env, "BFPDSE_FAKE_SLEEP": "0"}, capture_output=True,
                           text=True, timeout=120)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert f"{len(done)} done before" in again.stderr
    assert len(pd.read_parquet(out / "slow" / "results.parquet")) == 6


@pytest.mark.parametrize("where", ["file", "readonly", "proc"])
def test_unwritable_out_is_one_line_exit_2(tmp_path, capsys, monkeypatch, where):
    import os

    spec = tmp_path / "w.yaml"
    spec.write_text("name: w\nmodel: lenet5\nsamples: 8\nsweep:\n  cim.adc: [ideal]\n")
    if where == "file":
        out = tmp_path / "afile"
        out.write_text("x")
    elif where == "readonly":
        out = tmp_path / "ro"
        out.mkdir()
        out.chmod(0o500)
        if os.access(out, os.W_OK):  # root writes anywhere: make the sweep folder a file
            (out / "w").write_text("x")
    else:
        out = Path("/proc")
    argv = ["bfpdse", "sweep", str(spec), "--out", str(out)] + FAKE
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as info:
        main()
    err = capsys.readouterr().err
    assert info.value.code == 2, err
    assert "cannot write results there" in err and "Traceback" not in err


def test_jobs_beyond_cores_are_capped_with_a_note(tmp_path, spec):
    result = CliRunner().invoke(
        app, ["sweep", str(spec), "--out", str(tmp_path / "r"), "--jobs", "99", *FAKE],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "--jobs 99 capped to the" in result.output


def test_dry_run_of_a_large_sweep_counts_without_building_every_point(tmp_path, capsys,
                                                                      monkeypatch):  # fmt: skip
    import importlib

    expand = importlib.import_module("bfpdse.spec.expand")
    built = []
    real = expand.make_point
    monkeypatch.setattr(expand, "make_point", lambda s: built.append(1) or real(s))
    spec = tmp_path / "large.yaml"
    spec.write_text(
        "name: large\nmodel: lenet5\nsweep:\n  cim.adc: [rar, bfp]\n  cim.block: [4, 8]\n"
        f"  seed: {list(range(500))}\n  samples: {list(range(1, 1001))}\n"
    )
    code, captured = run_main(monkeypatch, capsys, "sweep", str(spec), "--dry-run")
    assert code == 2 and "spans 2,000,000 points" in captured.err  # the limit, before counting
    code, captured = run_main(
        monkeypatch, capsys, "sweep", str(spec), "--dry-run", "--max-points", "2000000",
        "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert code == 0, captured.err
    # rar: 1, bfp: 2 blocks -> 3 distinct, x 500 seeds x 1000 sample counts
    assert "1,500,000 points (2,000,000 combinations, 0 excluded, 500,000 collapsed" in (
        captured.out
    )
    assert "1,499,800 more not shown" in captured.out
    assert len(built) < 2000  # the shown rows and the clusters' own combinations
    assert not (tmp_path / "r").exists()
