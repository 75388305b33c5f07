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

    calls = []
    real = ev._cim_pass
    monkeypatch.setattr(ev, "_cim_pass", lambda p, prog: calls.append(p) or real(p, prog))
    settings = {**BASE, "samples": 8, "cim.adc": "bfp", "cim.adc_bits": 3}
    default = evaluate(make_point(settings))
    isaac = evaluate(make_point({**settings, "energy.preset": "isaac"}))
    assert len(calls) == 1
    assert isaac["accuracy"] == default["accuracy"]
    assert isaac["energy_adc_pj"] != default["energy_adc_pj"]
