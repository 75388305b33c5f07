"""What a search found, read from its result table: the best design or the Pareto front, the best
uniform design it is compared with, and the design as a sweep file (best.yaml).

Only rows with status ``ok`` that satisfy every constraint count (pruned and failed rows never
do), so the reported design always respects the constraint. Pure functions over a DataFrame, so
they are tested without running anything.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bfpdse.search.spec import SearchSpec


def fmt_metric(metric: str, value: Any) -> str:
    """A metric for people: energy in pJ..mJ, accuracies in percent, others 4 digits."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    value = float(value)
    if metric.endswith("_pj"):
        for div, unit in ((1e9, "mJ"), (1e6, "µJ"), (1e3, "nJ")):
            if abs(value) >= div:
                return f"{value / div:.4g} {unit}"
        return f"{value:.4g} pJ"
    if metric == "accuracy_drop":
        return f"{100 * value:.2f} pts"
    if metric.startswith("accuracy"):
        return f"{100 * value:.2f} %"
    return f"{value:.4g}"


def feasible(df: pd.DataFrame, spec: SearchSpec) -> pd.DataFrame:
    """Rows evaluated in full (status ok) with finite objectives that satisfy every constraint."""
    if df.empty:
        return df
    out = df[df["status"] == "ok"].copy()
    for metric in {o.metric for o in spec.objectives} | {c.metric for c in spec.constraints}:
        column = out[metric] if metric in out.columns else pd.Series(math.nan, index=out.index)
        out[metric] = pd.to_numeric(column, errors="coerce").astype(float)
    keep = pd.Series(True, index=out.index)
    for o in spec.objectives:
        keep &= out[o.metric].map(math.isfinite)
    for c in spec.constraints:
        keep &= out[c.metric].map(c.holds)
    return out[keep]


def ranked(df: pd.DataFrame, spec: SearchSpec) -> pd.DataFrame:
    """Feasible rows, best first by the first objective (ties: the next ones)."""
    rows = feasible(df, spec)
    by = [o.metric for o in spec.objectives]
    ascending = [o.direction == "minimize" for o in spec.objectives]
    return rows.sort_values(by, ascending=ascending, kind="stable")


def pareto_front(df: pd.DataFrame, spec: SearchSpec) -> pd.DataFrame:
    """The feasible rows that no other feasible row dominates on every objective."""
    rows = ranked(df, spec)
    signs = [1.0 if o.direction == "minimize" else -1.0 for o in spec.objectives]
    values = rows[[o.metric for o in spec.objectives]].to_numpy(dtype=float) * signs
    keep = []
    for v in values:
        dominated = ((values <= v).all(axis=1) & (values < v).any(axis=1)).any()
        keep.append(not dominated)
    return rows[keep].drop_duplicates([o.metric for o in spec.objectives])


def design(row: pd.Series | dict, spec: SearchSpec) -> dict[str, Any]:
    """The searched settings of a row (its parameters), in the space's order."""
    return {p.key: _plain(row.get(p.key)) for p in spec.params}


def is_uniform(row: pd.Series | dict, spec: SearchSpec) -> bool:
    return spec.uniform(design(row, spec))


def best_uniform(df: pd.DataFrame, spec: SearchSpec) -> pd.Series | None:
    """The best feasible row whose per-layer settings are equal over the layers."""
    rows = ranked(df, spec)
    rows = rows[[is_uniform(r, spec) for _, r in rows.iterrows()]] if len(rows) else rows
    return rows.iloc[0] if len(rows) else None


@dataclass
class Against:
    """The best design of a grid sweep's folder within this search's space and constraints."""

    path: Path
    row: pd.Series | None
    rows: int  # rows of that table inside the space
    differs: list[str]  # settings other than the space's whose values differ from the search's


