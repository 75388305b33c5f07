"""ADC presets reproduce their published figures (docs/energy.md); partial-conversion shares."""

from __future__ import annotations

import pytest
from hwcomponents.scaling import tech_node_area, tech_node_energy
from hwcomponents_adc import ADC

from bfpdse.energy import cdac_share, conversion_share, converter, search_share
from bfpdse.energy.presets import (
    cell_component,
    dac_component,
    sample_hold_component,
    shift_add_component,
)

REL = 1e-3


@pytest.mark.parametrize(
    ("bits", "rate", "energy_pj", "area_um2"),
    [(4, 1e8, 0.9237, 3274.0), (8, 1e8, 1.714, 3939.0), (8, 1.2e9, 1.849, None)],
)
def test_default_matches_energy_md_reference(bits, rate, energy_pj, area_um2) -> None:
    adc = converter(bits, "default", 32, rate)
    assert adc.energy_pj == pytest.approx(energy_pj, rel=REL)
    if area_um2 is not None:
        assert adc.area_um2 == pytest.approx(area_um2, rel=REL)
    assert adc.conversion_ns == pytest.approx(1e9 / rate)
    assert not adc.extrapolated


@pytest.mark.parametrize(("bits", "node_nm", "rate"), [(5, 32, 1.28e9), (6, 22, 1e8), (9, 45, 1e9)])
def test_default_is_hwcomponents_adc_full_energy(bits, node_nm, rate) -> None:
    # E = convert().energy / 0.8: a conversion is priced at the full energy (adc.py docstring)
    model = ADC(n_bits=bits, tech_node=node_nm * 1e-9, throughput=rate)
    adc = converter(bits, "default", node_nm, rate)
    assert adc.energy_pj == pytest.approx(model.convert().energy / 0.8 * 1e12, rel=1e-12)
    assert adc.area_um2 == pytest.approx(model.area * 1e12, rel=1e-12)


@pytest.mark.parametrize("preset", ["default", "isaac"])
@pytest.mark.parametrize("bits", [1, 2, 3])
def test_below_four_bits_scales_by_b_over_4_and_flags(preset, bits) -> None:
    four = converter(4, preset, 32, 1e9)
    low = converter(bits, preset, 32, 1e9)
    assert low.energy_pj == pytest.approx(four.energy_pj * bits / 4, rel=1e-12)
    assert low.extrapolated and not four.extrapolated
    assert "extrapolated" in low.source


ISAAC_TABLE_32NM = {4: 0.79, 5: 0.99, 6: 1.20, 7: 1.42, 8: 1.67, 9: 1.97, 10: 2.38}


@pytest.mark.parametrize(("bits", "energy_pj"), ISAAC_TABLE_32NM.items())
def test_isaac_reproduces_resolution_scaled_table(bits, energy_pj) -> None:
    adc = converter(bits, "isaac", 32, 1.2e9)
    assert adc.energy_pj == pytest.approx(energy_pj, rel=REL)
    assert not adc.extrapolated


def test_isaac_8_bit_is_table_one() -> None:
    # ISAAC Table I: 16 mW for 8 ADCs at 1.2 GS/s, 1200 um^2 each (9600 / 8)
    adc = converter(8, "isaac", 32, 1.2e9)
    assert adc.energy_pj == pytest.approx(16e-3 / 8 / 1.2e9 * 1e12, rel=5e-3)
    assert adc.area_um2 == pytest.approx(1200.0)


def test_isaac_other_node_uses_hwcomponents_scaling() -> None:
    at22 = converter(6, "isaac", 22, 1e9)
    assert at22.energy_pj == pytest.approx(1.20 * tech_node_energy(22e-9, 32e-9), rel=1e-12)
    assert at22.area_um2 == pytest.approx(626.91 * tech_node_area(22e-9, 32e-9), rel=1e-12)


def test_isaac_above_table_is_extrapolated_and_rising() -> None:
    ten, twelve = converter(10, "isaac", 32, 1e9), converter(12, "isaac", 32, 1e9)
    assert twelve.extrapolated
    assert twelve.energy_pj == pytest.approx(2.379022742 * (2.379022742 / 1.969078145) ** 2)
    assert twelve.energy_pj > ten.energy_pj


@pytest.mark.parametrize(("node_nm", "a", "b"), [(22, 0.538, 4.3753), (32, 1.1294, 8.8998)])
@pytest.mark.parametrize("bits", [3, 5, 8])
def test_neurosim_formula(node_nm, a, b, bits) -> None:
    # E = (a N + b) uW * (N + 1) * 1 ns, in pJ
    adc = converter(bits, "neurosim", node_nm, 1e9)
    assert adc.energy_pj == pytest.approx((a * bits + b) * 1e-6 * (bits + 1) * 1e-9 * 1e12)
    assert adc.conversion_ns == pytest.approx(bits + 1)
    assert not adc.extrapolated


def test_neurosim_pinned_values() -> None:
    # hand-computed from docs/energy.md: 32 nm, 8 b: (1.1294 * 8 + 8.8998) * 9 fJ = 161.42 fJ
    assert converter(8, "neurosim", 32, 1e9).energy_pj == pytest.approx(0.16142, rel=REL)
    # 22 nm, 5 b: (0.538 * 5 + 4.3753) * 6 fJ = 42.39 fJ
    assert converter(5, "neurosim", 22, 1e9).energy_pj == pytest.approx(0.042392, rel=REL)


def test_neurosim_other_node_scales_from_nearer_reference() -> None:
    at45 = converter(6, "neurosim", 45, 1e9)
    at32 = converter(6, "neurosim", 32, 1e9)
    assert at45.energy_pj == pytest.approx(at32.energy_pj * tech_node_energy(45e-9, 32e-9))


def test_cdac_and_conversion_shares() -> None:
    assert cdac_share(9, 9) == 1.0
    assert cdac_share(9, 0) == 0.0
    # the MSB decision switches half of the capacitance (of 2^9 - 1 units)
    assert cdac_share(9, 1) == pytest.approx(256 / 511)
    for rho in (0.0, 0.3, 1.0):
        assert conversion_share(6, 6, rho) == pytest.approx(1.0)  # a full conversion costs E
    # rho = 1: linear in cycles, one sampling phase plus c cycles of N + 1
    assert conversion_share(9, 7, 1.0) == pytest.approx(8 / 10)
    assert search_share(9, 4, 1.0) == pytest.approx(4 / 10)
    assert search_share(9, 0, 0.5) == 0.0
    # MSB-heavy CDAC: with rho < 1 a short conversion costs more than its cycle share
    assert conversion_share(9, 3, 0.0) > conversion_share(9, 3, 1.0)


def test_shared_components_match_energy_md_at_32nm() -> None:
    cell, dac, sh, sa = (
        cell_component(),
        dac_component(1),
        sample_hold_component(),
        shift_add_component(),
    )
    assert cell.pj_per_event == pytest.approx(1.83e-3, rel=5e-3)  # 1.83 fJ cell MAC
    assert 0.39 <= dac.pj_per_event <= 0.42  # 1-bit DAC / word-line drive
    assert sh.pj_per_event == pytest.approx(1e-3, rel=0.05)  # ~1 fJ per sample
    assert sa.pj_per_event == pytest.approx(0.021) and sa.area_um2 == pytest.approx(60.0)
    for part in (cell, dac, sh, sa):
        assert part.node_nm == 32.0 and part.source
    # a 2-bit DAC costs more than a 1-bit one (library resolution scaling)
    assert dac_component(2).pj_per_event > dac.pj_per_event
