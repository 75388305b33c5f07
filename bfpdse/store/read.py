"""Read the consolidated result table of one sweep folder, or of a folder of sweep folders.

A sweep folder holds ``results.parquet`` (preferred) and ``results.csv`` (the same rows, for
people and spreadsheets). Readers take the parquet file and fall back to the CSV when the parquet
file is missing or cannot be read.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bfpdse.errors import StoreError

PARQUET = "results.parquet"
CSV = "results.csv"

#: the column that names the sweep folder a row came from
SWEEP_COLUMN = "sweep"

_EXPECTED = f"a sweep folder holding {PARQUET} or {CSV}, or a folder of such sweep folders"


def _has_table(folder: Path) -> bool:
    return (folder / PARQUET).is_file() or (folder / CSV).is_file()


def _read_file(path: Path) -> pd.DataFrame:
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except Exception as exc:  # pyarrow and the csv parser raise many kinds; all mean "unreadable"
        raise StoreError(f"{path}: cannot read the result table ({exc})") from None


def _read_sweep(folder: Path) -> pd.DataFrame:
    """The table of one sweep folder: parquet first, then CSV."""
    parquet, csv = folder / PARQUET, folder / CSV
    errors: list[str] = []
    for path in (parquet, csv):
        if not path.is_file():
            continue
        try:
            df = _read_file(path)
        except StoreError as exc:
            errors.append(str(exc))
            continue
        if df.empty:
            raise StoreError(f"{path}: the result table has no rows; run the sweep first")
        return df
    raise StoreError("; ".join(errors) if errors else f"{folder}: expected {_EXPECTED}")


def read_results(path: str | Path) -> pd.DataFrame:
    """The result table under ``path``, one row per design point.

    ``path`` is a sweep folder (its ``results.parquet``, else its ``results.csv``), a folder of
    sweep folders (their tables concatenated; columns that only some sweeps have are NaN
    elsewhere), or a results file itself. The ``sweep`` column names the folder of each row.

    Raises StoreError naming the path when nothing readable is there or a table is empty.
    """
    path = Path(path)
    if path.is_file():
        if path.suffix not in (".parquet", ".csv"):
            raise StoreError(f"{path}: expected {PARQUET} or {CSV}, or {_EXPECTED}")
        df = _read_file(path)
        if df.empty:
            raise StoreError(f"{path}: the result table has no rows; run the sweep first")
        return _with_sweep(df, path.parent.name)
    if not path.is_dir():
        raise StoreError(f"{path}: no such folder; expected {_EXPECTED}")
    if _has_table(path):
        return _with_sweep(_read_sweep(path), path.name)
    sweeps = sorted(p for p in path.iterdir() if p.is_dir() and _has_table(p))
    if not sweeps:
        raise StoreError(f"{path}: no result table found; expected {_EXPECTED}")
    tables = [_with_sweep(_read_sweep(p), p.name) for p in sweeps]
    return pd.concat(tables, ignore_index=True, sort=False)


def _with_sweep(df: pd.DataFrame, name: str) -> pd.DataFrame:
    # a table may already carry its sweep name; the folder is the truth for where it was found
    return df.assign(**{SWEEP_COLUMN: name})
