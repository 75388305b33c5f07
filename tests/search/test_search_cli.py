"""bfpdse search on the command line: bad search files exit 2 with one clear line; a real run."""

from __future__ import annotations

import pytest
from cli.helpers import run_main

from bfpdse.spec import load_spec
from bfpdse.store.read import read_results

from .helpers import search_file

FAKE = ["--evaluator", "fakes:fake_evaluate"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("  trials:", "  trails:", "unknown key 'trails'"),  # extra key in search:
        ("  minimize: energy_pj\n", "  minimize: joules\n", "unknown metric 'joules'; allowed:"),
        ("  minimize: energy_pj\n", "", "give an objective, e.g. minimize: energy_pj"),
        ("accuracy_drop <= 0.02", "accuracy_drop << 0.02", "is not METRIC OP NUMBER"),
        ("accuracy_drop <= 0.02", "acc <= 0.02", "unknown metric 'acc'"),
        ("{low: 3, high: 8}", "{low: 8, high: 3}", "need low <= high"),
        ("{low: 3, high: 8}", "{low: 3, hi: 8}", "an integer range is {low: L, high: H}"),
        ("{low: 3, high: 8}", "{low: 3.5, high: 8}", "low=3.5 must be an integer"),
        ("{low: 3, high: 8}", "7", "give a list of choices"),
        ("[rar, bfp]", "[rar, bogus]", "s.yaml:8: search: space: cim.adc: cim: adc='bogus'"),
        ("[rar, bfp]", "[rar, rar]", "repeat a value"),
        ("    cim.adc:", "    cim.adcc:", "unknown setting 'cim.adcc' (did you mean 'cim.adc'?)"),
        ("  seed: 0\n", "  seed: 0\n  sampler: cmaes\n", "sampler: Input should be 'tpe'"),
        ("  seed: 0\n", "  seed: 0\n  per_layer: [cim.rows]\n", "give its choices under search"),
        ("  seed: 0\n", "  seed: 0\n  per_layer: [energy.rho]\n", "only cim.* settings"),
        ("  seed: 0\n", "  seed: 0\n  prune: {samples: 8, max_drop: 0.1}\n", "must be below"),
        ("search:\n", "sweep:\n  cim.rows: [64]\nsearch:\n", "unknown key 'sweep'"),
    ],
)
def test_bad_search_files_exit_2_with_one_clear_line(
    tmp_path, monkeypatch, capsys, old, new, expected
):
    path = search_file(tmp_path)
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    code, out = run_main(
        monkeypatch, capsys, "search", str(path), "--out", str(tmp_path / "o"), *FAKE
    )
    assert code == 2
    assert expected in out.err and "Traceback" not in out.err
    assert not (tmp_path / "o").exists()  # nothing written


