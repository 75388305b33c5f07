"""Fast stand-in evaluators for tests and dry runs of the sweep machinery.

They compute made-up but deterministic metrics from a point's settings, so that a sweep's table
can be checked without models or data. Worker processes, Dask workers and ``bfpdse sweep
--evaluator fakes:fake_evaluate`` import them by name (pytest puts tests/ on the path; tests that
start a process set PYTHONPATH). Environment variables (inherited by worker processes) steer
them:

- ``BFPDSE_FAKE_CALLS``: a file; each call appends the point id and a newline (counts calls).
- ``BFPDSE_FAKE_STARTS``: a file; ``slow_evaluate`` appends the point id when it starts.
- ``BFPDSE_FAKE_SLEEP``: seconds that ``slow_evaluate`` sleeps per point (default 0.2).
- ``BFPDSE_FAKE_FAIL_BITS``: the ``cim.adc_bits`` value at which ``failing_evaluate`` raises
  (default 3).
"""

from __future__ import annotations

import os
import time
from typing import Any

from bfpdse.spec.point import Point


def _record_call(point: Point) -> None:
    path = os.environ.get("BFPDSE_FAKE_CALLS")
    if path:
        # one short O_APPEND write per call: lines from several processes do not interleave
        with open(path, "a", encoding="utf-8") as f:
            f.write(point.point_id + "\n")


def fake_evaluate(point: Point, *, progress: Any = None) -> dict[str, Any]:
    """Deterministic metrics from the settings (no model, no data): microseconds per point."""
    _record_call(point)
    s = point.settings()
    bits = s.get("cim.adc_bits") or 12
    rows = s.get("cim.rows") or 128
    block = s.get("cim.block") or 1
    accuracy = round(0.9 - 0.4 * 2.0 ** -(bits - 2), 6)
    energy_adc = 0.1 * bits * 2.0 ** (bits / 4) * (1 + 1 / block)
    energy_array = 0.002 * rows
    return {
        "accuracy": accuracy,
        "accuracy_ideal": 0.9,
        "accuracy_float": 0.91,
        "accuracy_drop": round(0.9 - accuracy, 6),
        "sqnr_db": 6.02 * bits,
        "conversions": 1000.0 * 128 / rows,
        "adc_cycles": 1000.0 * bits,
        "energy_pj": energy_adc + energy_array,
        "energy_adc_pj": energy_adc,
        "energy_array_pj": energy_array,
        "latency_ns": 100.0 * bits,
        "area_mm2": 0.01 * rows / 128,
        "tops_per_w": 1.0 / (energy_adc + energy_array),
        "calib_samples": 256 if s.get("cim.adc") == "calibrated" else 0,
        "calib_s": 0.0,
    }


def slow_evaluate(point: Point, *, progress: Any = None) -> dict[str, Any]:
    """fake_evaluate after sleeping BFPDSE_FAKE_SLEEP seconds (default 0.2)."""
    starts = os.environ.get("BFPDSE_FAKE_STARTS")
    if starts:
        with open(starts, "a", encoding="utf-8") as f:
            f.write(point.point_id + "\n")
    time.sleep(float(os.environ.get("BFPDSE_FAKE_SLEEP", "0.2")))
    return fake_evaluate(point, progress=progress)


def failing_evaluate(point: Point, *, progress: Any = None) -> dict[str, Any]:
    """fake_evaluate, but raises RuntimeError when cim.adc_bits == BFPDSE_FAKE_FAIL_BITS (3)."""
    bad = int(os.environ.get("BFPDSE_FAKE_FAIL_BITS", "3"))
    if point.settings().get("cim.adc_bits") == bad:
        _record_call(point)
        raise RuntimeError(f"fake failure at cim.adc_bits={bad}")
    return fake_evaluate(point, progress=progress)


def threads_evaluate(point: Point, *, progress: Any = None) -> dict[str, Any]:
    """fake_evaluate plus ``numba_threads``: the thread cap this process was given (0: none)."""
    metrics = fake_evaluate(point, progress=progress)
    metrics["numba_threads"] = int(os.environ.get("NUMBA_NUM_THREADS", "0"))
    return metrics
