"""The contract every registered ADC scheme keeps, run over the registry (bfpdse.cim.adc).

A scheme's traits are promises the rest of bfpdse relies on: collapse rules, pricing and plots ask
the scheme instead of comparing names. Each test here checks one promise on every scheme, and the
toy-scheme test checks that a scheme added to the registry alone works end to end.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from naive import adc as naive_adc

from bfpdse.cim import CIMConfig, calibrate_window, crossbar_mvm, get_scheme, scheme_names
from bfpdse.cim.adc import ADC_SCHEMES, LINEAR, register, unregister
from bfpdse.energy import EnergyConfig, LayerUse, dense_stats, price
from bfpdse.spec.point import make_point

SCHEMES = scheme_names()
SEARCHES = ("sequential", "binary", "flash")
RNG = np.random.default_rng(7)
X = RNG.integers(0, 256, size=(6, 40))
W = RNG.integers(-127, 128, size=(40, 20))


def _cfg(scheme: str, **kw) -> CIMConfig:
    return CIMConfig(rows=16, adc=scheme, **{"adc_bits": 4, "block": 4, **kw})


def _mvm(cfg: CIMConfig, x=X, w=W, stats: bool = False):
    window = calibrate_window(x, w, cfg) if get_scheme(cfg.adc).needs_window else None
    return crossbar_mvm(x, w, cfg, window=window, return_stats=stats)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_reference_matches_the_held_out_naive_adc(scheme: str) -> None:
    """The registry's numpy reference gives the naive reference's codes and windows."""
    cfg = _cfg(scheme)
    full = cfg.full_bits
    mags = RNG.integers(0, 2**full, size=(5, 12))
    mags[0] = 0
    window = 2 if get_scheme(scheme).needs_window else None
    for b in (1, 3, full):
        c = replace(cfg, adc_bits=b)
        code, k, _ = naive_adc(mags, c, full, b, window)
        q, kk = get_scheme(scheme).reference(mags, b, full, c.block, True, window or 0)
        assert np.array_equal(q, code << k), (scheme, b)
        assert np.array_equal(kk, k), (scheme, b)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_full_resolution_is_exact(scheme: str) -> None:
    """At b = F every scheme keeps every bit: y = x @ w."""
    cfg = _cfg(scheme, adc_bits=None)
    assert np.array_equal(_mvm(cfg), X @ W)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_unused_settings_change_nothing(scheme: str) -> None:
    """adc_bits means nothing to a scheme that does not use bits, block to one without blocks."""
    s = get_scheme(scheme)
    y, st = _mvm(_cfg(scheme), stats=True)
    y_bits, st_bits = _mvm(_cfg(scheme, adc_bits=2), stats=True)
    y_block, st_block = _mvm(_cfg(scheme, block=3), stats=True)
    if not s.uses_bits:
        assert np.array_equal(y, y_bits) and st.to_dict() == st_bits.to_dict()
    if not s.uses_block:
        assert np.array_equal(y, y_block) and st.to_dict() == st_block.to_dict()
    else:
        assert st.blocks != st_block.blocks  # 20 outputs: 5 blocks of 4, 7 of 3


@pytest.mark.parametrize("scheme", SCHEMES)
def test_window_promise(scheme: str) -> None:
    """A scheme that needs a window refuses to run without one; the others refuse one."""
    cfg = _cfg(scheme)
    if get_scheme(scheme).needs_window:
        with pytest.raises(ValueError, match="needs window="):
            crossbar_mvm(X, W, cfg)
    else:
        with pytest.raises(ValueError, match="leave it out"):
            crossbar_mvm(X, W, cfg, window=1)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_collapse_rules_follow_the_traits(scheme: str) -> None:
    """Points that differ only in a setting the scheme does not use are one point."""
    s = get_scheme(scheme)

    def pid(**kw) -> str:
        return make_point({"cim.adc": scheme, **{f"cim.{k}": v for k, v in kw.items()}}).point_id

    assert (pid(block=4) == pid(block=8)) == (not s.uses_block)
    assert (pid(adc_bits=3) == pid(adc_bits=5)) == (not s.uses_bits)
    calib = {"quant.calib_samples": 64}, {"quant.calib_samples": 128}
    ids = [make_point({"cim.adc": scheme, **c}).point_id for c in calib]
    assert (ids[0] == ids[1]) == (not s.needs_window)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_dense_stats_count_what_the_kernel_counts_without_zero_planes(scheme: str) -> None:
    """With every input plane nonzero, shapes-only counts equal crossbar_mvm's (rar: its
    conversions and blocks; its cycles are data-dependent, the best case bounds them)."""
    x = np.full((3, 40), 255)
    cfg = _cfg(scheme)
    _, st = _mvm(cfg, x=x, stats=True)
    d = dense_stats(40, 20, 3, cfg)
    for name in ("conversions", "conversions_dense", "blocks", "blocks_dense", "input_cycles"):
        assert getattr(st, name) == getattr(d, name), name
    if get_scheme(scheme).search_per == "conversion":
        assert st.adc_bit_cycles >= d.adc_bit_cycles
    else:
        assert st.adc_bit_cycles == d.adc_bit_cycles


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("search", SEARCHES)
def test_every_scheme_prices_under_every_search(scheme: str, search: str) -> None:
    """Finite, non-negative prices; leading-one logic only where range-aware; a search only
    where the window is searched and more than one window is possible."""
    cfg = _cfg(scheme)
    s = get_scheme(scheme)
    _, st = _mvm(cfg, stats=True)
    layer = LayerUse("L00", 40, 20, 6, st)
    energy = EnergyConfig(rar_search=search, bfp_search=search)
    report = price([layer], cfg, energy, 6)
    parts = report.energy_by_component_pj
    assert all(np.isfinite(v) and v >= 0 for v in parts.values())
    assert (parts["bfp_logic"] > 0) == s.range_aware
    use = s.converter(cfg, search)
    searched = s.search_per is not None and not use.early_stop
    assert (parts["exponent_search"] > 0) == searched
    assert report.adc_bits_priced == use.bits
    assert np.isfinite(report.latency_ns) and report.latency_ns > 0


@pytest.fixture
def toy_scheme() -> Iterator[str]:
    """A scheme added by a registry entry alone: linear's kernel, a name of its own."""

    @register("toy", LINEAR)
    def _toy(p, b, full_bits, block, nearest, window):
        """Same numbers as linear."""
        return ADC_SCHEMES["linear"].reference(p, b, full_bits, block, nearest, window)

    yield "toy"
    unregister("toy")


