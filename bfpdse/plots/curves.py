"""Metrics along one swept setting, one line per scheme (or per ADC bits within ``bfp``).

Three plots use this: accuracy (and drop) vs ADC bits, accuracy and energy vs the BFP block size,
and accuracy and energy vs the input mantissa bits of input blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from bfpdse.plots import style
from bfpdse.plots._table import (
    SCHEME,
    NotDrawable,
    average_seeds,
    block_schemes,
    context_title,
    held_settings,
    interval_errors,
    most_accurate,
    numeric,
    ok_rows,
    short_value,
    why_empty,
)


@dataclass
class CurveInfo:
    """What a curve plot draws.

    ``lines``: one row per (line, x) with the metrics (fractions and pJ, as stored), sorted;
    ``baselines``: per line, the design with the swept setting off (NaN), drawn dashed;
    ``references``: accuracies (fractions) drawn as horizontal lines ("float", "ideal");
    ``held``: other settings that vary; each point is the most accurate design over them.
    """

    x: str
    line_by: str
    lines: pd.DataFrame
    title: str
    baselines: pd.DataFrame = field(default_factory=pd.DataFrame)
    references: dict[str, float] = field(default_factory=dict)
    held: list[str] = field(default_factory=list)

    def keys(self) -> list:
        """The line keys in drawing order (schemes in style order, numbers ascending)."""
        values = pd.unique(self.lines["line"])
        if self.line_by == SCHEME:
            return style.scheme_order(values)
        return sorted(values, key=lambda v: (np.isnan(v), v))


def _curve_info(
    df: pd.DataFrame, x: str, line_by: str, what: str, rows: pd.Series | None = None
) -> CurveInfo:
    """Most accurate design per (line, x) over the ok rows (``rows`` selects some of them)."""
    pts = average_seeds(ok_rows(df if rows is None else df[rows], ["accuracy"]))
    if pts.empty:
        raise NotDrawable(why_empty(df, ["accuracy"]))
    pts[x] = numeric(pts, x)
    if line_by != SCHEME:
        pts[line_by] = numeric(pts, line_by)
    on = pts[np.isfinite(pts[x])]
    if on[x].nunique() < 2:
        raise NotDrawable(f"{x} takes fewer than two values among the successful points")
    lines = most_accurate(on, [line_by, x]).rename(columns={line_by: "line"})
    if line_by == SCHEME:
        lines["line"] = lines["line"].astype(str)
    held = held_settings(on, [x, line_by])
    title = context_title(df, what)
    if held:
        title += f"\neach point: the most accurate design over {', '.join(held)}"
    return CurveInfo(x=x, line_by=line_by, lines=lines, title=title, held=held)


def _references(df: pd.DataFrame) -> dict[str, float]:
    pts = ok_rows(df)
    refs = {}
    for name in ("float", "ideal"):
        values = numeric(pts, f"accuracy_{name}").dropna()
        if len(values):
            refs[name] = float(values.mean())
    return refs


def _bits_info(df: pd.DataFrame) -> CurveInfo:
    """Accuracy and drop vs ADC bits, one line per scheme; float and ideal-ADC references."""
    info = _curve_info(df, "cim.adc_bits", SCHEME, "accuracy vs ADC bits")
    info.references = _references(df)
    return info


def _block_info(df: pd.DataFrame) -> CurveInfo:
    """Accuracy and energy of a block scheme (``bfp``) vs block size, one line per ADC bits."""
    names = sorted(block_schemes())
    rows = df[SCHEME].isin(names) if SCHEME in df.columns else None
    if rows is None or not rows.any():
        raise NotDrawable(f"the table has no point of a scheme with blocks ({', '.join(names)})")
    scheme = str(df.loc[rows, SCHEME].iloc[0])
    what = f"{scheme}: accuracy and energy vs block size"
    return _curve_info(df, "cim.block", "cim.adc_bits", what, rows=df[SCHEME] == scheme)


def _mantissa_info(df: pd.DataFrame) -> CurveInfo:
    """Accuracy and energy vs input mantissa bits, one line per scheme; 'off' dashed."""
    x = "cim.input_mantissa_bits"
    info = _curve_info(df, x, SCHEME, "accuracy and energy vs input mantissa bits (input blocks)")
    pts = average_seeds(ok_rows(df, ["accuracy"]))
    off = pts[numeric(pts, x).isna()].assign(**{SCHEME: lambda d: d[SCHEME].astype(str)})
    off = most_accurate(off, [SCHEME]).rename(columns={SCHEME: "line"})
    info.baselines = style.sort_schemes(off[off["line"].isin(set(info.lines["line"]))], "line")
    info.references = _references(df)
    return info


def _line_style(info: CurveInfo, key: object, index: int, n: int) -> dict:
    if info.line_by == SCHEME:
        key = str(key)
        return {"color": style.scheme_color(key), "marker": style.scheme_marker(key), "label": key}
    color = style.shades(style.scheme_color(sorted(block_schemes())[0]), n)[index]
    name = "b = F (full)" if pd.isna(key) else f"b = {short_value(key)}"
    return {"color": color, "marker": "o", "label": name}


def draw_curves(info: CurveInfo, ax: Axes, metric: str = "accuracy") -> Axes:
    """One line per key of ``metric`` vs ``info.x``; baselines dashed; references for accuracy."""
    factor, ylabel = style.scale(metric, info.lines[metric])
    keys = info.keys()
    for i, key in enumerate(keys):
        line = info.lines[info.lines["line"].isin([key])].sort_values(info.x)
        kind = _line_style(info, key, i, len(keys))
        ax.plot(line[info.x], line[metric] * factor, ms=5, lw=1.5, **kind)
        errors = interval_errors(line, metric)
        if errors is not None:  # the drop's 95 % interval (bfpdse.paired)
            ax.errorbar(
                line[info.x], line[metric] * factor, yerr=np.vstack(errors) * factor,
                fmt="none", ecolor=kind["color"], elinewidth=0.8, capsize=2, alpha=0.8,
            )  # fmt: skip
    for _, row in info.baselines.iterrows():
        kind = _line_style(info, row["line"], 0, 1)
        ax.axhline(
            row[metric] * factor,
            color=kind["color"],
            ls="--",
            lw=0.9,
            label=f"{kind['label']}, off",
        )
    if metric == "accuracy":
        for name, value in info.references.items():
            ax.axhline(value * factor, label=f"{name} accuracy", **style.REFERENCE_STYLES[name])
    elif metric == "accuracy_drop":
        ax.axhline(0.0, label="ideal ADC", **style.REFERENCE_STYLES["ideal"])
    xs = np.sort(pd.unique(info.lines[info.x]))
    if xs.min() > 0 and xs.max() / xs.min() >= 8:
        ax.set_xscale("log", base=2)
    ax.set_xticks(xs, [short_value(float(v)) for v in xs])
    ax.minorticks_off()
    ax.set_xlabel(style.label(info.x))
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax
