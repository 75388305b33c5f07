"""make_figures: which plots are drawn from which table, and where they are written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bfpdse.plots import PLOTS, make_figures
from bfpdse.plots.breakdown import _breakdown_info

from .synth import make_table


def test_a_rows_by_bits_sweep_draws_all_but_the_block_and_mantissa_plots(tmp_path):
    report = make_figures(make_table(rows=(64, 128)), tmp_path)
    drawn = {p.stem for p in report.written}
    skipped = {"bfp_block_size", "input_mantissa_bits", "accuracy_vs_noise"}
    assert drawn == set(PLOTS) - skipped
    assert set(report.skipped) == skipped
    assert "cim.block" in report.skipped["bfp_block_size"]
    for path in report.written:
        assert path.parent == tmp_path and path.stat().st_size > 1000
    assert {p.suffix for p in report.written} == {".png"}


def test_each_format_is_written(tmp_path):
    formats = ["png", "svg", "pdf"]
    report = make_figures(make_table(), tmp_path, formats, plots=["energy_accuracy_pareto"])
    assert [p.name for p in report.written] == [f"energy_accuracy_pareto.{f}" for f in formats]
    assert all(p.stat().st_size > 1000 for p in report.written)


def test_each_sweep_draws_into_its_own_folder(tmp_path):
    blocks = make_table(schemes=("bfp",), bits=(4,), blocks=(2, 8), mantissas=(np.nan, 3, 5))
    df = pd.concat([make_table().assign(sweep="bits"), blocks.assign(sweep="blocks")])
    plots = ["accuracy_vs_adc_bits", "bfp_block_size", "input_mantissa_bits"]
    report = make_figures(df, tmp_path, plots=plots)
    written = {str(p.relative_to(tmp_path)) for p in report.written}
    assert written == {
        "bits/accuracy_vs_adc_bits.png",
        "blocks/bfp_block_size.png",
        "blocks/input_mantissa_bits.png",
    }
    assert set(report.skipped) == {
        "bits/bfp_block_size",
        "bits/input_mantissa_bits",
        "blocks/accuracy_vs_adc_bits",
    }


def test_an_all_failed_table_draws_nothing_and_says_why(tmp_path):
    report = make_figures(make_table(bits=(3, 4)).assign(status="failed"), tmp_path)
    assert report.written == []
    assert set(report.skipped) == set(PLOTS)
    assert all(
        "no successful point" in why or "needs two" in why for why in report.skipped.values()
    )


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="allowed: png, svg, pdf"):
        make_figures(make_table(), tmp_path, ["jpg"])


def test_a_table_typed_by_the_store_gives_the_same_analysis(tmp_path):
    from bfpdse.plots import iso_accuracy, pareto_front
    from bfpdse.store.read import read_results
    from bfpdse.store.table import build_table, write_table

    df = make_table(rows=(64, 128), blocks=(4, 16), failed=2)
    settings = [c for c in df.columns if c in ("model", "dataset", "samples", "seed") or "." in c]
    metrics = [
        c for c in df.columns if c not in settings and c not in ("point_id", "status", "error")
    ]
    records = [
        {
            "point_id": r["point_id"],
            "status": r["status"],
            "error": r["error"],
            "settings": {k: None if pd.isna(r[k]) else r[k] for k in settings},
            "metrics": {k: r[k] for k in metrics if k != "wall_s"},
            "wall_s": r["wall_s"],
        }
        for _, r in df.iterrows()
    ]
    (tmp_path / "s").mkdir()
    write_table(tmp_path / "s", build_table(records, settings))
    typed = read_results(tmp_path / "s")
    assert str(typed["cim.block"].dtype) in ("Int64", "Float64")  # nullable, as the store writes
    assert list(pareto_front(typed)["point_id"]) == list(pareto_front(df)["point_id"])
    assert iso_accuracy(typed, 1.0).gains == pytest.approx(iso_accuracy(df, 1.0).gains)
    labels = _breakdown_info(typed, 1.0).bars["label"]
    assert list(labels) == list(_breakdown_info(df, 1.0).bars["label"])
    assert not labels.str.contains("NA|nan").any()
    for name, build in PLOTS.items():  # every builder takes the typed table (drawn, not saved)
        if name not in ("input_mantissa_bits", "accuracy_vs_noise"):  # (test_noise_plot.py)
            assert build(typed, 1.0).axes
