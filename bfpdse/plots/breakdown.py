"""Where the energy goes: stacked bars of the energy components of chosen design points."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from bfpdse.plots import style
from bfpdse.plots._table import (
    SCHEME,
    NotDrawable,
    average_seeds,
    context_title,
    design_label,
    held_settings,
    ok_rows,
    why_empty,
)
from bfpdse.plots.pareto import iso_accuracy

_COMPONENT = re.compile(r"^energy_(.+)_pj$")
# a remainder (energy_pj minus the listed components) above this share gets its own "other" bar
_OTHER_SHARE = 0.005


@dataclass
class BreakdownInfo:
    """Bars to stack: one row per chosen point (label, scheme), one column per component (pJ)."""

    bars: pd.DataFrame
    components: list[str]
    title: str


def component_columns(df: pd.DataFrame) -> list[str]:
    """The ``energy_<component>_pj`` columns, in the stacking order of the style."""
    found = [m.group(1) for c in df.columns if (m := _COMPONENT.match(str(c)))]
    order = [c for c in style.COMPONENT_COLORS if c in found]
    return order + sorted(set(found) - set(order))


def _choose(df: pd.DataFrame, max_drop_points: float) -> tuple[pd.DataFrame, str]:
    """Per scheme the iso-accuracy best point, else its most accurate point (``within`` False)."""
    pts = average_seeds(ok_rows(df, ["accuracy", "energy_pj"]))
    if pts.empty:
        raise NotDrawable(why_empty(df, ["accuracy", "energy_pj"]))
    iso = iso_accuracy(df, max_drop_points)
    pts = pts.sort_values(["accuracy", "energy_pj"], ascending=[False, True], kind="stable")
    most = pts[pts[SCHEME].astype(str).isin(iso.missing)].drop_duplicates(SCHEME)
    chosen = pd.concat([iso.best.assign(within=True), most.assign(within=False)])
    chosen = style.sort_schemes(chosen, SCHEME)
    how = f"per scheme: the lowest-energy point with a drop ≤ {max_drop_points:g} points"
    if not most.empty:
        how += ", else (*) its most accurate point"
    return chosen.reset_index(drop=True), how


def _breakdown_info(
    df: pd.DataFrame, max_drop_points: float = 0.5, point_ids: Sequence[str] | None = None
) -> BreakdownInfo:
    """Components of the given points, or of the iso-accuracy best point of each scheme."""
    components = component_columns(df)
    if not components:
        raise NotDrawable("the table has no energy_<component>_pj column")
    if point_ids is not None:
        chosen = ok_rows(df, ["energy_pj"]).set_index("point_id")
        unknown = [p for p in point_ids if p not in chosen.index]
        if unknown:
            raise ValueError(f"point_ids {unknown} are not successful points of the table")
        chosen = chosen.loc[list(point_ids)].reset_index()
        how = "chosen points"
    else:
        chosen, how = _choose(df, max_drop_points)
    parts = chosen[[f"energy_{c}_pj" for c in components]].apply(pd.to_numeric, errors="coerce")
    parts = parts.fillna(0.0).set_axis(components, axis=1)
    other = pd.to_numeric(chosen["energy_pj"], errors="coerce") - parts.sum(axis=1)
    if (other > _OTHER_SHARE * chosen["energy_pj"]).any():
        parts["other"] = other.clip(lower=0)
    keep = [c for c in parts.columns if (parts[c] > 0).any()]
    labelled = held_settings(ok_rows(df), [SCHEME])
    labels = [
        design_label(row, labelled, sep="\n") + ("" if row.get("within", True) else "\n(*)")
        for _, row in chosen.iterrows()
    ]
    bars = parts[keep].assign(label=labels, scheme=chosen[SCHEME].astype(str).to_numpy())
    title = context_title(df, f"energy per inference by component\n{how}")
    return BreakdownInfo(bars.reset_index(drop=True), keep, title)


def draw_breakdown(info: BreakdownInfo, ax: Axes) -> Axes:
    """Stacked bars, one per point, one segment per component (bottom: the first component)."""
    values = info.bars[info.components].to_numpy(dtype=float)
    factor, ylabel = style.scale("energy_pj", values.sum(axis=1))
    x = np.arange(len(info.bars))
    bottom = np.zeros(len(x))
    for j, comp in enumerate(info.components):
        color = style.COMPONENT_COLORS.get(comp, "#dddddd")
        hatch = style.COMPONENT_HATCHES.get(comp)
        ax.bar(x, values[:, j] * factor, bottom=bottom, color=color, label=comp, width=0.6,
               hatch=hatch, edgecolor="#202020", linewidth=0.4)  # fmt: skip
        bottom += values[:, j] * factor
    ax.set_xticks(x, info.bars["label"], fontsize=8)
    for tick, scheme in zip(ax.get_xticklabels(), info.bars["scheme"], strict=True):
        tick.set_color(style.scheme_color(scheme))
    ax.set_ylabel(ylabel)
    ax.set_title(info.title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax
