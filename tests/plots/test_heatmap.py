"""Heatmaps over two swept settings."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from bfpdse.plots import NotDrawable
from bfpdse.plots.heatmap import _heatmap_info, draw_heatmap, heatmap_axes

from .synth import make_table


def test_axes_prefer_adc_bits_across_and_rows_up():
    assert heatmap_axes(make_table(rows=(64, 128))) == ("cim.adc_bits", "cim.rows")
    df = make_table(schemes=("bfp",), bits=(4,), rows=(64, 128), blocks=(4, 16))
    assert heatmap_axes(df) == ("cim.rows", "cim.block")


def test_axes_need_two_swept_settings():
    with pytest.raises(NotDrawable, match="varies cim.adc_bits"):
        heatmap_axes(make_table())


def test_cells_hold_the_metric_per_scheme():
    df = make_table(schemes=("ideal", "linear", "bfp"), rows=(64, 128, 256), blocks=(4, 16))
    info = _heatmap_info(df, "accuracy_drop")
    assert list(info.panels) == ["linear", "bfp"]  # ideal has no ADC bits
    assert info.held == ["cim.block"]
    linear = info.panels["linear"]
    assert list(linear.index) == [64, 128, 256] and list(linear.columns) == [3, 4, 5, 6]
    sel = df[(df["cim.adc"] == "linear") & (df["cim.rows"] == 128) & (df["cim.adc_bits"] == 5)]
    assert linear.loc[128, 5.0] == pytest.approx(sel["accuracy_drop"].iloc[0])
    bfp = df[(df["cim.adc"] == "bfp") & (df["cim.rows"] == 64) & (df["cim.adc_bits"] == 3)]
    assert info.panels["bfp"].loc[64, 3.0] == pytest.approx(bfp["accuracy_drop"].min())


def test_only_schemes_with_cells_get_a_panel():
    df = make_table(schemes=("rar", "bfp"), rows=(64,), blocks=(4, 16))
    info = _heatmap_info(df, "energy_pj")
    assert (info.x, info.y) == ("cim.adc_bits", "cim.block")
    assert list(info.panels) == ["bfp"]


def test_draw_heatmap_one_image_and_one_label_per_finite_cell():
    df = make_table(schemes=("linear",), rows=(64, 128))
    df = df[~((df["cim.rows"] == 64) & (df["cim.adc_bits"] == 3))]  # one empty cell
    info = _heatmap_info(df, "energy_pj")
    ax = Figure().subplots()
    assert draw_heatmap(info, "linear", ax) is ax
    assert len(ax.images) == 1
    assert len(ax.texts) == 2 * 4 - 1
    grid = ax.images[0].get_array()
    assert np.ma.count_masked(np.ma.masked_invalid(grid)) == 1
    assert ax.get_xlabel() == "ADC bits b" and ax.get_ylabel() == "crossbar rows R"
