"""Counts -> energy, latency and area: ``price`` and the shapes-only ``dense_stats``.

Every event of CIMStats is priced once (docs/energy.md; the components and their events are
listed in ``bfpdse.energy.config.COMPONENTS``):

- adc: the converter the scheme implies (``ADCScheme.converter``, with the energy config's
  window search) does the member conversions: F bits for ``ideal``, b = min(adc_bits, F) bits
  otherwise (a converter wider than the range of partial sums buys nothing), except that ``rar``
  with a sequential search is an F-bit SAR that stops after F - k cycles and pays the share of
  a full F-bit conversion given in ``bfpdse.energy.adc``. Every other conversion is a full one.
- exponent_search: one per window search (a bfp block; a rar conversion unless sequential).
  sequential and binary searches are priced as their comparator cycles on the F-bit converter
  (no sampling phase: the members' samples are reused); a flash search as one decision of each
  of its F - b comparators; a per-search price in the energy config replaces both.
- array: per word-line drive, one read of each of the N * S * columns_per_weight cells it
  drives; dac: one word-line drive; sample_hold and shift_add: one per conversion;
  bfp_logic: one per conversion for range-aware schemes (``rar`` and ``bfp``).

Skipped input planes cost nothing (docs/spec.md "Counting"): the counts after skipping are
priced; the dense counts are only reported.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import numpy as np

from bfpdse.cim import CIMStats
from bfpdse.cim.adc import ConverterUse, get_scheme
from bfpdse.cim.stats import MAX_WINDOW
from bfpdse.energy.adc import Converter, comparator, conversion_share, converter, search_share
from bfpdse.energy.config import COMPONENTS, EnergyConfig
from bfpdse.energy.presets import Component, digital_components

if TYPE_CHECKING:  # only for hints: pricing reads CIMConfig's fields and properties
    from bfpdse.cim import CIMConfig

#: distributions whose version a result row records
VERSIONED = ("hwcomponents", "hwcomponents-adc", "hwcomponents-library")


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class LayerUse:
    """One CIM layer of a network: K rows, N outputs, input vectors and counts.

    ``vectors`` and ``stats`` are totals over all the inferences being priced. A grouped or
    depthwise convolution has ``groups`` independent K x N matrices, mapped block-diagonally:
    each group on arrays of its own, all groups at once; ``vectors`` counts one group's input
    vectors and ``stats`` the counts of all groups together.
    """

    name: str
    k: int
    n: int
    vectors: int
    stats: CIMStats
    groups: int = 1
    #: the layer's own crossbar (per-layer settings); None = the design's
    cim: CIMConfig | None = None


def converter_use(cim: CIMConfig, energy: EnergyConfig) -> ConverterUse:
    """The converter the design's scheme implies under the energy config's window search."""
    scheme = get_scheme(cim.adc)
    return scheme.converter(cim, energy.search_for(scheme.search_key))


def adc_bits_needed(cim: CIMConfig, energy: EnergyConfig) -> tuple[int, ...]:
    """Bit counts of the converters pricing this design uses (what an adc_table must hold)."""
    use = converter_use(cim, energy)
    cycle_priced = use.search_cycles > 0 and use.search != "flash" and energy.search_pj() is None
    full = use.early_stop or cycle_priced
    return tuple(sorted({use.bits, cim.full_bits} if full else {use.bits}))


def _columns(layer: LayerUse, cim: CIMConfig) -> int:
    """Physical bit lines that hold the layer's weights."""
    return layer.n * cim.n_slices * cim.columns_per_weight


def arrays_needed(layer: LayerUse, cim: CIMConfig) -> int:
    """Arrays that hold the layer: groups * ceil(K / R) * ceil(N * S * columns_per_weight / C)."""
    return layer.groups * _ceil_div(layer.k, cim.rows) * _ceil_div(_columns(layer, cim), cim.cols)


