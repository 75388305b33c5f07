"""EnergyConfig: the cost-model settings of one design point, validated on construction."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

#: ADC models (presets.py and adc.py give their sources); ``table`` is the user's adc_table
PRESETS = ("default", "isaac", "isaac_exp", "neurosim", "table")
#: window-search architectures of range-aware converters (bfpdse.cim.adc.SEARCHES)
SEARCHES = ("sequential", "binary", "flash")

#: Priced components, in the order of the result columns energy_<component>_pj.
#: Event of each (what one "pJ per event" of an override pays for):
#:   adc             one full conversion of a converter (partial conversions pay a share of it)
#:   array           one cell read (a cell MAC): per word-line drive, N * S * columns_per_weight
#:   dac             one word-line drive (one row in one input cycle)
#:   sample_hold     one sample, i.e. one conversion
#:   shift_add       one shift-and-add of a converted code, i.e. one conversion
#:   bfp_logic       one rar/bfp member: leading-one detect, shift, exponent add
#:   exponent_search one bfp block (finding the block exponent)
COMPONENTS = (
    "adc",
    "array",
    "dac",
    "sample_hold",
    "shift_add",
    "bfp_logic",
    "exponent_search",
)

#: The range of hwcomponents' technology scaling table (Stillmaker & Baas 2017): 130 ... 7 nm
TECH_NODE_RANGE_NM = (7.0, 130.0)
#: Clock and sample rates, in Hz; the bounds only catch unit mistakes (1.28 meant as GHz)
RATE_RANGE_HZ = (1e3, 1e12)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}={value!r} must be a number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name}={value!r} must be a finite number")
    return v


def _in_range(name: str, value: Any, low: float, high: float, unit: str = "") -> float:
    v = _number(name, value)
    if not low <= v <= high:
        raise ValueError(f"{name}={value!r} is out of range: allowed {low:g} … {high:g}{unit}")
    return v


def _table_bits(key: Any) -> int:
    # YAML gives int keys; a table read back from JSON (a results row) gives digit strings
    if isinstance(key, str) and key.isdigit():
        key = int(key)
    if isinstance(key, bool) or not isinstance(key, numbers.Integral) or not 1 <= key <= 32:
        raise ValueError(f"adc_table has a key {key!r}: allowed bit counts 1 … 32")
    return int(key)


def _check_table(value: Any) -> dict[int, Any]:
    """adc_table: bits -> pJ, or bits -> {pj: ..., um2: ...}; returned sorted, int keys."""
    if not isinstance(value, Mapping):
        raise ValueError(
            f"adc_table={value!r} must be a mapping bits -> pJ per conversion "
            f"(or bits -> {{pj: ..., um2: ...}}), got {type(value).__name__}"
        )
    out: dict[int, Any] = {}
    for key, entry in value.items():
        bits = _table_bits(key)
        fields = entry if isinstance(entry, Mapping) else {"pj": entry}
        if set(fields) - {"pj", "um2"} or "pj" not in fields:
            raise ValueError(
                f"adc_table[{bits}]={entry!r}: give a number of pJ or {{pj: ..., um2: ...}}"
            )
        pj = _number(f"adc_table[{bits}].pj", fields["pj"])
        um2 = fields.get("um2")
        um2 = None if um2 is None else _number(f"adc_table[{bits}].um2", um2)
        if pj < 0 or (um2 is not None and um2 < 0):
            raise ValueError(f"adc_table[{bits}]={entry!r}: pJ and um2 must be >= 0")
        out[bits] = pj if um2 is None else {"pj": pj, "um2": um2}
    if not out:
        raise ValueError("adc_table is empty: give pJ per conversion for each bit count used")
    return dict(sorted(out.items()))


def _check_overrides(value: Any) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise ValueError(
            f"overrides={value!r} must be a mapping component -> pJ per event, "
            f"got {type(value).__name__}"
        )
    out: dict[str, float] = {}
    for name, pj in value.items():
        if name not in COMPONENTS:
            raise ValueError(
                f"overrides has an unknown component {name!r}: allowed {', '.join(COMPONENTS)}"
            )
        v = _number(f"overrides[{name!r}]", pj)
        if v < 0:
            raise ValueError(f"overrides[{name!r}]={pj!r} must be >= 0 (pJ per event)")
        out[name] = v
    return out


@dataclass(frozen=True)
class EnergyConfig:
    """How a design point is priced: ADC model, technology, rates and per-component overrides.

    Fields (units in the names; docs/energy.md gives the sources):

    - ``preset``: ADC model. ``default`` = hwcomponents-adc (Accelergy/CiMLoop fit to the
      Murmann survey), ``isaac`` = ISAAC's 32 nm SAR ADC with its resolution-scaled table,
      ``isaac_exp`` = hwcomponents-library's IsaacADC class (the 8-bit ISAAC ADC, energy and
      area scaled by 2^(b - 8)), ``neurosim`` = NeuroSim V1.4 SarADC formula, ``table`` = the
      user's ``adc_table``. Digital and array components are the same for every preset, so a
      preset sweep compares ADC models alone.
    - ``adc_table``: with ``preset: table``, bits -> pJ per full conversion, or bits -> {pj, um2}
      (area per ADC; without it the default model's area), at the configured node, used as
      given; it must hold every bit count a point's converters use.
    - ``rar_search``, ``bfp_search``: how rar (per conversion) and bfp (per block) find their
      window: ``sequential`` (rar: an F-bit SAR from the top stopping after F - k cycles; bfp:
      F - b comparator cycles per block), ``binary`` (ceil(log2(F - b + 1)) comparator cycles,
      then a b-bit conversion), ``flash`` (one cycle of F - b parallel comparators of their own).
    - ``tech_node_nm``: technology node, 7 … 130 nm (default 32, the node of ISAAC's figures);
      other figures are moved to it with hwcomponents' technology scaling.
    - ``adc_throughput_hz``: sample rate of one ADC (default 1.28e9: ISAAC's ADC converts the
      128 columns of its crossbar in one 100 ns cycle, 128 / 100 ns = 1.28 GS/s; the Kull et al.
      32 nm SAR ADC behind ISAAC's figures runs at 1.2 GS/s). It is an input of the default ADC
      model (energy and area rise with it) and sets the conversion time of the default and isaac
      presets; the neurosim preset keeps its own (N + 1) ns per conversion.
    - ``cols_per_adc``: bit lines multiplexed onto one ADC (default 8, NeuroSim's default column
      multiplexing ``numColMuxed = 8``); ADCs per array = ceil(cols / cols_per_adc).
    - ``freq_hz``: array / digital clock; one input cycle (driving one input plane into one row
      tile and letting the bit lines settle) takes one period (default 1e9).
    - ``rho``: the share of a conversion's energy that is spent per cycle (0 … 1, default 1):
      a partial conversion of c of N cycles costs E * [rho * (c + 1) / (N + 1) + (1 - rho) *
      CDAC share of its c cycles] (docs/energy.md, "Cycles of a range-aware ADC").
    - ``exponent_search_pj``: pJ per bfp block for finding the block exponent; ``None`` prices
      it as F - b comparator cycles of an F-bit converter (docs/energy.md).
    - ``overrides``: component -> pJ per event (at the configured node, used as given), replacing
      the preset's price; components and their events are listed in ``COMPONENTS``.
    """

    preset: str = "default"
    tech_node_nm: float = 32
    adc_throughput_hz: float = 1.28e9
    cols_per_adc: int = 8
    freq_hz: float = 1e9
    rho: float = 1.0
    exponent_search_pj: float | None = None
    # kept out of the hash (a mapping is not hashable); equality still compares it
    overrides: Mapping[str, float] = field(default_factory=dict, hash=False)
    rar_search: str = "sequential"
    bfp_search: str = "sequential"
    adc_table: Mapping[int, Any] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.preset, str) or self.preset not in PRESETS:
            raise ValueError(f"preset={self.preset!r} is unknown: allowed {', '.join(PRESETS)}")
        for name in ("rar_search", "bfp_search"):
            value = getattr(self, name)
            if not isinstance(value, str) or value not in SEARCHES:
                raise ValueError(f"{name}={value!r} is unknown: allowed {', '.join(SEARCHES)}")
        self._check_adc_table()
        lo, hi = TECH_NODE_RANGE_NM
        _in_range("tech_node_nm", self.tech_node_nm, lo, hi, " nm")
        _in_range("adc_throughput_hz", self.adc_throughput_hz, *RATE_RANGE_HZ, " Hz")
        _in_range("freq_hz", self.freq_hz, *RATE_RANGE_HZ, " Hz")
        _in_range("rho", self.rho, 0.0, 1.0)
        c = self.cols_per_adc
        if isinstance(c, bool) or not isinstance(c, numbers.Integral):
            raise ValueError(f"cols_per_adc={c!r} must be an int, got {type(c).__name__}")
        if not 1 <= c <= 4096:
            raise ValueError(f"cols_per_adc={c} is out of range: allowed 1 … 4096")
        object.__setattr__(self, "cols_per_adc", int(c))
        if self.exponent_search_pj is not None:
            v = _number("exponent_search_pj", self.exponent_search_pj)
            if v < 0:
                raise ValueError(
                    f"exponent_search_pj={self.exponent_search_pj!r} must be >= 0 (pJ per block)"
                    " or None (priced as F - b converter cycles)"
                )
        overrides = _check_overrides(self.overrides)
        if "exponent_search" in overrides and self.exponent_search_pj is not None:
            raise ValueError(
                f"exponent_search_pj={self.exponent_search_pj!r} and "
                f"overrides['exponent_search']={overrides['exponent_search']!r} are both set: "
                "give only one"
            )
        object.__setattr__(self, "overrides", MappingProxyType(overrides))

    def _check_adc_table(self) -> None:
        if self.adc_table is None:
            if self.preset == "table":
                raise ValueError("preset='table' needs adc_table: bits -> pJ per conversion")
            return
        if self.preset != "table":
            raise ValueError(
                f"adc_table is given but preset={self.preset!r}: set preset: table to use it"
            )
        object.__setattr__(self, "adc_table", MappingProxyType(_check_table(self.adc_table)))

    def table_entries(self) -> tuple[tuple[int, float, float | None], ...]:
        """adc_table as sorted (bits, pJ, um2 or None) tuples (hashable); () without one."""
        if self.adc_table is None:
            return ()
        return tuple(
            (b, e["pj"], e["um2"]) if isinstance(e, Mapping) else (b, e, None)
            for b, e in self.adc_table.items()
        )

    def search_for(self, search_key: str | None) -> str:
        """The window search named by a scheme's ``search_key`` (sequential if None)."""
        return getattr(self, search_key) if search_key else "sequential"

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        # a MappingProxyType cannot be pickled: worker processes rebuild from plain values
        return (_from_dict, (self.to_dict(),))

    def search_pj(self) -> float | None:
        """The per-block exponent search price if the user gave one, else None."""
        if self.exponent_search_pj is not None:
            return float(self.exponent_search_pj)
        return self.overrides.get("exponent_search")

    def to_dict(self) -> dict[str, Any]:
        """Plain field -> value dict; ``EnergyConfig(**d)`` rebuilds it."""
        return {
            "preset": self.preset,
            "tech_node_nm": self.tech_node_nm,
            "adc_throughput_hz": self.adc_throughput_hz,
            "cols_per_adc": self.cols_per_adc,
            "freq_hz": self.freq_hz,
            "rho": self.rho,
            "exponent_search_pj": self.exponent_search_pj,
            "overrides": dict(self.overrides),
            "rar_search": self.rar_search,
            "bfp_search": self.bfp_search,
            "adc_table": None if self.adc_table is None else dict(self.adc_table),
        }


def _from_dict(values: dict[str, Any]) -> EnergyConfig:
    return EnergyConfig(**values)
