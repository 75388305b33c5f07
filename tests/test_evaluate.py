"""evaluate(point): the record of one design point on the shipped lenet5 and real test images."""

import math

import pytest

from bfpdse.energy import COMPONENTS
from bfpdse.evaluate import estimate_cost, evaluate, measure_cost
from bfpdse.spec import make_point

BASE = {"model": "lenet5", "samples": 24, "seed": 3}


def point(**cim):
    return make_point({**BASE, **{f"cim.{k}": v for k, v in cim.items()}})


def test_ideal_adc_point_equals_the_integer_model():
    rec = evaluate(point(adc="ideal"))
    assert rec["accuracy"] == rec["accuracy_ideal"]
    assert rec["accuracy_drop"] == 0
    assert rec["sqnr_db"] == math.inf
    assert rec["sqnr_exact_layers"] == 5  # lenet5: two convs and three linear layers
    assert rec["samples_used"] == 24


def test_low_bit_record_is_consistent():
    rec = evaluate(point(adc="rar", adc_bits=3), details=True)
    for key in ("accuracy", "accuracy_ideal", "accuracy_float"):
        assert 0.0 <= rec[key] <= 1.0
    assert rec["accuracy_drop"] == pytest.approx(rec["accuracy_ideal"] - rec["accuracy"])
    assert math.isfinite(rec["sqnr_db"]) and rec["sqnr_db"] > 0
    parts = sum(rec[f"energy_{c}_pj"] for c in COMPONENTS)
    assert parts == pytest.approx(rec["energy_pj"], rel=1e-12)
    assert 0 < rec["conversions"] <= rec["conversions_dense"]
    assert rec["calib_samples"] == 0 and rec["calib_s"] == 0.0
    assert [layer["k"] for layer in rec["layers"]] == [25, 150, 400, 120, 84]


def test_calibrated_point_records_its_pre_deployment_effort():
    settings = {**BASE, "cim.adc": "calibrated", "cim.adc_bits": 4, "quant.calib_samples": 16}
    rec = evaluate(make_point(settings))
    assert rec["calib_samples"] == 16
    assert rec["calib_s"] > 0


def test_measured_cost_skips_planes_that_shapes_only_converts():
    p = point(adc="bfp", adc_bits=4)
    measured, estimate = measure_cost(p), estimate_cost(p)
    assert estimate["conversions"] == estimate["conversions_dense"]
    assert measured["conversions_dense"] == pytest.approx(estimate["conversions_dense"])
    assert measured["conversions"] < estimate["conversions"]
    assert measured["energy_pj"] < estimate["energy_pj"]


def test_pricing_one_design_two_ways_runs_the_network_once(monkeypatch):
    import bfpdse.evaluate as ev

    monkeypatch.setattr(ev, "_CACHE", {})  # nothing shared with earlier tests
    calls = []
    real = ev.run_cim_pass
    monkeypatch.setattr(ev, "run_cim_pass", lambda p, **kw: calls.append(p) or real(p, **kw))
    settings = {**BASE, "samples": 8, "cim.adc": "bfp", "cim.adc_bits": 3}
    default = evaluate(make_point(settings))
    isaac = evaluate(make_point({**settings, "energy.preset": "isaac"}))
    assert len(calls) == 1
    assert isaac["accuracy"] == default["accuracy"]
    assert isaac["energy_adc_pj"] != default["energy_adc_pj"]
    assert isaac["cim_pass_id"] == default["cim_pass_id"] and isaac["cim_pass_s"] == 0.0


def test_grouped_and_depthwise_layers_are_priced_per_group(tmp_path):
    """A depthwise/grouped conv maps one K x N block per group (block-diagonal), all at once."""
    import sys
    from pathlib import Path

    import numpy as np

    sys.path.insert(0, str(Path(__file__).parent / "nn"))
    from nn_builders import depthwise, save

    sys.path.pop(0)
    from bfpdse.cli.layers import crossbar_layers
    from bfpdse.nn import load_model

    path = save(depthwise(), tmp_path / "dw.onnx")
    rng = np.random.default_rng(0)
    data = tmp_path / "d.npz"
    np.savez(data, x=rng.integers(0, 256, (6, 4, 11, 11), dtype=np.uint8), y=np.arange(6) % 5)
    p = make_point({"model": str(path), "dataset": str(data), "samples": 6,
                    "cim.adc": "bfp", "cim.adc_bits": 4})  # fmt: skip
    rec = evaluate(p, details=True)
    shapes = estimate_cost(p)
    layers = crossbar_layers(load_model(path).folded, p.cim)
    depthwise_layer = next(r for r in rec["layers"] if r["groups"] == 8)
    assert depthwise_layer["k"] == 9 and depthwise_layer["n"] == 1
    # the measured and the shapes-only prices see the same arrays, and bfpdse layers agrees
    assert rec["area_mm2"] == pytest.approx(shapes["area_mm2"])
    cim = p.cim
    by_hand = sum(
        layer.groups * -(-layer.k // cim.rows) * -(-layer.n * cim.n_slices * 2 // cim.cols)
        for layer in layers
    )
    assert sum(layer.arrays for layer in layers) == by_hand > len(layers)
    assert rec["conversions"] > 0 and 0 <= rec["accuracy"] <= 1
