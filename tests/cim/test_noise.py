"""The noisy crossbar path (docs/spec.md, "Noise"): validation, exactness when off, each term's
statistics, and draws that do not depend on batching, seed-only keys or the thread count.

Statistical checks use fixed seeds (so they are deterministic) and tolerances of at least four
standard errors of the estimate, stated beside each check.
"""

from __future__ import annotations

import json
from pathlib import Path

import numba
import numpy as np
import pytest

from bfpdse.cim import CIMConfig, calibrate_window, crossbar_mvm
from bfpdse.cim.noise import (
    NORMAL,
    NoiseConfig,
    NoisyLayers,
    layer_key,
    noisy_mvm,
    prepare_noisy,
)
from bfpdse.errors import SpecError
from bfpdse.spec import make_point

# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"adc_sigma": -0.1}, "adc_sigma=-0.1 is out of range: allowed >= 0"),
        ({"adc_offset_sigma": -1}, "adc_offset_sigma=-1.0 is out of range: allowed >= 0"),
        ({"cell_sigma": float("nan")}, "cell_sigma=nan must be a finite number"),
        ({"read_sigma": "x"}, "read_sigma='x' must be a number"),
        ({"stuck_off": 1.5}, "stuck_off=1.5 is out of range: allowed 0 … 1"),
        ({"stuck_on": -0.1}, "stuck_on=-0.1 is out of range: allowed 0 … 1"),
        (
            {"stuck_off": 0.6, "stuck_on": 0.5},
            "stuck_off=0.6 and stuck_on=0.5 add up to more than 1",
        ),
        ({"trials": 0}, "trials=0 is out of range: allowed 1 … 1000"),
        ({"trials": 2.5}, "trials=2.5 must be an int"),
        ({"seed": -1}, "seed=-1 is out of range"),
        ({"seed": True}, "seed=True must be an int"),
    ],
)
def test_bad_values(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NoiseConfig(**settings)
    with pytest.raises(SpecError, match=f"noise: {message}"):
        make_point({f"noise.{k}": v for k, v in settings.items()})


def test_bad_value_exits_2(monkeypatch, capsys) -> None:
    from tests.cli.helpers import run_main

    code, out = run_main(monkeypatch, capsys, "run", "--set", "noise.adc_sigma=-0.5")
    assert code == 2
    assert "adc_sigma=-0.5 is out of range" in out.err and "Traceback" not in out.err


def test_defaults_keep_point_ids() -> None:
    """Shipped points (made before the noise section existed) keep their ids."""
    parts = sorted((Path(__file__).parents[2] / "results" / "adc_bits" / "parts").glob("*.json"))
    assert parts
    for path in parts[:5]:
        point = make_point(json.loads(path.read_text())["settings"])
        assert point.point_id == path.stem
    assert point.noise.off
    # seed and trials change nothing without noise: one point
    assert make_point({"noise.trials": 5, "noise.seed": 3}).point_id == make_point({}).point_id
    noisy = make_point({"noise.adc_sigma": 0.5})
    assert noisy.point_id != make_point({}).point_id
    assert noisy.settings()["noise.adc_sigma"] == 0.5


# -- exact when off -----------------------------------------------------------------------------


def _random_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, CIMConfig, dict]:
    d = int(rng.choice([1, 1, 2, 3]))
    signed = d == 1 and rng.random() < 0.25
    cfg = CIMConfig(
        rows=int(rng.choice([4, 16, 33, 128])),
        cell_bits=int(rng.integers(1, 5)),
        dac_bits=d,
        input_signed=bool(signed),
        weight_mapping=str(rng.choice(["differential", "balanced", "offset"])),
        adc=str(rng.choice(["ideal", "linear", "calibrated", "rar", "bfp"])),
        rounding=str(rng.choice(["nearest", "floor"])),
        block=int(rng.choice([1, 3, 8])),
        input_mantissa_bits=None if signed or rng.random() < 0.7 else int(rng.integers(2, 6)),
    )
    cfg = CIMConfig(**{**cfg.to_dict(), "adc_bits": int(rng.integers(1, cfg.full_bits + 1))})
    M, K, N = int(rng.integers(1, 30)), int(rng.integers(1, 200)), int(rng.integers(1, 30))
    if signed:
        x = rng.integers(-128, 128, (M, K))
    else:
        x = np.minimum(rng.exponential(30, (M, K)), 255).astype(np.int64)
    w = rng.integers(-127, 128, (K, N))
    kw = {"window": calibrate_window(x, w, cfg)} if cfg.adc == "calibrated" else {}
    return x, w, cfg, kw


