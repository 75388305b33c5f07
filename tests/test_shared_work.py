"""Work shared between points, done once: reference results, ADC windows and CIM passes are kept
in a cache folder and found again by other processes and sweeps (lenet5, a few real images)."""

import json
import math

import pytest

import bfpdse.evaluate as ev
from bfpdse.evaluate import cim_pass_key, evaluate, passes_first, reference_key, windows_key
from bfpdse.spec import make_point

BASE = {"model": "lenet5", "samples": 12, "seed": 5, "cim.adc": "bfp", "cim.adc_bits": 3}
#: what may differ between the record of a computed and of a reused pass
RUN_ONLY = ("wall_s", "cim_pass_s", "calib_s")


@pytest.fixture
def fresh(monkeypatch):
    """A process with nothing in memory (as another worker or a later sweep starts)."""
    monkeypatch.setattr(ev, "_CACHE", {})
    monkeypatch.setattr(ev, "_CACHES", {})
    return lambda: (ev._CACHE.clear(), ev._CACHES.clear())


@pytest.fixture
def counted(monkeypatch):
    """How often the reference, the windows and the CIM pass are computed."""
    calls = {"reference": 0, "windows": 0, "cim": 0}
    for name, kind in (("run_reference", "reference"), ("_windows", "windows"),
                       ("run_cim_pass", "cim")):  # fmt: skip
        real = getattr(ev, name)

        def wrapped(*a, _real=real, _kind=kind, **kw):
            calls[_kind] += 1
            return _real(*a, **kw)

        monkeypatch.setattr(ev, name, wrapped)
    return calls


def _same(a, b):
    return {k: v for k, v in a.items() if k not in RUN_ONLY} == {
        k: v for k, v in b.items() if k not in RUN_ONLY
    }


def test_a_cached_point_is_served_from_disk_in_another_process(tmp_path, fresh, counted):
    p = make_point(BASE)
    first = evaluate(p, cache=tmp_path)
    assert first["cim_pass_s"] > 0 and counted == {"reference": 1, "windows": 0, "cim": 1}
    assert (tmp_path / "cim_pass" / f"{first['cim_pass_id']}.json").is_file()
    fresh()
    again = evaluate(p, cache=tmp_path)
    assert counted == {"reference": 1, "windows": 0, "cim": 1}  # nothing recomputed
    assert again["cim_pass_s"] == 0.0
    assert _same(first, again)  # bit for bit: accuracies, SQNR, counts, energies, intervals


def test_energy_settings_re_price_one_pass(tmp_path, fresh, counted):
    rows = [
        evaluate(make_point({**BASE, "energy.preset": preset}), cache=tmp_path)
        for preset in ("default", "isaac", "neurosim")
    ]
    assert counted["cim"] == 1
    assert len({r["cim_pass_id"] for r in rows}) == 1
    assert [r["cim_pass_s"] > 0 for r in rows] == [True, False, False]
    assert len({r["energy_adc_pj"] for r in rows}) == 3
    assert len({(r["accuracy"], r["sqnr_db"], r["conversions"]) for r in rows}) == 1


def test_a_damaged_pass_is_recomputed_not_trusted(tmp_path, fresh, counted):
    p = make_point(BASE)
    first = evaluate(p, cache=tmp_path)
    path = tmp_path / "cim_pass" / f"{first['cim_pass_id']}.json"
    entry = json.loads(path.read_text())
    entry["value"]["layers"][0]["stats"]["conversions"] += 1  # plausible, but not what ran
    path.write_text(json.dumps(entry))
    fresh()
    with pytest.warns(UserWarning, match="damaged"):
        again = evaluate(p, cache=tmp_path)
    assert counted["cim"] == 2 and again["cim_pass_s"] > 0
    assert _same(first, again)


def test_the_drop_has_a_paired_interval(fresh):
    rec = evaluate(make_point({**BASE, "cim.adc_bits": 2, "samples": 40}))
    n = rec["samples_used"]
    assert rec["accuracy_drop_lo"] <= rec["accuracy_drop"] <= rec["accuracy_drop_hi"]
    assert rec["images_lost"] - rec["images_gained"] == round(rec["accuracy_drop"] * n)
    exact = evaluate(make_point({**BASE, "cim.adc": "ideal"}))
    assert exact["images_lost"] == exact["images_gained"] == 0
    assert exact["accuracy_drop_lo"] < 0 < exact["accuracy_drop_hi"]  # 12 images: no certainty


