"""Energy-accuracy Pareto front and the iso-accuracy comparison of ADC schemes.

Dominance: a point dominates another when it is no worse in both objectives (energy no higher,
accuracy no lower) and strictly better in one. Identical points do not dominate each other, so
ties on the front are all kept. Repeats over ``seed`` are averaged first (``_table``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from bfpdse.paired import resolution as drop_resolution
from bfpdse.plots import style
from bfpdse.plots._table import (
    INTERVAL_NOTE,
    SCHEME,
    average_seeds,
    context_title,
    design_label,
    held_settings,
    interval_errors,
    numeric,
    ok_rows,
    setting_columns,
    short_value,
    varying,
    why_empty,
)
from bfpdse.plots._table import baseline as default_baseline

# accuracies are k / samples; a drop equal to the budget must not be lost to float rounding
_DROP_TOLERANCE = 1e-9


def pareto_mask(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """True where (x, y) is not dominated when minimising x and maximising y (finite inputs)."""
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    mask = np.zeros(xs.shape, dtype=bool)
    best_y, best_x = -np.inf, np.nan
    # by x ascending, then y descending: a point is on the front iff it beats every earlier y,
    # or equals the point that set the best y so far (an identical twin)
    for i in np.lexsort((-ys, xs)):
        if ys[i] > best_y:
            mask[i], best_y, best_x = True, ys[i], xs[i]
        elif ys[i] == best_y and xs[i] == best_x:
            mask[i] = True
    return mask


@dataclass
class ParetoInfo:
    """What the Pareto plot draws: every usable point and the front among them.

    ``x`` is minimised and ``y`` maximised; ``front`` is sorted by ``x``. When no point is usable,
    both tables are empty and ``message`` says why.
    """

    x: str
    y: str
    points: pd.DataFrame
    front: pd.DataFrame
    title: str = ""
    message: str | None = None


def _pareto_info(df: pd.DataFrame, x: str = "energy_pj", y: str = "accuracy") -> ParetoInfo:
    """Pareto front of the ok points of ``df``: minimise ``x``, maximise ``y``."""
    points = average_seeds(ok_rows(df, [x, y]))
    title = context_title(df, "energy per inference vs accuracy, Pareto front")
    if points.empty:
        return ParetoInfo(x, y, points, points, title, why_empty(df, [x, y]))
    mask = pareto_mask(points[x].to_numpy(), points[y].to_numpy())
    front = points[mask].sort_values([x, y], ascending=[True, False], kind="stable")
    if interval_errors(points, y) is not None:
        title += f"\n{INTERVAL_NOTE}"
    return ParetoInfo(x, y, points, front, title)


def pareto_front(df: pd.DataFrame, x: str = "energy_pj", y: str = "accuracy") -> pd.DataFrame:
    """The Pareto-optimal ok rows of ``df`` (minimise ``x``, maximise ``y``), sorted by ``x``."""
    return _pareto_info(df, x, y).front


def draw_pareto(info: ParetoInfo, ax: Axes) -> Axes:
    """All points, one marker series per scheme, the front as a line and its points circled."""
    fx, xlabel = style.scale(info.x, info.points[info.x])
    fy, ylabel = style.scale(info.y, info.points[info.y])
    low = _useful_floor(info)
    schemes = style.scheme_order(info.points[SCHEME])
    for i, scheme in enumerate(schemes):
        pts = info.points[info.points[SCHEME].astype(str) == scheme]
        # earlier schemes drawn larger, so a point hidden under a later one shows as a ring
        ax.scatter(
            pts[info.x] * fx,
            pts[info.y].clip(lower=low) * fy,
            color=style.scheme_color(scheme),
            marker=style.scheme_marker(scheme),
            s=28 + 16 * (len(schemes) - 1 - i),
            alpha=0.8,
            edgecolors="white",
            linewidths=0.5,
            label=scheme,
        )
        errors = interval_errors(pts, info.y)
        if errors is not None:  # the drop's 95 % interval (bfpdse.paired), on the accuracy axis
            ax.errorbar(
                pts[info.x] * fx, pts[info.y] * fy, yerr=np.vstack(errors) * fy, fmt="none",
                ecolor=style.scheme_color(scheme), elinewidth=0.7, capsize=1.5, alpha=0.6,
            )  # fmt: skip
    front = info.front
    front_y = front[info.y].clip(lower=low) * fy
    ax.plot(front[info.x] * fx, front_y, color="black", lw=1, label="Pareto front")
    ax.scatter(
        front[info.x] * fx,
        front_y,
        facecolors="none",
        edgecolors="black",
        s=90,
        linewidths=1.2,
        label="Pareto-optimal",
    )
    _annotate_front(info, ax, fx, fy)
    _zoom_accuracy(info, ax, fy, low)
    values = info.points[info.x].to_numpy(dtype=float)
    if values.size and values.min() > 0 and values.max() / values.min() > 20:
        ax.set_xscale("log")
        style.log_axis(ax.xaxis)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(info.title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


#: the accuracy axis shows the ideal ADC's accuracy down to this many points below it
ZOOM_POINTS = 10.0


def _useful_floor(info: ParetoInfo) -> float:
    """Lowest accuracy drawn: ZOOM_POINTS below the ideal ADC (lower points sit on the floor)."""
    if info.y != "accuracy" or "accuracy_ideal" not in info.points:
        return -np.inf
    ideal = numeric(info.points, "accuracy_ideal").median()
    lowest = numeric(info.points, "accuracy").min()
    # rounded: accuracies are k / samples, and 0.9 - 0.1 must not put 0.8 below the floor
    return -np.inf if not np.isfinite(ideal) else max(lowest, round(ideal - ZOOM_POINTS / 100, 9))


def _zoom_accuracy(info: ParetoInfo, ax: Axes, fy: float, low: float) -> None:
    """Accuracy axis from the floor to the top, the ideal ADC as a line, the floor's points said."""
    if not np.isfinite(low):
        return
    ideal = numeric(info.points, "accuracy_ideal").median()
    ax.axhline(ideal * fy, label="ideal ADC", **style.REFERENCE_STYLES["ideal"])
    top = max(numeric(info.points, "accuracy").max(), ideal)
    pad = 0.03 * (top - low) if top > low else 0.005
    ax.set_ylim((low - pad) * fy, (top + pad) * fy)
    below = int((numeric(info.points, "accuracy") < low).sum())
    if below:
        ax.text(
            0.01, 0.99, f"{below} point{'s' * (below > 1)} below {low * fy:.1f} drawn at the floor",
            transform=ax.transAxes, fontsize=7, color="#555555", va="top",
        )  # fmt: skip