def test_noisy_kernel_without_noise_is_exact() -> None:
    """The noisy kernel fed zero noise gives crossbar_mvm's numbers and counts, bit for bit.

    adc_sigma=1e-300 turns the noisy path on, but its variance underflows to 0.
    """
    rng = np.random.default_rng(7)
    tiny = NoiseConfig(adc_sigma=1e-300)
    assert not tiny.off
    for _ in range(40):
        x, w, cfg, kw = _random_case(rng)
        y0, s0 = crossbar_mvm(x, w, cfg, return_stats=True, **kw)
        y1, s1 = noisy_mvm(x, w, cfg, tiny, return_stats=True, **kw)
        np.testing.assert_array_equal(y1, y0, err_msg=str(cfg))
        assert s1.to_dict() == s0.to_dict(), cfg


def test_off_is_crossbar_mvm() -> None:
    rng = np.random.default_rng(3)
    x, w, cfg, kw = _random_case(rng)
    np.testing.assert_array_equal(noisy_mvm(x, w, cfg, NoiseConfig(), **kw),
                                  crossbar_mvm(x, w, cfg, **kw))  # fmt: skip


# -- each term's statistics ---------------------------------------------------------------------
# One conversion per output: 1-bit inputs (one plane), weights in -1 … 1 on 1-bit cells (one
# slice), K <= rows (one tile), balanced mapping (the signed p goes to one sign-magnitude ADC, so
# no clipping at 0) and the ideal ADC (k = 0, code = round(a)). Then y - x @ w = e + r, e the
# analog error and r the rounding error, close to uniform on (-1/2, 1/2]: variance 1/12.

ONE = CIMConfig(rows=128, cell_bits=1, weight_bits=2, input_bits=1, weight_mapping="balanced",
                adc="ideal")  # fmt: skip
ROUND_VAR = 1 / 12


def _one_conversion_case(M: int, K: int, N: int, seed: int = 0, ones: bool = False):
    rng = np.random.default_rng(seed)
    x = np.ones((M, K), np.int64) if ones else rng.integers(0, 2, (M, K))
    w = rng.integers(-1, 2, (K, N))
    return x, w


def _error(noise: NoiseConfig, x, w, **kw) -> np.ndarray:
    return (noisy_mvm(x, w, ONE, noise, **kw) - x @ w).astype(np.float64)


def test_adc_thermal_noise() -> None:
    """Mean 0 and variance sigma^2 + 1/12, tolerances 0.05 and 3% (n = 32768: standard errors
    0.011 and 0.8%); neighbouring outputs and vectors uncorrelated (|r| < 0.03, se 0.0055)."""
    x, w = _one_conversion_case(512, 100, 64)
    e = _error(NoiseConfig(adc_sigma=2.0), x, w)
    assert abs(e.mean()) < 0.05
    assert e.var() == pytest.approx(4.0 + ROUND_VAR, rel=0.03)
    assert abs(np.corrcoef(e[:, :-1].ravel(), e[:, 1:].ravel())[0, 1]) < 0.03
    assert abs(np.corrcoef(e[:-1].ravel(), e[1:].ravel())[0, 1]) < 0.03


def test_read_noise_scales_with_active_rows() -> None:
    """Every active row reads two cells (balanced): variance 2 * read_sigma^2 * (active rows)
    + 1/12 (3%, se 0.8%); rows of x with 10 and with 100 active inputs."""
    x, w = _one_conversion_case(512, 100, 64, ones=True)
    x[:256, 10:] = 0
    e = _error(NoiseConfig(read_sigma=0.2), x, w)
    for rows, part in ((10, e[:256]), (100, e[256:])):
        assert part.var() == pytest.approx(2 * 0.04 * rows + ROUND_VAR, rel=0.04)


def test_cell_variation_is_static_and_linear_in_x() -> None:
    """e = x @ D with one D per array instance: a least-squares fit of D leaves only the
    rounding (residual variance 1/12, 10%); D has variance 2 * cell_sigma^2 (the two cells of a
    balanced slice; 8% for 2048 entries, se 3%) and mean 0 (0.05)."""
    x, w = _one_conversion_case(600, 32, 64, seed=1)
    e = _error(NoiseConfig(cell_sigma=0.5), x, w)
    d, *_ = np.linalg.lstsq(x.astype(np.float64), e, rcond=None)
    resid = e - x @ d
    assert resid.var() == pytest.approx(ROUND_VAR, rel=0.1)
    assert d.var() == pytest.approx(2 * 0.25, rel=0.08)
    assert abs(d.mean()) < 0.05


def test_offset_constant_per_adc() -> None:
    """Each output's ADC has one offset: the error is the same across vectors (up to rounding:
    per-column std < 0.35) and across calls with other inputs; over 512 ADCs the offsets have
    variance sigma^2 (15%, se 6%)."""
    x, w = _one_conversion_case(64, 50, 512)
    noise = NoiseConfig(adc_offset_sigma=3.0)
    e1 = _error(noise, x, w)
    x2, _ = _one_conversion_case(64, 50, 512, seed=5)
    e2 = _error(noise, x2, w, row0=1000)
    assert e1.std(axis=0).max() < 0.35
    np.testing.assert_allclose(e1.mean(axis=0), e2.mean(axis=0), atol=0.2)
    assert e1.mean(axis=0).var() == pytest.approx(9.0, rel=0.15)


