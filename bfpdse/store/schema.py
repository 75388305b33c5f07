"""The result table's schema, declared once: column names, pandas dtypes and units.

A row is one design point: identity and outcome, then every setting under its dotted key (in the
order of ``bfpdse.spec.known_keys``), then the metrics below, then the run columns. Units are in
the names (``energy_pj``, ``latency_ns``, ``area_mm2``). Metrics that ``evaluate`` returns but that
are not declared here go after the declared ones, sorted by name, with an inferred dtype.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bfpdse.energy.config import COMPONENTS  # each has an energy_<name>_pj column


@dataclass(frozen=True)
class Column:
    """One declared column: name, pandas dtype, unit ('' when none) and meaning."""

    name: str
    dtype: str
    unit: str
    doc: str


ID_COLUMNS: tuple[Column, ...] = (
    Column("point_id", "string", "", "content hash of the canonical settings"),
    Column("status", "string", "", "ok | failed | pruned (a search trial stopped early)"),
    Column("error", "string", "", "exception type and message of a failed point, else empty"),
)


METRIC_COLUMNS: tuple[Column, ...] = (
    Column("accuracy", "float64", "fraction", "top-1 accuracy with the CIM ADC, in [0, 1]"),
    Column("accuracy_ideal", "float64", "fraction", "top-1 accuracy with an ideal ADC"),
    Column("accuracy_float", "float64", "fraction", "top-1 accuracy of the float model"),
    Column("accuracy_drop", "float64", "fraction", "accuracy_ideal - accuracy"),
    Column("accuracy_drop_lo", "float64", "fraction", "95 % interval of the drop, lower end"),
    Column("accuracy_drop_hi", "float64", "fraction", "95 % interval of the drop, upper end"),
    Column("accuracy_std", "float64", "fraction", "spread of accuracy over noise trials"),
    Column("noise_trials", "Int64", "trials", "independent noise draws averaged (noise.trials)"),
    Column("images_lost", "Int64", "images", "test images right with the ideal ADC, wrong here"),
    Column("images_gained", "Int64", "images", "test images wrong with the ideal ADC, right here"),
    Column("sqnr_db", "float64", "dB", "mean output SQNR vs the ideal ADC over inexact layers"),
    Column("sqnr_exact_layers", "Int64", "layers", "CIM layers without ADC error (infinite SQNR)"),
    Column("samples_used", "Int64", "images", "test images evaluated"),
    Column("conversions", "float64", "per inference", "ADC conversions after skipping"),
    Column("conversions_dense", "float64", "per inference", "ADC conversions without skipping"),
    Column("adc_cycles", "float64", "per inference", "SAR bit-cycles after skipping"),
    Column("adc_cycles_dense", "float64", "per inference", "SAR bit-cycles without skipping"),
    Column("input_cycles", "float64", "per inference", "input cycles after zero-plane skipping"),
    Column("input_cycles_dense", "float64", "per inference", "input cycles without skipping"),
    Column("saturated", "float64", "per inference", "ADC codes clipped (linear, calibrated)"),
    Column("rounded_to_zero", "float64", "per inference", "nonzero partial sums read as 0"),
    Column("energy_pj", "float64", "pJ per inference", "total energy"),
    *(
        Column(f"energy_{c}_pj", "float64", "pJ per inference", f"energy of the {c} component")
        for c in COMPONENTS
    ),
    Column("latency_ns", "float64", "ns per inference", "latency of one inference"),
    Column("area_mm2", "float64", "mm^2", "total area of the design"),
    Column("area_adc_mm2", "float64", "mm^2", "area of the ADCs"),
    Column("area_array_mm2", "float64", "mm^2", "area of the crossbar arrays"),
    Column("tops_per_w", "float64", "TOPS/W", "throughput per watt (2 ops per MAC)"),
    Column("adc_bits_priced", "Int64", "bits", "resolution of the converter that was priced"),
    Column("adc_extrapolated", "boolean", "", "the ADC model was used outside its fitted range"),
    Column("energy_preset", "string", "", "ADC cost model used (as energy.preset)"),
    Column("calib_samples", "Int64", "images", "calibration images used (calibrated ADC only)"),
    Column("calib_s", "float64", "s", "wall time of the calibration (pre-deployment effort)"),
    Column("cim_pass_id", "string", "", "id of the network run on the CIM backend (shared cache)"),
    Column("cim_pass_s", "float64", "s", "seconds of that run in this point; 0 when reused"),
    Column("trial", "Int64", "", "bfpdse search: the optuna trial that asked for the point"),
)

RUN_COLUMNS: tuple[Column, ...] = (
    Column("wall_s", "float64", "s", "wall time of the point's evaluation"),
    Column("started", "datetime64[ns, UTC]", "UTC", "when the point's evaluation started"),
    Column("finished", "datetime64[ns, UTC]", "UTC", "when the point's evaluation ended"),
)

#: every declared column by name
COLUMNS: dict[str, Column] = {c.name: c for c in (*ID_COLUMNS, *METRIC_COLUMNS, *RUN_COLUMNS)}
METRICS: tuple[str, ...] = tuple(c.name for c in METRIC_COLUMNS)

#: names a metric may not take (they are identity, outcome or run columns)
RESERVED: frozenset[str] = frozenset(c.name for c in (*ID_COLUMNS, *RUN_COLUMNS))


def check_record(record: dict[str, Any]) -> str | None:
    """Why a part record cannot be a row of the table (None if it can).

    An ``ok`` record needs its metrics, each declared one of its column's type (numbers may be
    inf or NaN); settings must be a mapping. A record that passes always consolidates.
    """
    if not isinstance(record.get("settings"), dict):
        return "its settings are not a mapping"
    metrics = record.get("metrics")
    if record["status"] == "ok" and (not isinstance(metrics, dict) or not metrics):
        return "it is marked ok but has no metrics"
    for name, value in (metrics or {}).items():
        if name in RESERVED:  # the table takes these from the record itself
            continue
        column = COLUMNS.get(name)
        if column is None:
            if value is not None and not isinstance(value, str | int | float | bool | list | dict):
                return f"metric {name!r} is {type(value).__name__}"
            continue
        if value is not None and not _fits_column(value, column.dtype):
            return f"metric {name!r}={value!r} is not of type {column.dtype}"
    return None


def _fits_column(value: Any, dtype: str) -> bool:
    if dtype == "boolean":
        return isinstance(value, bool)
    if dtype == "string":
        return isinstance(value, str)
    if isinstance(value, bool):
        return False
    if dtype == "Int64":
        return isinstance(value, int)
    return isinstance(value, int | float)


def column_order(settings: Sequence[str], metrics: Iterable[str]) -> list[str]:
    """Table column order: ids, settings as given, declared metrics, other metrics, run."""
    declared = [m for m in METRICS]
    extra = sorted(set(metrics) - set(declared))
    return [
        *(c.name for c in ID_COLUMNS),
        *settings,
        *declared,
        *extra,
        *(c.name for c in RUN_COLUMNS),
    ]


def settings_dtype(values: Sequence[Any], annotation: str = "") -> str:
    """A nullable pandas dtype for a settings column (settings may be None where they collapse).

    The field's type annotation (e.g. ``int | None``) decides when the values fit it (a float
    field given 22 stays Float64 in every sweep); otherwise the values decide.
    """
    present = [v for v in values if v is not None]
    hinted = _dtype_of_annotation(annotation)
    if hinted != "string" and all(_fits(v, hinted) for v in present):
        return hinted
    if not present:
        return "string"
    if all(isinstance(v, bool) for v in present):
        return "boolean"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "Int64"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "Float64"
    return "string"


def _fits(value: Any, dtype: str) -> bool:
    if dtype == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if dtype == "Int64" else isinstance(value, int | float)


def _dtype_of_annotation(annotation: str) -> str:
    names = set(annotation.replace("|", " ").replace("Optional[", " ").split())
    if names <= {"bool", "None"} and "bool" in names:
        return "boolean"
    if names <= {"int", "None"} and "int" in names:
        return "Int64"
    if names <= {"float", "int", "None"} and "float" in names:
        return "Float64"
    return "string"


def as_text(value: Any) -> Any:
    """A setting or metric that is not a scalar (dataset spec, overrides) as compact JSON."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, sort_keys=True, default=str)