def active_adcs(layer: LayerUse, cim: CIMConfig, cols_per_adc: int) -> int:
    """ADCs that serve the layer's used columns (its row tiles all work in parallel)."""
    cols = _columns(layer, cim)
    full_groups, rest = divmod(cols, cim.cols)
    per_tile = full_groups * _ceil_div(cim.cols, cols_per_adc) + _ceil_div(rest, cols_per_adc)
    return layer.groups * _ceil_div(layer.k, cim.rows) * per_tile


@cache
def tool_versions() -> dict[str, str]:
    """Installed versions of the hwcomponents packages the prices come from."""
    out = {}
    for dist in VERSIONED:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:  # pragma: no cover - they are dependencies
            out[dist] = "unknown"
    return out


@dataclass(frozen=True)
class _Prices:
    """Everything priced for one (cim, energy) pair: converters and per-event components."""

    use: ConverterUse  # what the scheme asks of its converter
    main: Converter  # does the member conversions
    full: Converter | None  # F-bit converter (early stop, cycle-priced searches), if used
    adc_pj: float  # full conversion energy of ``main`` (after overrides)
    full_adc_pj: float  # full conversion energy of ``full`` (after overrides)
    search_pj: float  # per window search
    search_is_cycles: bool  # the search is priced (and timed) as converter cycles
    parts: dict[str, Component]

    @property
    def cycle_ns(self) -> float:
        """One comparator cycle of the F-bit converter: its conversion time / (F + 1)."""
        assert self.full is not None
        return self.full.conversion_ns / (self.full.bits + 1)


def _search_price(
    use: ConverterUse, cim: CIMConfig, energy: EnergyConfig, full_adc_pj: float
) -> tuple[float, float, str]:
    """pJ per window search, comparator area per ADC (um^2) and the source of both."""
    node, f = float(energy.tech_node_nm), cim.full_bits
    if use.search == "flash":
        cmp = comparator(node)
        pj, area = use.comparators * cmp.energy_pj, use.comparators * cmp.area_um2
        source = f"{use.comparators} comparators (F - b), one decision each; {cmp.source}"
    else:
        pj, area = full_adc_pj * search_share(f, use.search_cycles, energy.rho), 0.0
        source = (
            f"{use.search_cycles} comparator cycles of a {f}-bit converter "
            f"({use.search or 'no'} search, docs/energy.md, estimate)"
        )
    given = energy.search_pj()
    if given is not None:
        pj, source = given, "given per search (energy config); area: " + source
    return pj, area, source


def _prices(cim: CIMConfig, energy: EnergyConfig) -> _Prices:
    node = float(energy.tech_node_nm)
    thr = float(energy.adc_throughput_hz)
    table = energy.table_entries()
    use = converter_use(cim, energy)
    main = converter(use.bits, energy.preset, node, thr, table)
    needs_full = max(adc_bits_needed(cim, energy)) > use.bits
    full = converter(cim.full_bits, energy.preset, node, thr, table) if needs_full else None
    full = main if use.bits == cim.full_bits else full
    over = energy.overrides
    adc_pj = over.get("adc", main.energy_pj)
    full_adc_pj = over.get("adc", full.energy_pj) if full is not None else 0.0
    search_pj, search_area, search_source = _search_price(use, cim, energy, full_adc_pj)
    parts = digital_components(cim.dac_bits, node)
    parts["adc"] = Component("adc", main.energy_pj, main.area_um2, node, main.source)
    parts["exponent_search"] = Component(
        "exponent_search", search_pj, search_area, node, search_source
    )
    for name, pj in over.items():
        if name != "exponent_search":
            old = parts[name]
            parts[name] = Component(name, pj, old.area_um2, node, "override (energy config)")
    parts = {name: parts[name] for name in COMPONENTS}
    cycles = energy.search_pj() is None and use.search != "flash"
    return _Prices(use, main, full, adc_pj, full_adc_pj, search_pj, cycles, parts)


