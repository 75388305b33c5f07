"""A metric over two swept settings (e.g. crossbar rows x ADC bits), one panel per scheme."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from bfpdse.plots import style
from bfpdse.plots._table import (
    FOLLOWERS,
    SCHEME,
    SECTION_PREFIXES,
    NotDrawable,
    average_seeds,
    context_title,
    held_settings,
    most_accurate,
    numeric,
    ok_rows,
    short_value,
    varying,
    why_empty,
)

#: preferred axes, x first: ADC bits across, then the array geometry
PREFERRED_AXES = (
    "cim.adc_bits",
    "cim.rows",
    "cim.cols",
    "cim.block",
    "cim.input_mantissa_bits",
    "cim.cell_bits",
)
METRIC_NAMES = {"accuracy_drop": "accuracy drop", "accuracy": "accuracy", "energy_pj": "energy"}
CMAPS = {"accuracy_drop": "magma_r", "accuracy": "magma", "energy_pj": "viridis"}


@dataclass
class HeatmapInfo:
    """Per scheme, a table of ``metric`` (as stored) with ``y`` values as rows, ``x`` as columns.

    A cell holds the most accurate design at that (x, y) over the ``held`` settings.
    """

    x: str
    y: str
    metric: str
    panels: dict[str, pd.DataFrame]
    title: str
    held: list[str] = field(default_factory=list)

    def values(self) -> np.ndarray:
        """Every finite cell of every panel (to share one colour scale)."""
        cells = np.concatenate([p.to_numpy(dtype=float).ravel() for p in self.panels.values()])
        return cells[np.isfinite(cells)]


def heatmap_axes(df: pd.DataFrame) -> tuple[str, str]:
    """The two numeric settings to put on x and y: preferred ones first, then table order."""
    pts = ok_rows(df)
    numeric_settings = [
        c
        for c in df.columns
        if str(c).startswith(SECTION_PREFIXES)
        and c != SCHEME
        and c not in FOLLOWERS
        and numeric(pts, c).notna().sum() == pts[c].notna().sum()
    ]
    swept = varying(pts.assign(**{c: numeric(pts, c) for c in numeric_settings}), numeric_settings)
    ordered = [c for c in PREFERRED_AXES if c in swept] + [
        c for c in swept if c not in PREFERRED_AXES
    ]
    if len(ordered) < 2:
        found = ", ".join(ordered) or "none"
        raise NotDrawable(f"needs two swept numeric settings; the table varies {found}")
    return ordered[0], ordered[1]


def _heatmap_info(
    df: pd.DataFrame, metric: str = "accuracy_drop", x: str | None = None, y: str | None = None
) -> HeatmapInfo:
    """``metric`` over (x, y) per scheme; axes chosen by ``heatmap_axes`` unless given."""
    if x is None or y is None:
        x, y = heatmap_axes(df)
    pts = average_seeds(ok_rows(df, ["accuracy", metric]))
    if pts.empty:
        raise NotDrawable(why_empty(df, ["accuracy", metric]))
    pts = pts.assign(**{x: numeric(pts, x), y: numeric(pts, y), SCHEME: pts[SCHEME].astype(str)})
    pts = pts[np.isfinite(pts[x]) & np.isfinite(pts[y])]
    best = most_accurate(pts, [SCHEME, x, y])
    panels = {}
    for scheme in style.scheme_order(best[SCHEME]):
        cells = best[best[SCHEME] == scheme]
        if len(cells) >= 2:
            panels[scheme] = (
                cells.pivot(index=y, columns=x, values=metric).sort_index().sort_index(axis=1)
            )
    if not panels:
        raise NotDrawable(f"no scheme has two or more points over {x} x {y}")
    what = f"{METRIC_NAMES.get(metric, metric)} over {x} × {y}"
    title = context_title(df, what)
    held = held_settings(pts, [SCHEME, x, y])
    if held:
        title += f"\neach cell: the most accurate design over {', '.join(held)}"
    return HeatmapInfo(x, y, metric, panels, title, held)


def draw_heatmap(
    info: HeatmapInfo, scheme: str, ax: Axes, vmin: float | None = None, vmax: float | None = None
) -> Axes:
    """One panel: the scheme's cells as an image, each finite cell annotated with its value."""
    factor, _ = style.scale(info.metric, info.values())
    grid = info.panels[scheme].to_numpy(dtype=float) * factor
    image = ax.imshow(
        grid,
        origin="lower",
        aspect="auto",
        cmap=CMAPS.get(info.metric, "viridis"),
        vmin=vmin,
        vmax=vmax,
    )
    for (i, j), value in np.ndenumerate(grid):
        if np.isfinite(value):
            r, g, b, _ = image.cmap(image.norm(value))
            ink = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
            ax.text(j, i, f"{value:.3g}", ha="center", va="center", fontsize=7, color=ink)
    panel = info.panels[scheme]
    ax.set_xticks(range(panel.shape[1]), [short_value(float(v)) for v in panel.columns])
    ax.set_yticks(range(panel.shape[0]), [short_value(float(v)) for v in panel.index])
    ax.set_xlabel(style.label(info.x))
    ax.set_ylabel(style.label(info.y))
    ax.set_title(scheme, color=style.scheme_color(scheme), fontsize=10)
    return ax