def test_a_file_without_a_search_section_is_pointed_to_sweep(tmp_path, monkeypatch, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nmodel: lenet5\nsweep:\n  cim.adc_bits: [4]\n")
    code, out = run_main(monkeypatch, capsys, "search", str(path), *FAKE)
    assert code == 2 and "needs a search: section" in out.err and "bfpdse sweep" in out.err


def test_per_layer_is_refused_until_points_take_layer_keys_then_expands(tmp_path):
    from bfpdse.errors import SpecError
    from bfpdse.search import load_search
    from bfpdse.spec import make_point

    path = search_file(tmp_path, extra="  per_layer: [cim.adc_bits]\n")
    try:
        make_point({"model": "lenet5", "cim.layers.L00.adc_bits": 4})
    except SpecError:
        with pytest.raises(SpecError, match="cannot set it per layer"):
            load_search(path)
        return
    spec = load_search(path)  # per-layer settings exist: one parameter per layer of lenet5
    assert [p.key for p in spec.params][1:] == [f"cim.layers.{L}.adc_bits" for L in spec.layers]
    assert len(spec.layers) >= 3


def test_set_pins_a_searched_key_and_trials_overrides(tmp_path, monkeypatch, capsys):
    path = search_file(tmp_path, trials=40)
    out = tmp_path / "o"
    args = ["search", str(path), "--out", str(out), "--set", "cim.adc=bfp", "--trials", "5", *FAKE]
    code, captured = run_main(monkeypatch, capsys, *args)
    assert code == 0, captured.err
    df = read_results(out / "s")
    assert set(df["cim.adc"]) == {"bfp"} and "5 of 5 trials done" in captured.err


def test_the_cli_prints_the_best_design_and_writes_a_sweep_file(tmp_path, monkeypatch, capsys):
    path = search_file(tmp_path, trials=12)
    out = tmp_path / "o"
    code, captured = run_main(monkeypatch, capsys, "search", str(path), "--out", str(out), *FAKE)
    assert code == 0, captured.err
    assert "Best design (accuracy_drop <= 0.02)" in captured.out
    best = load_spec(out / "s" / "best.yaml")  # a sweep file bfpdse sweep accepts
    (point,) = best.points
    df = read_results(out / "s")
    row = df[df["point_id"] == point.point_id]
    assert len(row) == 1 and row.iloc[0]["accuracy_drop"] <= 0.02
    assert f"--set cim.adc={row.iloc[0]['cim.adc']}" in captured.out  # the bfpdse run line
    code, captured = run_main(monkeypatch, capsys, "plot", str(out / "s"))  # into s/figures/
    assert code == 0 and (out / "s" / "figures").is_dir()
    args = ["search", str(path), "--out", str(out), "--trials", "14", *FAKE]
    code, captured = run_main(monkeypatch, capsys, *args)  # the folder still resumes
    assert code == 0 and "14 of 14 trials done" in captured.err


def test_against_a_folder_that_is_not_there_is_an_error(tmp_path, monkeypatch, capsys):
    path = search_file(tmp_path)
    args = ["search", str(path), "--out", str(tmp_path / "o"), "--against", "nope", *FAKE]
    code, out = run_main(monkeypatch, capsys, *args)
    assert code == 2 and "--against nope: no such results folder" in out.err


def test_a_few_real_trials_on_lenet5(tmp_path, monkeypatch, capsys):
    path = search_file(tmp_path, trials=3)
    path.write_text(path.read_text().replace("samples: 8", "samples: 16"))
    out = tmp_path / "o"
    code, captured = run_main(monkeypatch, capsys, "search", str(path), "--out", str(out))
    assert code in (0, 1), captured.err  # 1: none of 3 trials met the budget
    df = read_results(out / "s")
    assert (df["status"] == "ok").all() and len(df) >= 1
    assert df["accuracy"].between(0, 1).all() and (df["energy_pj"] > 0).all()
    assert (df["samples_used"] == 16).all() and df["trial"].notna().all()


def test_trials_that_differ_in_energy_only_share_one_cim_pass(tmp_path, monkeypatch, capsys):
    path = search_file(tmp_path, trials=4, extra_space="    energy.preset: [default, isaac]\n")
    path.write_text(path.read_text().replace("samples: 8", "samples: 16"))
    sets = ["--set", "cim.adc=bfp", "--set", "cim.adc_bits=4"]  # leaves energy.preset searched
    out = tmp_path / "o"
    code, captured = run_main(monkeypatch, capsys, "search", str(path), "--out", str(out), *sets)
    assert code in (0, 1), captured.err
    df = read_results(out / "s")
    assert set(df["energy.preset"]) == {"default", "isaac"}  # both designs were tried
    assert df["cim_pass_id"].nunique() == 1  # one network pass, priced twice
    assert sorted(df["cim_pass_s"] == 0) == [False, True]  # the second trial only re-priced it
    assert df["energy_pj"].nunique() == 2 and df["accuracy"].nunique() == 1
    assert (out / "cache").is_dir()  # kept where sweeps keep it
