"""evaluate(point) -> one result record: the one place where nn, cim and energy meet.

A record is a flat dict of metrics (docs/internals.md): accuracies as fractions in [0, 1], the
mean output SQNR of the CIM layers against an ideal ADC on the same inputs, the CIM counts and
the cost model's energy, latency and area, all per inference, and the 95 % interval of the
accuracy drop (paired over the same images, ``bfpdse.paired``).

What many points share is computed once: the float and ideal-ADC results (``Reference``: per
image right or wrong), the calibrated ADC windows (``Windows``) and the CIM pass (``CimPass``: per
image right or wrong, and every layer's counts, which every ``energy.*`` setting is priced from).
Each is keyed by what it depends on (``reference_key``, ``windows_key``, ``cim_pass_key``: the
model file's hash, ``bfpdse.versions.ARITHMETIC`` and the settings that matter), kept in this
process and, given a cache folder, on disk (``bfpdse.store.cache``), where other processes,
workers and later sweeps find it. Models and datasets are cached per process.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from bfpdse.cim import CIMConfig, CIMStats, crossbar_mvm
from bfpdse.cim.adc import ADC_SCHEMES, get_scheme, reference_scheme
from bfpdse.cim.stats import MAX_WINDOW
from bfpdse.data.datasets import (
    Dataset,
    check_dataset,
    load_dataset,
    with_dataset_normalization,
)
from bfpdse.energy import LayerUse, dense_stats, price
from bfpdse.errors import SpecError
from bfpdse.nn import LayerReport, Model, load_model
from bfpdse.nn.graph import layer_index_names
from bfpdse.paired import drop_counts, drop_interval
from bfpdse.spec.point import Point
from bfpdse.store.cache import Cache, canonical, entry_id
from bfpdse.versions import ARITHMETIC, model_hash

Progress = Callable[[int, int], None]
#: every test image
ALL = slice(None)

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
    """The point's model loads, has the layers its per-layer settings name, and its test split
    holds its samples (no image is decoded)."""
    model = point_model(point)
    if point.layers:
        index = layer_index_names(model.graph)
        missing = sorted(set(point.layer_cims()) - set(index.values()))
        if missing:
            listing = ", ".join(f"{i} ({node})" for node, i in index.items())
            raise SpecError(
                f"cim.layers.{missing[0]}: model {point.model!r} has no layer {missing[0]!r}; "
                f"its layers are {listing} (bfpdse layers {point.model})"
            )
    check_dataset(point.dataset, "test", model=model, samples=point.samples)


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


#: in-process copies of what many points share: (kind, canonical key) -> value
_CACHE: dict[tuple[str, str], Any] = {}
#: the disk caches this process has opened, by folder (each warns once if it cannot be written)
_CACHES: dict[str, Cache] = {}

CacheArg = Cache | str | Path | None


def open_cache(cache: CacheArg) -> Cache | None:
    """The disk cache of a folder (or None: this process's memory only)."""
    if cache is None or isinstance(cache, Cache):
        return cache
    folder = str(Path(cache).expanduser().resolve())
    if folder not in _CACHES:
        _CACHES[folder] = Cache(folder)
    return _CACHES[folder]


def _shared[T](
    kind: str,
    key: dict[str, Any],
    compute: Callable[[], T],
    encode: Callable[[T], Any],
    decode: Callable[[Any], T],
    cache: Cache | None,
) -> tuple[str, T, bool]:
    """(id, value, reused): from this process's memory, else the disk cache, else computed."""
    memo = (kind, canonical(key))
    if memo in _CACHE:
        return entry_id(key), _CACHE[memo], True
    if cache is None:
        id_, value, reused = entry_id(key), compute(), False
    else:
        id_, value, reused = cache.get_or_compute(kind, key, compute, encode, decode)
    _CACHE[memo] = value
    return id_, value, reused


# ------------------------------------------------------------------------ what is shared, keyed


def _identity(point: Point) -> dict[str, Any]:
    """What every shared value depends on besides settings: the model file and the arithmetic."""
    return {"model_sha256": model_hash(point.model), "arithmetic": ARITHMETIC}


def _design(point: Point) -> Point:
    """The point in its uniform form (per-layer settings every layer shares moved into
    ``cim``), so that a design written layer by layer shares the uniform design's work."""
    if not point.layers:
        return point
    return point.uniform_form(layer_index_names(point_model(point).graph).values())


def _settings_but(point: Point, *dropped: str) -> dict[str, Any]:
    """The point's settings without ``model`` (its file hash stands for it), ``energy.*`` (a
    price, never an input of a network run) and the ``dropped`` keys."""
    return {
        k: v
        for k, v in _design(point).settings().items()
        if k != "model" and not k.startswith("energy.") and k not in dropped
    }


def reference_key(point: Point) -> dict[str, Any]:
    """What the float and ideal-ADC results depend on: model, images, quantization, bit widths."""
    s = _design(point).settings()
    quant = {k: v for k, v in s.items() if k.startswith("quant.")}
    if s.get("quant.act_scales") != "calibrate":  # only calibrated scales read calib images
        quant["quant.calib_samples"] = None
    # the integer model reads only the bit widths of the cim settings (also per-layer ones)
    widths = {
        k: v
        for k, v in s.items()
        if k.startswith("cim.") and k.rsplit(".", 1)[1] in ("weight_bits", "input_bits")
    }
    return {
        **_identity(point),
        "dataset": s["dataset"],
        "samples": s["samples"],
        "seed": s["seed"],
        **widths,
        **quant,
    }


def windows_key(point: Point) -> dict[str, Any]:
    """What calibrated windows depend on: everything of a network run but the test images and
    the noise (windows are calibrated on the exact partial sums)."""
    noise = [k for k in point.settings() if k.startswith("noise.")]
    return {**_identity(point), **_settings_but(point, "samples", "seed", *noise)}


def cim_pass_key(point: Point) -> dict[str, Any]:
    """What a CIM pass depends on: every setting but ``energy.*``, and the form of its counts."""
    return {
        **_identity(point),
        **_settings_but(point),
        "layer_report_fields": [f.name for f in fields(LayerReport)],
        "cim_stats_fields": [f.name for f in fields(CIMStats)],
    }


# ------------------------------------------------------------------------ per-image results


def _bits(correct: np.ndarray) -> str:
    """Right/wrong per image, in image order, as a string of 0 and 1."""
    return (np.asarray(correct, dtype=bool).astype(np.uint8) + ord("0")).tobytes().decode("ascii")


def _unbits(text: Any, n: int) -> np.ndarray:
    if not isinstance(text, str) or len(text) != n or set(text) - {"0", "1"}:
        raise ValueError(f"per-image results are not {n} digits 0/1")
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8) == ord("1")


