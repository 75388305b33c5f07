"""EnergyConfig: the cost-model settings of one design point, validated on construction."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

#: ADC models (presets.py and adc.py give their sources)
PRESETS = ("default", "isaac", "neurosim")

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
      ``neurosim`` = NeuroSim V1.4 SarADC formula. Digital and array components are the same for
      every preset, so a preset sweep compares ADC models alone.
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

    def __post_init__(self) -> None:
        if not isinstance(self.preset, str) or self.preset not in PRESETS:
            raise ValueError(f"preset={self.preset!r} is unknown: allowed {', '.join(PRESETS)}")
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
        }


def _from_dict(values: dict[str, Any]) -> EnergyConfig:
    return EnergyConfig(**values)
