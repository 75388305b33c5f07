"""A synthetic result table shaped like a sweep's (docs/internals.md), for plot and CLI tests.

Accuracy falls as ADC bits drop, most for ``linear``, least for ``bfp``; ADC energy grows as 2^b.
The numbers are made up; only the shape of the table matters.
"""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pandas as pd

COMPONENTS = ("adc", "array", "dac", "sample_hold", "shift_add", "bfp_logic", "exponent_search")
# how many bits below 8 each scheme can drop before losing a point of accuracy
_ROBUST = {"linear": 0.0, "calibrated": 1.5, "rar": 3.0, "bfp": 2.5}


def _row(scheme: str, bits: float, rows: int, block: float, mantissa: float, seed: int) -> dict:
    settings = {
        "model": "resnet20",
        "dataset": "fashion-mnist",
        "samples": 200,
        "seed": seed,
        "cim.adc": scheme,
        "cim.adc_bits": bits,
        "cim.rows": rows,
        "cim.cols": 128,
        "cim.block": block,
        "cim.cell_bits": 2,
        "cim.weight_mapping": "differential",
        "cim.input_mantissa_bits": mantissa,
        "energy.preset": "default",
        "energy.tech_node_nm": 32,
    }
    ideal, float_acc = 0.915, 0.92
    if scheme == "ideal":
        acc, adc_pj = ideal, 40.0 * 2**10
    else:
        loss = 2.0 ** (8 - bits - _ROBUST[scheme] + rows / 128) / 100
        if scheme == "bfp":  # larger blocks share one exponent among more values
            loss *= 1 + np.log2(block) / 4
        acc = max(0.1, ideal - min(loss, 0.8) + 0.001 * seed)
        adc_pj = 40.0 * 2**bits * (1.1 if scheme in ("rar", "bfp") else 1.0)
    if not np.isnan(mantissa):
        acc -= 0.02 / mantissa
    energy = {
        "adc": adc_pj,
        "array": 300.0 * rows / 128,
        "dac": 120.0,
        "sample_hold": 80.0,
        "shift_add": 60.0,
        "bfp_logic": 30.0 / block if scheme == "bfp" else 0.0,
        "exponent_search": 50.0 / block if scheme == "bfp" else (20.0 if scheme == "rar" else 0.0),
    }
    key = repr(sorted(settings.items())).encode()
    return {
        "point_id": hashlib.sha256(key).hexdigest()[:16],
        "status": "ok",
        "error": None,
        **settings,
        "accuracy": acc,
        "accuracy_ideal": ideal,
        "accuracy_float": float_acc,
        "accuracy_drop": ideal - acc,
        "sqnr_db": 10 * np.log10(1 + 1 / max(ideal - acc, 1e-4)),
        "energy_pj": sum(energy.values()),
        **{f"energy_{c}_pj": v for c, v in energy.items()},
        "conversions": 1000,
        "adc_cycles": 1000 * (bits if np.isfinite(bits) else 10),
        "latency_ns": 1e4,
        "area_mm2": 1.0,
        "tops_per_w": 5.0,
        "wall_s": 0.1,
    }


def make_table(
    schemes: tuple[str, ...] = ("ideal", "linear", "calibrated", "rar", "bfp"),
    bits: tuple[int, ...] = (3, 4, 5, 6),
    rows: tuple[int, ...] = (128,),
    blocks: tuple[int, ...] = (8,),
    mantissas: tuple[float, ...] = (np.nan,),
    seeds: tuple[int, ...] = (0,),
    failed: int = 0,
) -> pd.DataFrame:
    """One row per design point; ``block`` only for bfp and ``adc_bits`` NaN for ideal."""
    out = []
    for scheme, r, m, seed in itertools.product(schemes, rows, mantissas, seeds):
        for b in [np.nan] if scheme == "ideal" else bits:
            for B in blocks if scheme == "bfp" else [np.nan]:
                out.append(_row(scheme, float(b), r, float(B), float(m), seed))
    df = pd.DataFrame(out)
    if failed:
        metrics = [c for c in df.columns if c.startswith(("accuracy", "energy_")) or c == "sqnr_db"]
        df.loc[df.index[-failed:], "status"] = "failed"
        df.loc[df.index[-failed:], "error"] = "ModelError: synthetic failure"
        df.loc[df.index[-failed:], metrics] = np.nan
    return df