def _correct(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.argmax(logits, axis=1) == labels


@dataclass(frozen=True)
class Reference:
    """Per test image (in image order): right or wrong in the float model and with an ideal ADC.

    Shards of the images add up: ``a + b`` is the result of a's images followed by b's.
    """

    float_correct: np.ndarray
    ideal_correct: np.ndarray

    def __add__(self, other: Reference) -> Reference:
        return Reference(
            np.concatenate([self.float_correct, other.float_correct]),
            np.concatenate([self.ideal_correct, other.ideal_correct]),
        )

    @property
    def images(self) -> int:
        return int(self.ideal_correct.size)

    def to_json(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "float_correct": _bits(self.float_correct),
            "ideal_correct": _bits(self.ideal_correct),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reference:
        n = _count(data["images"])
        return cls(_unbits(data["float_correct"], n), _unbits(data["ideal_correct"], n))


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{value!r} is not a count")
    return value


def _reports_to_json(reports: dict[str, LayerReport]) -> list[dict[str, Any]]:
    out = []
    for r in reports.values():
        row = {f.name: getattr(r, f.name) for f in fields(LayerReport)}
        row["stats"] = r.stats.to_dict()
        out.append(row)
    return out


def _stats_from_json(data: dict[str, Any]) -> CIMStats:
    names = [f.name for f in fields(CIMStats)]
    if sorted(data) != sorted(names):
        raise ValueError("the counts do not have CIMStats' fields")
    hist = data["window_hist"]
    if not isinstance(hist, list) or len(hist) != MAX_WINDOW + 1:
        raise ValueError("window_hist has the wrong length")
    values = {n: _count(data[n]) for n in names if n != "window_hist"}
    return CIMStats(**values, window_hist=np.array([_count(c) for c in hist], dtype=np.int64))


def _report_from_json(data: dict[str, Any]) -> LayerReport:
    names = [f.name for f in fields(LayerReport)]
    if sorted(data) != sorted(names):
        raise ValueError("a layer report does not have LayerReport's fields")
    values = {**data, "stats": _stats_from_json(data["stats"])}
    if not isinstance(values["name"], str):
        raise ValueError("a layer name is not a string")
    for name in ("signal_power", "noise_power"):
        if isinstance(values[name], bool) or not isinstance(values[name], int | float):
            raise ValueError(f"{name} is not a number")
    for name in ("k", "n", "groups", "vectors", "images"):
        _count(values[name])
    return LayerReport(**values)


@dataclass(frozen=True)
class CimPass:
    """What the network run of one point on the CIM backend produced, everything it is priced
    and scored from: per test image (in image order) right or wrong, and each CIM layer's
    report (shapes, counts, output signal and error power). ``seconds`` is its compute time.

    Shards of the images add up: ``a + b`` is the pass over a's images followed by b's
    (per-image results concatenated, every layer's counts and powers added).
    """

    correct: np.ndarray
    reports: dict[str, LayerReport]
    seconds: float = 0.0

    def __add__(self, other: CimPass) -> CimPass:
        if list(self.reports) != list(other.reports):
            raise ValueError("cannot add CIM passes of different networks")
        return CimPass(
            np.concatenate([self.correct, other.correct]),
            {name: r + other.reports[name] for name, r in self.reports.items()},
            self.seconds + other.seconds,
        )

    @property
    def images(self) -> int:
        return int(self.correct.size)

    def to_json(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "correct": _bits(self.correct),
            "layers": _reports_to_json(self.reports),
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CimPass:
        n = _count(data["images"])
        reports = [_report_from_json(r) for r in data["layers"]]
        if any(r.images != n for r in reports):
            raise ValueError("a layer report counts other images than the pass")
        seconds = data["seconds"]
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise ValueError("seconds is not a number")
        return cls(_unbits(data["correct"], n), {r.name: r for r in reports}, float(seconds))


@dataclass(frozen=True)
class Windows:
    """The calibrated ADC's windows (None for other schemes), the calibration images used and
    the seconds the calibration took (a design's pre-deployment effort, kept when reused)."""

    windows: dict[str, int] | None = None
    images: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"windows": self.windows, "images": self.images, "seconds": self.seconds}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Windows:
        windows = data["windows"]
        if not isinstance(windows, dict) or not windows:
            raise ValueError("windows are not a mapping of layer names")
        for k in windows.values():
            _count(k)
        seconds = data["seconds"]
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise ValueError("seconds is not a number")
        return cls(dict(windows), _count(data["images"]), float(seconds))


def _checked_images(point: Point, value: Any) -> Any:
    """A stored value must hold the point's number of test images."""
    if value.images != point.samples:
        raise ValueError(f"it holds {value.images} images, the point draws {point.samples}")
    return value


# ------------------------------------------------------------------------ computing them


def run_reference(point: Point, images: slice = ALL) -> Reference:
    """Float and ideal-ADC results on the point's test images (or the ``images`` slice of them)."""
    model, data = point_model(point), test_images(point)
    x, y = data.x[images], data.y[images]
    calib = calib_images(point) if point.quant.act_scales == "calibrate" else None
    float_ok = _correct(model.forward(x, "float"), y)
    logits = model.forward(x, "int", cim=point.cim, quant=point.quant, calib_x=calib,
                           layer_cims=point.layer_cims())  # fmt: skip
    return Reference(float_ok, _correct(logits, y))


def reference(point: Point, cache: CacheArg = None) -> Reference:
    """Float and ideal-ADC results, shared by every point with the same ``reference_key``."""
    return _shared(
        "reference",
        reference_key(point),
        lambda: run_reference(point),
        Reference.to_json,
        lambda data: _checked_images(point, Reference.from_json(data)),
        open_cache(cache),
    )[1]


def _windows(point: Point) -> Windows:
    start = time.perf_counter()
    x_cal = calib_images(point)
    calib = x_cal if point.quant.act_scales == "calibrate" else None
    windows = point_model(point).calibrate_windows(
        x_cal, point.cim, point.quant, calib_x=calib, layer_cims=point.layer_cims()
    )
    return Windows(windows, int(x_cal.shape[0]), time.perf_counter() - start)


def adc_windows(point: Point, cache: CacheArg = None) -> Windows:
    """Windows of a scheme that needs them (``Windows()`` otherwise), shared by ``windows_key``."""
    if not any(get_scheme(c.adc).needs_window for c in _crossbars(point)):
        return Windows()
    key = windows_key(point)
    return _shared(
        "windows", key, lambda: _windows(point), Windows.to_json, Windows.from_json,
        open_cache(cache),
    )[1]  # fmt: skip


def run_cim_pass(
    point: Point,
    images: slice = ALL,
    progress: Progress | None = None,
    cache: CacheArg = None,
    trial: int = 0,
) -> CimPass:
    """The CIM backend on the point's test images (or the ``images`` slice of them).

    ``cache`` serves the calibrated windows the pass needs; ``trial`` is the noise trial (its
    draws keyed by the images' global indices, so slices add up to the whole pass).
    """
    start = time.perf_counter()
    model, data = point_model(point), test_images(point)
    windows = adc_windows(point, cache).windows
    calib = calib_images(point) if point.quant.act_scales == "calibrate" else None
    logits, reports = model.forward(
        data.x[images],
        "cim",
        cim=point.cim,
        quant=point.quant,
        windows=windows,
        calib_x=calib,
        collect=True,
        progress=progress,
        noise=point.noise,
        trial=trial,
        image_offset=images.start or 0,
        layer_cims=point.layer_cims(),
    )
    return CimPass(_correct(logits, data.y[images]), reports, time.perf_counter() - start)


def cim_pass(
    point: Point, progress: Progress | None = None, cache: CacheArg = None, trial: int = 0
) -> tuple[str, CimPass, bool]:
    """(cim_pass_id, pass, reused): the point's CIM pass, shared by ``cim_pass_key``.

    Points that differ only in ``energy.*`` share one pass: pricing one CIM design several ways
    (presets, nodes, rates) runs the network once, in this process and, with a cache folder,
    across processes, workers and sweeps.
    """
    store = open_cache(cache)
    key = cim_pass_key(point) if trial == 0 else {**cim_pass_key(point), "noise_trial": trial}
    return _shared(
        "cim_pass",
        key,
        lambda: run_cim_pass(point, progress=progress, cache=store, trial=trial),
        CimPass.to_json,
        lambda data: _checked_images(point, CimPass.from_json(data)),
        store,
    )


def _crossbars(point: Point) -> list[CIMConfig]:
    """The point's crossbar designs: ``cim`` and each per-layer one."""
    return [point.cim, *point.layer_cims().values()]


def layer_cims_by_node(point: Point) -> dict[str, CIMConfig]:
    """ONNX node name -> the CIMConfig of the layers with per-layer settings."""
    own = point.layer_cims()
    if not own:
        return {}
    index = layer_index_names(point_model(point).graph)
    return {node: own[i] for node, i in index.items() if i in own}


def layer_uses(
    reports: dict[str, LayerReport], cims: dict[str, CIMConfig] | None = None
) -> list[LayerUse]:
    """The cost model's view of the CIM layers' reports (``cims``: node -> its own crossbar)."""
    cims = cims or {}
    return [
        LayerUse(r.name, r.k, r.n, r.vectors, r.stats, r.groups, cims.get(r.name))
        for r in reports.values()
    ]


def _sqnr(reports: dict[str, LayerReport]) -> tuple[float, int]:
    """Mean output SQNR (dB) over the layers with any ADC error, and how many had none.

    A layer without error has infinite SQNR; averaging it in would hide the others, so it is
    counted instead. With every layer exact the mean is +inf.
    """
    finite = [r.sqnr_db for r in reports.values() if math.isfinite(r.sqnr_db)]
    exact = len(reports) - len(finite)
    return (float(np.mean(finite)) if finite else math.inf), exact


def cost_metrics(point: Point, reports: dict[str, LayerReport], inferences: int) -> dict[str, Any]:
    """Energy, latency, area and counts per inference from the layers' reports."""
    uses = layer_uses(reports, layer_cims_by_node(point))
    out = price(uses, point.cim, point.energy, inferences).to_dict()
    total = sum((u.stats for u in uses), CIMStats())
    for name in EXTRA_COUNTS:
        out[name] = getattr(total, name) / inferences
    return out


def record(
    point: Point,
    ref: Reference,
    windows: Windows,
    run: CimPass,
    *,
    pass_id: str = "",
    pass_s: float = 0.0,
    details: bool = False,
) -> dict[str, Any]:
    """One row's metrics from what the point's runs produced (see the module docs).

    ``accuracy_drop_lo``/``_hi`` are the 95 % interval of the drop, paired over the same images
    (``bfpdse.paired``); ``images_lost``/``images_gained`` the images that the ideal ADC gets
    right and this point wrong, and the other way round.
    """
    if run.images != ref.images:
        raise ValueError(f"the CIM pass ran {run.images} images, the reference {ref.images}")
    n = run.images
    accuracy = float(np.mean(run.correct)) if n else math.nan
    acc_ideal = float(np.mean(ref.ideal_correct)) if n else math.nan
    _, lost, gained, _ = drop_counts(ref.ideal_correct, run.correct)
    lo, hi = drop_interval(ref.ideal_correct, run.correct)
    sqnr, exact_layers = _sqnr(run.reports)
    out: dict[str, Any] = {
        "accuracy": accuracy,
        "accuracy_ideal": acc_ideal,
        "accuracy_float": float(np.mean(ref.float_correct)) if n else math.nan,
        "accuracy_drop": acc_ideal - accuracy,
        "accuracy_drop_lo": lo,
        "accuracy_drop_hi": hi,
        "images_lost": lost,
        "images_gained": gained,
        "sqnr_db": sqnr,
        "sqnr_exact_layers": exact_layers,
        "samples_used": n,
        **cost_metrics(point, run.reports, n),
        "calib_samples": windows.images,
        "calib_s": windows.seconds,
        "cim_pass_id": pass_id,
        "cim_pass_s": pass_s,
    }
    if details:
        out["layers"] = [_layer_detail(r, n) for r in run.reports.values()]
    return out


def noise_metrics(point: Point, ref: Reference, runs: list[CimPass]) -> dict[str, Any]:
    """The metrics that noise trials change (docs/spec.md, "Noise"): ``accuracy`` is the mean
    over the trials, ``accuracy_std`` their standard deviation (NaN for one trial) and
    ``accuracy_drop`` is against the noiseless ideal ADC on the same images; SQNR and counts
    are over every trial. The paired interval and images lost/gained stay trial 0's.
    """
    from functools import reduce
    from operator import add

    accs = np.array([np.mean(r.correct) for r in runs]) if runs[0].images else np.full(1, math.nan)
    total = reduce(add, runs)
    sqnr, exact_layers = _sqnr(total.reports)
    accuracy = float(accs.mean())
    return {
        "accuracy": accuracy,
        "accuracy_std": float(accs.std(ddof=1)) if len(runs) > 1 else math.nan,
        "accuracy_drop": float(np.mean(ref.ideal_correct)) - accuracy,
        "noise_trials": len(runs),
        "sqnr_db": sqnr,
        "sqnr_exact_layers": exact_layers,
        **cost_metrics(point, total.reports, runs[0].images * len(runs)),
    }


def evaluate(
    point: Point,
    *,
    progress: Progress | None = None,
    details: bool = False,
    cache: CacheArg = None,
) -> dict[str, Any]:
    """Accuracy, error and cost of one design point (flat metrics; see the module docs).

    ``cache``: a folder where the shared results (reference, windows, CIM pass) are kept and
    found again, by this and other processes (``bfpdse.store.cache``); None keeps them in this
    process only. ``cim_pass_s`` is 0 when the pass was reused. With ``details=True`` the record
    also holds ``layers``: per-layer name, K, N, SQNR and counts (not a table column).
    """
    start = time.perf_counter()
    store = open_cache(cache)
    ref = reference(point, store)
    windows = adc_windows(point, store)
    pass_id, run, reused = cim_pass(point, progress, store)
    out = record(
        point, ref, windows, run, pass_id=pass_id, pass_s=0.0 if reused else run.seconds,
        details=details,
    )  # fmt: skip
    if not point.noise.off:
        more = [cim_pass(point, progress, store, t)[1] for t in range(1, point.noise.trials)]
        out.update(noise_metrics(point, ref, [run, *more]))
    out["wall_s"] = time.perf_counter() - start
    return out


@dataclass(frozen=True)
class CachedEvaluate:
    """``evaluate`` with a cache folder, as a callable that pickles (to worker processes and
    Dask workers): what a sweep runs its points with."""

    cache: str

    def __call__(self, point: Point, *, progress: Progress | None = None) -> dict[str, Any]:
        return evaluate(point, progress=progress, cache=self.cache)


def passes_first(tasks: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """(point_id, settings) tasks reordered: one point of each CIM pass first, then the points
    that only re-price a pass (they differ from an earlier one in ``energy.*`` only), so that
    parallel workers run distinct passes instead of waiting for each other's."""
    seen: set[str] = set()
    first, rest = [], []
    for task in tasks:
        key = canonical({k: v for k, v in task[1].items() if not k.startswith("energy.")})
        (rest if key in seen else first).append(task)
        seen.add(key)
    return first + rest


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
    own = layer_cims_by_node(point)
    uses = [
        LayerUse(
            name, k, n, v, dense_stats(k, n, v * g, own.get(name, point.cim)), g, own.get(name)
        )
        for name, k, n, v, g in layer_shapes(point)
    ]
    return price(uses, point.cim, point.energy, 1).to_dict()


def measure_cost(
    point: Point, *, progress: Progress | None = None, cache: CacheArg = None
) -> dict[str, Any]:
    """Price a point from one CIM pass over its test images, without computing accuracy."""
    windows = adc_windows(point, cache)
    _, run, _ = cim_pass(point, progress, cache)
    return {
        **cost_metrics(point, run.reports, run.images),
        "samples_used": run.images,
        "calib_samples": windows.images,
        "calib_s": windows.seconds,
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


# ------------------------------------------------------------------------ one point, sharded
# bfpdse.run.shard runs one point's test images on several workers: each worker computes a Shard
# of whole engine batches (run_shard), the caller adds them up (merge_shards). Model.forward adds
# its batches' reports one after the other; the shards' pieces, one per batch, are added in the
# same order, so the merged pass equals a one-process pass bit for bit (signal and noise powers
# are float sums, whose value depends on their order).


@dataclass(frozen=True)
class Shard:
    """What a worker computed of the test images [start, stop) of a point: one Reference (unless
    it was not asked for) and one CimPass per engine batch, and the windows the pass used."""

    start: int
    stop: int
    references: tuple[Reference, ...]
    passes: tuple[CimPass, ...]
    windows: Windows


def shard_batch() -> int:
    """Images per engine batch: shards start at multiples of it."""
    from bfpdse.nn.engine import DEFAULT_BATCH

    return DEFAULT_BATCH


def run_shard(
    point: Point, start: int, stop: int, *, reference: bool = True, cache: CacheArg = None
) -> Shard:
    """The shard of images [start, stop) (``start`` a multiple of ``shard_batch()``)."""
    step = shard_batch()
    if start % step or not 0 <= start < stop <= point.samples:
        raise ValueError(f"shard [{start}, {stop}) of {point.samples} images: start at a batch")
    store = open_cache(cache)
    batches = [slice(b, min(b + step, stop)) for b in range(start, stop, step)]
    refs = tuple(run_reference(point, s) for s in batches) if reference else ()
    # noise trials one after the other: the shard's passes are trial-major
    trials = range(point.noise.trials)
    passes = tuple(run_cim_pass(point, s, cache=store, trial=t) for t in trials for s in batches)
    return Shard(start, stop, refs, passes, adc_windows(point, store))


def _part(passes: tuple[CimPass, ...], t: int, parts: int) -> tuple[CimPass, ...]:
    n = len(passes) // parts
    return passes[t * n : (t + 1) * n]


def merge_shards(
    point: Point, shards: list[Shard], *, cache: CacheArg = None, details: bool = False
) -> dict[str, Any]:
    """The metrics of ``evaluate`` from shards covering every test image (in any order).

    Shards without references take the shared reference (``reference``); the merged reference
    and pass are kept as shared results, as ``evaluate`` keeps its own.
    """
    from functools import reduce
    from operator import add

    shards = sorted(shards, key=lambda s: s.start)
    ends = [0] + [s.stop for s in shards]
    if [s.start for s in shards] != ends[:-1] or ends[-1] != point.samples:
        spans = ", ".join(f"[{s.start}, {s.stop})" for s in shards)
        raise ValueError(f"shards {spans} do not cover the {point.samples} images once")
    store = open_cache(cache)
    T = point.noise.trials
    # a shard's passes are trial-major (run_shard): trial t's are the t-th of T equal parts
    runs = [reduce(add, [p for s in shards for p in _part(s.passes, t, T)]) for t in range(T)]
    run = runs[0]
    pass_id, run, _ = _shared(
        "cim_pass", cim_pass_key(point), lambda: run, CimPass.to_json,
        lambda data: _checked_images(point, CimPass.from_json(data)), store,
    )  # fmt: skip
    if all(s.references for s in shards):
        merged = reduce(add, [r for s in shards for r in s.references])
        ref = _shared(
            "reference", reference_key(point), lambda: merged, Reference.to_json,
            lambda data: _checked_images(point, Reference.from_json(data)), store,
        )[1]  # fmt: skip
    else:
        ref = reference(point, store)
    out = record(
        point, ref, shards[0].windows, run, pass_id=pass_id, pass_s=run.seconds, details=details
    )
    if not point.noise.off:
        out.update(noise_metrics(point, ref, runs))
    return out


def shared_known(point: Point, cache: CacheArg = None) -> tuple[bool, bool]:
    """Whether the point's (reference, CIM pass) are already known here or in the cache, so
    that shards need not compute them."""
    store = open_cache(cache)

    def known(kind: str, key: dict[str, Any]) -> bool:
        if (kind, canonical(key)) in _CACHE:
            return True
        try:
            return store is not None and store.read(kind, key) is not None
        except ValueError:  # a damaged entry is computed again
            return False

    return known("reference", reference_key(point)), known("cim_pass", cim_pass_key(point))
