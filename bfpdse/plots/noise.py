"""Accuracy vs analog noise (docs/spec.md, "Noise"): one line per ADC scheme, the spread over
the noise trials as error bars, one panel per value of the other noise settings that vary.

The x axis is the first ``noise.*`` magnitude that the table varies, in the order of
``NOISE_AXES`` (ADC thermal noise first); every other varying noise magnitude splits the plot
into panels (``sweeps/noise.yaml``: x = ``noise.adc_sigma``, a panel per ``noise.cell_sigma``).
Where other settings vary too, each point is the most accurate design over them, as in the other
curve plots, and the title says which.
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
    context_title,
    held_settings,
    most_accurate,
    numeric,
    ok_rows,
    short_value,
    varying,
    why_empty,
)

#: the noise magnitudes a noise plot can put on its x axis or its panels, in order of preference
NOISE_AXES = (
    "noise.adc_sigma",
    "noise.read_sigma",
    "noise.cell_sigma",
    "noise.adc_offset_sigma",
    "noise.stuck_off",
    "noise.stuck_on",
)
#: how the figure names its error bars
SPREAD_NOTE = "bars: ± standard deviation of the accuracy over the noise trials"

NOISE_LABELS = {
    "noise.adc_sigma": "ADC thermal noise noise.adc_sigma (partial-sum units)",
    "noise.adc_offset_sigma": "ADC offset spread noise.adc_offset_sigma (partial-sum units)",
    "noise.cell_sigma": "cell variation noise.cell_sigma (cell levels)",
    "noise.read_sigma": "read noise noise.read_sigma (cell levels)",
    "noise.stuck_off": "cells stuck off (fraction)",
    "noise.stuck_on": "cells stuck on (fraction)",
}


@dataclass
class NoiseInfo:
    """What the noise plot draws.

    ``lines``: one row per (panel, scheme, x) with ``accuracy`` and ``spread`` (the standard
    deviation over trials, 0 for one trial), fractions as stored; ``panels``: the panel keys
    (tuples of the ``panel_by`` values, ``()`` for one panel); ``references``: accuracies drawn
    as horizontal lines ("ideal": the noiseless ideal ADC, "float").
    """

    x: str
    panel_by: list[str]
    panels: list[tuple]
    lines: pd.DataFrame
    title: str
    references: dict[str, float] = field(default_factory=dict)
    held: list[str] = field(default_factory=list)

    def panel_title(self, key: tuple) -> str:
        return ", ".join(
            f"{c.split('.', 1)[1]} = {short_value(float(v))}"
            for c, v in zip(self.panel_by, key, strict=True)
        )

    def schemes(self) -> list[str]:
        return style.scheme_order(pd.unique(self.lines[SCHEME]))


def _noise_info(df: pd.DataFrame) -> NoiseInfo:
    """Accuracy vs the first varying noise magnitude, per scheme and panel (pure)."""
    pts = average_seeds(ok_rows(df, ["accuracy"]))
    if pts.empty:
        raise NotDrawable(why_empty(df, ["accuracy"]))
    present = [c for c in NOISE_AXES if c in pts.columns]
    for c in present:
        pts[c] = numeric(pts, c).fillna(0.0)  # a missing magnitude is no noise
    axes = varying(pts, present)
    if not axes:
        raise NotDrawable("no noise.* setting takes two or more values among the successful points")
    x, panel_by = axes[0], axes[1:]
    pts["spread"] = numeric(pts, "accuracy_std").fillna(0.0)
    pts[SCHEME] = pts[SCHEME].astype(str) if SCHEME in pts.columns else "cim"
    keys = [*panel_by, SCHEME, x]
    lines = most_accurate(pts, keys)[[*keys, "accuracy", "spread"]].reset_index(drop=True)
    panels = [()]
    if panel_by:
        panels = sorted({tuple(r) for r in lines[panel_by].itertuples(index=False)})
    held = held_settings(pts, keys)
    title = context_title(df, "accuracy vs noise")
    if held:
        title += f"\neach point: the most accurate design over {', '.join(held)}"
    refs = {}
    for name in ("float", "ideal"):
        values = numeric(pts, f"accuracy_{name}").dropna()
        if len(values):
            refs[name] = float(values.mean())
    return NoiseInfo(x=x, panel_by=panel_by, panels=panels, lines=lines, title=title,
                     references=refs, held=held)  # fmt: skip


def draw_noise(info: NoiseInfo, ax: Axes, panel: tuple = ()) -> Axes:
    """One panel: accuracy (%) vs ``info.x``, a line per scheme, error bars the trial spread."""
    rows = info.lines
    for c, v in zip(info.panel_by, panel, strict=True):
        rows = rows[rows[c] == v]
    for scheme in info.schemes():
        line = rows[rows[SCHEME] == scheme].sort_values(info.x)
        if line.empty:
            continue
        ax.errorbar(
            line[info.x], 100 * line["accuracy"], yerr=100 * line["spread"], ms=5, lw=1.5,
            capsize=3, color=style.scheme_color(scheme), marker=style.scheme_marker(scheme),
            label=scheme,
        )  # fmt: skip
    for name, value in info.references.items():
        label = "ideal ADC, no noise" if name == "ideal" else "float"
        ax.axhline(100 * value, label=label, **style.REFERENCE_STYLES[name])
    xs = np.sort(pd.unique(info.lines[info.x]))
    ax.set_xticks(xs, [short_value(float(v)) for v in xs])
    ax.minorticks_off()
    ax.set_xlabel(NOISE_LABELS.get(info.x, info.x))
    ax.set_ylabel(style.label("accuracy"))
    if panel:
        ax.set_title(info.panel_title(panel), fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax
