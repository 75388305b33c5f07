"""What a result's numbers depend on besides its settings: the identity stored with each point.

A row of a results folder is reused on resume only if it was computed from the same model file
and by the same arithmetic and cost model. Bump ``ARITHMETIC`` when a change to the CIM engine,
the quantization or an op's semantics changes any number a point computes (accuracy, SQNR,
counts), and ``COST_MODEL`` when prices or cost formulas change; tests that pin results then
tell you to. Pure refactors and speed-ups that keep every number bit for bit bump nothing.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

#: version of everything that computes accuracy, error and counts (cim, nn, data)
ARITHMETIC = 1
#: version of the energy, latency and area model
COST_MODEL = 1


@lru_cache(maxsize=64)
def _file_hash(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:12]


def model_hash(model: str) -> str:
    """The first 12 hex digits of the model file's sha256 (as ``Model.version``)."""
    from bfpdse.nn import resolve_model

    path, _ = resolve_model(model)
    st = Path(path).stat()
    return _file_hash(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def identity(settings: dict[str, Any]) -> dict[str, Any]:
    """What a point's numbers depend on beyond its settings (ModelError if the model is gone)."""
    return {
        "model_sha256": model_hash(settings["model"]),
        "arithmetic": ARITHMETIC,
        "cost_model": COST_MODEL,
    }


def describe_change(old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    """What differs between a stored identity and the current one, in words."""
    if not isinstance(old, dict):
        return "they carry no identity (made before bfpdse recorded one)"
    names = {"model_sha256": "model file", "arithmetic": "arithmetic version",
             "cost_model": "cost model version"}  # fmt: skip
    diffs = [f"{names.get(k, k)} {old.get(k)} -> {new.get(k)}" for k in new if old.get(k) != new[k]]
    return ", ".join(diffs) or "unchanged"