def test_calibrated_windows_are_computed_once(tmp_path, fresh, counted):
    settings = {**BASE, "cim.adc": "calibrated", "cim.adc_bits": 4, "quant.calib_samples": 16}
    first = evaluate(make_point(settings), cache=tmp_path)
    fresh()
    other_images = evaluate(make_point({**settings, "samples": 6}), cache=tmp_path)
    assert counted["windows"] == 1  # the windows do not depend on the test images
    assert counted["cim"] == 2 and counted["reference"] == 2
    assert other_images["calib_s"] == first["calib_s"] > 0  # the stored effort, not a re-timing
    assert other_images["calib_samples"] == 16


def test_keys_hold_what_the_values_depend_on():
    p = make_point(BASE)
    priced = make_point({**BASE, "energy.preset": "isaac", "energy.tech_node_nm": 22})
    assert cim_pass_key(priced) == cim_pass_key(p)
    assert cim_pass_key(make_point({**BASE, "cim.adc_bits": 4})) != cim_pass_key(p)
    assert cim_pass_key(make_point({**BASE, "seed": 6})) != cim_pass_key(p)
    # the float and ideal results do not depend on the ADC, the windows not on the test images
    assert reference_key(make_point({**BASE, "cim.adc": "rar"})) == reference_key(p)
    assert reference_key(make_point({**BASE, "cim.input_bits": 6})) != reference_key(p)
    cal = {**BASE, "cim.adc": "calibrated"}
    assert windows_key(make_point(cal)) == windows_key(make_point({**cal, "samples": 3}))
    assert windows_key(make_point(cal)) != windows_key(make_point({**cal, "cim.rows": 64}))
    for key in (cim_pass_key(p), reference_key(p), windows_key(p)):
        assert len(key["model_sha256"]) == 12 and "arithmetic" in key and "model" not in key


def test_passes_first_puts_one_point_of_each_pass_before_re_pricings():
    def task(i, bits, preset):
        return (f"p{i}", {"cim.adc_bits": bits, "energy.preset": preset})

    tasks = [task(0, 3, "a"), task(1, 3, "b"), task(2, 4, "a"), task(3, 4, "b"), task(4, 5, "a")]
    assert [t[0] for t in passes_first(tasks)] == ["p0", "p2", "p4", "p1", "p3"]


def test_reused_records_are_finite_json(tmp_path, fresh):
    rec = evaluate(make_point(BASE), cache=tmp_path)
    for key in ("accuracy_drop_lo", "accuracy_drop_hi", "cim_pass_s"):
        assert math.isfinite(rec[key])
    assert isinstance(rec["cim_pass_id"], str) and len(rec["cim_pass_id"]) == 16


SWEEP = """
name: {name}
model: lenet5
samples: 12
seed: 5
base:
  cim: {{adc: bfp}}
sweep:
  energy.preset: {presets}
  cim.adc_bits: [3, 4]
"""


def _sweep(tmp_path, name, presets, **kw):
    from bfpdse.run import run_sweep
    from bfpdse.spec import load_spec

    path = tmp_path / f"{name}.yaml"
    path.write_text(SWEEP.format(name=name, presets=presets))
    summary = run_sweep(load_spec(path), out=tmp_path / "out", progress=False, **kw)
    assert summary.complete
    import pandas as pd

    return pd.read_parquet(summary.parquet)


def test_a_sweep_runs_one_pass_per_non_energy_point_and_the_next_sweep_reuses_it(
    tmp_path, fresh, counted
):
    df = _sweep(tmp_path, "two_presets", "[default, isaac]")
    assert counted["cim"] == 2 and counted["reference"] == 1
    assert df["cim_pass_id"].nunique() == 2
    assert sorted(df["cim_pass_s"] > 0) == [False, False, True, True]
    assert (tmp_path / "out" / "cache" / "cim_pass").is_dir()  # beside the sweep folders
    assert (df["accuracy_drop_lo"] <= df["accuracy_drop"]).all()
    fresh()  # another sweep, later, in another process
    other = _sweep(tmp_path, "three_presets", "[default, isaac, neurosim]")
    assert counted["cim"] == 2  # nothing ran again
    assert (other["cim_pass_s"] == 0).all()
    assert set(other["cim_pass_id"]) == set(df["cim_pass_id"])
    merged = other.merge(df, on="point_id", suffixes=("", "_before"))
    assert len(merged) == 4
    for column in ("accuracy", "accuracy_drop_hi", "sqnr_db", "energy_pj", "conversions"):
        assert (merged[column] == merged[f"{column}_before"]).all()


def test_a_sweep_can_keep_its_cache_elsewhere(tmp_path, fresh):
    df = _sweep(tmp_path, "own", "[default]", cache=tmp_path / "shared")
    assert (tmp_path / "shared" / "cim_pass").is_dir()
    assert not (tmp_path / "out" / "cache").exists()
    assert df["cim_pass_id"].notna().all()