def component_prices(cim: CIMConfig, energy: EnergyConfig) -> dict[str, Component]:
    """Each component's price (pJ per event, um^2, source) for this design, in COMPONENTS order."""
    return _prices(cim, energy).parts


def _early_stop_adc_pj(s: CIMStats, cim: CIMConfig, rho: float, full_pj: float) -> float:
    """Conversions on an F-bit SAR that stops after c = F - k cycles (rar, sequential)."""
    f = cim.full_bits
    if rho == 1.0:
        # linear in cycles, so the totals are exact
        return full_pj * (s.adc_bit_cycles + s.conversions) / (f + 1)
    hist = np.asarray(s.window_hist, dtype=np.int64)
    if int(hist.sum()) != s.conversions:
        raise ValueError(
            f"rho={rho} < 1 prices an early-stopping SAR by window, but stats.window_hist sums "
            f"to {int(hist.sum())} and not to conversions={s.conversions}: give the per-window "
            "histogram"
        )
    share = sum(int(c) * conversion_share(f, f - k, rho) for k, c in enumerate(hist) if c)
    return full_pj * share


def _layer_energy(layer: LayerUse, cim: CIMConfig, rho: float, p: _Prices) -> dict[str, float]:
    """pJ per component for one layer (totals over its inferences)."""
    s = layer.stats
    pj = {name: part.pj_per_event for name, part in p.parts.items()}
    if p.use.early_stop:
        adc = _early_stop_adc_pj(s, cim, rho, p.adc_pj)
    else:
        adc = s.conversions * p.adc_pj
    cells = s.wordline_drives * _columns(layer, cim)
    range_aware = get_scheme(cim.adc).range_aware
    return {
        "adc": adc,
        "array": cells * pj["array"],
        "dac": s.wordline_drives * pj["dac"],
        "sample_hold": s.conversions * pj["sample_hold"],
        "shift_add": s.conversions * pj["shift_add"],
        "bfp_logic": s.conversions * pj["bfp_logic"] if range_aware else 0.0,
        "exponent_search": p.use.searches(s) * p.search_pj,
    }


def _layer_latency_ns(layer: LayerUse, cim: CIMConfig, energy: EnergyConfig, p: _Prices) -> float:
    """max(array time, ADC time) of one layer; see ``price`` for the model."""
    s = layer.stats
    tiles = layer.groups * _ceil_div(layer.k, cim.rows)  # all row tiles of all groups at once
    array_ns = s.input_cycles / tiles * 1e9 / energy.freq_hz
    use = p.use
    if use.early_stop:
        adc_ns = p.main.conversion_ns * (s.adc_bit_cycles + s.conversions) / (use.bits + 1)
    else:
        adc_ns = p.main.conversion_ns * s.conversions
    if use.search == "flash":  # one cycle of the comparators per search
        adc_ns += p.main.conversion_ns / (use.bits + 1) * use.searches(s)
    elif p.search_is_cycles and use.searches(s):
        adc_ns += p.cycle_ns * use.searches(s) * use.search_cycles
    adcs = active_adcs(layer, cim, energy.cols_per_adc)
    return max(array_ns, adc_ns / adcs)


