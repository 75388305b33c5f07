"""Converter architectures (energy.rar_search / bfp_search) and ADC energy models, pinned.

Cycle counts are checked on hand-made partial sums: F = 9 (128 rows, 2-bit cells, 1-bit DAC)
and b = 5, so a window is one of F - b + 1 = 5.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bfpdse.cim import CIMConfig, CIMStats, get_scheme
from bfpdse.cim.adc import search_cycles
from bfpdse.energy import EnergyConfig, LayerUse, converter, price
from bfpdse.energy.adc import comparator
from bfpdse.spec.point import make_point

#: hand-made partial sums of one row of outputs: msb -1, 0, 4, 5, 8
P = np.array([0, 1, 31, 32, 300])
F, B = 9, 5


def _stats(scheme: str, block: int = 5) -> CIMStats:
    """CIMStats of converting P once (one vector, one plane, one slice, one polarity)."""
    _, k = get_scheme(scheme).reference(P, B, F, block, True, 0)
    cycles = {"rar": F - k, "ideal": np.full_like(k, F)}.get(scheme, np.full_like(k, B))
    n = P.size
    blocks = -(-n // block) if scheme == "bfp" else 0
    hist = np.bincount(k, minlength=33)
    return CIMStats(
        vectors=1, macs=n, input_cycles=1, input_cycles_dense=1, wordline_drives=1,
        wordline_drives_dense=1, conversions=n, conversions_dense=n,
        adc_bit_cycles=int(cycles.sum()), adc_bit_cycles_dense=int(cycles.sum()),
        blocks=blocks, blocks_dense=blocks, window_hist=hist,
    )  # fmt: skip


def _cost(scheme: str, search: str, **energy):
    cim = CIMConfig(rows=128, cell_bits=2, dac_bits=1, adc=scheme, adc_bits=B, block=5)
    assert cim.full_bits == F
    e = EnergyConfig(rar_search=search, bfp_search=search, **energy)
    return price([LayerUse("L00", 1, P.size, 1, _stats(scheme))], cim, e, 1)


def test_search_cycles_of_each_architecture() -> None:
    assert [search_cycles(s, 5) for s in ("sequential", "binary", "flash")] == [4, 3, 1]
    assert [search_cycles(s, 1) for s in ("sequential", "binary", "flash")] == [0, 0, 0]
    assert search_cycles("binary", 2) == 1 and search_cycles("binary", 9) == 4
    with pytest.raises(ValueError, match="allowed sequential, binary, flash"):
        search_cycles("linear", 5)


def test_rar_sequential_pays_leading_zeros() -> None:
    """An F-bit SAR from the top: F - k cycles, k = max(0, msb - b + 1): 9+9+9+8+5 = 40."""
    assert _cost("rar", "sequential").adc_cycles == 40


@pytest.mark.parametrize(("search", "per_conversion"), [("binary", 3), ("flash", 1)])
def test_rar_with_a_window_search(search: str, per_conversion: int) -> None:
    """Search the window, then a b-bit conversion: 5 * (b + search cycles)."""
    report = _cost("rar", search)
    assert report.adc_cycles == P.size * (B + per_conversion)
    assert report.adc_bits_priced == B


@pytest.mark.parametrize(("search", "per_block"), [("sequential", 4), ("binary", 3), ("flash", 1)])
def test_bfp_block_search(search: str, per_block: int) -> None:
    """One block of 5: 5 b-bit conversions plus one search."""
    assert _cost("bfp", search).adc_cycles == P.size * B + per_block


def test_search_energy_per_architecture() -> None:
    """sequential/binary: comparator cycles of the F-bit converter; flash: F - b comparators."""
    full = converter(F, "default", 32.0, 1.28e9).energy_pj
    seq = _cost("bfp", "sequential").energy_by_component_pj["exponent_search"]
    binary = _cost("bfp", "binary").energy_by_component_pj["exponent_search"]
    flash = _cost("bfp", "flash").energy_by_component_pj["exponent_search"]
    assert seq == pytest.approx(full * 4 / (F + 1))  # rho = 1: cycles / (F + 1) of E_F
    assert binary == pytest.approx(full * 3 / (F + 1))
    assert flash == pytest.approx(4 * comparator(32.0).energy_pj)
    area = _cost("bfp", "flash").area_by_component_mm2["exponent_search"]
    assert area > 0 and _cost("bfp", "binary").area_by_component_mm2["exponent_search"] == 0


def test_timely_comparator_is_the_published_figure() -> None:
    """TIMELY Table II: 41.7 fJ and 40 um^2 per comparison at 65 nm (hwcomponents-library)."""
    c = comparator(65.0)
    assert c.energy_pj == pytest.approx(0.0417) and c.area_um2 == pytest.approx(40.0)


def test_isaac_exp_scales_by_two_per_bit() -> None:
    """hwcomponents-library IsaacADC: 1.67 pJ, 1200 um^2 at 8 b and 32 nm, times 2^(b - 8)."""
    for b in (4, 6, 8, 9):
        c = converter(b, "isaac_exp", 32.0, 1.28e9)
        assert c.energy_pj == pytest.approx(1.666666667 * 2.0 ** (b - 8))
        assert c.area_um2 == pytest.approx(1200.0 * 2.0 ** (b - 8))
        assert "IsaacADC" in c.source


def test_user_table_is_used_as_given() -> None:
    table = {5: 0.5, 9: {"pj": 3.0, "um2": 900.0}}
    report = _cost("bfp", "sequential", preset="table", adc_table=table)
    assert report.energy_by_component_pj["adc"] == pytest.approx(P.size * 0.5)
    seq = report.energy_by_component_pj["exponent_search"]
    assert seq == pytest.approx(3.0 * 4 / (F + 1))
    assert "energy.adc_table" in report.components["adc"].source


def test_user_table_missing_a_bit_count_names_it() -> None:
    with pytest.raises(ValueError, match="adc_table has no entry for 9 bits"):
        _cost("bfp", "sequential", preset="table", adc_table={5: 0.5})
    # flash needs no F-bit converter
    assert math.isfinite(_cost("bfp", "flash", preset="table", adc_table={5: 0.5}).energy_pj)


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"energy.bfp_search": "fast"}, ["bfp_search='fast'", "sequential, binary, flash"]),
        ({"energy.preset": "table"}, ["preset='table' needs adc_table"]),
        ({"energy.preset": "table", "energy.adc_table": {"x": 1}}, ["adc_table has a key 'x'"]),
        ({"energy.preset": "table", "energy.adc_table": {5: -1}}, ["must be >= 0"]),
    ],
)
def test_bad_converter_settings_are_named(settings: dict, words: list[str]) -> None:
    from bfpdse.errors import SpecError

    with pytest.raises(SpecError) as info:
        make_point({"cim.adc": "bfp", **settings})
    for word in words:
        assert word in str(info.value)


def test_search_settings_collapse_for_other_schemes() -> None:
    """rar_search means nothing to bfp and the reverse: sweeping it does not multiply points."""
    a = make_point({"cim.adc": "bfp", "energy.rar_search": "flash"})
    b = make_point({"cim.adc": "bfp"})
    assert a.point_id == b.point_id
    c = make_point({"cim.adc": "bfp", "energy.bfp_search": "flash"})
    assert c.point_id != b.point_id
