"""price() and dense_stats(): accounting on hand-made counts, breakdown, overrides, shapes."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from bfpdse.cim import CIMConfig, CIMStats, crossbar_mvm
from bfpdse.energy import (
    COMPONENTS,
    EnergyConfig,
    LayerUse,
    arrays_needed,
    cdac_share,
    converter,
    dense_stats,
    price,
)

ENERGY = EnergyConfig()  # default preset, 32 nm, 1.28 GS/s


def e_adc(bits: int, energy: EnergyConfig = ENERGY) -> float:
    return converter(bits, energy.preset, energy.tech_node_nm, energy.adc_throughput_hz).energy_pj


def hist_at(**counts: int) -> np.ndarray:
    h = np.zeros(33, dtype=np.int64)
    for k, c in counts.items():
        h[int(k[1:])] = c
    return h


def one_layer(stats: CIMStats, k: int = 128, n: int = 1) -> list[LayerUse]:
    return [LayerUse("l0", k, n, stats.vectors, stats)]


def test_rar_partial_conversion_costs_its_cycle_share() -> None:
    cim = CIMConfig(adc="rar", adc_bits=5)  # 128 rows, 2-bit cells: F = 9
    assert cim.full_bits == 9
    # one conversion with window k = 2: F - k = 7 cycles of the 9-bit converter
    s = CIMStats(vectors=1, conversions=1, adc_bit_cycles=7, window_hist=hist_at(k2=1))
    rep = price(one_layer(s), cim, ENERGY, 1)
    assert rep.energy_by_component_pj["adc"] == pytest.approx(e_adc(9) * (7 + 1) / (9 + 1))
    assert rep.adc_bits_priced == 9
    # rho < 1 adds the MSB-heavy CDAC share, from the window histogram
    rep_half = price(one_layer(s), cim, EnergyConfig(rho=0.5), 1)
    want = e_adc(9) * (0.5 * 0.8 + 0.5 * cdac_share(9, 7))
    assert rep_half.energy_by_component_pj["adc"] == pytest.approx(want)


def test_rar_totals_over_mixed_windows() -> None:
    cim = CIMConfig(adc="rar", adc_bits=5)
    # windows 0, 2, 4 -> 9 + 7 + 5 cycles
    s = CIMStats(vectors=1, conversions=3, adc_bit_cycles=21, window_hist=hist_at(k0=1, k2=1, k4=1))
    for rho in (1.0, 0.25):
        rep = price(one_layer(s), cim, EnergyConfig(rho=rho), 1)
        want = sum(
            e_adc(9) * (rho * (c + 1) / 10 + (1 - rho) * cdac_share(9, c)) for c in (9, 7, 5)
        )
        assert rep.energy_by_component_pj["adc"] == pytest.approx(want)
    assert rep.adc_cycles == 21
    assert rep.energy_by_component_pj["bfp_logic"] > 0  # rar outputs pass the BFP logic
    assert rep.energy_by_component_pj["exponent_search"] == 0


def test_rar_rho_below_one_needs_the_histogram() -> None:
    cim = CIMConfig(adc="rar", adc_bits=5)
    s = CIMStats(vectors=1, conversions=3, adc_bit_cycles=21)  # empty histogram
    with pytest.raises(ValueError, match="window_hist"):
        price(one_layer(s), cim, EnergyConfig(rho=0.5), 1)


def test_bfp_members_and_exponent_search() -> None:
    cim = CIMConfig(adc="bfp", adc_bits=5, block=8)  # F = 9
    s = CIMStats(vectors=1, conversions=16, adc_bit_cycles=80, blocks=2, blocks_dense=2)
    rep = price(one_layer(s), cim, ENERGY, 1)
    e = rep.energy_by_component_pj
    assert e["adc"] == pytest.approx(16 * e_adc(5))
    # F - b = 4 comparator cycles of the 9-bit converter per block, no sampling phase
    assert e["exponent_search"] == pytest.approx(2 * e_adc(9) * 4 / 10)
    assert e["bfp_logic"] == pytest.approx(16 * rep.components["bfp_logic"].pj_per_event)
    assert rep.adc_cycles == 80 + 2 * 4
    assert rep.adc_bits_priced == 5
    # a given per-block price replaces the cycles (and adds no ADC cycles)
    for energy in (
        EnergyConfig(exponent_search_pj=0.3),
        EnergyConfig(overrides={"exponent_search": 0.3}),
    ):
        rep2 = price(one_layer(s), cim, energy, 1)
        assert rep2.energy_by_component_pj["exponent_search"] == pytest.approx(0.6)
        assert rep2.adc_cycles == 80


@pytest.mark.parametrize(
    ("adc", "bits", "priced"), [("linear", 5, 5), ("calibrated", 6, 6), ("ideal", None, 9)]
)
def test_fixed_schemes_pay_full_conversions(adc, bits, priced) -> None:
    cim = CIMConfig(adc=adc, adc_bits=bits)
    s = CIMStats(vectors=1, conversions=10, adc_bit_cycles=10 * priced)
    rep = price(one_layer(s), cim, ENERGY, 1)
    assert rep.energy_by_component_pj["adc"] == pytest.approx(10 * e_adc(priced))
    assert rep.energy_by_component_pj["bfp_logic"] == 0
    assert rep.energy_by_component_pj["exponent_search"] == 0
    assert rep.adc_bits_priced == priced


def test_wider_adc_than_range_is_priced_at_f_bits() -> None:
    cim = CIMConfig(rows=16, adc="linear", adc_bits=12)  # F = 6
    rep = price(one_layer(dense_stats(16, 4, 1, cim), k=16, n=4), cim, ENERGY, 1)
    assert rep.adc_bits_priced == cim.full_bits == 6


CONFIGS = [
    CIMConfig(adc="bfp", adc_bits=4, block=4),
    CIMConfig(adc="rar", adc_bits=3, weight_mapping="balanced"),
    CIMConfig(adc="linear", adc_bits=6, weight_mapping="offset", dac_bits=2),
    CIMConfig(adc="ideal", rows=64, input_mantissa_bits=4),
]


@pytest.mark.parametrize("cim", CONFIGS)
@pytest.mark.parametrize("preset", ["default", "isaac", "neurosim"])
def test_breakdown_sums_to_total_and_row_is_flat(cim, preset) -> None:
    layers = [
        LayerUse("conv1", 27, 16, 2 * 100, dense_stats(27, 16, 2 * 100, cim)),
        LayerUse("fc", 300, 10, 2, dense_stats(300, 10, 2, cim)),
    ]
    rep = price(layers, cim, EnergyConfig(preset=preset), inferences=2)
    row = rep.to_dict()
    parts = [row[f"energy_{name}_pj"] for name in COMPONENTS]
    assert row["energy_pj"] == pytest.approx(math.fsum(parts), rel=1e-12)
    assert all(v >= 0 for v in parts) and row["energy_pj"] > 0
    per_layer = sum(sum(e.values()) for e in rep.layer_energy_pj.values())
    assert per_layer == pytest.approx(row["energy_pj"], rel=1e-12)
    macs = (200 * 27 * 16 + 2 * 300 * 10) / 2
    assert row["tops_per_w"] == pytest.approx(2 * macs / row["energy_pj"])
    assert row["area_mm2"] > row["area_adc_mm2"] > 0 and row["area_array_mm2"] > 0
    assert row["energy_preset"] == preset
    assert row["hwcomponents_adc_version"] and row["hwcomponents_version"]
    assert all(isinstance(v, (int, float, bool, str)) for v in row.values())
    expected = {
        "energy_pj", *(f"energy_{c}_pj" for c in COMPONENTS), "conversions",
        "conversions_dense", "adc_cycles", "adc_cycles_dense", "latency_ns", "area_mm2",
        "area_adc_mm2", "area_array_mm2", "tops_per_w", "adc_bits_priced", "adc_extrapolated",
        "energy_preset", "hwcomponents_version", "hwcomponents_adc_version",
        "hwcomponents_library_version",
    }  # fmt: skip
    assert set(row) == expected


def test_results_are_per_inference() -> None:
    cim = CIMConfig(adc="bfp", adc_bits=5)
    one = dense_stats(64, 8, 3, cim)
    four = one + one + one + one
    r1 = price([LayerUse("l", 64, 8, 3, one)], cim, ENERGY, 1).to_dict()
    r4 = price([LayerUse("l", 64, 8, 12, four)], cim, ENERGY, 4).to_dict()
    for key in ("energy_pj", "conversions", "adc_cycles_dense", "latency_ns", "tops_per_w"):
        assert r4[key] == pytest.approx(r1[key]), key
    assert r4["area_mm2"] == r1["area_mm2"]  # area is per design


def _skip_half(s: CIMStats) -> CIMStats:
    return replace(
        s,
        input_cycles=s.input_cycles // 2,
        wordline_drives=s.wordline_drives // 2,
        conversions=s.conversions // 2,
        adc_bit_cycles=s.adc_bit_cycles // 2,
        blocks=s.blocks // 2,
        window_hist=s.window_hist // 2,
    )


@pytest.mark.parametrize("adc", ["bfp", "rar", "linear"])
def test_zero_plane_skipping_lowers_array_dac_and_adc_energy(adc) -> None:
    cim = CIMConfig(adc=adc, adc_bits=5)
    dense = dense_stats(256, 32, 4, cim)
    skipped = _skip_half(dense)
    a = price(one_layer(dense, 256, 32), cim, ENERGY, 1)
    b = price(one_layer(skipped, 256, 32), cim, ENERGY, 1)
    for name in ("array", "dac", "adc", "sample_hold", "shift_add"):
        assert b.energy_by_component_pj[name] == pytest.approx(a.energy_by_component_pj[name] / 2)
    assert b.conversions_dense == a.conversions_dense == dense.conversions_dense
    assert b.conversions == a.conversions / 2
    assert b.latency_ns < a.latency_ns


def test_skipping_in_the_engine_is_priced() -> None:
    # inputs below 16 leave the top 4 of 8 planes all zero: the engine skips them
    cim = CIMConfig(rows=16, cols=32, adc="bfp", adc_bits=4, block=4)
    rng = np.random.default_rng(1)
    x = rng.integers(1, 16, size=(3, 20))
    w = rng.integers(-127, 128, size=(20, 6))
    _, stats = crossbar_mvm(x, w, cim, return_stats=True)
    assert stats.conversions < stats.conversions_dense
    rep = price([LayerUse("l", 20, 6, 3, stats)], cim, ENERGY, 1)
    dense = price([LayerUse("l", 20, 6, 3, dense_stats(20, 6, 3, cim))], cim, ENERGY, 1)
    assert rep.energy_pj < dense.energy_pj
    assert rep.conversions_dense == dense.conversions == stats.conversions_dense / 1


def test_overrides_replace_a_components_price() -> None:
    cim = CIMConfig(adc="linear", adc_bits=5)
    s = dense_stats(128, 16, 2, cim)
    energy = EnergyConfig(overrides={"dac": 1.0, "array": 0.0, "adc": 2.0, "shift_add": 0.5})
    rep = price(one_layer(s, 128, 16), cim, energy, 1)
    e = rep.energy_by_component_pj
    assert e["dac"] == pytest.approx(s.wordline_drives * 1.0)
    assert e["array"] == 0.0
    assert e["adc"] == pytest.approx(s.conversions * 2.0)
    assert e["shift_add"] == pytest.approx(s.conversions * 0.5)
    assert rep.components["dac"].source.startswith("override")
    base = price(one_layer(s, 128, 16), cim, ENERGY, 1).energy_by_component_pj
    assert e["sample_hold"] == base["sample_hold"]  # untouched parts keep their price


def test_array_energy_counts_every_driven_cell() -> None:
    cim = CIMConfig(adc="linear", adc_bits=5)  # S = 4, differential: 2 columns per slice
    s = CIMStats(vectors=1, wordline_drives=100)
    rep = price(one_layer(s, 128, 3), cim, ENERGY, 1)
    cells = 100 * 3 * 4 * 2
    want = cells * rep.components["array"].pj_per_event
    assert rep.energy_by_component_pj["array"] == pytest.approx(want)


def test_latency_model_by_hand() -> None:
    cim = CIMConfig(adc="linear", adc_bits=5)  # S = 4, 2 columns per slice
    energy = EnergyConfig(adc_throughput_hz=1e9, cols_per_adc=8)
    # K = 256: 2 row tiles; N = 16: 128 columns, one array per tile, 16 ADCs each
    s = dense_stats(256, 16, 1, cim)
    assert s.input_cycles == 2 * 8 and s.conversions == 2 * 8 * 4 * 2 * 16
    rep = price(one_layer(s, 256, 16), cim, energy, 1)
    # ADC bound: 2048 conversions of 1 ns over 32 ADCs; the arrays need 8 cycles of 1 ns
    assert rep.latency_ns == pytest.approx(2048 * 1.0 / 32)
    slow = price(one_layer(s, 256, 16), cim, replace(energy, freq_hz=1e7), 1)
    assert slow.latency_ns == pytest.approx(8 * 100.0)  # array bound: 8 cycles of 100 ns


def test_area_maps_the_whole_network() -> None:
    cim = CIMConfig(adc="linear", adc_bits=5)
    layer = LayerUse("l", 300, 100, 1, dense_stats(300, 100, 1, cim))
    # ceil(300 / 128) = 3 tiles, 100 * 4 slices * 2 columns = 800 -> ceil(800 / 128) = 7
    assert arrays_needed(layer, cim) == 21
    rep = price([layer, layer], cim, ENERGY, 1)
    row = rep.to_dict()
    adcs = 42 * (128 // 8)
    assert row["area_adc_mm2"] == pytest.approx(adcs * e_area(5) * 1e-6)
    cell = rep.components["array"].area_um2
    assert row["area_array_mm2"] == pytest.approx(42 * 128 * 128 * cell * 1e-6)


def e_area(bits: int) -> float:
    return converter(bits, "default", 32, ENERGY.adc_throughput_hz).area_um2


def test_extrapolated_flag_reaches_the_row() -> None:
    low = CIMConfig(adc="linear", adc_bits=3)
    ok = CIMConfig(adc="rar", adc_bits=3)  # rar converts on the F = 9 bit converter
    for cim, flag in ((low, True), (ok, False)):
        row = price(one_layer(dense_stats(128, 4, 1, cim), 128, 4), cim, ENERGY, 1).to_dict()
        assert row["adc_extrapolated"] is flag
    row = price(one_layer(dense_stats(128, 4, 1, low), 128, 4), low, ENERGY, 1).to_dict()
    assert row["energy_adc_pj"] == pytest.approx(row["conversions"] * e_adc(4) * 3 / 4)


def test_price_rejects_bad_input() -> None:
    cim = CIMConfig()
    s = dense_stats(8, 2, 1, cim)
    with pytest.raises(ValueError, match="inferences"):
        price([LayerUse("l", 8, 2, 1, s)], cim, ENERGY, 0)
    with pytest.raises(ValueError, match="empty"):
        price([], cim, ENERGY, 1)
    with pytest.raises(ValueError, match="stats.vectors=1"):
        price([LayerUse("l", 8, 2, 5, s)], cim, ENERGY, 1)
    with pytest.raises(ValueError, match="k=0"):
        price([LayerUse("l", 0, 2, 1, s)], cim, ENERGY, 1)


@pytest.mark.parametrize(
    "cim",
    [
        CIMConfig(rows=16, cols=32, adc="ideal"),
        CIMConfig(rows=16, cols=32, adc="linear", adc_bits=4, weight_mapping="offset"),
        CIMConfig(rows=16, cols=32, adc="bfp", adc_bits=3, block=4, weight_mapping="balanced"),
        CIMConfig(rows=16, cols=32, adc="bfp", adc_bits=4, block=3, input_mantissa_bits=3),
        CIMConfig(rows=16, cols=32, adc="linear", adc_bits=4, dac_bits=3, input_mantissa_bits=4),
    ],
)
def test_dense_stats_equal_the_engine_when_nothing_is_skipped(cim) -> None:
    # every input is 255 (all planes nonzero); 40 rows -> 3 tiles, the last one short
    x = np.full((2, 40), 255, dtype=np.int64)
    w = np.random.default_rng(2).integers(-127, 128, size=(40, 10))
    _, got = crossbar_mvm(x, w, cim, return_stats=True)
    est = dense_stats(40, 10, 2, cim)
    for name in (
        "vectors", "macs", "input_cycles", "input_cycles_dense", "wordline_drives",
        "wordline_drives_dense", "conversions", "conversions_dense", "adc_bit_cycles",
        "adc_bit_cycles_dense", "blocks", "blocks_dense",
    ):  # fmt: skip
        assert getattr(est, name) == getattr(got, name), name


def test_dense_stats_rar_is_the_best_case() -> None:
    cim = CIMConfig(adc="rar", adc_bits=5)  # F = 9
    s = dense_stats(128, 4, 1, cim)
    assert s.adc_bit_cycles == s.conversions * 5  # F - max(0, F - b) cycles each
    assert s.window_hist[4] == s.conversions  # k = F - b
    skipped = dense_stats(128, 4, 1, CIMConfig(adc="rar", adc_bits=5, input_mantissa_bits=2))
    # skipped conversions count as converting p = 0: F cycles in the dense count
    extra = skipped.conversions_dense - skipped.conversions
    assert skipped.adc_bit_cycles_dense == skipped.conversions * 5 + extra * 9


def test_dense_stats_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="n=0"):
        dense_stats(4, 0, 1, CIMConfig())
    with pytest.raises(ValueError, match="vectors=-1"):
        dense_stats(4, 2, -1, CIMConfig())
