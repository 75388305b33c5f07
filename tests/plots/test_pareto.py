"""Pareto front and iso-accuracy selection on hand-made tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from bfpdse.plots.pareto import (
    _pareto_info,
    draw_pareto,
    iso_accuracy,
    pareto_front,
    pareto_mask,
    pareto_summary,
)


def table(rows: list[tuple]) -> pd.DataFrame:
    """(point_id, scheme, energy_pj, accuracy[, status]) -> a minimal result table."""
    out = []
    for r in rows:
        pid, scheme, energy, acc = r[:4]
        status = r[4] if len(r) > 4 else "ok"
        out.append(
            {
                "point_id": pid,
                "status": status,
                "error": None if status == "ok" else "boom",
                "cim.adc": scheme,
                "energy_pj": energy,
                "accuracy": acc,
                "accuracy_ideal": 0.90,
                "accuracy_drop": 0.90 - acc,
            }
        )
    return pd.DataFrame(out)


def brute_force_mask(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    n = len(xs)
    return np.array(
        [
            not any(
                xs[j] <= xs[i] and ys[j] >= ys[i] and (xs[j] < xs[i] or ys[j] > ys[i])
                for j in range(n)
            )
            for i in range(n)
        ],
        dtype=bool,
    )


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=30))
def test_mask_matches_the_definition_of_dominance(pairs):
    xs = np.array([p[0] for p in pairs], dtype=float)
    ys = np.array([p[1] for p in pairs], dtype=float)
    np.testing.assert_array_equal(pareto_mask(xs, ys), brute_force_mask(xs, ys))


def test_front_minimises_energy_and_maximises_accuracy():
    df = table(
        [
            ("a", "linear", 1.0, 0.50),
            ("b", "rar", 2.0, 0.80),
            ("c", "bfp", 3.0, 0.70),  # dominated by b
            ("d", "calibrated", 4.0, 0.85),
            ("e", "calibrated", 4.0, 0.84),  # same energy, lower accuracy: dominated by d
        ]
    )
    front = pareto_front(df)
    assert list(front["point_id"]) == ["a", "b", "d"]


def test_identical_points_are_both_on_the_front():
    df = table([("a", "rar", 2.0, 0.8), ("b", "bfp", 2.0, 0.8), ("c", "linear", 3.0, 0.8)])
    front = pareto_front(df)
    assert sorted(front["point_id"]) == ["a", "b"]


def test_single_point_is_its_own_front():
    info = _pareto_info(table([("a", "bfp", 5.0, 0.7)]))
    assert list(info.front["point_id"]) == ["a"]
    assert info.message is None


def test_all_failed_gives_empty_front_and_says_why():
    df = table([("a", "bfp", np.nan, np.nan, "failed"), ("b", "rar", np.nan, np.nan, "failed")])
    info = _pareto_info(df)
    assert info.front.empty and info.points.empty
    assert "no successful point" in info.message
    assert "2 of 2 points failed" in info.message and "boom" in info.message


def test_nan_metrics_are_left_out():
    df = table([("a", "bfp", np.nan, 0.99), ("b", "rar", 2.0, np.nan), ("c", "linear", 3.0, 0.5)])
    info = _pareto_info(df)
    assert list(info.points["point_id"]) == ["c"]
    assert list(info.front["point_id"]) == ["c"]
    only_nan = _pareto_info(df.iloc[:2])
    assert only_nan.front.empty and "finite" in only_nan.message


def test_a_point_in_two_sweeps_counts_once_and_seeds_are_averaged():
    df = table([("a", "bfp", 2.0, 0.8), ("a", "bfp", 2.0, 0.8)]).assign(sweep=["s1", "s2"])
    assert len(_pareto_info(df).points) == 1
    seeds = table([("a", "bfp", 2.0, 0.8), ("b", "bfp", 2.0, 0.6)]).assign(seed=[0, 1])
    info = _pareto_info(seeds)
    assert len(info.points) == 1
    assert info.points["accuracy"].iloc[0] == pytest.approx(0.7)
    assert info.points["seeds"].iloc[0] == 2


def test_draw_pareto_draws_one_series_per_scheme_plus_the_front():
    df = table(
        [
            ("a", "linear", 1.0, 0.5),
            ("b", "rar", 2.0, 0.8),
            ("c", "bfp", 3.0, 0.7),
            ("d", "bfp", 4.0, 0.85),
        ]
    )
    info = _pareto_info(df)
    ax = Figure().subplots()
    assert draw_pareto(info, ax) is ax
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(scatters) == 3 + 1  # linear, rar, bfp, and the circled front points
    assert len(ax.lines) == 2  # the front and the ideal ADC's accuracy
    # the axis shows 10 points below the ideal 90 %: linear (50 %) and bfp (70 %) sit on the floor
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [80, 80, 85])  # accuracy in %
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [90, 90])
    assert ax.get_ylim()[0] < 80 < 90 < ax.get_ylim()[1] < 91
    assert any("2 points below 80.0 drawn at the floor" in t.get_text() for t in ax.texts)
    assert "%" in ax.get_ylabel() and "J)" in ax.get_xlabel()


def iso_table() -> pd.DataFrame:
    return table(
        [
            ("c1", "calibrated", 10.0, 0.897),  # drop 0.3 points
            ("c2", "calibrated", 8.0, 0.890),  # drop 1 point
            ("r1", "rar", 6.0, 0.896),
            ("r2", "rar", 4.0, 0.8951),  # drop 0.49: the best rar
            ("b1", "bfp", 5.0, 0.895),  # drop exactly 0.5 points: within
            ("l1", "linear", 2.0, 0.80),
        ]
    )


def test_iso_accuracy_picks_the_lowest_energy_point_within_the_budget():
    iso = iso_accuracy(iso_table(), max_drop_points=0.5)
    assert list(iso.best["cim.adc"]) == ["calibrated", "rar", "bfp"]
    assert list(iso.best["point_id"]) == ["c1", "r2", "b1"]
    assert iso.gains == pytest.approx({"calibrated": 1.0, "rar": 10 / 4, "bfp": 10 / 5})
    assert iso.missing == pytest.approx({"linear": 10.0})
    assert any("linear has no point" in n for n in iso.notes)


def test_a_wider_budget_changes_the_choice_and_the_gain():
    iso = iso_accuracy(iso_table(), max_drop_points=1.0)
    best = dict(zip(iso.best["cim.adc"], iso.best["point_id"], strict=True))
    assert best["calibrated"] == "c2"
    assert iso.gains["rar"] == pytest.approx(8 / 4)


def test_no_point_within_the_budget_is_said_plainly():
    iso = iso_accuracy(iso_table(), max_drop_points=0.1)
    assert iso.best.empty
    assert iso.gains == {}
    assert iso.notes[0].startswith("No point meets the budget")
    assert "0.30 points (calibrated)" in iso.notes[0]


def test_without_a_calibrated_point_there_is_no_gain():
    df = iso_table()
    iso = iso_accuracy(df[df["cim.adc"] != "calibrated"], max_drop_points=0.5)
    assert iso.gains == {"rar": None, "bfp": None}
    assert "no calibrated point" in iso.message
    late = iso_accuracy(df[df["point_id"] != "c1"], max_drop_points=0.5)
    assert late.gains["rar"] is None
    assert "calibrated has no point within" in late.message


def test_iso_accuracy_of_an_all_failed_table():
    df = table([("a", "bfp", np.nan, np.nan, "failed")])
    iso = iso_accuracy(df)
    assert iso.best.empty and "no successful point" in iso.message


def test_summary_is_json_ready():
    summary = pareto_summary(iso_table().assign(model="m", dataset="d", samples=100), 0.5)
    text = json.dumps(summary, allow_nan=False)
    back = json.loads(text)
    assert [r["point_id"] for r in back["pareto"]] == ["l1", "r2", "r1", "c1"]
    assert back["gain_over_calibrated"]["rar"] == pytest.approx(2.5)
    assert back["samples"] == [100] and back["failed"] == 0


def with_intervals(df: pd.DataFrame, half: float, samples: int = 1000) -> pd.DataFrame:
    """The drops' 95 % intervals as drop -/+ ``half`` (a fraction), on ``samples`` images."""
    return df.assign(
        accuracy_drop_lo=df["accuracy_drop"] - half,
        accuracy_drop_hi=df["accuracy_drop"] + half,
        samples_used=samples,
    )