def against(path: str | Path, spec: SearchSpec) -> Against:
    """The best row of another results folder (a grid sweep) inside this search's space."""
    from bfpdse.spec.point import make_point
    from bfpdse.store.read import read_results

    table = read_results(path)
    inside = pd.Series(True, index=table.index)
    for p in spec.space:
        if p.key in table.columns:
            allowed = {json.dumps(v) for v in p.values()}
            inside &= table[p.key].map(lambda v, ok=allowed: json.dumps(_plain(v)) in ok)
    rows = table[inside]
    best = ranked(rows, spec)
    row = best.iloc[0] if len(best) else None
    differs = []
    if row is not None:
        # this search's settings at that row's design: settings that do not apply to it
        # (cim.block off bfp) collapse alike on both sides
        searched = {p.key for p in spec.space}
        ours = make_point({**spec.base, **{k: _plain(row[k]) for k in searched}}).settings()
        for key, value in ours.items():
            if key in searched or key not in row.index:
                continue
            theirs = _plain(row[key])
            if value is not None and not _same(theirs, value):
                differs.append(f"{key} {theirs!r} there, {value!r} here")
    return Against(Path(path), row, int(inside.sum()), differs)


def gain(spec: SearchSpec, best: pd.Series, other: pd.Series) -> float | None:
    """How many times better ``best`` is than ``other`` on the first objective (energy of the
    other / energy of the best, for a minimised one)."""
    o = spec.objectives[0]
    a, b = float(best[o.metric]), float(other[o.metric])
    if not (math.isfinite(a) and math.isfinite(b)) or a == 0 or b == 0:
        return None
    return b / a if o.direction == "minimize" else a / b


def best_settings(row: pd.Series | dict, spec: SearchSpec) -> dict[str, Any]:
    """The dotted settings of a design: the search's base (as given) and its parameters."""
    out = {k: v for k, v in spec.base.items() if k not in ("model", "dataset", "samples", "seed")}
    out.update(design(row, spec))
    return out


def set_options(row: pd.Series | dict, spec: SearchSpec) -> str:
    """``bfpdse run`` options that evaluate this design."""
    import shlex

    b = spec.base
    dataset = b["dataset"] if isinstance(b["dataset"], str) else json.dumps(b["dataset"])
    parts = [f"--model {shlex.quote(str(b['model']))}", f"--dataset {shlex.quote(dataset)}"]
    parts += [f"--samples {b['samples']}", f"--seed {b['seed']}"]
    for key, value in best_settings(row, spec).items():
        parts.append("--set " + shlex.quote(f"{key}={_yaml_scalar(value)}"))
    return "bfpdse run " + " ".join(parts)


def sweep_yaml(rows: pd.DataFrame, spec: SearchSpec, note: str) -> str:
    """A sweep file of the design(s): ``base:`` holds the first; several go in a zip group.

    ``bfpdse sweep`` runs it as it stands; its ``base:`` block can be pasted into another sweep.
    """
    import yaml

    b = spec.base
    first = rows.iloc[0]
    doc: dict[str, Any] = {
        "name": f"{spec.name}_best" if len(rows) == 1 else f"{spec.name}_front",
        "model": b["model"],
        "dataset": b["dataset"],
        "samples": b["samples"],
        "seed": b["seed"],
        "base": best_settings(first, spec),
    }
    if len(rows) > 1:
        keys = list(design(first, spec))
        doc["zip"] = [{k: [design(r, spec)[k] for _, r in rows.iterrows()] for k in keys}]
        for k in keys:
            doc["base"].pop(k, None)
    header = "".join(f"# {line}\n" for line in note.splitlines())
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def _same(cell: Any, value: Any) -> bool:
    """A table cell against a setting: numbers by value, the rest as the table writes them."""
    from bfpdse.store.schema import as_text

    if isinstance(cell, bool) or isinstance(value, bool):
        return cell is value
    if isinstance(cell, int | float) and isinstance(value, int | float):
        return float(cell) == float(value)
    return as_text(cell) == as_text(value)


def _plain(value: Any) -> Any:
    """A table cell as a plain value (numpy and pandas NA to Python)."""
    if value is None or value is pd.NA:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
