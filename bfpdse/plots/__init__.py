"""Plots and Pareto analysis of result tables: data first, drawing second.

Each plot has a pure function that computes what to draw from the table (``_*_info``, tested)
and a drawing function that only draws on a given Axes and returns it (``draw_*``).
``make_figures`` draws every plot a table supports; nothing opens a window (Agg canvas only).
"""

from bfpdse.plots._table import NotDrawable
from bfpdse.plots.breakdown import BreakdownInfo, draw_breakdown
from bfpdse.plots.curves import CurveInfo, draw_curves
from bfpdse.plots.figures import FORMATS, PLOTS, FigureReport, make_figures
from bfpdse.plots.heatmap import HeatmapInfo, draw_heatmap
from bfpdse.plots.pareto import (
    IsoAccuracy,
    ParetoInfo,
    draw_pareto,
    iso_accuracy,
    pareto_front,
    pareto_mask,
)

__all__ = [
    "FORMATS",
    "PLOTS",
    "BreakdownInfo",
    "CurveInfo",
    "FigureReport",
    "HeatmapInfo",
    "IsoAccuracy",
    "NotDrawable",
    "ParetoInfo",
    "draw_breakdown",
    "draw_curves",
    "draw_heatmap",
    "draw_pareto",
    "iso_accuracy",
    "make_figures",
    "pareto_front",
    "pareto_mask",
]
