"""run_sweep in this process: table contents, resume, failures, fail-fast, lock, spec guard."""

import json

import pandas as pd
import pytest
from fakes import failing_evaluate, fake_evaluate

from bfpdse.errors import BfpdseError, StoreError
from bfpdse.run import run_sweep
from bfpdse.spec import load_spec
from bfpdse.store import SweepFolder

from .helpers import calls, sweep_file, table


@pytest.fixture
def counted(tmp_path, monkeypatch):
    """A file that the fake evaluators append each evaluated point id to."""
    path = tmp_path / "calls.txt"
    monkeypatch.setenv("BFPDSE_FAKE_CALLS", str(path))
    return path


def test_sweep_writes_one_row_per_point_with_settings_and_metrics(tmp_path, counted):
    spec = load_spec(sweep_file(tmp_path))
    summary = run_sweep(spec, out=tmp_path / "out", evaluate=fake_evaluate, progress=False)
    assert (summary.points, summary.ran, summary.ok, summary.failed) == (12, 12, 12, 0)
    assert summary.complete
    df = pd.read_parquet(summary.parquet)
    csv = pd.read_csv(summary.table)
    assert sorted(calls(counted)) == sorted(spec.point_ids)
    assert list(csv["point_id"]) == list(df["point_id"]) == list(spec.point_ids)
    for i, point in enumerate(spec.points):
        row = df.iloc[i]
        for key, value in point.settings().items():
            if value is None:
                assert pd.isna(row[key])
            elif isinstance(value, dict):
                assert json.loads(row[key]) == value
            else:
                assert row[key] == value
        for key, value in fake_evaluate(point).items():
            assert row[key] == pytest.approx(value)
        assert row["wall_s"] >= 0
        assert row["finished"] >= row["started"]
    folder = summary.folder
    assert (folder / "spec.yaml").read_text() == spec.text
    prov = json.loads((folder / "provenance.json").read_text())
    assert prov["packages"]["numpy"] and prov["python"] and prov["host"]
    assert prov["runs"][0]["ran"] == 12 and prov["runs"][0]["finished"]


def test_second_run_resumes_without_recomputing(tmp_path, counted):
    path = sweep_file(tmp_path)
    first = run_sweep(path, out=tmp_path / "out", evaluate=fake_evaluate, progress=False)
    before = table(tmp_path / "out")
    counted.unlink()
    prov_before = (first.folder / "provenance.json").read_bytes()
    again = run_sweep(path, out=tmp_path / "out", evaluate=fake_evaluate, progress=False)
    assert again.ran == 0 and again.skipped == first.points
    assert calls(counted) == []
    pd.testing.assert_frame_equal(table(tmp_path / "out"), before)
    # nothing ran: provenance still credits the run that made the rows, not this code
    assert (again.folder / "provenance.json").read_bytes() == prov_before
    assert len(json.loads(prov_before)["runs"]) == 1


def test_failed_points_become_rows_and_are_retried(tmp_path, counted):
    path = sweep_file(tmp_path)
    out = tmp_path / "out"
    summary = run_sweep(path, out=out, evaluate=failing_evaluate, progress=False)
    assert (summary.ok, summary.failed, summary.ran) == (10, 2, 12)  # adc_bits=3, two schemes
    assert not summary.complete
    df = pd.read_parquet(summary.parquet)
    failed = df[df["status"] == "failed"]
    assert list(failed["cim.adc_bits"]) == [3, 3]
    assert all(e == "RuntimeError: fake failure at cim.adc_bits=3" for e in failed["error"])
    assert failed["accuracy"].isna().all()
    assert (df.loc[df["status"] == "ok", "error"] == "").all()
    assert [pid for pid, _ in summary.failures] == list(failed["point_id"])
    # the part keeps the traceback for debugging
    part = json.loads((summary.folder / "parts" / f"{failed.iloc[0]['point_id']}.json").read_text())
    assert "Traceback" in part["traceback"]
    counted.unlink()
    retry = run_sweep(path, out=out, evaluate=fake_evaluate, progress=False)
    assert retry.ran == 2 and retry.complete
    assert sorted(calls(counted)) == sorted(failed["point_id"])
    assert len(pd.read_parquet(retry.parquet)) == 12


