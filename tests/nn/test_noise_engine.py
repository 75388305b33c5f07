"""Noise in the engine and in evaluate (docs/spec.md, "Noise"), on the shipped lenet5.

The draws of a pass do not depend on the batch size or on how the images are split into
shards (each shard gives its global image offset); noise off is the exact engine; with
noise.trials > 1 the record's accuracy is the mean over the trials.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bfpdse.cim import CIMConfig
from bfpdse.cim.noise import NoiseConfig
from bfpdse.evaluate import evaluate, merge_shards, run_shard
from bfpdse.nn import load_model
from bfpdse.spec import make_point

NOISE = NoiseConfig(adc_sigma=1.0, adc_offset_sigma=0.3, cell_sigma=0.05, read_sigma=0.02,
                    stuck_off=0.01, seed=4)  # fmt: skip
CIM = CIMConfig(adc="bfp", adc_bits=4)


@pytest.fixture(scope="module")
def lenet():
    model = load_model("lenet5")
    x = np.random.default_rng(0).random((6, *model.input_shape), dtype=np.float32)
    return model, x


def test_batches_and_shards_draw_the_same(lenet) -> None:
    model, x = lenet
    whole, reports = model.forward(x, "cim", cim=CIM, noise=NOISE, collect=True)
    ones = model.forward(x, "cim", cim=CIM, noise=NOISE, batch_size=1)
    shards = [model.forward(x[i : i + 3], "cim", cim=CIM, noise=NOISE, image_offset=i)
              for i in (0, 3)]  # fmt: skip
    np.testing.assert_array_equal(ones, whole)
    np.testing.assert_array_equal(np.concatenate(shards), whole)
    assert all(math.isfinite(r.sqnr_db) for r in reports.values())


def test_noise_off_is_the_exact_engine_and_noise_changes_logits(lenet) -> None:
    model, x = lenet
    exact = model.forward(x, "cim", cim=CIM)
    np.testing.assert_array_equal(model.forward(x, "cim", cim=CIM, noise=NoiseConfig()), exact)
    noisy = model.forward(x, "cim", cim=CIM, noise=NOISE)
    assert not np.array_equal(noisy, exact)
    np.testing.assert_array_equal(model.forward(x, "cim", cim=CIM, noise=NOISE), noisy)
    assert not np.array_equal(model.forward(x, "cim", cim=CIM, noise=NOISE, trial=1), noisy)


def test_trials_record_mean_and_spread() -> None:
    base = {"model": "lenet5", "samples": 100, "seed": 1, "cim.adc": "rar", "cim.adc_bits": 4}
    rec = evaluate(make_point({**base, "noise.adc_sigma": 3.0, "noise.trials": 2}))
    one = [evaluate(make_point({**base, "noise.adc_sigma": 3.0, "noise.trials": 1}))]
    assert rec["noise_trials"] == 2
    assert math.isfinite(rec["accuracy_std"]) and rec["accuracy_std"] >= 0
    assert rec["accuracy_drop"] == pytest.approx(rec["accuracy_ideal"] - rec["accuracy"])
    assert math.isnan(one[0]["accuracy_std"])
    # trial 0 of two trials is the one trial: the mean moves by half the trials' difference
    assert abs(rec["accuracy"] - one[0]["accuracy"]) == pytest.approx(rec["accuracy_std"] / 2**0.5)
    noiseless = evaluate(make_point(base))
    assert "accuracy_std" not in noiseless
    assert rec["accuracy_ideal"] == noiseless["accuracy_ideal"]


def test_shards_merge_to_the_whole_pass() -> None:
    point = make_point({"model": "lenet5", "samples": 200, "seed": 2, "cim.adc": "bfp",
                        "cim.adc_bits": 4, "noise.adc_sigma": 2.0, "noise.trials": 2})  # fmt: skip
    whole = evaluate(point)
    merged = merge_shards(point, [run_shard(point, 100, 200), run_shard(point, 0, 100)])
    for key in ("accuracy", "accuracy_std", "sqnr_db", "conversions", "energy_pj"):
        assert merged[key] == whole[key], key
