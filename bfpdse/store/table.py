"""Consolidation: part records -> one typed table, written as results.parquet and results.csv."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bfpdse.store.parts import atomic_write
from bfpdse.store.schema import COLUMNS, RESERVED, as_text, column_order, settings_dtype

PARQUET = "results.parquet"
CSV = "results.csv"


def build_table(
    records: Iterable[Mapping[str, Any]],
    settings: Sequence[str],
    order: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per record: ids, the ``settings`` keys, metrics, run columns; typed per schema.

    ``order`` (point ids) sorts the rows; records whose id is not in it go last.
    """
    records = list(records)
    rank = {pid: i for i, pid in enumerate(order or ())}
    records.sort(key=lambda r: (rank.get(r["point_id"], len(rank)), r["point_id"]))
    rows = []
    metric_names: set[str] = set()
    for r in records:
        metrics = {k: v for k, v in (r.get("metrics") or {}).items() if k not in RESERVED}
        metric_names.update(metrics)
        rows.append(
            {
                "point_id": r["point_id"],
                "status": r["status"],
                "error": r.get("error") or "",
                **{k: as_text(r["settings"].get(k)) for k in settings},
                **{k: as_text(v) for k, v in metrics.items()},
                "wall_s": r.get("wall_s"),
                "started": r.get("started"),
                "finished": r.get("finished"),
            }
        )
    columns = column_order(settings, metric_names)
    index = pd.RangeIndex(len(rows))
    hints = _annotations(settings)
    data = {
        name: _typed([row.get(name) for row in rows], name, hints.get(name), index)
        for name in columns
    }
    return pd.DataFrame(data, index=index, columns=columns)


def _annotations(settings: Sequence[str]) -> dict[str, str]:
    """Dotted setting -> type annotation of its config field ('' if unknown)."""
    from bfpdse.spec.point import SECTIONS, TOP_DEFAULTS, section_class

    out = {key: type(TOP_DEFAULTS[key]).__name__ for key in settings if key in TOP_DEFAULTS}
    for section in SECTIONS:
        fields = {f.name: f.type for f in dataclasses.fields(section_class(section))}
        for key in settings:
            if key.startswith(f"{section}."):
                out[key] = str(fields.get(key.split(".", 1)[1], ""))
    return out


def _typed(values: list[Any], name: str, setting: str | None, index: pd.Index) -> pd.Series:
    """A column typed as the schema declares; settings and undeclared metrics are inferred.

    ``setting`` is the type annotation of a setting's field, None for other columns.
    """
    values = [None if _missing(v) else v for v in values]
    declared = COLUMNS.get(name)
    if declared is None or setting is not None:
        dtype = settings_dtype(values, setting or "")
        if dtype == "string":
            values = [None if v is None else str(v) for v in values]
        return pd.Series(values, index=index, dtype=dtype, name=name)
    raw = pd.Series(values, index=index, dtype="object", name=name)
    if declared.dtype.startswith("datetime64"):
        return pd.to_datetime(raw, utc=True, format="ISO8601")
    if declared.dtype in ("float64", "Int64"):
        numbers = pd.to_numeric(raw)  # a non-number here is a bug in evaluate: raise loudly
        if declared.dtype == "Int64":
            return numbers.round().astype("Int64")
        return numbers.astype("float64")
    if declared.dtype == "boolean":
        return raw.astype("boolean")
    return pd.Series([None if v is None else str(v) for v in values], index=index, dtype="string")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def write_table(folder: Path, df: pd.DataFrame) -> tuple[Path, Path]:
    """Write results.parquet and results.csv atomically; returns their paths."""
    parquet, csv = folder / PARQUET, folder / CSV
    atomic_write(parquet, lambda tmp: df.to_parquet(tmp, index=False))
    atomic_write(csv, lambda tmp: df.to_csv(tmp, index=False))
    return parquet, csv
