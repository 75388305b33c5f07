"""Neural networks on the CIM engine: ONNX import, quantization, float/int/cim backends.

``load_model(path_or_zoo_name)`` returns a :class:`Model`; ``Model.forward(x, backend=...)`` runs
it. See ``engine.py`` for the backends and ``quantize.py`` for the quantization arithmetic.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from bfpdse.errors import ModelError
from bfpdse.nn.engine import BACKENDS, LayerReport, Model, add_reports
from bfpdse.nn.onnx_import import SUPPORTED_OPS, import_onnx, read_onnx
from bfpdse.nn.quantize import QuantConfig, QuantizedModel

__all__ = [
    "BACKENDS",
    "SUPPORTED_OPS",
    "LayerReport",
    "Model",
    "QuantConfig",
    "QuantizedModel",
    "add_reports",
    "load_model",
]


def _resolve(path_or_zoo_name: str | Path) -> tuple[Path, str]:
    """(file, display name) of a zoo model name or an .onnx path."""
    from bfpdse.nn import zoo

    if isinstance(path_or_zoo_name, str) and path_or_zoo_name in zoo.NAMES:
        return zoo.zoo_path(path_or_zoo_name), path_or_zoo_name
    path = Path(path_or_zoo_name)
    if path.is_file():
        return path, path.stem
    if path.exists():
        raise ModelError(f"{path}: not a file (expected an .onnx model)")
    looks_like_name = (
        isinstance(path_or_zoo_name, str) and path.suffix == "" and "/" not in str(path_or_zoo_name)
    )
    if looks_like_name:
        raise ModelError(
            f"{path_or_zoo_name!r} is neither a zoo model nor a file; zoo models: "
            f"{', '.join(zoo.NAMES)}"
        )
    raise ModelError(f"{path}: no such model file")


def load_model(path_or_zoo_name: str | Path) -> Model:
    """Load an ONNX model from a file or the zoo (``"lenet5"``, ``"resnet20"``).

    Raises ModelError for a missing, unreadable or invalid file and for unsupported ops.
    """
    path, name = _resolve(path_or_zoo_name)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror})") from None
    proto = read_onnx(path)
    graph = import_onnx(proto, path)
    meta = {p.key: p.value for p in proto.metadata_props}
    version = hashlib.sha256(data).hexdigest()[:12]
    return Model(graph=graph, name=name, path=path, version=version, meta=meta)
