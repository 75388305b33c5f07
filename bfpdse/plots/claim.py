"""The paper's claim, checked: iso-accuracy gains per energy assumption, and the break-even slope.

BFP-CIM claims 1.81x the energy efficiency of the calibrated state of the art at equal accuracy
(CIFAR-10). Whether a range-aware scheme gains depends mostly on how steeply the ADC's energy
grows with its bits: saving bits saves little on a flat survey fit and much on an exponential
one. This module answers both questions from a results table, without running the network:

- ``bfpdse pareto --by KEY`` splits a table per value of a setting (``energy.preset``, ...) and
  prints the iso-accuracy table of ``plots.pareto.iso_accuracy`` for each;
- ``break_even`` (``break_evens`` for every range-aware scheme): the per-bit factor r of a
  synthetic ADC, E(b) = E(b0) * r^(b - b0), at which a scheme's gain over the baseline reaches a
  target. b0 is the baseline's iso-accuracy ADC bits under the table's own prices, so the
  baseline's converter keeps its energy and only the slope changes; every other component keeps
  its price.

Re-pricing is exact from a row's columns: member conversions cost conversions * E(bits priced)
(an early-stopping rar SAR: E(F) times its cycle shares), and a cycle-priced window search is a
share of E(F); a flash search's comparators and all other components do not depend on E.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bfpdse.plots._table import (
    SCHEME,
    average_seeds,
    numeric,
    ok_rows,
)
from bfpdse.plots._table import baseline as default_baseline

#: BFP-CIM (ASP-DAC 2024): energy efficiency over the calibrated baseline, CIFAR-10 / ImageNet
PAPER_GAINS = {"CIFAR-10": 1.81, "ImageNet": 2.08}
#: per-bit factors searched for the break-even (1 = flat, 2 = doubling per bit)
FACTORS = np.round(np.arange(1.0, 4.0 + 1e-9, 0.01), 2)
_DROP_TOLERANCE = 1e-9
_NEEDED = ("energy_pj", "energy_adc_pj", "adc_bits_priced", "accuracy_drop")


def _mapping(value: Any) -> dict:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str) and value.strip().startswith("{"):
        return json.loads(value)
    return {}


def _get(row: pd.Series, key: str, default: Any) -> Any:
    value = row.get(key, default)
    return default if value is None or (isinstance(value, float) and math.isnan(value)) else value


def adc_pj(row: pd.Series, bits: int) -> float:
    """Energy of one full conversion of a ``bits``-bit ADC under the row's energy settings."""
    from bfpdse.energy import EnergyConfig, converter

    over = _mapping(_get(row, "energy.overrides", None))
    if "adc" in over:
        return float(over["adc"])
    preset = str(_get(row, "energy.preset", "default"))
    table = ()
    if preset == "table":
        table = EnergyConfig(preset="table", adc_table=_mapping(row["energy.adc_table"]))
        table = table.table_entries()
    node = float(_get(row, "energy.tech_node_nm", 32.0))
    rate = float(_get(row, "energy.adc_throughput_hz", 1.28e9))
    return converter(int(bits), preset, node, rate, table).energy_pj


def full_bits(row: pd.Series) -> int:
    """F of the row's crossbar: the bit length of rows * (2^c - 1) * (2^d - 1)."""
    rows = int(_get(row, "cim.rows", 128))
    c, d = int(_get(row, "cim.cell_bits", 2)), int(_get(row, "cim.dac_bits", 1))
    return (rows * ((1 << c) - 1) * ((1 << d) - 1)).bit_length()


def _flash(row: pd.Series) -> bool:
    scheme = str(row[SCHEME])
    return str(_get(row, f"energy.{scheme}_search", "sequential")) == "flash"


@dataclass
class Repricer:
    """The rows' energies as a function of the per-bit factor r (module docstring)."""

    fixed: np.ndarray  # pJ that do not depend on the ADC energy
    member: np.ndarray  # conversions-equivalents of the member converter (energy_adc / E(bits))
    search: np.ndarray  # F-bit equivalents of the window search (0 for flash)
    bits: np.ndarray
    full: np.ndarray
    anchor_pj: np.ndarray  # E(b0) under each row's own prices
    anchor_bits: int

    @classmethod
    def of(cls, rows: pd.DataFrame, anchor_bits: int) -> Repricer:
        fixed, member, search, bits, full, anchor = [], [], [], [], [], []
        for _, row in rows.iterrows():
            b, f = int(row["adc_bits_priced"]), full_bits(row)
            adc = float(row["energy_adc_pj"])
            s = float(_get(row, "energy_exponent_search_pj", 0.0))
            s_scaled = 0.0 if _flash(row) else s
            fixed.append(float(row["energy_pj"]) - adc - s_scaled)
            member.append(adc / adc_pj(row, b))
            search.append(s_scaled / adc_pj(row, f) if s_scaled else 0.0)
            bits.append(b)
            full.append(f)
            anchor.append(adc_pj(row, anchor_bits))
        arr = np.asarray
        return cls(arr(fixed), arr(member), arr(search), arr(bits), arr(full), arr(anchor),
                   anchor_bits)  # fmt: skip

    def energy(self, factor: float) -> np.ndarray:
        """pJ per inference of each row with E(b) = E(b0) * factor^(b - b0)."""
        b0 = self.anchor_bits
        members = self.member * factor ** (self.bits - b0)
        search = self.search * factor ** (self.full - b0)
        return self.fixed + self.anchor_pj * (members + search)