def test_a_toy_scheme_needs_only_the_registry(toy_scheme: str) -> None:
    """Config, design point, kernel, pricing and plots take a scheme registered in a test."""
    from bfpdse.plots.pareto import iso_accuracy
    from bfpdse.plots.style import scheme_color, scheme_order

    cfg = _cfg(toy_scheme)
    assert np.array_equal(_mvm(cfg), _mvm(_cfg("linear")))
    point = make_point({"cim.adc": toy_scheme, "cim.adc_bits": 5, "cim.block": 4})
    assert point.settings()["cim.block"] is None and point.settings()["cim.adc_bits"] == 5
    _, st = _mvm(cfg, stats=True)
    assert price([LayerUse("L00", 40, 20, 6, st)], cfg, EnergyConfig(), 6).energy_pj > 0
    assert scheme_order(["toy", "bfp", "ideal"]) == ["ideal", "bfp", "toy"]
    assert scheme_color(toy_scheme).startswith("#")
    rows = pd.DataFrame(
        {
            "cim.adc": ["calibrated", toy_scheme],
            "status": ["ok", "ok"],
            "accuracy": [0.9, 0.9],
            "accuracy_drop": [0.0, 0.0],
            "energy_pj": [2.0, 1.0],
            "point_id": ["a", "b"],
        }
    )
    assert iso_accuracy(rows).gains[toy_scheme] == pytest.approx(2.0)


def test_registry_names_and_traits() -> None:
    assert scheme_names() == ("ideal", "linear", "calibrated", "rar", "bfp")
    assert [s for s in SCHEMES if get_scheme(s).range_aware] == ["rar", "bfp"]
    assert get_scheme("calibrated").baseline and get_scheme("ideal").exact
    with pytest.raises(ValueError, match="registered twice"):
        register("bfp", LINEAR)(lambda *a: a)