@dataclass(frozen=True)
class CostReport:
    """Energy, counts and latency per inference; area per design; provenance.

    ``energy_by_component_pj`` and ``layer_energy_pj`` are per inference; ``components`` holds
    the priced parts (pJ per event, um^2 per instance, source) at the configured node.
    """

    inferences: int
    energy_by_component_pj: dict[str, float]
    layer_energy_pj: dict[str, dict[str, float]]
    macs: float
    conversions: float
    conversions_dense: float
    adc_cycles: float
    adc_cycles_dense: float
    latency_ns: float
    area_by_component_mm2: dict[str, float]
    adc_bits_priced: int
    adc_extrapolated: bool
    energy_preset: str
    versions: dict[str, str] = field(default_factory=dict)
    components: dict[str, Component] = field(default_factory=dict)

    @property
    def energy_pj(self) -> float:
        """Total energy per inference, pJ: the sum of the components."""
        return math.fsum(self.energy_by_component_pj.values())

    @property
    def area_mm2(self) -> float:
        """Total area of the mapped network, mm^2: the sum of the components."""
        return math.fsum(self.area_by_component_mm2.values())

    @property
    def tops_per_w(self) -> float:
        """Tera-operations per second per watt = operations per pJ, one MAC = 2 operations."""
        e = self.energy_pj
        return 2.0 * self.macs / e if e > 0 else math.inf

    def to_dict(self) -> dict[str, Any]:
        """The flat metrics of a result row (per inference; area per design)."""
        out: dict[str, Any] = {"energy_pj": self.energy_pj}
        for name in COMPONENTS:
            out[f"energy_{name}_pj"] = self.energy_by_component_pj[name]
        out.update(
            conversions=self.conversions,
            conversions_dense=self.conversions_dense,
            adc_cycles=self.adc_cycles,
            adc_cycles_dense=self.adc_cycles_dense,
            latency_ns=self.latency_ns,
            area_mm2=self.area_mm2,
            area_adc_mm2=self.area_by_component_mm2["adc"],
            area_array_mm2=self.area_by_component_mm2["array"],
            tops_per_w=self.tops_per_w,
            adc_bits_priced=self.adc_bits_priced,
            adc_extrapolated=self.adc_extrapolated,
            energy_preset=self.energy_preset,
        )
        for dist, ver in self.versions.items():
            out[f"{dist.replace('-', '_')}_version"] = ver
        return out


def _check_layers(layers: Sequence[LayerUse], inferences: int) -> None:
    bad = isinstance(inferences, bool) or not isinstance(inferences, numbers.Integral)
    if bad or inferences < 1:
        raise ValueError(f"inferences={inferences!r} must be an int >= 1")
    if len(layers) == 0:
        raise ValueError("layers is empty: give at least one LayerUse to price")
    for layer in layers:
        if layer.k < 1 or layer.n < 1 or layer.vectors < 0:
            raise ValueError(
                f"layer {layer.name!r}: k={layer.k}, n={layer.n}, vectors={layer.vectors}; "
                "allowed k >= 1, n >= 1, vectors >= 0"
            )
        if layer.groups < 1:
            raise ValueError(f"layer {layer.name!r}: groups={layer.groups} must be >= 1")
        if layer.stats.vectors not in (0, layer.vectors * layer.groups):
            raise ValueError(
                f"layer {layer.name!r}: stats.vectors={layer.stats.vectors} differs from "
                f"vectors * groups={layer.vectors * layer.groups}; both must count all inferences"
            )


def _areas_mm2(
    layers: Sequence[LayerUse], cim: CIMConfig, energy: EnergyConfig, p: _Prices
) -> dict[str, float]:
    """Area of ``layers`` (all on ``cim``) mapped at once: every array with its periphery."""
    arrays = sum(arrays_needed(layer, cim) for layer in layers)
    adcs = arrays * _ceil_div(cim.cols, energy.cols_per_adc)
    count = {
        "adc": adcs,
        "array": arrays * cim.rows * cim.cols,
        "dac": arrays * cim.rows,
        "sample_hold": arrays * cim.cols,
        "shift_add": adcs,
        "bfp_logic": adcs if get_scheme(cim.adc).range_aware else 0,
        # a flash search's comparators sit beside each ADC; other searches reuse the ADC
        "exponent_search": adcs,
    }
    area = {name: count[name] * p.parts[name].area_um2 * 1e-6 for name in COMPONENTS}
    area["adc"] = adcs * p.main.area_um2 * 1e-6
    return area


