"""Energy breakdown: which points become bars, and what is stacked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from bfpdse.plots import NotDrawable, iso_accuracy
from bfpdse.plots.breakdown import _breakdown_info, component_columns, draw_breakdown

from .synth import make_table


def test_component_columns_follow_the_style_order():
    df = pd.DataFrame(columns=["energy_pj", "energy_dac_pj", "energy_zeta_pj", "energy_adc_pj"])
    assert component_columns(df) == ["adc", "dac", "zeta"]


def test_bars_are_the_iso_accuracy_points_then_the_most_accurate_of_the_others():
    df = make_table(bits=(4, 6, 8))
    info = _breakdown_info(df, max_drop_points=1.0)
    iso = iso_accuracy(df, 1.0)
    assert list(info.bars["scheme"]) == ["ideal", "linear", "calibrated", "rar", "bfp"]
    assert set(iso.best["cim.adc"]) == {"ideal", "calibrated", "rar", "bfp"}
    # linear meets no budget: its most accurate point is shown and marked
    linear = info.bars[info.bars["scheme"] == "linear"].iloc[0]
    assert linear["label"].endswith("(*)")
    best_linear = df[df["cim.adc"] == "linear"].sort_values("accuracy").iloc[-1]
    assert linear["adc"] == best_linear["energy_adc_pj"]
    rar = info.bars[info.bars["scheme"] == "rar"].iloc[0]
    chosen = iso.best[iso.best["cim.adc"] == "rar"].iloc[0]
    assert rar["adc"] == chosen["energy_adc_pj"] and "(*)" not in rar["label"]


def test_components_sum_to_the_total_and_a_remainder_becomes_other():
    df = make_table(schemes=("calibrated", "bfp"), bits=(8,))
    info = _breakdown_info(df)
    assert "other" not in info.components
    assert "bfp_logic" in info.components  # nonzero for bfp only, kept
    totals = info.bars[info.components].sum(axis=1).to_numpy()
    np.testing.assert_allclose(totals, df.sort_values("cim.adc", ascending=False)["energy_pj"])
    short = df.assign(energy_pj=df["energy_pj"] + 100.0)
    info = _breakdown_info(short)
    assert info.components[-1] == "other"
    np.testing.assert_allclose(info.bars["other"], 100.0)


def test_chosen_point_ids():
    df = make_table(schemes=("rar",))
    ids = list(df["point_id"].iloc[[2, 0]])
    info = _breakdown_info(df, point_ids=ids)
    assert len(info.bars) == 2
    assert info.bars["adc"].iloc[0] == df["energy_adc_pj"].iloc[2]
    with pytest.raises(ValueError, match="not successful points"):
        _breakdown_info(df, point_ids=["nope"])


def test_not_drawable_without_components_or_points():
    df = make_table(schemes=("rar",))
    with pytest.raises(NotDrawable, match="energy_<component>_pj"):
        _breakdown_info(df.drop(columns=[c for c in df if c.endswith("_pj") and c != "energy_pj"]))
    with pytest.raises(NotDrawable, match="no successful point"):
        _breakdown_info(df.assign(status="failed"))


def test_draw_breakdown_stacks_one_patch_per_point_and_component():
    info = _breakdown_info(make_table(bits=(4, 8)))
    ax = Figure().subplots()
    assert draw_breakdown(info, ax) is ax
    assert len(ax.patches) == len(info.bars) * len(info.components)
    assert len(ax.containers) == len(info.components)
    tops = np.sum([[p.get_height() for p in c.patches] for c in ax.containers], axis=0)
    factor = 1e-3 if "nJ" in ax.get_ylabel() else 1.0
    np.testing.assert_allclose(tops, info.bars[info.components].sum(axis=1) * factor)
