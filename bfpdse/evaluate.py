"""evaluate(point) -> one result record: the one place where nn, cim and energy meet.

A record is a flat dict of metrics (docs/internals.md): accuracies as fractions in [0, 1], the
mean output SQNR of the CIM layers against an ideal ADC on the same inputs, the CIM counts and
the cost model's energy, latency and area, all per inference. Models, datasets, float and ideal
accuracies and calibrated ADC windows are cached per process, so that a sweep's points share them.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from typing import Any

import numpy as np

from bfpdse.cim import CIMConfig, CIMStats, crossbar_mvm
from bfpdse.cim.adc import ADC_SCHEMES, get_scheme, reference_scheme
from bfpdse.data.datasets import (
    Dataset,
    check_dataset,
    load_dataset,
    with_dataset_normalization,
)
from bfpdse.energy import LayerUse, dense_stats, price
from bfpdse.nn import LayerReport, Model, load_model
from bfpdse.spec.point import Point

Progress = Callable[[int, int], None]

#: per-inference CIM counts reported beside the cost model's figures
EXTRA_COUNTS = ("input_cycles", "input_cycles_dense", "saturated", "rounded_to_zero")


@lru_cache(maxsize=8)
def _model(name: str) -> Model:
    return load_model(name)


def _dataset_key(dataset: Any) -> str:
    """A hashable key of a dataset name or spec (a spec may nest mappings)."""
    return json.dumps(dataset, sort_keys=True, default=str)


@lru_cache(maxsize=8)
def _normalized_model(model_name: str, dataset_key: str) -> Model:
    return with_dataset_normalization(_model(model_name), json.loads(dataset_key))


def point_model(point: Point) -> Model:
    """The point's model, normalising inputs as its dataset spec says (mean/std) if it does."""
    return _normalized_model(point.model, _dataset_key(point.dataset))


@lru_cache(maxsize=8)
def _split(
    model_name: str, dataset_key: str, split: str, samples: int | None, seed: int | None
) -> Dataset:
    model = _normalized_model(model_name, dataset_key)
    return load_dataset(json.loads(dataset_key), split, model=model, samples=samples, seed=seed)


def check_inputs(point: Point) -> None:
    """The point's model loads and its test split holds its samples (no image is decoded)."""
    check_dataset(point.dataset, "test", model=point_model(point), samples=point.samples)


def _images_key(point: Point) -> tuple:
    """What a point's model and test images depend on."""
    return (point.model, _dataset_key(point.dataset), point.samples, point.seed)


def test_images(point: Point) -> Dataset:
    """The ``samples`` test images of a point, drawn with its ``seed`` (only those decoded)."""
    return _split(point.model, _dataset_key(point.dataset), "test", point.samples, point.seed)


def calib_images(point: Point) -> np.ndarray:
    """Calibration images (the first of the calib split, drawn from train, never from test)."""
    key = _dataset_key(point.dataset)
    return _split(point.model, key, "calib", point.quant.calib_samples, None).x


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=1) == labels)) if len(labels) else math.nan


#: per-process caches of what many points share, keyed by what each value depends on
_CACHE: dict[tuple, Any] = {}


def _memo(key: tuple, compute: Callable[[], Any]) -> Any:
    if key not in _CACHE:
        _CACHE[key] = compute()
    return _CACHE[key]


def _reference_accuracies(point: Point) -> tuple[float, float]:
    """(float accuracy, ideal-ADC integer accuracy) on the point's test images."""
    model, data = point_model(point), test_images(point)
    calib = calib_images(point) if point.quant.act_scales == "calibrate" else None
    acc_float = _accuracy(model.forward(data.x, "float"), data.y)
    logits = model.forward(data.x, "int", cim=point.cim, quant=point.quant, calib_x=calib)
    return acc_float, _accuracy(logits, data.y)


def reference_accuracies(point: Point) -> tuple[float, float]:
    """Float and ideal-ADC accuracy; cached on what they depend on (not the ADC settings)."""
    c = point.cim
    key = ("reference", *_images_key(point), point.quant, c.weight_bits, c.input_bits)
    return _memo(key, lambda: _reference_accuracies(point))


def _windows(point: Point) -> tuple[dict[str, int], int, float]:
    start = time.perf_counter()
    x_cal = calib_images(point)
    calib = x_cal if point.quant.act_scales == "calibrate" else None
    windows = point_model(point).calibrate_windows(x_cal, point.cim, point.quant, calib_x=calib)
    return windows, int(x_cal.shape[0]), time.perf_counter() - start


def adc_windows(point: Point) -> tuple[dict[str, int] | None, int, float]:
    """Windows of a scheme that needs them (None otherwise), calibration images and seconds.

    Cached by what the windows depend on: model, dataset, quantization and the CIM config.
    """
    if not get_scheme(point.cim.adc).needs_window:
        return None, 0, 0.0
    key = ("windows", point.model, _dataset_key(point.dataset), point.quant, point.cim)
    return _memo(key, lambda: _windows(point))


def layer_uses(reports: dict[str, LayerReport]) -> list[LayerUse]:
    """The cost model's view of the CIM layers' reports."""
    return [LayerUse(r.name, r.k, r.n, r.vectors, r.stats, r.groups) for r in reports.values()]


