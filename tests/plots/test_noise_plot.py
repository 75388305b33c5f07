"""The accuracy-vs-noise plot: what it draws from a noise sweep's table, and ``bfpdse plot`` on
a real noise sweep folder (which the sweep then resumes, figures and all)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bfpdse.cli import app
from bfpdse.plots import PLOTS, make_figures
from bfpdse.plots._table import NotDrawable
from bfpdse.plots.noise import _noise_info

from .synth import make_table


def noise_table() -> pd.DataFrame:
    """sweeps/noise.yaml's shape: schemes x adc_sigma x cell_sigma, two trials when noisy."""
    base = make_table(bits=(5,))
    rows = []
    for (_, row), adc, cell in itertools.product(base.iterrows(), (0.0, 0.3, 1.0), (0.0, 0.1)):
        noisy = adc > 0 or cell > 0
        r = row.to_dict()
        r.update({
            "noise.adc_sigma": adc, "noise.cell_sigma": cell, "noise.read_sigma": 0.0,
            "noise.trials": 2 if noisy else 1, "noise.seed": 0,
            "accuracy": r["accuracy"] - 0.3 * adc - 0.05 * cell,
            "accuracy_std": 0.01 + 0.02 * adc if noisy else np.nan,
            "point_id": f"{r['point_id']}-{adc}-{cell}",
        })  # fmt: skip
        rows.append(r)
    return pd.DataFrame(rows)


def test_noise_info_lines_panels_and_spread():
    info = _noise_info(noise_table())
    assert info.x == "noise.adc_sigma"
    assert info.panel_by == ["noise.cell_sigma"] and info.panels == [(0.0,), (0.1,)]
    assert info.schemes() == ["ideal", "linear", "calibrated", "rar", "bfp"]
    assert len(info.lines) == 5 * 3 * 2
    noiseless = info.lines[
        info.lines["noise.adc_sigma"].eq(0) & info.lines["noise.cell_sigma"].eq(0)
    ]
    assert (noiseless["spread"] == 0).all()  # one trial: no spread, not NaN
    rar = info.lines[(info.lines["cim.adc"] == "rar") & (info.lines["noise.cell_sigma"] == 0.1)]
    assert rar.sort_values("noise.adc_sigma")["spread"].tolist() == pytest.approx(
        [0.01, 0.016, 0.03]
    )
    assert info.held == []  # noise.trials follows the noise: not named as held
    assert info.references["ideal"] == pytest.approx(0.915)


def test_a_noise_table_typed_by_the_store_draws_the_same(tmp_path):
    from bfpdse.store.read import read_results
    from bfpdse.store.table import build_table, write_table

    df = noise_table()
    settings = [c for c in df.columns if c in ("model", "dataset", "samples", "seed") or "." in c]
    metrics = [c for c in df.columns if c not in (*settings, "point_id", "status", "error")]
    records = [
        {
            "point_id": r["point_id"],
            "status": r["status"],
            "error": r["error"],
            "settings": {k: None if pd.isna(r[k]) else r[k] for k in settings},
            "metrics": {k: None if pd.isna(r[k]) else r[k] for k in metrics if k != "wall_s"},
            "wall_s": r["wall_s"],
        }
        for _, r in df.iterrows()
    ]
    (tmp_path / "s").mkdir()
    write_table(tmp_path / "s", build_table(records, settings))
    typed, plain = _noise_info(read_results(tmp_path / "s")), _noise_info(df)
    assert typed.panels == plain.panels and typed.x == plain.x
    cols = ["noise.cell_sigma", "cim.adc", "noise.adc_sigma", "accuracy", "spread"]
    pd.testing.assert_frame_equal(
        typed.lines[cols].astype({"cim.adc": object}).reset_index(drop=True),
        plain.lines[cols].reset_index(drop=True),
        check_dtype=False,
    )
    assert PLOTS["accuracy_vs_noise"](read_results(tmp_path / "s"), 0.5).axes


def test_noise_info_needs_a_noise_axis():
    with pytest.raises(NotDrawable, match=r"no noise\.\* setting takes two or more values"):
        _noise_info(make_table())


def test_make_figures_draws_the_noise_plot_beside_the_others(tmp_path):
    report = make_figures(noise_table(), tmp_path)
    drawn = {p.stem for p in report.written}
    assert "accuracy_vs_noise" in drawn
    assert {"energy_accuracy_pareto", "energy_breakdown", "heatmap_accuracy_drop"} <= drawn
    assert (tmp_path / "accuracy_vs_noise.png").stat().st_size > 1000
    # a table without noise: the noise plot is skipped, the others as before
    plain = make_figures(make_table(rows=(64, 128)), tmp_path / "plain")
    assert "accuracy_vs_noise" in plain.skipped
    assert {p.stem for p in plain.written} == set(PLOTS) - {
        "bfp_block_size",
        "input_mantissa_bits",
        "accuracy_vs_noise",
    }


SPEC = (
    "name: tiny_noise\nmodel: lenet5\nsamples: 8\n"
    "base:\n  cim: {adc_bits: 4}\n  noise: {trials: 2, seed: 1}\n"
    "sweep:\n  noise.adc_sigma: [0, 0.5]\n  cim.adc: [ideal, rar]\n"
)


def test_plot_a_real_noise_sweep_then_resume_and_fresh(tmp_path):
    spec = tmp_path / "tiny_noise.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "results"
    folder = out / "tiny_noise"
    runner = CliRunner()
    args = ["sweep", str(spec), "--out", str(out)]
    got = runner.invoke(app, args)
    assert got.exit_code == 0, got.output
    df = pd.read_csv(folder / "results.csv")
    assert (df["status"] == "ok").all() and len(df) == 4
    # bfpdse plot FOLDER writes FOLDER/figures by default
    got = runner.invoke(app, ["plot", str(folder)])
    assert got.exit_code == 0, got.output
    figure = folder / "figures" / "accuracy_vs_noise.png"
    assert figure.stat().st_size > 1000
    assert str(figure) in got.stdout.split()
    # the sweep resumes beside its figures (it refused the folder before)
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "0 run now, 4 done before" in again.stderr
    assert figure.is_file()
    # a file the sweep does not know is still refused
    (folder / "notes.txt").write_text("mine")
    refused = runner.invoke(app, args)
    assert refused.exit_code != 0 and "not bfpdse results" in str(refused.exception or "")
    assert "notes.txt" in str(refused.exception)
    (folder / "notes.txt").unlink()
    # --fresh deletes the figures with the results they were drawn from
    fresh = runner.invoke(app, [*args, "--fresh", "--set", "samples=4"])
    assert fresh.exit_code == 0, fresh.output
    assert not (folder / "figures").exists()