def test_fail_fast_stops_at_the_first_failure(tmp_path, counted):
    summary = run_sweep(
        sweep_file(tmp_path),
        out=tmp_path / "out",
        evaluate=failing_evaluate,
        fail_fast=True,
        progress=False,
    )
    # the first point (rar, 3 bits) fails; nothing after it runs
    assert summary.stopped
    assert (summary.ran, summary.ok, summary.failed, summary.missing) == (1, 0, 1, 11)
    assert len(calls(counted)) == 1
    assert len(pd.read_csv(summary.table)) == 1


def test_a_locked_folder_gets_a_store_error(tmp_path):
    path = sweep_file(tmp_path)
    with SweepFolder(tmp_path / "out" / "s").lock():
        with pytest.raises(StoreError, match="in use by another sweep"):
            run_sweep(path, out=tmp_path / "out", evaluate=fake_evaluate, progress=False)


def test_changed_spec_is_refused_unless_fresh(tmp_path, counted):
    path = sweep_file(tmp_path)
    out = tmp_path / "out"
    run_sweep(path, out=out, evaluate=fake_evaluate, progress=False)
    path.write_text(path.read_text().replace("[rar, bfp]", "[rar, linear]"))
    with pytest.raises(StoreError, match="different spec"):
        run_sweep(path, out=out, evaluate=fake_evaluate, progress=False)
    assert len(table(out)) == 12  # untouched
    counted.unlink()
    summary = run_sweep(path, out=out, evaluate=fake_evaluate, fresh=True, progress=False)
    assert summary.ran == 12 and summary.complete
    assert set(table(out)["cim.adc"]) == {"rar", "linear"}
    assert len(list((out / "s" / "parts").iterdir())) == 12


def test_set_overrides_change_the_spec(tmp_path):
    path = sweep_file(tmp_path)
    out = tmp_path / "out"
    run_sweep(path, out=out, evaluate=fake_evaluate, progress=False, overrides=["samples=4"])
    assert set(table(out)["samples"]) == {4}
    assert "# --set samples=4" in (out / "s" / "spec.yaml").read_text()
    with pytest.raises(StoreError, match="different spec"):
        run_sweep(path, out=out, evaluate=fake_evaluate, progress=False)


def test_bad_jobs_and_missing_dask_are_user_errors(tmp_path, monkeypatch):
    path = sweep_file(tmp_path)
    with pytest.raises(BfpdseError, match="--jobs 0"):
        run_sweep(path, out=tmp_path / "out", jobs=0, evaluate=fake_evaluate, progress=False)
    monkeypatch.setitem(__import__("sys").modules, "distributed", None)  # import fails
    with pytest.raises(BfpdseError, match=r"bfpdse\[dask\]"):
        run_sweep(
            path,
            out=tmp_path / "out",
            dask="tcp://127.0.0.1:1",
            evaluate=fake_evaluate,
            progress=False,
        )


def test_changed_model_file_recomputes_its_points(tmp_path, counted):
    import shutil

    import onnx

    from bfpdse.nn.zoo import zoo_path

    model = tmp_path / "m.onnx"
    shutil.copy(zoo_path("lenet5"), model)
    spec = tmp_path / "s.yaml"
    spec.write_text(f"name: s\nmodel: {model}\nsweep:\n  cim.adc: [ideal, rar]\n")
    out = tmp_path / "out"
    run_sweep(spec, out=out, evaluate=fake_evaluate, progress=False)
    again = run_sweep(spec, out=out, evaluate=fake_evaluate, progress=False)
    assert again.ran == 0
    proto = onnx.load(str(model))  # "retrain": any change of the file's bytes
    entry = proto.metadata_props.add()
    entry.key, entry.value = "retrained", "yes"
    onnx.save(proto, str(model))
    counted.unlink()
    third = run_sweep(spec, out=out, evaluate=fake_evaluate, progress=False)
    assert third.ran == 2 and third.skipped == 0 and len(calls(counted)) == 2
    parts = [json.loads(p.read_text()) for p in (third.folder / "parts").glob("*.json")]
    from bfpdse.versions import identity

    assert all(p["identity"] == identity({"model": str(model)}) for p in parts)


def test_missing_model_stops_before_anything_is_written(tmp_path):
    from bfpdse.errors import ModelError

    spec = tmp_path / "s.yaml"
    spec.write_text(f"name: s\nmodel: {tmp_path / 'gone.onnx'}\nsweep:\n  cim.adc: [ideal]\n")
    with pytest.raises(ModelError, match="gone.onnx: no such model file"):
        run_sweep(spec, out=tmp_path / "out", evaluate=fake_evaluate, progress=False)
    assert not (tmp_path / "out").exists()