def _annotate_front(info: ParetoInfo, ax: Axes, fx: float, fy: float) -> None:
    """Label each Pareto-optimal point with the settings the table varies (b=5 B=8 R=128)."""
    varied = [c for c in varying(info.points, setting_columns(info.points)) if c != SCHEME]
    if not varied:
        return
    low = _useful_floor(info)
    for _, row in info.front.iterrows():
        text = design_label(row, varied)
        if text and float(row[info.y]) >= low:  # the floor's points stay unlabelled
            ax.annotate(
                text, (float(row[info.x]) * fx, float(row[info.y]) * fy),
                textcoords="offset points", xytext=(4, -9), fontsize=6.5, color="#333333",
            )  # fmt: skip


@dataclass
class IsoAccuracy:
    """Per scheme, the lowest-energy ok point whose accuracy drop is within the budget.

    ``best`` has one row per scheme that meets the budget, in scheme order, with a column
    ``gain`` = energy of the best ``baseline`` point / energy of this scheme's best point (NaN
    when the baseline meets no budget). ``missing`` maps each scheme that has ok points but none
    within the budget to its smallest drop in percentage points. ``notes`` say in words what is
    missing (one sentence each); empty when every scheme and the baseline meet the budget.
    """

    max_drop_points: float
    best: pd.DataFrame
    missing: dict[str, float] = field(default_factory=dict)
    baseline: str = field(default_factory=default_baseline)
    notes: list[str] = field(default_factory=list)
    #: how finely the drops are resolved (``Resolution``); None without points
    resolution: Resolution | None = None

    @property
    def message(self) -> str | None:
        """The notes as one line, or None."""
        return "; ".join(self.notes) or None

    @property
    def gains(self) -> dict[str, float | None]:
        """Scheme -> energy-efficiency gain over the baseline (None when undefined)."""
        return {
            str(s): (None if np.isnan(g) else float(g))
            for s, g in zip(self.best[SCHEME], self.best["gain"], strict=True)
        }


