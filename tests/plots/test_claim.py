"""The claim check: exact re-pricing from a row's columns and the break-even per-bit factor."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bfpdse.energy import EnergyConfig, converter
from bfpdse.plots.claim import FACTORS, Repricer, adc_pj, break_even, break_evens

E = {b: converter(b, "default", 32.0, 1.28e9).energy_pj for b in range(1, 10)}
CONV = 1000.0  # conversions per inference
OTHER = 500.0  # pJ of every other component


def _row(scheme: str, bits: int, drop: float, search: str = "flash", **extra) -> dict:
    adc = CONV * E[bits]
    return {
        "cim.adc": scheme,
        "cim.adc_bits": bits,
        "cim.rows": 128,
        "energy.preset": "default",
        f"energy.{scheme}_search": search,
        "adc_bits_priced": bits,
        "energy_adc_pj": adc,
        "energy_exponent_search_pj": 0.0,
        "energy_pj": adc + OTHER,
        "accuracy": 0.9 - drop,
        "accuracy_drop": drop,
        "status": "ok",
        "point_id": f"{scheme}{bits}",
        **extra,
    }


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        [
            _row("calibrated", 6, 0.004),
            _row("calibrated", 5, 0.02),  # outside the 0.5-point budget
            _row("bfp", 3, 0.003),
        ]
    )


def test_repricing_at_the_tables_own_slope_gives_its_energy_back() -> None:
    """With E(b) taken from the preset itself the re-priced energy is the row's, for r where
    r^(b - b0) = E(b) / E(b0): check the anchor row (b = b0) at any factor."""
    df = _table()
    pricer = Repricer.of(df, anchor_bits=6)
    for r in (1.0, 1.5, 3.0):
        assert pricer.energy(r)[0] == pytest.approx(df["energy_pj"][0], rel=1e-12)
    # the 3-bit row at r = 2: E(6) * 2^-3 per conversion
    assert pricer.energy(2.0)[2] == pytest.approx(OTHER + CONV * E[6] / 8, rel=1e-12)


def test_break_even_solves_the_gain_equation() -> None:
    """gain(r) = (CONV E6 + OTHER) / (CONV E6 r^-3 + OTHER) = 1.81 -> r = (x)^(-1/3)."""
    be = break_even(_table(), "bfp", target=1.81)
    total = CONV * E[6] + OTHER
    x = (total / 1.81 - OTHER) / (CONV * E[6])  # r^-3
    exact = x ** (-1 / 3)
    assert be.anchor_bits == 6
    assert be.factor == pytest.approx(exact, abs=0.011)  # FACTORS step is 0.01
    assert be.factor >= exact - 1e-9  # the first factor on the grid that reaches the target
    assert be.preset_slope == pytest.approx(E[7] / E[6])


def test_a_cycle_priced_search_scales_with_the_full_resolution_converter() -> None:
    """A sequential bfp search costs a share of E(F): steeper slopes make it dearer."""
    row = _row("bfp", 3, 0.003, search="sequential", energy_exponent_search_pj=300.0)
    row["energy_pj"] += 300.0
    pricer = Repricer.of(pd.DataFrame([row]), anchor_bits=6)
    f = 9  # 128 rows, 2-bit cells, 1-bit DAC
    e9 = adc_pj(pd.Series(row), f)
    assert pricer.search[0] == pytest.approx(300.0 / e9)
    assert pricer.energy(2.0)[0] == pytest.approx(OTHER + CONV * E[6] / 8 + 300.0 / e9 * E[6] * 8)


def test_never_reached_is_said_with_the_gains_seen() -> None:
    df = pd.DataFrame([_row("calibrated", 4, 0.0), _row("bfp", 5, 0.0)])
    be = break_even(df, "bfp")
    assert be.factor is None and be.gain_at_max < 1.0
    assert be.gain_at_flat == pytest.approx(1.0)  # a flat ADC: 4 and 5 bits cost the same
    assert "at no per-bit ADC energy factor" in be.sentence()


def test_break_evens_cover_every_range_aware_scheme_with_a_point() -> None:
    df = pd.concat([_table(), pd.DataFrame([_row("rar", 4, 0.002), _row("linear", 8, 0.3)])])
    evens = break_evens(df)
    assert [e.scheme for e in evens] == ["bfp", "rar"]  # linear is not range-aware
    assert FACTORS[0] == 1.0 and FACTORS[-1] == 4.0


def test_user_table_and_overrides_are_read_from_the_row() -> None:
    row = pd.Series({"energy.preset": "table", "energy.adc_table": {5: 0.25, 9: 4.0}})
    assert adc_pj(row, 5) == 0.25
    assert adc_pj(pd.Series({"energy.overrides": '{"adc": 0.7}'}), 3) == 0.7
    assert EnergyConfig(preset="table", adc_table={5: 0.25}).table_entries() == ((5, 0.25, None),)
    assert np.isfinite(adc_pj(pd.Series({}), 6))


def test_pareto_by_preset_prints_the_break_even(tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from bfpdse.cli import app

    df = pd.concat([_table(), _table().assign(**{"energy.preset": "isaac"})])
    df = df.assign(accuracy_ideal=0.9, samples_used=1000, model="resnet20", dataset="fm")
    (tmp_path / "claim").mkdir()
    df.to_csv(tmp_path / "claim" / "results.csv", index=False)
    runner = CliRunner()
    got = runner.invoke(app, ["pareto", str(tmp_path / "claim"), "--by", "energy.preset", "--json"])
    assert got.exit_code == 0, got.output
    contexts = json.loads(got.stdout)["contexts"]
    assert [c["by"] for c in contexts] == [{"energy.preset": "default"}, {"energy.preset": "isaac"}]
    assert all(c["break_even"][0]["scheme"] == "bfp" for c in contexts)
    text = " ".join(
        runner.invoke(
            app, ["pareto", str(tmp_path / "claim"), "--by", "energy.preset"]
        ).stdout.split()
    )
    assert "energy.preset = isaac" in text and "Break-even: bfp reaches 1.81×" in text
    bad = runner.invoke(app, ["pareto", str(tmp_path / "claim"), "--by", "nope"])
    assert bad.exit_code == 2 and "has no column 'nope'" in " ".join(bad.output.split())


def test_by_a_collapsed_setting_keeps_the_points_it_cannot_affect(tmp_path) -> None:
    """--by energy.bfp_search: calibrated rows (search collapsed, empty) are in every group."""
    import json

    from typer.testing import CliRunner

    from bfpdse.cli import app

    rows = [_row("calibrated", 6, 0.004), _row("bfp", 3, 0.003, search="flash")]
    slow = _row("bfp", 3, 0.003, search="sequential", point_id="bfp3s")
    slow["energy_pj"] += 1000.0
    df = pd.DataFrame([*rows, slow]).assign(accuracy_ideal=0.9, samples_used=1000)
    df.loc[df["cim.adc"] == "calibrated", "energy.bfp_search"] = None
    (tmp_path / "t").mkdir()
    df.to_csv(tmp_path / "t" / "results.csv", index=False)
    got = CliRunner().invoke(
        app, ["pareto", str(tmp_path / "t"), "--by", "energy.bfp_search", "--json"]
    )
    assert got.exit_code == 0, got.output
    contexts = json.loads(got.stdout)["contexts"]
    assert [c["by"]["energy.bfp_search"] for c in contexts] == ["flash", "sequential"]
    gains = [c["gain_over_calibrated"]["bfp"] for c in contexts]
    assert gains[0] > gains[1] > 0  # both groups hold the calibrated baseline
