"""Neural networks on the CIM engine: ONNX import, quantization, float/int/cim backends.

``load_model(path_or_zoo_name)`` returns a :class:`Model`; ``Model.forward(x, backend=...)`` runs
it. See ``engine.py`` for the backends and ``quantize.py`` for the quantization arithmetic.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from bfpdse._lazy import lazy_exports
from bfpdse.errors import ModelError

# Imported on first use, so that bfpdse.nn.zoo (the CLI's train help) does not load numba.
_LAZY = {
    "BACKENDS": "bfpdse.nn.engine",
    "LayerReport": "bfpdse.nn.engine",
    "Model": "bfpdse.nn.engine",
    "add_reports": "bfpdse.nn.engine",
    "SUPPORTED_OPS": "bfpdse.nn.onnx_import",
    "QuantConfig": "bfpdse.nn.quantize",
    "QuantizedModel": "bfpdse.nn.quantize",
}

__all__ = [*_LAZY, "load_model", "resolve_model"]

if TYPE_CHECKING:
    from bfpdse.nn.engine import BACKENDS, LayerReport, Model, add_reports  # noqa: F401
    from bfpdse.nn.onnx_import import SUPPORTED_OPS  # noqa: F401
    from bfpdse.nn.quantize import QuantConfig, QuantizedModel  # noqa: F401

__getattr__ = lazy_exports(__name__, _LAZY)


def resolve_model(path_or_zoo_name: str | Path) -> tuple[Path, str]:
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
    path, name = resolve_model(path_or_zoo_name)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror})") from None
    from bfpdse.nn.engine import Model
    from bfpdse.nn.onnx_import import import_onnx, read_onnx

    proto = read_onnx(path)
    graph = import_onnx(proto, path)
    meta = {p.key: p.value for p in proto.metadata_props}
    version = hashlib.sha256(data).hexdigest()[:12]
    return Model(graph=graph, name=name, path=path, version=version, meta=meta)