def iso_accuracy(
    df: pd.DataFrame, max_drop_points: float = 0.5, baseline: str | None = None
) -> IsoAccuracy:
    """The best point per scheme at an accuracy-drop budget, and each scheme's gain over baseline.

    ``max_drop_points`` is in percentage points of top-1 accuracy (0.5 = half a point); a point
    qualifies when its ``accuracy_drop`` (a fraction) is at most ``max_drop_points / 100``.
    Among qualifying points of a scheme, the lowest ``energy_pj`` wins (ties: higher accuracy).
    """
    baseline = baseline or default_baseline()
    metrics = ["accuracy_drop", "energy_pj", "accuracy"]
    points = average_seeds(ok_rows(df, metrics))
    if points.empty:
        empty = points.assign(gain=[])
        return IsoAccuracy(max_drop_points, empty, {}, baseline, [why_empty(df, metrics)])
    points = points.assign(**{SCHEME: points[SCHEME].astype(str)})
    within = points[points["accuracy_drop"] <= max_drop_points / 100 + _DROP_TOLERANCE]
    best = within.sort_values(["energy_pj", "accuracy"], ascending=[True, False], kind="stable")
    best = style.sort_schemes(best.drop_duplicates(SCHEME), SCHEME).reset_index(drop=True)
    base = best.loc[best[SCHEME] == baseline, "energy_pj"]
    best["gain"] = float(base.iloc[0]) / best["energy_pj"] if len(base) else np.nan
    smallest = points.groupby(SCHEME)["accuracy_drop"].min() * 100
    met = set(best[SCHEME])
    missing = {s: float(smallest[s]) for s in style.scheme_order(points[SCHEME]) if s not in met}
    notes = _iso_notes(points, best, missing, max_drop_points, baseline)
    res = _resolution(points, within)
    notes += _resolution_notes(res, max_drop_points)
    return IsoAccuracy(max_drop_points, best, missing, baseline, notes, res)


@dataclass
class Resolution:
    """How finely the table resolves a drop, in percentage points.

    ``floor_points``: half the 95 % interval of a drop on ``images`` test images when no image
    changes (``bfpdse.paired.resolution``), the finest any drop there can be resolved;
    ``interval_points``: the median half-width of the intervals of the points within the budget
    (None when the rows carry no intervals: made before bfpdse recorded them).
    """

    images: int
    floor_points: float
    interval_points: float | None

    def to_dict(self) -> dict:
        return {
            "images": self.images,
            "floor_points": self.floor_points,
            "interval_points": self.interval_points,
        }


def _resolution(points: pd.DataFrame, within: pd.DataFrame) -> Resolution | None:
    counts = numeric(points, "samples_used").dropna()
    counts = counts if len(counts) else numeric(points, "samples").dropna()
    ideal = numeric(points, "accuracy_ideal").dropna()
    if not len(counts) or not len(ideal):
        return None
    n = int(counts.min())  # the coarsest resolution in the table
    half = (numeric(within, "accuracy_drop_hi") - numeric(within, "accuracy_drop_lo")) / 2
    half = half.dropna()
    measured = float(half.median() * 100) if len(half) else None
    return Resolution(n, drop_resolution(n, float(ideal.median())) * 100, measured)


