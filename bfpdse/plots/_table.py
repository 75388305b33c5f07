"""Shared reading of the result table for plots and analysis (docs/internals.md, result table).

Rules every plot and table follows, so that they agree with each other:

- only rows with ``status == "ok"`` and finite values of the metrics used are drawn;
- a design point found in two sweeps (same ``point_id``) counts once;
- repeats that differ only in ``seed`` are averaged into one design (column ``seeds`` = count);
- where a plot fixes some settings and others vary too, each drawn value is the most accurate
  design over the other settings (ties: the lower energy), and the plot says which ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

SCHEME = "cim.adc"
TOP_SETTINGS = ("model", "dataset", "samples", "seed")
SECTION_PREFIXES = ("cim.", "quant.", "energy.", "noise.")
#: columns that identify or describe a row but are neither settings nor metrics
NON_METRICS = frozenset({"point_id", "status", "error", "sweep", "seeds"})


def baseline() -> str:
    """The scheme gains are reported against (the registry's baseline: calibrated)."""
    from bfpdse.cim.adc import baseline_scheme

    return baseline_scheme()


def block_schemes() -> frozenset[str]:
    """Schemes whose outputs share windows in blocks of ``cim.block`` (bfp)."""
    from bfpdse.cim.adc import schemes_where

    return schemes_where(lambda s: s.uses_block)


class NotDrawable(Exception):
    """The table does not vary what a plot needs; the message says what is missing."""


def setting_columns(df: pd.DataFrame) -> list[str]:
    """The design-point settings present in the table (model, dataset, ..., cim.*, energy.*)."""
    return [c for c in df.columns if c in TOP_SETTINGS or str(c).startswith(SECTION_PREFIXES)]


def plain(df: pd.DataFrame) -> pd.DataFrame:
    """Nullable columns (Int64, Float64, boolean, string: what the store writes) as numpy floats
    and objects with NaN for missing values, as a CSV reads back, so numpy functions apply."""
    out = {}
    for c, dtype in df.dtypes.items():
        if not pd.api.types.is_extension_array_dtype(dtype):
            continue
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            out[c] = df[c].to_numpy(dtype=object, na_value=np.nan)
        elif pd.api.types.is_numeric_dtype(dtype):
            out[c] = df[c].to_numpy(dtype="float64", na_value=np.nan)
    return df.assign(**out) if out else df


def numeric(df: pd.DataFrame, column: str) -> pd.Series:
    """A column as floats (NaN where missing or not a number); all NaN if the column is absent."""
    if column not in df.columns:
        return pd.Series(np.nan, index=df.index, dtype=float)
    values = pd.to_numeric(df[column], errors="coerce")
    return pd.Series(values.to_numpy(dtype="float64", na_value=np.nan), index=df.index)


def failure_summary(df: pd.DataFrame) -> str:
    """'3 of 5 points failed (first error: ...)' or '' when none failed."""
    if "status" not in df.columns:
        return ""
    failed = df[df["status"] != "ok"]
    if failed.empty:
        return ""
    first = failed["error"].dropna().astype(str) if "error" in failed else pd.Series(dtype=str)
    first = first[first != ""]
    why = f" (first error: {str(first.iloc[0])[:200]})" if len(first) else ""
    return f"{len(failed)} of {len(df)} points failed{why}"


def ok_rows(df: pd.DataFrame, metrics: Sequence[str] = ()) -> pd.DataFrame:
    """Rows with status ok and finite ``metrics`` (coerced to float), one per point_id."""
    df = plain(df)
    out = df[df["status"] == "ok"] if "status" in df.columns else df
    if "point_id" in out.columns:
        out = out.drop_duplicates("point_id")
    out = out.copy()
    for m in metrics:
        out[m] = numeric(out, m)
    if metrics:
        out = out[np.isfinite(out[list(metrics)]).all(axis=1)]
    return out


def why_empty(df: pd.DataFrame, metrics: Sequence[str]) -> str:
    """Plain reason why ``ok_rows(df, metrics)`` is empty."""
    if df.empty:
        return "the table has no rows"
    n_ok = int((df["status"] == "ok").sum()) if "status" in df.columns else len(df)
    if n_ok == 0:
        return f"no successful point: {failure_summary(df)}"
    missing = [m for m in metrics if m not in df.columns]
    if missing:
        return f"the table has no column {', '.join(missing)}"
    return f"none of the {n_ok} successful points has finite {' and '.join(metrics)}"


def _hashable(value: Any) -> Any:
    if isinstance(value, dict | list | tuple | np.ndarray):
        return json.dumps(value if not isinstance(value, np.ndarray) else value.tolist())
    return value


def average_seeds(df: pd.DataFrame) -> pd.DataFrame:
    """One row per design: numeric metrics averaged over ``seed``; ``seeds`` counts the repeats."""
    if df.empty or "seed" not in df.columns or df["seed"].nunique(dropna=False) < 2:
        return df.assign(seeds=1)
    keys = [c for c in setting_columns(df) if c != "seed"]
    df = df.copy()
    for c in keys:
        if df[c].dtype == object:
            df[c] = df[c].map(_hashable)
    rest = [c for c in df.columns if c not in keys and c != "seed"]
    agg = {
        c: "mean" if pd.api.types.is_numeric_dtype(df[c]) and c not in NON_METRICS else "first"
        for c in rest
    }
    grouped = df.groupby(keys, dropna=False, sort=False)
    out = grouped.agg(agg).reset_index()
    out["seeds"] = grouped.size().to_numpy()
    return out


def varying(df: pd.DataFrame, columns: Iterable[str]) -> list[str]:
    """The columns among ``columns`` with at least two distinct non-missing values."""
    out = []
    for c in columns:
        if c in df.columns and df[c].map(_hashable).dropna().nunique() >= 2:
            out.append(c)
    return out


def most_accurate(df: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Per group of ``keys``, the row with the highest accuracy (ties: the lowest energy)."""
    order = ["accuracy"] + (["energy_pj"] if "energy_pj" in df.columns else [])
    ascending = [False] + [True] * (len(order) - 1)
    ranked = df.sort_values(order, ascending=ascending, kind="stable", na_position="last")
    return ranked.drop_duplicates(list(keys)).sort_values(list(keys), kind="stable")


#: settings that follow from others (noise.trials reads 1 wherever the noise is off): never
#: named as held, nor a plot axis
FOLLOWERS = frozenset({"noise.trials"})


def held_settings(df: pd.DataFrame, fixed: Iterable[str]) -> list[str]:
    """Settings other than ``fixed`` (and seed, and ``FOLLOWERS``) that vary in ``df``."""
    skip = set(fixed) | {"seed"} | FOLLOWERS
    return varying(df, [c for c in setting_columns(df) if c not in skip])


def context_title(df: pd.DataFrame, what: str) -> str:
    """'<what>' over 'model · dataset · N samples' (several values joined by '/')."""
    parts = []
    for column in ("model", "dataset", "samples"):
        if column in df.columns:
            values = [v for v in pd.unique(df[column].map(_hashable)) if pd.notna(v)]
            text = "/".join(short_value(v) for v in values)
            if text:
                parts.append(f"{text} samples" if column == "samples" else text)
    return f"{what}\n{' · '.join(parts)}" if parts else what


def short_value(value: Any) -> str:
    """A setting value as a short label: 8.0 -> '8', a dataset mapping -> its file name."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str) and value.startswith("{"):
        try:
            mapping = json.loads(value)
        except ValueError:
            return value
        if isinstance(mapping, dict) and "path" in mapping:
            return str(mapping["path"]).rstrip("/").rsplit("/", 1)[-1]
    return str(value)


def contexts(df: pd.DataFrame, by: Sequence[str] = ("model", "dataset")) -> list[pd.DataFrame]:
    """The table split by ``by`` (columns that are absent are ignored), in order of appearance."""
    keys = [c for c in by if c in df.columns]
    if not keys or all(df[c].map(_hashable).nunique(dropna=False) < 2 for c in keys):
        return [df]
    labels = df[keys].map(_hashable).astype(str).agg("|".join, axis=1)
    return [df[labels == lab] for lab in pd.unique(labels)]


#: short names of settings in design labels (docs/spec.md symbols)
SYMBOLS = {
    "cim.adc_bits": "b",
    "cim.block": "B",
    "cim.rows": "R",
    "cim.cols": "C",
    "cim.cell_bits": "c",
    "cim.input_mantissa_bits": "m",
}


def design_label(row: pd.Series, settings: Sequence[str], sep: str = " ") -> str:
    """'bfp b=4 B=8': the scheme and the given settings that apply to this row."""
    parts = [str(row.get(SCHEME, ""))]
    for c in settings:
        value = row.get(c)
        if c != SCHEME and value is not None and not (isinstance(value, float) and np.isnan(value)):
            name = SYMBOLS.get(c, c.rsplit(".", 1)[-1])
            parts.append(f"{name}={short_value(value)}")
    return sep.join(p for p in parts if p)


#: the 95 % interval of accuracy_drop (bfpdse.paired); older tables lack these columns
DROP_INTERVAL = ("accuracy_drop_lo", "accuracy_drop_hi")
#: how figures name the interval they draw
INTERVAL_NOTE = "bars: 95 % interval of the drop vs the ideal ADC, paired over the same images"


def interval_errors(df: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(below, above) extents of the drop's 95 % interval around ``metric`` of each row.

    For ``accuracy_drop`` they are drop - lo and hi - drop; for ``accuracy`` (= ideal - drop)
    the interval turns over: hi - drop below, drop - lo above. None when ``metric`` is neither
    or no row has an interval; rows without one get 0 (no bar).
    """
    if metric not in ("accuracy", "accuracy_drop") or not set(DROP_INTERVAL) <= set(df.columns):
        return None
    drop, lo, hi = (numeric(df, c).to_numpy() for c in ("accuracy_drop", *DROP_INTERVAL))
    known = np.isfinite(drop) & np.isfinite(lo) & np.isfinite(hi)
    if not known.any():
        return None
    below = np.where(known, drop - lo, 0.0).clip(min=0)
    above = np.where(known, hi - drop, 0.0).clip(min=0)
    return (below, above) if metric == "accuracy_drop" else (above, below)
