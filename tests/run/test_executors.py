"""The same sweep through a process pool and through a real Dask LocalCluster on loopback."""

import pandas as pd
import pytest
from fakes import failing_evaluate, fake_evaluate, threads_evaluate

from bfpdse.errors import BfpdseError
from bfpdse.run import run_sweep
from bfpdse.threads import THREAD_VARS, cpu_cores, plan_threads

from .helpers import sweep_file, table


@pytest.fixture
def reference(tmp_path):
    """The table of an in-process run of the sweep."""
    path = sweep_file(tmp_path)
    run_sweep(path, out=tmp_path / "inline", evaluate=fake_evaluate, progress=False)
    return path, table(tmp_path / "inline")


def test_threads_times_processes_fit_the_cores():
    assert plan_threads(1, cores=8) == 8
    assert plan_threads(2, cores=8) == 4
    assert plan_threads(3, cores=8) == 2
    assert plan_threads(16, cores=8) == 1
    for jobs in range(1, 9):
        assert plan_threads(jobs, cores=8) * jobs <= 8


def test_process_pool_gives_the_same_table_within_the_cores(tmp_path, reference):
    path, want = reference
    summary = run_sweep(
        path, out=tmp_path / "pool", jobs=2, evaluate=threads_evaluate, progress=False
    )
    assert summary.complete
    got = table(tmp_path / "pool")
    # each of the 2 workers was capped so that threads x processes <= cores
    assert (got["numba_threads"] == plan_threads(2)).all()
    assert (got["numba_threads"] * 2 <= cpu_cores()).all() or cpu_cores() < 2
    pd.testing.assert_frame_equal(got.drop(columns="numba_threads"), want)


def test_pool_needs_an_importable_evaluate(tmp_path):
    with pytest.raises(BfpdseError, match="cannot be sent to worker processes"):
        run_sweep(
            sweep_file(tmp_path),
            out=tmp_path / "out",
            jobs=2,
            evaluate=lambda point, progress=None: {},
            progress=False,
        )


def test_dask_local_cluster(tmp_path, reference, monkeypatch):
    from distributed import LocalCluster

    path, want = reference
    for var in THREAD_VARS:  # the in-process worker caps threads through these
        monkeypatch.setenv(var, "1")
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        summary = run_sweep(
            path, out=tmp_path / "dask", dask=address, evaluate=fake_evaluate, progress=False
        )
        failing = run_sweep(
            path,
            out=tmp_path / "dask_fail",
            dask=address,
            evaluate=failing_evaluate,
            progress=False,
        )
    assert summary.complete
    pd.testing.assert_frame_equal(table(tmp_path / "dask"), want)
    assert (failing.ok, failing.failed) == (10, 2)
    df = table(tmp_path / "dask_fail")
    assert set(df.loc[df["status"] == "failed", "cim.adc_bits"]) == {3}


def test_dask_scheduler_without_workers_is_reported_before_writing(
    tmp_path, reference, monkeypatch
):
    from distributed import LocalCluster

    from bfpdse.run import dask as rdask

    monkeypatch.setattr(rdask, "WORKER_TIMEOUT_S", 2)
    path, _ = reference
    with LocalCluster(
        n_workers=0, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address=None
    ) as cluster:
        with pytest.raises(BfpdseError, match="the scheduler has no workers"):
            run_sweep(path, out=tmp_path / "o", dask=cluster.scheduler_address,
                      evaluate=fake_evaluate, progress=False)  # fmt: skip
    assert not (tmp_path / "o").exists()


def test_dask_bad_address_is_one_error_before_writing(tmp_path, reference, monkeypatch):
    from bfpdse.run import dask as rdask

    monkeypatch.setattr(rdask, "CONNECT_TIMEOUT_S", 2)
    path, _ = reference
    with pytest.raises(BfpdseError, match="cannot reach a Dask scheduler there"):
        run_sweep(path, out=tmp_path / "o", dask="tcp://127.0.0.1:1", evaluate=fake_evaluate,
                  progress=False)  # fmt: skip
    assert not (tmp_path / "o").exists()