def _by_config(layers: Sequence[LayerUse], cim: CIMConfig) -> dict[CIMConfig, list[LayerUse]]:
    """Layers grouped by the crossbar they run on (``layer.cim``, else the design's)."""
    groups: dict[CIMConfig, list[LayerUse]] = {}
    for layer in layers:
        groups.setdefault(layer.cim or cim, []).append(layer)
    return groups


def _adc_cycles(layers: Sequence[LayerUse], p: _Prices) -> tuple[int, int]:
    """Converter cycles (member conversions and window searches) of layers on one design,
    after and before zero-plane skipping."""
    stats = sum((layer.stats for layer in layers), CIMStats())
    use = p.use
    extra = use.search_cycles if p.search_is_cycles or use.search == "flash" else 0
    dense = use.member_cycles_dense(stats) + use.searches_dense(stats) * extra
    return use.member_cycles(stats) + use.searches(stats) * extra, dense


def price(
    layers: Sequence[LayerUse], cim: CIMConfig, energy: EnergyConfig, inferences: int
) -> CostReport:
    """Energy, latency and area of running ``layers`` for ``inferences`` images, per inference.

    Energy: every event count of the layers' CIMStats times its price (module docstring).

    Latency (ns per inference), a throughput bound: the whole network is mapped at once and the
    layers run one after the other. Within a layer all its arrays work in parallel: each of its
    ceil(K / R) row tiles takes one input cycle (1 / freq_hz) per input plane it drives, and the
    ADCs that serve the layer's used columns (cols_per_adc columns each) share its conversions
    evenly. A conversion of c of N cycles takes (c + 1) / (N + 1) of the converter's conversion
    time (1 / adc_throughput_hz; (N + 1) ns for neurosim); a bfp exponent search priced as
    cycles adds F - b cycles of the F-bit converter per block. Arrays and ADCs are pipelined,
    so a layer takes max(array time, ADC time).

    Area (mm^2 per design): arrays = sum over layers of ceil(K / R) * ceil(N * S *
    columns_per_weight / C); each carries R * C cells, R DACs, C sample-and-holds and
    ceil(C / cols_per_adc) ADCs, each ADC with a shift-add unit (and BFP logic for rar/bfp).

    A layer with a crossbar of its own (``LayerUse.cim``, per-layer settings) is priced, timed
    and mapped on it; ``adc_bits_priced`` is then the widest ADC of the layers, and
    ``components`` are the design's ``cim``'s prices.
    """
    _check_layers(layers, inferences)
    groups = _by_config(layers, cim)  # per-layer settings: each crossbar design priced alone
    prices = {c: _prices(c, energy) for c in groups}
    p = prices.get(cim) or _prices(cim, energy)
    per_layer = {}
    for c, members in groups.items():
        for layer in members:
            per_layer[layer.name] = _layer_energy(layer, c, energy.rho, prices[c])
    per_layer = {layer.name: per_layer[layer.name] for layer in layers}  # the layers' order
    total = {name: math.fsum(e[name] for e in per_layer.values()) for name in COMPONENTS}
    stats = sum((layer.stats for layer in layers), CIMStats())
    cycles = [_adc_cycles(members, prices[c]) for c, members in groups.items()]
    latency = math.fsum(
        _layer_latency_ns(layer, c, energy, prices[c]) for c, ms in groups.items() for layer in ms
    )
    areas = [_areas_mm2(members, c, energy, prices[c]) for c, members in groups.items()]
    extrapolated = any(
        q.main.extrapolated or (q.full is not None and q.full.extrapolated) for q in prices.values()
    )
    n = inferences
    return CostReport(
        inferences=n,
        energy_by_component_pj={k: v / n for k, v in total.items()},
        layer_energy_pj={name: {k: v / n for k, v in e.items()} for name, e in per_layer.items()},
        macs=sum(layer.vectors * layer.k * layer.n * layer.groups for layer in layers) / n,
        conversions=stats.conversions / n,
        conversions_dense=stats.conversions_dense / n,
        adc_cycles=sum(c for c, _ in cycles) / n,
        adc_cycles_dense=sum(d for _, d in cycles) / n,
        latency_ns=latency / n,
        area_by_component_mm2={k: math.fsum(a[k] for a in areas) for k in areas[0]},
        adc_bits_priced=max(q.main.bits for q in prices.values()),
        adc_extrapolated=bool(extrapolated),
        energy_preset=energy.preset,
        versions=dict(tool_versions()),
        components=p.parts,
    )