def _sqnr(reports: dict[str, LayerReport]) -> tuple[float, int]:
    """Mean output SQNR (dB) over the layers with any ADC error, and how many had none.

    A layer without error has infinite SQNR; averaging it in would hide the others, so it is
    counted instead. With every layer exact the mean is +inf.
    """
    finite = [r.sqnr_db for r in reports.values() if math.isfinite(r.sqnr_db)]
    exact = len(reports) - len(finite)
    return (float(np.mean(finite)) if finite else math.inf), exact


def _cim_pass(point: Point, progress: Progress | None) -> tuple[np.ndarray, dict[str, LayerReport]]:
    model, data = point_model(point), test_images(point)
    windows, _, _ = adc_windows(point)
    calib = calib_images(point) if point.quant.act_scales == "calibrate" else None
    return model.forward(
        data.x,
        "cim",
        cim=point.cim,
        quant=point.quant,
        windows=windows,
        calib_x=calib,
        collect=True,
        progress=progress,
    )


def cim_pass(
    point: Point, progress: Progress | None = None
) -> tuple[np.ndarray, dict[str, LayerReport]]:
    """Logits and per-layer reports of the CIM backend on the point's test images.

    Cached on everything but the energy settings, so that pricing one CIM design several ways
    (presets, nodes, rates) runs the network once.
    """
    return _memo(
        ("cim", *_images_key(point), point.quant, point.cim), lambda: _cim_pass(point, progress)
    )


def cost_metrics(point: Point, reports: dict[str, LayerReport], inferences: int) -> dict[str, Any]:
    """Energy, latency, area and counts per inference from the layers' reports."""
    uses = layer_uses(reports)
    out = price(uses, point.cim, point.energy, inferences).to_dict()
    total = sum((u.stats for u in uses), CIMStats())
    for name in EXTRA_COUNTS:
        out[name] = getattr(total, name) / inferences
    return out


def evaluate(
    point: Point, *, progress: Progress | None = None, details: bool = False
) -> dict[str, Any]:
    """Accuracy, error and cost of one design point (flat metrics; see the module docs).

    With ``details=True`` the record also holds ``layers``: per-layer name, K, N, SQNR and counts
    (not a table column).
    """
    start = time.perf_counter()
    data = test_images(point)
    acc_float, acc_ideal = reference_accuracies(point)
    _, calib_n, calib_s = adc_windows(point)
    logits, reports = cim_pass(point, progress)
    accuracy = _accuracy(logits, data.y)
    sqnr, exact_layers = _sqnr(reports)
    record: dict[str, Any] = {
        "accuracy": accuracy,
        "accuracy_ideal": acc_ideal,
        "accuracy_float": acc_float,
        "accuracy_drop": acc_ideal - accuracy,
        "sqnr_db": sqnr,
        "sqnr_exact_layers": exact_layers,
        "samples_used": len(data),
        **cost_metrics(point, reports, len(data)),
        "calib_samples": calib_n,
        "calib_s": calib_s,
    }
    if details:
        record["layers"] = [_layer_detail(r, len(data)) for r in reports.values()]
    record["wall_s"] = time.perf_counter() - start
    return record


def _layer_detail(r: LayerReport, inferences: int) -> dict[str, Any]:
    s = r.stats
    return {
        "name": r.name,
        "k": r.k,
        "n": r.n,
        "groups": r.groups,
        "vectors_per_inference": r.vectors / inferences,
        "sqnr_db": r.sqnr_db,
        "conversions": s.conversions / inferences,
        "conversions_dense": s.conversions_dense / inferences,
        "saturated": s.saturated / inferences,
    }


def layer_shapes(point: Point) -> list[tuple[str, int, int, int, int]]:
    """(name, K, N, vectors per image and group, groups) of each CIM layer, from a blank image."""
    model = point_model(point)
    blank = np.zeros((1, *model.input_shape), dtype=np.float32)
    ideal = replace(point.cim, adc=reference_scheme(), adc_bits=None)
    _, reports = model.forward(blank, "cim", cim=ideal, quant=point.quant, collect=True)
    return [(r.name, r.k, r.n, r.vectors, r.groups) for r in reports.values()]


def estimate_cost(point: Point) -> dict[str, Any]:
    """Price a point per inference from the layer shapes alone, without images.

    Assumption (the cost model's ``dense_stats``): no input plane is all zero, so every plane is
    converted; rar is priced at its best case of b bit-cycles. A real pass (``evaluate``) counts
    what the data does.
    """
    uses = [
        LayerUse(name, k, n, v, dense_stats(k, n, v * g, point.cim), g)
        for name, k, n, v, g in layer_shapes(point)
    ]
    return price(uses, point.cim, point.energy, 1).to_dict()


def measure_cost(point: Point, *, progress: Progress | None = None) -> dict[str, Any]:
    """Price a point from one CIM pass over its test images, without computing accuracy."""
    data = test_images(point)
    _, calib_n, calib_s = adc_windows(point)
    _, reports = cim_pass(point, progress)
    return {
        **cost_metrics(point, reports, len(data)),
        "samples_used": len(data),
        "calib_samples": calib_n,
        "calib_s": calib_s,
    }


def warm_up() -> None:
    """Compile the CIM kernels once (numba caches them on disk for worker processes)."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(4, 40))
    w = rng.integers(-127, 128, size=(40, 6))
    for adc in [s.name for s in ADC_SCHEMES.values() if not s.needs_window]:
        for mapping in ("differential", "balanced", "offset"):
            cfg = CIMConfig(rows=16, adc=adc, adc_bits=3, weight_mapping=mapping)
            crossbar_mvm(x, w, cfg, return_stats=True)
