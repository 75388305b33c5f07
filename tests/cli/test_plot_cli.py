"""``bfpdse plot`` and ``bfpdse pareto`` on a synthetic results folder."""

from __future__ import annotations

import json

import pytest
from plots.synth import make_table  # tests/ is on sys.path (rootdir-relative packages)
from typer.testing import CliRunner

from bfpdse.cli import app
from bfpdse.errors import StoreError

runner = CliRunner()


@pytest.fixture
def results(tmp_path):
    """results/bits: a sweep over schemes x ADC bits (the last point failed)."""
    bits = tmp_path / "results" / "bits"
    bits.mkdir(parents=True)
    df = make_table(bits=(4, 6, 8), failed=1)
    df.to_parquet(bits / "results.parquet")
    df.to_csv(bits / "results.csv", index=False)
    return tmp_path / "results"


def test_plot_writes_the_figures_it_lists(results, tmp_path):
    out = tmp_path / "figs"
    got = runner.invoke(app, ["plot", str(results / "bits"), "--out", str(out), "-f", "png,svg"])
    assert got.exit_code == 0, got.output
    listed = got.stdout.split()
    assert f"{out}/accuracy_vs_adc_bits.png" in listed
    assert f"{out}/energy_accuracy_pareto.svg" in listed
    assert len(listed) == 2 * 3  # bits curves, Pareto, breakdown; rows are not swept
    for path in listed:
        assert (out / path.rsplit("/", 1)[-1]).stat().st_size > 1000
    err = " ".join(got.stderr.split())
    assert "heatmap_accuracy_drop, heatmap_energy: needs two swept numeric settings" in err
    assert "bfp_block_size: cim.block takes fewer than two values" in err


def test_plot_defaults_to_a_figures_folder_with_one_subfolder_per_sweep(results):
    other = results / "blocks"
    other.mkdir()
    make_table(schemes=("bfp",), bits=(4,), blocks=(2, 8)).to_csv(other / "results.csv")
    got = runner.invoke(app, ["plot", str(results)])
    assert got.exit_code == 0, got.output
    assert (results / "figures" / "bits" / "accuracy_vs_adc_bits.png").is_file()
    assert (results / "figures" / "blocks" / "bfp_block_size.png").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "jpg"], "give one or more of png, svg, pdf"),
        (["--format", ","], "give one or more of png, svg, pdf"),
        (["--max-drop", "-1"], "--max-drop"),
        (["--nope"], "No such option"),
    ],
)
def test_plot_bad_options_exit_2(results, args, message):
    got = runner.invoke(app, ["plot", str(results / "bits"), *args])
    assert got.exit_code == 2
    assert message in got.output


def test_plot_missing_or_empty_results(tmp_path):
    got = runner.invoke(app, ["plot", str(tmp_path / "nope")])
    assert got.exit_code == 2 and "Invalid value for 'RESULTS'" in got.output
    got = runner.invoke(app, ["plot", str(tmp_path)])
    assert isinstance(got.exception, StoreError)  # main() turns it into one line and exit 2
    assert "no result table found" in str(got.exception)


def test_pareto_json_parses(results):
    got = runner.invoke(app, ["pareto", str(results / "bits"), "--max-drop", "1", "--json"])
    assert got.exit_code == 0, got.output
    doc = json.loads(got.stdout)
    assert doc["max_drop_points"] == 1.0 and doc["baseline"] == "calibrated"
    (ctx,) = doc["contexts"]
    assert ctx["model"] == "resnet20" and ctx["failed"] == 1
    assert ctx["pareto"] and all(r["accuracy"] is not None for r in ctx["pareto"])
    gains = ctx["gain_over_calibrated"]
    assert gains["calibrated"] == 1.0 and gains["rar"] > 1.0
    best = {r["cim.adc"]: r for r in ctx["iso_accuracy"]}
    assert all(r["accuracy_drop"] <= 0.01 + 1e-9 for r in best.values())
    assert ctx["no_point_within_budget"].keys() == {"linear", "bfp"}  # bfp at 8 bits failed


def test_pareto_table_states_the_gain_and_the_shortfalls(results):
    got = runner.invoke(app, ["pareto", str(results / "bits"), "--max-drop", "1"])
    assert got.exit_code == 0, got.output
    text = " ".join(got.stdout.split())  # rich wraps at the console width
    assert "Pareto-optimal points" in text
    assert "rar needs" in text and "less energy per inference than calibrated" in text
    assert "linear has no point within an accuracy drop of at most 1 points" in text


def test_pareto_says_plainly_when_no_point_meets_the_budget(results, tmp_path):
    df = make_table(schemes=("linear", "calibrated"), bits=(3, 4))
    (tmp_path / "low").mkdir()
    df.to_csv(tmp_path / "low" / "results.csv", index=False)
    got = runner.invoke(app, ["pareto", str(tmp_path / "low")])
    assert got.exit_code == 0, got.output
    text = " ".join(got.stdout.split())
    assert "No point meets the budget of an accuracy drop of at most 0.5 points" in text


def test_pareto_of_an_all_failed_sweep_exits_1(tmp_path):
    (tmp_path / "f").mkdir()
    make_table(bits=(3,)).assign(status="failed", error="boom").to_csv(
        tmp_path / "f" / "results.csv"
    )
    got = runner.invoke(app, ["pareto", str(tmp_path / "f"), "--json"])
    assert got.exit_code == 1
    assert "no successful point" in json.loads(got.stdout)["contexts"][0]["pareto_message"]


def test_pareto_bad_budget_exits_2(results):
    got = runner.invoke(app, ["pareto", str(results / "bits"), "--max-drop", "abc"])
    assert got.exit_code == 2 and "--max-drop" in got.output


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["plot", "{bits}", "--format", "gif"], 2),  # usage error
        (["plot", "{root}/nope"], 2),  # missing path
        (["pareto", "{root}"], 0),
        (["pareto", "{empty}"], 2),  # StoreError: one line, no traceback
        (["pareto", "{failed}"], 1),  # nothing succeeded
    ],
)
def test_exit_status_of_the_console_script(results, tmp_path, monkeypatch, capsys, args, code):
    from bfpdse.cli import main

    (tmp_path / "empty").mkdir()
    failed = tmp_path / "failed"
    failed.mkdir()
    make_table(bits=(3,)).assign(status="failed", error="boom").to_csv(failed / "results.csv")
    where = {"bits": results / "bits", "root": results, "empty": tmp_path / "empty"}
    where["failed"] = failed
    argv = ["bfpdse", *(a.format(**where) for a in args)]
    monkeypatch.setattr("sys.argv", argv)
    if code == 0:
        main()
    else:
        with pytest.raises(SystemExit) as exit_:
            main()
        assert exit_.value.code == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if args[1] == "{empty}":
        assert err.startswith("error:") and "no result table found" in err


def test_the_cli_formats_are_those_of_the_library():
    from bfpdse.cli.plot import FORMAT_CHOICES
    from bfpdse.plots import FORMATS

    assert FORMAT_CHOICES == FORMATS


def test_plot_out_on_a_file_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    import sys
    from pathlib import Path

    from bfpdse.cli import main

    afile = tmp_path / "afile"
    afile.write_text("x")
    shipped = Path(__file__).resolve().parents[2] / "results" / "adc_bits"
    monkeypatch.setattr(sys, "argv", ["bfpdse", "plot", str(shipped), "--out", str(afile)])
    with pytest.raises(SystemExit) as info:
        main()
    err = capsys.readouterr().err
    assert info.value.code == 2 and "cannot write figures there" in err
    assert "Traceback" not in err
