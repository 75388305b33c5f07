"""The result store: atomic parts, torn-part tolerance, the table schema, lock, spec guard."""

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from fakes import fake_evaluate

from bfpdse.errors import StoreError
from bfpdse.run.local import run_point
from bfpdse.spec import load_spec
from bfpdse.store import SweepFolder
from bfpdse.store.parts import atomic_write_text, read_parts, write_part
from bfpdse.store.schema import COLUMNS, ID_COLUMNS, METRIC_COLUMNS, RUN_COLUMNS
from bfpdse.store.table import build_table


def make_spec(tmp_path: Path, adcs: str = "[rar, bfp]", name: str = "s") -> object:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nmodel: lenet5\nsamples: 8\nsweep:\n  cim.adc: {adcs}\n"
        "  cim.adc_bits: [4, 5]\n"
    )
    return load_spec(path)


def records(spec):
    return [run_point(fake_evaluate, p.point_id, p.settings()) for p in spec.points]


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "f.json"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]

    def boom(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    from bfpdse.store.parts import atomic_write

    with pytest.raises(RuntimeError):
        atomic_write(path, boom)
    assert path.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_readers_skip_torn_temporary_and_stray_parts(tmp_path):
    spec = make_spec(tmp_path)
    good = records(spec)[:2]
    for r in good:
        write_part(tmp_path, r)
    parts = tmp_path / "parts"
    (parts / "0123456789abcdef.json").write_text('{"point_id": "0123456789abcdef", "sta')
    (parts / f".{good[0]['point_id']}.json.x1.tmp").write_text(json.dumps(good[0]))
    (parts / "ffffffffffffffff.json").write_text(json.dumps(good[1]))  # id does not match name
    (parts / "notes.txt").write_text("hello")
    assert set(read_parts(tmp_path)) == {r["point_id"] for r in good}


def test_table_has_one_typed_row_per_point_in_spec_order(tmp_path):
    spec = make_spec(tmp_path)
    recs = records(spec)
    recs[1] = {**recs[1], "status": "failed", "error": "RuntimeError: x", "metrics": {}}
    recs[2]["metrics"]["extra_metric"] = 7
    settings = list(spec.points[0].settings())
    df = build_table(reversed(recs), settings, spec.point_ids)
    assert list(df["point_id"]) == list(spec.point_ids)
    ids = [c.name for c in ID_COLUMNS]
    metrics = [c.name for c in METRIC_COLUMNS]
    run = [c.name for c in RUN_COLUMNS]
    assert list(df.columns) == ids + settings + metrics + ["extra_metric"] + run
    for name in ids + metrics + ["wall_s"]:
        assert str(df[name].dtype) == COLUMNS[name].dtype, name
    for name in ("started", "finished"):
        assert isinstance(df[name].dtype, pd.DatetimeTZDtype) and str(df[name].dt.tz) == "UTC"
    assert str(df["cim.adc_bits"].dtype) == "Int64"
    assert str(df["cim.input_mantissa_bits"].dtype) == "Int64"  # all None: from the annotation
    assert df.loc[1, "status"] == "failed" and df.loc[1, "error"] == "RuntimeError: x"
    assert pd.isna(df.loc[1, "accuracy"])
    want = fake_evaluate(spec.points[0])
    assert df.loc[0, "accuracy"] == pytest.approx(want["accuracy"])
    assert df.loc[0, "cim.adc"] == spec.points[0].settings()["cim.adc"]


def test_lock_refuses_a_second_writer(tmp_path):
    folder = SweepFolder(tmp_path / "s")
    with folder.lock():
        with pytest.raises(StoreError) as info:
            with SweepFolder(tmp_path / "s").lock():
                pass
        message = str(info.value)
        assert str(tmp_path / "s") in message
        assert f"pid {os.getpid()}" in message
    with folder.lock():  # released
        pass


def test_prepare_refuses_a_different_spec_unless_fresh(tmp_path):
    spec_a = make_spec(tmp_path, "[rar, bfp]")
    spec_b = make_spec(tmp_path, "[rar, linear]")
    folder = SweepFolder(tmp_path / "out" / "s")
    with folder.lock():
        folder.prepare(spec_a)
        for r in records(spec_a):
            folder.write_part(r)
        folder.prepare(spec_a)  # same spec: fine
        with pytest.raises(StoreError, match="different spec.*--fresh"):
            folder.prepare(spec_b)
        assert len(folder.parts()) == len(spec_a.points)
        folder.prepare(spec_b, fresh=True)
        assert folder.parts() == {}
        assert folder.stored_hash() == spec_b.spec_hash
        assert "linear" in (folder.root / "spec.yaml").read_text()


def test_prepare_refuses_a_folder_that_is_not_ours(tmp_path):
    spec = make_spec(tmp_path)
    root = tmp_path / "out" / "s"
    root.mkdir(parents=True)
    (root / "thesis.tex").write_text("precious")
    folder = SweepFolder(root)
    with folder.lock():
        with pytest.raises(StoreError, match="not bfpdse results"):
            folder.prepare(spec, fresh=True)
    assert (root / "thesis.tex").read_text() == "precious"


def test_metrics_of_every_kind_keep_their_types(tmp_path):
    # what bfpdse.evaluate returns besides numbers: flags, names, infinities, its own wall_s
    spec = make_spec(tmp_path)
    recs = records(spec)[:2]
    for r in recs:
        r["metrics"].update(
            sqnr_db=float("inf"),
            adc_extrapolated=True,
            energy_preset="isaac",
            hwcomponents_version="1.0.1",
            wall_s=1e9,  # a metric may not replace the run's own timing
        )
    df = build_table(recs, list(spec.points[0].settings()), spec.point_ids)
    assert df["sqnr_db"].tolist() == [float("inf")] * 2
    assert str(df["adc_extrapolated"].dtype) == "boolean" and df["adc_extrapolated"].all()
    assert df["energy_preset"].tolist() == ["isaac"] * 2
    assert df["hwcomponents_version"].tolist() == ["1.0.1"] * 2
    assert (df["wall_s"] < 1e9).all()
    assert list(df.columns).count("wall_s") == 1
    from bfpdse.store.table import write_table

    parquet, csv = write_table(tmp_path, df)
    back = pd.read_parquet(parquet)
    pd.testing.assert_frame_equal(back, df)
    assert len(pd.read_csv(csv)) == 2


def test_damaged_parts_are_set_aside_and_their_points_rerun(tmp_path):
    import json as _json

    from fakes import fake_evaluate

    from bfpdse.run import run_sweep

    spec = tmp_path / "d.yaml"
    spec.write_text("name: d\nmodel: lenet5\nsweep:\n  cim.adc: [ideal, rar, bfp]\n")
    first = run_sweep(spec, out=tmp_path / "out", evaluate=fake_evaluate, progress=False)
    parts = sorted((first.folder / "parts").glob("*.json"))
    bad_metrics = _json.loads(parts[0].read_text())
    bad_metrics["metrics"]["accuracy"] = "garbage"  # valid JSON, wrong type
    parts[0].write_text(_json.dumps(bad_metrics))
    empty = _json.loads(parts[1].read_text())
    empty["metrics"] = {}  # marked ok with no metrics
    parts[1].write_text(_json.dumps(empty))
    parts[2].write_text("{ torn")
    again = run_sweep(spec, out=tmp_path / "out", evaluate=fake_evaluate, progress=False)
    assert again.ran == 3 and again.ok == 3
    damaged = sorted(p.name for p in (first.folder / "parts" / "damaged").iterdir())
    assert damaged == sorted(p.name for p in parts)
    import pandas as pd

    df = pd.read_parquet(again.parquet)
    assert len(df) == 3 and df["accuracy"].notna().all()


def test_an_edited_spec_copy_is_noticed(tmp_path):
    from fakes import fake_evaluate

    from bfpdse.errors import StoreError
    from bfpdse.run import run_sweep

    spec = tmp_path / "e.yaml"
    spec.write_text("name: e\nmodel: lenet5\nsweep:\n  cim.adc: [ideal, rar]\n")
    first = run_sweep(spec, out=tmp_path / "out", evaluate=fake_evaluate, progress=False)
    copy = first.folder / "spec.yaml"
    copy.write_text(copy.read_text().replace("rar", "bfp"))
    with pytest.raises(StoreError, match="spec.yaml was edited after the sweep wrote it"):
        run_sweep(spec, out=tmp_path / "out", evaluate=fake_evaluate, progress=False)