def test_stuck_fractions() -> None:
    """Of 64k cells, the fractions stuck at 0 and at the top level are within 0.01 of stuck_off
    and stuck_on (se 0.0012)."""
    cfg = CIMConfig(rows=128, cell_bits=2, weight_bits=3, weight_mapping="differential")
    w = np.ones((256, 128), np.int64)  # w+ cells at level 1, w- cells at level 0
    prep = prepare_noisy(w, cfg, NoiseConfig(stuck_off=0.1, stuck_on=0.05))
    pos, neg = prep.levels[:, 0, :128], prep.levels[:, 1, :128]
    assert abs((pos == 0).mean() - 0.1) < 0.01
    assert abs((pos == 3).mean() - 0.05) < 0.01
    assert abs((neg == 3).mean() - 0.05) < 0.01
    assert (pos == 1).mean() + (pos == 0).mean() + (pos == 3).mean() == 1.0


def test_normal_table() -> None:
    assert NORMAL.shape == (4096,)
    assert abs(float(NORMAL.astype(np.float64).mean())) < 1e-6
    assert float((NORMAL.astype(np.float64) ** 2).mean()) == pytest.approx(1.0, abs=1e-6)


# -- keys: seed, trial, batch, threads ------------------------------------------------------------

ALL = NoiseConfig(adc_sigma=0.7, adc_offset_sigma=0.5, cell_sigma=0.1, read_sigma=0.05,
                  stuck_off=0.01, stuck_on=0.01, seed=11)  # fmt: skip


def _net_case():
    rng = np.random.default_rng(2)
    x = np.minimum(rng.exponential(30, (100, 300)), 255).astype(np.int64)
    w = rng.integers(-127, 128, (300, 40))
    return x, w


@pytest.mark.parametrize("adc", ["linear", "rar", "bfp"])
def test_same_seed_same_numbers_other_seed_differs(adc: str) -> None:
    x, w = _net_case()
    cfg = CIMConfig(rows=64, adc=adc, adc_bits=4)
    a = noisy_mvm(x, w, cfg, ALL)
    np.testing.assert_array_equal(a, noisy_mvm(x, w, cfg, ALL))
    other = NoiseConfig(**{**ALL.__dict__, "seed": 12})
    assert (noisy_mvm(x, w, cfg, other) != a).mean() > 0.3
    assert (noisy_mvm(x, w, cfg, ALL, trial=1) != a).mean() > 0.3


@pytest.mark.parametrize("adc", ["linear", "bfp"])
def test_batch_1_equals_batch_100(adc: str) -> None:
    """Calls over single vectors (row0 = their global index) give the one call's numbers."""
    x, w = _net_case()
    cfg = CIMConfig(rows=64, adc=adc, adc_bits=4, block=3)
    whole = noisy_mvm(x, w, cfg, ALL)
    prep = prepare_noisy(w, cfg, ALL)
    ones = [noisy_mvm(x[m : m + 1], w, cfg, ALL, row0=m, prepared=prep) for m in range(100)]
    np.testing.assert_array_equal(np.concatenate(ones), whole)


def test_one_or_two_threads() -> None:
    x, w = _net_case()
    cfg = CIMConfig(rows=64, adc="rar", adc_bits=4, weight_mapping="balanced")
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = noisy_mvm(x, w, cfg, ALL)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = noisy_mvm(x, w, cfg, ALL)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one, two)


def test_prepared_must_match() -> None:
    x, w = _net_case()
    cfg = CIMConfig(rows=64, adc="rar", adc_bits=4)
    prep = prepare_noisy(w, cfg, ALL)
    with pytest.raises(ValueError, match="prepared= was drawn for another"):
        noisy_mvm(x, w, cfg, NoiseConfig(adc_sigma=0.1), prepared=prep)


def test_grouped_layers_key_each_group() -> None:
    """NoisyLayers (the engine's path): a grouped layer's groups are drawn with their own keys,
    once, and give noisy_mvm's numbers for those keys."""
    x, w = _net_case()
    xg = np.stack([x[:, :150], x[:, 150:]])
    wg = np.stack([w[:150], w[150:]])
    cfg = CIMConfig(rows=64, adc="rar", adc_bits=4)
    layers = NoisyLayers(ALL, trial=2)
    y, stats = layers.mvm("conv", xg, wg, cfg, None, 500, True)
    assert y.shape == (2, 100, 40) and stats.vectors == 200
    for g in range(2):
        alone = noisy_mvm(xg[g], wg[g], cfg, ALL, trial=2, layer=layer_key("conv"), group=g,
                          row0=500)  # fmt: skip
        np.testing.assert_array_equal(y[g], alone)
    assert not np.array_equal(y[0], noisy_mvm(xg[0], wg[0], cfg, ALL, row0=500))
    np.testing.assert_array_equal(layers.mvm("conv", xg, wg, cfg, None, 500, False), y)
