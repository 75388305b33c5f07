"""One look for every figure: a colour and marker per ADC scheme, axis labels with units.

Colours come from the Okabe-Ito palette (distinguishable with colour-blindness) and are fixed per
scheme, so that ``bfp`` has the same colour in every plot. Figures are made with
``matplotlib.figure.Figure`` on the Agg canvas, never through pyplot: nothing opens a window and
no global backend is changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

#: a colour and marker per known scheme; the order of legends and tables is the scheme
#: registry's (bfpdse.cim.adc), and a scheme without an entry here gets a stable spare colour
SCHEME_COLORS = {
    "ideal": "#000000",
    "linear": "#E69F00",
    "calibrated": "#0072B2",
    "rar": "#009E73",
    "bfp": "#D55E00",
}
SCHEME_MARKERS = {"ideal": "*", "linear": "s", "calibrated": "^", "rar": "D", "bfp": "o"}
# schemes a plugin may add: the rest of the palette, then grey
_EXTRA_COLORS = ("#CC79A7", "#56B4E9", "#F0E442")

#: energy components in stacking order (bottom first): greys and hatches, so that no component
#: shares a colour with a scheme (the bars' labels carry the scheme colours)
COMPONENT_COLORS = {
    "adc": "#3b3b3b",
    "array": "#7a7a7a",
    "dac": "#a8a8a8",
    "sample_hold": "#cfcfcf",
    "shift_add": "#e8e8e8",
    "bfp_logic": "#ffffff",
    "exponent_search": "#bdbdbd",
    "other": "#f5f5f5",
}
COMPONENT_HATCHES = {"bfp_logic": "///", "exponent_search": "xx", "other": ".."}

REFERENCE_STYLES = {
    "float": {"color": "#7f7f7f", "linestyle": "--", "linewidth": 1.2},
    "ideal": {"color": SCHEME_COLORS["ideal"], "linestyle": ":", "linewidth": 1.2},
}

#: axis labels of settings and metrics (metrics in the display units of ``scale``)
LABELS = {
    "cim.adc_bits": "ADC bits b",
    "cim.block": "BFP block size B (partial sums per exponent)",
    "cim.rows": "crossbar rows R",
    "cim.cols": "crossbar columns",
    "cim.cell_bits": "bits per cell",
    "cim.input_mantissa_bits": "input mantissa bits m",
    "cim.weight_bits": "weight bits",
    "cim.input_bits": "input bits",
    "cim.dac_bits": "DAC bits",
    "energy.tech_node_nm": "technology node (nm)",
    "accuracy": "top-1 accuracy (%)",
    "accuracy_drop": "accuracy drop vs ideal ADC (points)",
    "sqnr_db": "SQNR vs ideal ADC (dB)",
    "latency_ns": "latency per inference (ns)",
    "area_mm2": "area (mm²)",
    "tops_per_w": "efficiency (TOPS/W)",
}

_ENERGY_UNITS = ((1e6, "µJ"), (1e3, "nJ"), (1.0, "pJ"))


def log_axis(axis: Any) -> None:
    """A log axis labelled in plain numbers at 1, 2 and 5 per decade (no colliding 3x10^1)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def scheme_color(scheme: str) -> str:
    """The colour of a scheme; unknown schemes get a stable colour from their name."""
    if scheme in SCHEME_COLORS:
        return SCHEME_COLORS[scheme]
    return _EXTRA_COLORS[sum(map(ord, str(scheme))) % len(_EXTRA_COLORS)]


def scheme_marker(scheme: str) -> str:
    return SCHEME_MARKERS.get(scheme, "v")


def scheme_order(schemes: Iterable[Any]) -> list[str]:
    """Schemes in registration order (bfpdse.cim.adc), unregistered ones after them by name."""
    from bfpdse.cim.adc import scheme_names

    known = scheme_names()
    names = {str(s) for s in schemes}
    return [s for s in known if s in names] + sorted(names - set(known))


def sort_schemes(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """Rows ordered by the scheme in ``column`` (``scheme_order``); stable."""
    rank = {name: i for i, name in enumerate(scheme_order(df[column]))}
    return df.sort_values(column, key=lambda c: c.astype(str).map(rank), kind="stable")


def shades(color: str, n: int) -> list[tuple[float, ...]]:
    """``n`` shades of one colour, light to dark (several lines of one scheme)."""
    rgb = np.array(to_rgb(color))
    mix = np.linspace(0.6, 0.0, n) if n > 1 else np.zeros(1)  # share of white mixed in
    return [tuple(rgb + (1 - rgb) * m) for m in mix]


def energy_unit(values_pj: Sequence[float] | np.ndarray) -> tuple[float, str]:
    """(divisor, unit) that shows energies given in pJ with few digits: pJ, nJ or µJ."""
    arr = np.asarray(values_pj, dtype=float)
    arr = arr[np.isfinite(arr) & (arr > 0)]
    top = float(np.median(arr)) if arr.size else 1.0
    for div, unit in _ENERGY_UNITS:
        if top >= div:
            return div, unit
    return 1.0, "pJ"


def energy_label(unit: str) -> str:
    return f"energy per inference ({unit})"


def label(column: str) -> str:
    """The axis label of a setting or metric; unknown columns keep their name."""
    return LABELS.get(column, column)


def scale(column: str, values: Sequence[float] | np.ndarray = ()) -> tuple[float, str]:
    """(factor, axis label) to show a column: fractions as %, energies in pJ/nJ/µJ.

    Multiply the stored values by the factor; ``values`` (all that share the axis) choose the
    energy unit.
    """
    if column.startswith("accuracy"):
        return 100.0, label(column)
    if column.startswith("energy_") and column.endswith("_pj"):
        div, unit = energy_unit(values)
        name = column.removeprefix("energy_").removesuffix("_pj")
        text = energy_label(unit) if column == "energy_pj" else f"{name} energy ({unit})"
        return 1.0 / div, text
    return 1.0, label(column)


def new_figure(ncols: int = 1, width: float = 5.2, height: float = 3.8) -> Figure:
    """A figure on the Agg canvas with ``ncols`` Axes side by side (constrained layout)."""
    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    FigureCanvasAgg(fig)
    fig.subplots(1, ncols, squeeze=False)
    return fig