def active_planes(cim: CIMConfig) -> int:
    """Input planes a vector drives per row tile when no plane is all zero.

    With input blocks of m mantissa bits, only the planes that hold bits kx … kx + m - 1 carry
    data: at most m planes for dac_bits = 1, (m + d - 2) // d + 1 for d bits per plane (the
    window may straddle a plane boundary).
    """
    planes = cim.n_planes
    m = cim.input_mantissa_bits
    if m is None:
        return planes
    d = cim.dac_bits
    return min(planes, (m + d - 2) // d + 1)


def dense_stats(k: int, n: int, vectors: int, cim: CIMConfig) -> CIMStats:
    """Counts of a K x N layer over ``vectors`` inputs from its shape alone (no simulation).

    Assumptions (explicit, for ``bfpdse energy --shapes-only``):

    - no input plane is all zero, except the planes outside an input block's m-bit window when
      ``input_mantissa_bits`` is set (``active_planes``), so counts after skipping are the dense
      ones over the active planes;
    - cycles per conversion, as crossbar_mvm counts them: F for ideal, b = adc_bits for
      linear, calibrated and bfp. ``rar`` is priced at its best case, F - max(0, F - b) =
      min(b, F) cycles, as if every partial sum's leading one sat at the top of the range; real
      data give smaller partial sums and more cycles (up to F), so shapes-only rar energy is a
      lower bound. The dense cycle count follows CIMStats: a skipped conversion counts as
      converting p = 0 (F cycles for rar);
    - the window histogram puts every conversion at k = max(0, F - b), 0 for ideal (for
      calibrated, whose window needs data, the linear window);
    - bfp: ceil(N / B) blocks per (vector, tile, plane, slice, polarity).
    """
    for name, v, low in (("k", k, 1), ("n", n, 1), ("vectors", vectors, 0)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low:
            raise ValueError(f"{name}={v!r} must be an int >= {low}")
    k, n, vectors = int(k), int(n), int(vectors)
    tiles = _ceil_div(k, cim.rows)
    planes, active = cim.n_planes, active_planes(cim)
    per_cycle = cim.n_slices * cim.n_polarities * n
    conv_dense = vectors * tiles * planes * per_cycle
    conv = vectors * tiles * active * per_cycle
    scheme = get_scheme(cim.adc)
    # as crossbar_mvm counts them: F for ideal, F - k for rar, b otherwise
    cycles, window, skipped_cycles = scheme.dense_cycles(cim)
    blocks_per_cycle = 0
    if scheme.search_per == "block":
        blocks_per_cycle = cim.n_slices * cim.n_polarities * _ceil_div(n, scheme.block(cim))
    hist = np.zeros(MAX_WINDOW + 1, dtype=np.int64)
    hist[window] = conv
    return CIMStats(
        vectors=vectors,
        macs=vectors * k * n,
        input_cycles_dense=vectors * tiles * planes,
        input_cycles=vectors * tiles * active,
        wordline_drives_dense=vectors * planes * k,
        wordline_drives=vectors * active * k,
        conversions_dense=conv_dense,
        conversions=conv,
        adc_bit_cycles_dense=conv * cycles + (conv_dense - conv) * skipped_cycles,
        adc_bit_cycles=conv * cycles,
        blocks_dense=vectors * tiles * planes * blocks_per_cycle,
        blocks=vectors * tiles * active * blocks_per_cycle,
        window_hist=hist,
    )
