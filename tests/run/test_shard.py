"""One design point across workers: its images in shards, merged bit for bit."""

import importlib

import pandas as pd
import pytest

from bfpdse.run import run_sweep
from bfpdse.run.shard import Plan, shard_ranges
from bfpdse.spec.point import make_point

from .helpers import RUN_COLUMNS

# the package exports a function of the same name
ev = importlib.import_module("bfpdse.evaluate")

#: columns that differ between two runs of the same point (timing, how it was run)
TIMING = {"wall_s", "cim_pass_s", "calib_s"}


def test_shards_are_whole_batches_as_even_as_possible():
    assert shard_ranges(250, 2, 100) == [(0, 200), (200, 250)]
    assert shard_ranges(1000, 3, 100) == [(0, 400), (400, 700), (700, 1000)]
    assert shard_ranges(50, 4, 100) == [(0, 50)]  # one batch: one shard
    for images, shards in [(1, 1), (999, 7), (1000, 10), (1001, 10)]:
        ranges = shard_ranges(images, shards, 100)
        assert ranges[0][0] == 0 and ranges[-1][1] == images
        assert all(a % 100 == 0 and a < b for a, b in ranges)
        assert all(b == c for (_, b), (c, _) in zip(ranges, ranges[1:], strict=False))


def test_a_plan_shards_only_when_workers_would_idle():
    tasks = [(p.point_id, p.settings()) for p in _points("default", "isaac")]
    # the two points differ in energy.* only: one pass, so two slots shard it
    assert Plan(tasks, ev.evaluate, slots=2).shards == 2
    assert not Plan(tasks, ev.evaluate, slots=1).sharded
    from fakes import fake_evaluate

    assert not Plan(tasks, fake_evaluate, slots=4).sharded  # only bfpdse's own evaluate


def _points(*presets):
    return [
        make_point({"model": "lenet5", "samples": 250, "cim.adc": "bfp", "cim.adc_bits": 3,
                    "energy.preset": preset})
        for preset in presets
    ]  # fmt: skip


@pytest.fixture
def cluster():
    """A real Dask scheduler with two single-thread workers (in this process, for speed)."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:  # fmt: skip
        yield cluster


def test_one_point_on_two_dask_workers_equals_one_process(cluster):
    from distributed import Client, get_task_stream

    from bfpdse.run.shard import evaluate_point

    (point,) = _points("default")
    ev._CACHE.clear()  # nothing computed before: every shard runs
    with Client(cluster.scheduler_address) as client, get_task_stream(client) as stream:
        sharded = evaluate_point(point, dask=cluster.scheduler_address, details=True)
    workers = {t["worker"] for t in stream.data if str(t["key"]).startswith("bfpdse-")}
    assert len(workers) == 2  # both workers ran a shard
    ev._CACHE.clear()
    one = ev.evaluate(point, details=True)
    assert sharded.keys() == one.keys()
    for key in one.keys() - TIMING:
        assert sharded[key] == one[key], key  # bit for bit: accuracy, SQNR, every count
    assert one["sqnr_db"] < 60 and one["conversions"] > 0  # a real, lossy point


def test_a_sweep_with_fewer_passes_than_workers_shards_them(tmp_path, cluster):
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "name: s\nmodel: lenet5\nsamples: 250\nbase: {cim.adc: bfp, cim.adc_bits: 3}\n"
        "sweep:\n  energy.preset: [default, isaac]\n"
    )
    ev._CACHE.clear()
    summary = run_sweep(spec, out=tmp_path / "dask", dask=cluster.scheduler_address,
                        progress=False)  # fmt: skip
    ev._CACHE.clear()
    inline = run_sweep(spec, out=tmp_path / "one", jobs=1, progress=False)
    assert summary.complete and inline.complete
    got, want = (
        pd.read_parquet(tmp_path / name / "s" / "results.parquet").drop(columns=RUN_COLUMNS)
        for name in ("dask", "one")
    )
    timing = [c for c in got.columns if c in TIMING]
    pd.testing.assert_frame_equal(got.drop(columns=timing), want.drop(columns=timing))
    parts = list((tmp_path / "dask" / "s" / "parts").glob("*.json"))
    assert len(parts) == 2 and all('"shards": 2' in p.read_text() for p in parts)


def test_bfpdse_run_dask_prints_the_one_process_numbers(cluster, monkeypatch, capsys):
    import json

    from cli.helpers import run_main

    args = ["run", "--model", "lenet5", "--samples", "150", "--set", "cim.adc=rar",
            "--set", "cim.adc_bits=3", "--json"]  # fmt: skip
    ev._CACHE.clear()
    code, captured = run_main(monkeypatch, capsys, *args, "--dask", cluster.scheduler_address)
    assert code == 0, captured.err
    sharded = json.loads(captured.out)
    ev._CACHE.clear()
    code, captured = run_main(monkeypatch, capsys, *args, "--no-progress")
    one = json.loads(captured.out)
    assert {k: v for k, v in sharded.items() if k not in TIMING} == {
        k: v for k, v in one.items() if k not in TIMING
    }


def test_default_jobs_one_process_per_core_for_real_sweeps():
    from bfpdse.threads import AUTO_PROCESS_SAMPLES, default_jobs

    assert default_jobs(25, 1000, cores=2) == 2
    assert default_jobs(25, 1000, cores=8) == 8
    assert default_jobs(3, 1000, cores=8) == 3  # no idle processes
    assert default_jobs(1, 1000, cores=8) == 1  # one point: bfpdse run's own choice
    assert default_jobs(25, AUTO_PROCESS_SAMPLES - 1, cores=8) == 1  # start-up not repaid
    assert default_jobs(2, AUTO_PROCESS_SAMPLES, cores=2) == 2


def test_a_sweep_without_jobs_runs_a_process_per_core(tmp_path, monkeypatch):
    import json

    import bfpdse.threads

    monkeypatch.setattr(bfpdse.threads, "cpu_cores", lambda: 2)  # as on a 2-core machine
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "name: s\nmodel: lenet5\nsamples: 200\nbase: {cim.adc_bits: 3}\n"
        "sweep:\n  cim.adc: [rar, bfp]\n"
    )
    ev._CACHE.clear()
    auto = run_sweep(spec, out=tmp_path / "auto", progress=False)
    ev._CACHE.clear()
    one = run_sweep(spec, out=tmp_path / "one", jobs=1, progress=False)
    assert auto.complete and one.complete
    runs = {
        name: json.loads((tmp_path / name / "s" / "provenance.json").read_text())["runs"][-1]
        for name in ("auto", "one")
    }
    assert (runs["auto"]["jobs"], runs["auto"]["threads"]) == (2, 1)
    assert (runs["one"]["jobs"], runs["one"]["threads"]) == (1, 2)
    got, want = (
        pd.read_parquet(tmp_path / name / "s" / "results.parquet").drop(columns=RUN_COLUMNS)
        for name in ("auto", "one")
    )
    timing = [c for c in got.columns if c in TIMING]
    pd.testing.assert_frame_equal(got.drop(columns=timing), want.drop(columns=timing))