def test_a_budget_below_the_resolution_of_the_sample_count_is_said():
    # 100 images: even an unchanged point has an interval of about +-3.6 points
    iso = iso_accuracy(with_intervals(iso_table(), 0.01, samples=100), max_drop_points=0.5)
    assert iso.resolution.images == 100 and iso.resolution.floor_points > 3
    assert any("below the resolution of 100 test images" in n for n in iso.notes)
    assert list(iso.best["point_id"]) == ["c1", "r2", "b1"]  # still chosen by measured drop


def test_a_budget_within_the_sampling_noise_is_said():
    iso = iso_accuracy(with_intervals(iso_table(), 0.008), max_drop_points=0.5)
    assert iso.resolution.interval_points == pytest.approx(0.8)
    assert any("within the sampling noise of 1,000 test images" in n for n in iso.notes)
    wide = iso_accuracy(with_intervals(iso_table(), 0.004), max_drop_points=0.5)
    assert not any("noise" in n or "resolution" in n for n in wide.notes)


def test_rows_without_intervals_are_unknown_not_zero():
    iso = iso_accuracy(iso_table().assign(samples_used=1000), max_drop_points=0.5)
    assert iso.resolution.interval_points is None
    assert any("intervals of the drops are unknown" in n for n in iso.notes)
    summary = pareto_summary(iso_table().assign(samples_used=1000), 0.5)
    assert json.loads(json.dumps(summary, allow_nan=False))["resolution"]["images"] == 1000


def test_draw_pareto_shows_the_intervals_as_error_bars():
    from matplotlib.container import ErrorbarContainer

    info = _pareto_info(with_intervals(iso_table(), 0.005))
    assert "95 % interval" in info.title
    ax = draw_pareto(info, Figure().subplots())
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 4  # one per scheme
    segments = np.concatenate([c.lines[2][0].get_segments() for c in bars])
    np.testing.assert_allclose(sorted(s[1, 1] - s[0, 1] for s in segments), [1.0] * 6)  # points
    plain = draw_pareto(_pareto_info(iso_table()), Figure().subplots())
    assert not plain.containers


def test_pareto_points_are_labelled_with_the_varied_settings():
    df = table([("a", "bfp", 1.0, 0.85), ("b", "bfp", 2.0, 0.88)])
    df["cim.adc_bits"] = [4, 6]
    ax = Figure().subplots()
    draw_pareto(_pareto_info(df), ax)
    labels = sorted(t.get_text() for t in ax.texts)
    assert labels == ["bfp b=4", "bfp b=6"]


def test_log_energy_axis_has_plain_labels():
    df = table([("a", "bfp", 1.0, 0.85), ("b", "rar", 100.0, 0.88)])
    fig = Figure()
    ax = fig.subplots()
    draw_pareto(_pareto_info(df), ax)
    FigureCanvasAgg(fig).draw()
    assert ax.get_xscale() == "log"
    shown = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert shown and all("times" not in t and "^" not in t for t in shown)
