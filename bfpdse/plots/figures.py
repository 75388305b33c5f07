"""Figures from a result table: each plot's data function, drawn on a new figure and saved.

``PLOTS`` maps a plot name (also its file name) to a builder; a builder raises NotDrawable when
the table does not vary what the plot needs. ``make_figures`` draws every plot that can be drawn,
for each sweep (and each model/dataset within it) of the table.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

from bfpdse.plots import style
from bfpdse.plots._table import INTERVAL_NOTE, NotDrawable, contexts, interval_errors
from bfpdse.plots.breakdown import _breakdown_info, draw_breakdown
from bfpdse.plots.curves import CurveInfo, _bits_info, _block_info, _mantissa_info, draw_curves
from bfpdse.plots.heatmap import _heatmap_info, draw_heatmap
from bfpdse.plots.noise import SPREAD_NOTE, _noise_info, draw_noise
from bfpdse.plots.pareto import _pareto_info, draw_pareto

FORMATS = ("png", "svg", "pdf")
Builder = Callable[[pd.DataFrame, float], Figure]


def _curve_figure(info: CurveInfo, metrics: Sequence[str]) -> Figure:
    metrics = [m for m in metrics if m in info.lines.columns and info.lines[m].notna().any()]
    fig = style.new_figure(len(metrics))
    for ax, metric in zip(fig.axes, metrics, strict=True):
        draw_curves(info, ax, metric)
    bars = any(interval_errors(info.lines, m) is not None for m in metrics)
    fig.suptitle(info.title + (f"\n{INTERVAL_NOTE}" if bars else ""), fontsize=10)
    return fig


def accuracy_vs_adc_bits(df: pd.DataFrame, max_drop_points: float) -> Figure:
    return _curve_figure(_bits_info(df), ["accuracy", "accuracy_drop"])


def energy_accuracy_pareto(df: pd.DataFrame, max_drop_points: float) -> Figure:
    info = _pareto_info(df)
    if info.message:
        raise NotDrawable(info.message)
    if len(info.points) < 2:
        raise NotDrawable("needs at least two successful points")
    fig = style.new_figure(width=6.4, height=4.6)
    draw_pareto(info, fig.axes[0])
    return fig


def energy_breakdown(df: pd.DataFrame, max_drop_points: float) -> Figure:
    info = _breakdown_info(df, max_drop_points)
    fig = style.new_figure(width=max(5.0, 1.1 * len(info.bars) + 2.5), height=4.6)
    draw_breakdown(info, fig.axes[0])
    return fig


def _heatmap_figure(df: pd.DataFrame, metric: str) -> Figure:
    info = _heatmap_info(df, metric)
    factor, bar_label = style.scale(metric, info.values())
    values = info.values() * factor
    fig = style.new_figure(len(info.panels), width=max(4.2, 7.0 / len(info.panels)), height=4.0)
    for ax, scheme in zip(fig.axes, info.panels, strict=True):
        draw_heatmap(info, scheme, ax, vmin=values.min(), vmax=values.max())
    fig.colorbar(fig.axes[0].images[0], ax=fig.axes, label=bar_label)
    fig.suptitle(info.title, fontsize=10)
    return fig


def heatmap_accuracy_drop(df: pd.DataFrame, max_drop_points: float) -> Figure:
    return _heatmap_figure(df, "accuracy_drop")


def heatmap_energy(df: pd.DataFrame, max_drop_points: float) -> Figure:
    return _heatmap_figure(df, "energy_pj")


def bfp_block_size(df: pd.DataFrame, max_drop_points: float) -> Figure:
    return _curve_figure(_block_info(df), ["accuracy", "energy_pj"])


def input_mantissa_bits(df: pd.DataFrame, max_drop_points: float) -> Figure:
    return _curve_figure(_mantissa_info(df), ["accuracy", "energy_pj"])


def accuracy_vs_noise(df: pd.DataFrame, max_drop_points: float) -> Figure:
    info = _noise_info(df)
    n = len(info.panels)
    fig = style.new_figure(n, width=max(4.2, 9.0 / n) if n > 1 else 5.2, height=3.8)
    for ax, panel in zip(fig.axes, info.panels, strict=True):
        draw_noise(info, ax, panel)
    for ax in fig.axes[1:]:
        ax.sharey(fig.axes[0])
    fig.suptitle(f"{info.title}\n{SPREAD_NOTE}", fontsize=10)
    return fig


#: plot name (= file name without suffix) -> builder, in the order they are drawn
PLOTS: dict[str, Builder] = {
    "accuracy_vs_adc_bits": accuracy_vs_adc_bits,
    "energy_accuracy_pareto": energy_accuracy_pareto,
    "energy_breakdown": energy_breakdown,
    "heatmap_accuracy_drop": heatmap_accuracy_drop,
    "heatmap_energy": heatmap_energy,
    "bfp_block_size": bfp_block_size,
    "input_mantissa_bits": input_mantissa_bits,
    "accuracy_vs_noise": accuracy_vs_noise,
}


@dataclass
class FigureReport:
    """Files written, and the plots not drawn with the reason (keyed by relative file stem)."""

    written: list[Path] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def _slug(text: object) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-") or "unnamed"


def figure_groups(df: pd.DataFrame) -> list[tuple[Path, pd.DataFrame]]:
    """(sub-folder, rows) per sweep, and per model/dataset within a sweep when several.

    One sweep of one model and dataset draws into the output folder itself.
    """
    sweeps = contexts(df, ["sweep"])
    groups = []
    for sweep in sweeps:
        sub = Path(_slug(sweep["sweep"].iloc[0])) if len(sweeps) > 1 else Path()
        parts = contexts(sweep)
        for part in parts:
            name = "_".join(_slug(part[c].iloc[0]) for c in ("model", "dataset") if c in part)
            groups.append((sub / name if len(parts) > 1 else sub, part))
    return groups


def save_figure(fig: Figure, stem: Path, formats: Sequence[str]) -> list[Path]:
    """Write ``stem.<fmt>`` for each format; svg and pdf without dates, for stable files."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        metadata = {"Date": None} if fmt in ("svg", "pdf") else None
        with matplotlib.rc_context({"svg.hashsalt": "bfpdse"}):
            fig.savefig(path, format=fmt, dpi=150, metadata=metadata)
        paths.append(path)
    return paths


def make_figures(
    df: pd.DataFrame,
    out: str | Path,
    formats: Sequence[str] = ("png",),
    max_drop_points: float = 0.5,
    plots: Sequence[str] | None = None,
) -> FigureReport:
    """Draw every plot the table supports into ``out``; ``max_drop_points`` picks the bars.

    Returns the files written and, for each plot not drawn, why.
    """
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"formats {bad} are not supported; allowed: {', '.join(FORMATS)}")
    report = FigureReport()
    for sub, part in figure_groups(df):
        for name in plots or PLOTS:
            key = str(sub / name)
            try:
                fig = PLOTS[name](part, max_drop_points)
            except NotDrawable as exc:
                report.skipped[key] = str(exc)
                continue
            report.written += save_figure(fig, Path(out) / sub / name, formats)
    return report
