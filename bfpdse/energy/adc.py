"""ADC energy, area and conversion time per preset, and the price of partial conversions.

A converter's full conversion costs E (pJ). We price a conversion at the full E, not at the
0.8 E that hwcomponents-adc books per ``convert()``: the model puts the other 0.2 E into
leakage power computed at the full sample rate, and our cost model has no separate leakage term,
so the whole E is charged to the conversion that keeps the converter busy (the reference
values of docs/energy.md are of E).

A SAR conversion of N bits runs one sampling phase and N bit cycles. Stopping after c cycles costs
(docs/energy.md "Cycles of a range-aware ADC", estimate)

    E(c) = E * [rho * (c + 1) / (N + 1) + (1 - rho) * cdac_share(N, c)]

where rho is the share that scales with cycles and cdac_share is the share of a binary-weighted
capacitive DAC's switching energy spent on the top c decisions (bit i from the top weighs
2^(N - i)); a full conversion costs E for every rho.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from hwcomponents_adc import ADC
from hwcomponents_library.library.isaac import IsaacADC
from hwcomponents_library.library.timely import TimelyChargingComparator

from bfpdse.energy.presets import (
    HWCOMPONENTS_ADC_SOURCE,
    ISAAC_ADC_NODE_NM,
    ISAAC_ADC_SOURCE,
    ISAAC_ADC_TABLE,
    ISAAC_EXP_SOURCE,
    NEUROSIM_CYCLE_NS,
    NEUROSIM_SAR_COEFFS,
    NEUROSIM_SOURCE,
    PJ_PER_J,
    UM2_PER_M2,
    area_scale,
    energy_scale,
)

#: hwcomponents-adc asserts n_bits >= 4; below, the 4-bit energy is scaled by b / 4
MODEL_MIN_BITS = 4
#: the share of hwcomponents-adc's E that convert() returns (the rest is booked as leakage)
HWC_DYNAMIC_SHARE = 0.8


@dataclass(frozen=True)
class Converter:
    """One ADC: full-conversion energy (pJ), area (um^2), conversion time (ns), provenance."""

    bits: int
    energy_pj: float
    area_um2: float
    conversion_ns: float
    extrapolated: bool
    source: str


def hwc_adc(bits: int, node_nm: float, throughput_hz: float) -> tuple[float, float]:
    """E (pJ, the full energy, convert().energy / 0.8) and area (um^2) from hwcomponents-adc."""
    adc = ADC(n_bits=bits, tech_node=node_nm * 1e-9, throughput=throughput_hz)
    return adc.convert().energy / HWC_DYNAMIC_SHARE * PJ_PER_J, adc.area * UM2_PER_M2


def _default(bits: int, node_nm: float, throughput_hz: float) -> Converter:
    nb = max(bits, MODEL_MIN_BITS)
    e, area = hwc_adc(nb, node_nm, throughput_hz)
    source = f"{HWCOMPONENTS_ADC_SOURCE}, {nb} b, {node_nm:g} nm, {throughput_hz:g} S/s"
    if bits < MODEL_MIN_BITS:
        # one SAR cycle per bit: a b-bit conversion is b/4 of the 4-bit one; area kept at 4 bits
        e *= bits / MODEL_MIN_BITS
        source += f"; extrapolated to {bits} b as E(4 b) * {bits}/4, area of 4 b"
    return Converter(bits, e, area, 1e9 / throughput_hz, bits < MODEL_MIN_BITS, source)


def _isaac(bits: int, node_nm: float, throughput_hz: float) -> Converter:
    lo, hi = min(ISAAC_ADC_TABLE), max(ISAAC_ADC_TABLE)
    source = ISAAC_ADC_SOURCE
    if bits < lo:
        e0, area = ISAAC_ADC_TABLE[lo]
        e = e0 * bits / lo
        source += f"; extrapolated to {bits} b as E({lo} b) * {bits}/{lo}, area of {lo} b"
    elif bits > hi:
        # continue the table's last per-bit ratio
        (e9, a9), (e10, a10) = ISAAC_ADC_TABLE[hi - 1], ISAAC_ADC_TABLE[hi]
        e = e10 * (e10 / e9) ** (bits - hi)
        area = a10 * (a10 / a9) ** (bits - hi)
        source += f"; extrapolated to {bits} b with the table's {hi - 1}->{hi} b ratio per bit"
    else:
        e, area = ISAAC_ADC_TABLE[bits]
    if node_nm != ISAAC_ADC_NODE_NM:
        e *= energy_scale(node_nm, ISAAC_ADC_NODE_NM)
        area *= area_scale(node_nm, ISAAC_ADC_NODE_NM)
        source += f"; scaled {ISAAC_ADC_NODE_NM:g} -> {node_nm:g} nm (hwcomponents)"
    return Converter(bits, e, area, 1e9 / throughput_hz, not lo <= bits <= hi, source)


def neurosim_energy_pj(bits: int, node_nm: float) -> float:
    """NeuroSim SarADC energy per conversion at one of its nodes (22 or 32 nm), pJ."""
    a, b = NEUROSIM_SAR_COEFFS[node_nm]
    power_uw = a * bits + b
    return power_uw * 1e-6 * (bits + 1) * NEUROSIM_CYCLE_NS * 1e-9 * PJ_PER_J


def _neurosim(bits: int, node_nm: float, throughput_hz: float) -> Converter:
    # the formula is given at 22 and 32 nm; other nodes scale from the nearer one
    ref = min(NEUROSIM_SAR_COEFFS, key=lambda n: (abs(n - node_nm), n))
    e = neurosim_energy_pj(bits, ref)
    source = NEUROSIM_SOURCE + f", {ref:g} nm coefficients"
    if node_nm != ref:
        e *= energy_scale(node_nm, ref)
        source += f"; scaled {ref:g} -> {node_nm:g} nm (hwcomponents)"
    # NeuroSim's own timing: N + 1 cycles of 1 ns; adc_throughput_hz is not used
    t_ns = (bits + 1) * NEUROSIM_CYCLE_NS
    _, area = hwc_adc(max(bits, MODEL_MIN_BITS), node_nm, 1e9 / t_ns)
    source += "; area from hwcomponents-adc at the same bits, node and rate (estimate)"
    return Converter(bits, e, area, t_ns, False, source)


def _isaac_exp(bits: int, node_nm: float, throughput_hz: float) -> Converter:
    # the library class scales its 8-bit, 32 nm figures by 2^(b - 8) and to the node itself
    adc = IsaacADC(tech_node=node_nm * 1e-9, resolution=bits)
    e, area = adc.convert().energy * PJ_PER_J, adc.area * UM2_PER_M2
    return Converter(bits, e, area, 1e9 / throughput_hz, False, ISAAC_EXP_SOURCE)


_MODELS = {
    "default": _default,
    "isaac": _isaac,
    "isaac_exp": _isaac_exp,
    "neurosim": _neurosim,
}

#: (bits, pJ, um2 or None) rows of a user's adc_table
Table = tuple[tuple[int, float, float | None], ...]


def _from_table(bits: int, node_nm: float, throughput_hz: float, table: Table) -> Converter:
    rows = {b: (pj, um2) for b, pj, um2 in table}
    if bits not in rows:
        raise ValueError(
            f"adc_table has no entry for {bits} bits (it has {', '.join(map(str, rows))}): "
            f"this design's converters need {bits} bits"
        )
    pj, um2 = rows[bits]
    source = f"energy.adc_table ({bits} b: {pj:g} pJ, as given)"
    if um2 is None:
        um2 = _default(bits, node_nm, throughput_hz).area_um2
        source += "; area from hwcomponents-adc at the same bits, node and rate"
    return Converter(bits, pj, um2, 1e9 / throughput_hz, False, source)


@lru_cache(maxsize=256)
def converter(
    bits: int, preset: str, node_nm: float, throughput_hz: float, table: Table = ()
) -> Converter:
    """The ADC of ``bits`` bits under ``preset`` at ``node_nm`` and ``throughput_hz`` samples/s.

    ``preset="table"`` reads ``table`` (``EnergyConfig.table_entries()``).
    """
    if bits < 1:
        raise ValueError(f"bits={bits} must be >= 1")
    if preset == "table":
        return _from_table(int(bits), float(node_nm), float(throughput_hz), table)
    if preset not in _MODELS:
        raise ValueError(f"preset={preset!r} is unknown: allowed {', '.join(_MODELS)}, table")
    return _MODELS[preset](int(bits), float(node_nm), float(throughput_hz))


@dataclass(frozen=True)
class Comparator:
    """One analog comparator of a flash window search: pJ per decision, um^2, provenance."""

    energy_pj: float
    area_um2: float
    source: str


@lru_cache(maxsize=16)
def comparator(node_nm: float) -> Comparator:
    """The flash search's comparator: TIMELY's charging comparator (hwcomponents-library)."""
    unit = TimelyChargingComparator(tech_node=node_nm * 1e-9)
    return Comparator(
        unit.compare().energy * PJ_PER_J,
        unit.area * UM2_PER_M2,
        "TIMELY (Li et al., ISCA 2020) Table II charging comparator, 65 nm, via "
        f"hwcomponents-library TimelyChargingComparator, scaled to {node_nm:g} nm",
    )


def cdac_share(n: int, cycles: int) -> float:
    """Share of a binary-weighted CDAC's switching energy spent on the top ``cycles`` decisions.

    Decision i (1 = MSB) switches a capacitor weighing 2^(n - i); the top c of n weigh
    (2^n - 2^(n - c)) / (2^n - 1).
    """
    c = min(max(cycles, 0), n)
    return (2.0**n - 2.0 ** (n - c)) / (2.0**n - 1.0)


def conversion_share(n: int, cycles: int, rho: float) -> float:
    """Share of a full n-bit conversion's energy paid by sampling plus ``cycles`` bit cycles."""
    return rho * (cycles + 1) / (n + 1) + (1.0 - rho) * cdac_share(n, cycles)


def search_share(n: int, cycles: int, rho: float) -> float:
    """Share of a full n-bit conversion paid by ``cycles`` comparator cycles with no sampling.

    Used for a bfp block's exponent search, which reuses samples taken for the members.
    """
    if cycles <= 0:
        return 0.0
    return rho * cycles / (n + 1) + (1.0 - rho) * cdac_share(n, cycles)