def _within(df: pd.DataFrame, max_drop_points: float) -> pd.DataFrame:
    points = average_seeds(ok_rows(df, list(_NEEDED)))
    points = points.assign(**{SCHEME: points[SCHEME].astype(str)})
    return points[numeric(points, "accuracy_drop") <= max_drop_points / 100 + _DROP_TOLERANCE]


def _gain(within: pd.DataFrame, energy: np.ndarray, scheme: str, baseline: str) -> float:
    """Lowest baseline energy / lowest scheme energy among the rows within the budget."""
    names = within[SCHEME].to_numpy()
    mine, base = energy[names == scheme], energy[names == baseline]
    if not len(mine) or not len(base):
        return math.nan
    return float(base.min() / mine.min())


@dataclass
class BreakEven:
    """Where a scheme's iso-accuracy gain over the baseline reaches ``target``."""

    scheme: str
    target: float
    anchor_bits: int
    factor: float | None  # smallest per-bit factor in FACTORS that reaches the target
    gain_at_flat: float  # gain with a flat ADC (r = 1)
    gain_at_max: float  # gain at the largest factor tried
    preset_slope: float  # the table's own E(b0 + 1) / E(b0), for comparison

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def sentence(self) -> str:
        head = f"{self.scheme} reaches {self.target:g}x over the baseline"
        if self.factor is None:
            return (
                f"{head} at no per-bit ADC energy factor up to {FACTORS[-1]:g}x (gain "
                f"{self.gain_at_flat:.2f}x with a flat ADC, {self.gain_at_max:.2f}x at "
                f"{FACTORS[-1]:g}x per bit); these prices have {self.preset_slope:.2f}x per bit"
            )
        return (
            f"{head} once the ADC's energy grows by {self.factor:.2f}x or more per bit (anchored "
            f"at {self.anchor_bits} b); these prices have {self.preset_slope:.2f}x per bit"
        )


def break_even(
    df: pd.DataFrame,
    scheme: str,
    target: float = PAPER_GAINS["CIFAR-10"],
    max_drop_points: float = 0.5,
    baseline: str | None = None,
) -> BreakEven | None:
    """The per-bit factor at which ``scheme`` gains ``target`` over the baseline (docstring).

    None when the scheme or the baseline has no point within the budget.
    """
    baseline = baseline or default_baseline()
    within = _within(df, max_drop_points)
    names = within[SCHEME].to_numpy()
    if not (names == scheme).any() or not (names == baseline).any():
        return None
    base_rows = within[names == baseline]
    anchor = int(base_rows.loc[numeric(base_rows, "energy_pj").idxmin(), "adc_bits_priced"])
    pricer = Repricer.of(within, anchor)
    gains = np.array([_gain(within, pricer.energy(r), scheme, baseline) for r in FACTORS])
    reached = np.flatnonzero(gains >= target - 1e-12)
    row = base_rows.iloc[0]
    slope = adc_pj(row, anchor + 1) / adc_pj(row, anchor)
    factor = float(FACTORS[reached[0]]) if len(reached) else None
    return BreakEven(scheme, target, anchor, factor, float(gains[0]), float(gains[-1]), slope)


def break_evens(
    df: pd.DataFrame, target: float = PAPER_GAINS["CIFAR-10"], max_drop_points: float = 0.5
) -> list[BreakEven]:
    """The break-even of each range-aware scheme in ``df`` that has a point within the budget."""
    from bfpdse.cim.adc import schemes_where

    aware = schemes_where(lambda s: s.range_aware)
    schemes = sorted(set(df[SCHEME].astype(str)) & aware) if SCHEME in df else []
    evens = [break_even(df, s, target, max_drop_points) for s in schemes]
    return [e for e in evens if e is not None]
