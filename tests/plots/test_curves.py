"""Curve plots: accuracy vs ADC bits, bfp block size, input mantissa bits."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from bfpdse.plots import NotDrawable
from bfpdse.plots.curves import _bits_info, _block_info, _mantissa_info, draw_curves

from .synth import make_table


def test_bits_info_one_line_per_scheme_with_the_most_accurate_design():
    df = make_table(rows=(64, 128))
    info = _bits_info(df)
    assert info.keys() == ["linear", "calibrated", "rar", "bfp"]  # ideal has no ADC bits
    assert info.held == ["cim.rows"]
    rar = info.lines[info.lines["line"] == "rar"]
    assert list(rar["cim.adc_bits"]) == [3, 4, 5, 6]
    for _, point in rar.iterrows():
        same = df[(df["cim.adc"] == "rar") & (df["cim.adc_bits"] == point["cim.adc_bits"])]
        assert point["accuracy"] == same["accuracy"].max()
    assert info.references == pytest.approx({"float": 0.92, "ideal": 0.915})


def test_bits_info_needs_two_bit_widths():
    with pytest.raises(NotDrawable, match="cim.adc_bits takes fewer than two values"):
        _bits_info(make_table(bits=(4,)))


def test_bits_info_of_an_all_failed_table():
    df = make_table(bits=(3, 4))
    df["status"] = "failed"
    with pytest.raises(NotDrawable, match="no successful point"):
        _bits_info(df)


def test_seeds_are_averaged():
    info = _bits_info(make_table(schemes=("rar",), seeds=(0, 1)))
    one = make_table(schemes=("rar",), seeds=(0,))
    expected = one["accuracy"].to_numpy() + 0.0005  # synth adds 0.001 per seed
    np.testing.assert_allclose(info.lines["accuracy"], expected)
    assert (info.lines["seeds"] == 2).all()


def test_draw_bits_curves_counts_lines():
    info = _bits_info(make_table())
    ax = Figure().subplots()
    assert draw_curves(info, ax, "accuracy") is ax
    assert len(ax.lines) == 4 + 2  # four schemes, float and ideal references
    ax = draw_curves(info, Figure().subplots(), "accuracy_drop")
    assert len(ax.lines) == 4 + 1  # four schemes, the zero line of the ideal ADC
    assert ax.get_ylabel() == "accuracy drop vs ideal ADC (points)"


def test_block_info_lines_per_adc_bits():
    df = make_table(schemes=("rar", "bfp"), bits=(4, 5), blocks=(2, 8, 32))
    info = _block_info(df)
    assert info.line_by == "cim.adc_bits"
    assert info.keys() == [4.0, 5.0]
    assert sorted(info.lines["cim.block"].unique()) == [2, 8, 32]
    ax = draw_curves(info, Figure().subplots(), "energy_pj")
    assert len(ax.lines) == 2
    assert ax.get_xscale() == "log"  # 2 .. 32 spans 16x


def test_block_info_needs_bfp_with_two_block_sizes():
    with pytest.raises(NotDrawable, match=r"no point of a scheme with blocks \(bfp\)"):
        _block_info(make_table(schemes=("rar",)))
    with pytest.raises(NotDrawable, match="cim.block"):
        _block_info(make_table(schemes=("bfp",), blocks=(8,)))


def test_mantissa_info_draws_the_off_design_as_a_baseline():
    df = make_table(schemes=("calibrated", "bfp"), bits=(4,), mantissas=(np.nan, 2, 4, 6))
    info = _mantissa_info(df)
    assert info.keys() == ["calibrated", "bfp"]
    assert sorted(info.lines["cim.input_mantissa_bits"].unique()) == [2, 4, 6]
    assert list(info.baselines["line"]) == ["calibrated", "bfp"]
    ax = draw_curves(info, Figure().subplots(), "accuracy")
    assert len(ax.lines) == 2 + 2 + 2  # curves, dashed 'off' baselines, references


def test_curves_show_the_drop_interval_as_error_bars():
    from matplotlib.container import ErrorbarContainer

    from bfpdse.plots._table import interval_errors

    df = make_table(schemes=("rar", "bfp"), bits=(4, 5))
    df = df.assign(accuracy_drop_lo=df["accuracy_drop"] - 0.002,
                   accuracy_drop_hi=df["accuracy_drop"] + 0.006)  # fmt: skip
    info = _bits_info(df)
    for metric, (below, above) in (("accuracy_drop", (0.2, 0.6)), ("accuracy", (0.6, 0.2))):
        ax = draw_curves(info, Figure().subplots(), metric)
        bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        assert len(bars) == 2  # one per scheme
        seg = bars[0].lines[2][0].get_segments()[0]
        first = info.lines[info.lines["line"] == info.keys()[0]].sort_values("cim.adc_bits")
        y = first[metric].iloc[0] * 100
        assert (y - seg[0, 1], seg[1, 1] - y) == pytest.approx((below, above))
    assert interval_errors(df, "energy_pj") is None
    old = draw_curves(_bits_info(make_table()), Figure().subplots(), "accuracy")
    assert not old.containers  # tables made before intervals: no bars