def _resolution_notes(res: Resolution | None, max_drop_points: float) -> list[str]:
    """Say when the budget is finer than the sample count can resolve."""
    if res is None or not np.isfinite(res.floor_points):
        return []
    budget, images = f"The budget of {max_drop_points:g} points", f"{res.images:,} test images"
    if max_drop_points < res.floor_points:
        return [
            f"{budget} is below the resolution of {images}: even a point that classifies every"
            f" image as the ideal ADC does has a 95 % interval of ±{res.floor_points:.2f} points;"
            " evaluate more images."
        ]
    if res.interval_points is None:
        return [
            "The 95 % intervals of the drops are unknown for these rows (made before bfpdse"
            " recorded them; a sweep run with --fresh records them); the finest resolution of"
            f" {images} is ±{res.floor_points:.2f} points."
        ]
    if max_drop_points < res.interval_points:
        return [
            f"{budget} is within the sampling noise of {images}: the points within it have 95 %"
            f" intervals of ±{res.interval_points:.2f} points (median), so a point counts as"
            " within the budget by its measured drop, and one just outside may be no worse;"
            " more images narrow the intervals."
        ]
    return []


def _iso_notes(
    points: pd.DataFrame,
    best: pd.DataFrame,
    missing: dict[str, float],
    max_drop_points: float,
    baseline: str,
) -> list[str]:
    budget = f"an accuracy drop of at most {max_drop_points:g} points"
    if best.empty:
        closest = min(missing, key=missing.get)
        return [
            f"No point meets the budget of {budget}; the smallest drop is "
            f"{missing[closest]:.2f} points ({closest})."
        ]
    lines = []
    if baseline not in set(points[SCHEME]):
        lines.append(f"The table has no {baseline} point, so there is no gain over {baseline}.")
    elif baseline in missing:
        lines.append(
            f"{baseline} has no point within {budget} (its smallest drop is "
            f"{missing[baseline]:.2f} points), so there is no gain over {baseline}."
        )
    for scheme, drop in missing.items():
        if scheme != baseline:
            lines.append(
                f"{scheme} has no point within {budget} (smallest drop {drop:.2f} points)."
            )
    return lines


def _records(df: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts (NaN -> None), without status and error."""
    rows = df.drop(columns=[c for c in ("status", "error", "within") if c in df.columns])
    return json.loads(rows.to_json(orient="records", double_precision=15))


def pareto_summary(df: pd.DataFrame, max_drop_points: float = 0.5) -> dict:
    """The Pareto front and the iso-accuracy table of one model/dataset, as plain JSON values.

    Keys: model, dataset, samples, points, ok, failed, settings (the settings that vary),
    pareto (front rows), iso_accuracy (best row per scheme, with ``gain``),
    no_point_within_budget (scheme -> smallest drop in points), gain_over_calibrated,
    notes (iso-accuracy shortfalls and the resolution of the sample count, one sentence each),
    pareto_message (why there is no front), resolution (``Resolution.to_dict``, or None).
    """
    info = _pareto_info(df)
    iso = iso_accuracy(df, max_drop_points)
    n_ok = int((df["status"] == "ok").sum()) if "status" in df.columns else len(df)

    def names(column: str) -> str | None:
        absent = pd.Series(dtype=str)
        values = df[column].dropna().astype(str) if column in df.columns else absent
        return "/".join(short_value(v) for v in pd.unique(values)) or None

    return {
        "model": names("model"),
        "dataset": names("dataset"),
        "samples": sorted(int(v) for v in numeric(df, "samples").dropna().unique()),
        "points": len(df),
        "ok": n_ok,
        "failed": len(df) - n_ok,
        "settings": held_settings(info.points, ["seed"]),
        "pareto": _records(info.front),
        "pareto_message": info.message,
        "iso_accuracy": _records(iso.best),
        "no_point_within_budget": iso.missing,
        f"gain_over_{iso.baseline}": iso.gains,
        "notes": iso.notes,
        "resolution": iso.resolution.to_dict() if iso.resolution else None,
    }
