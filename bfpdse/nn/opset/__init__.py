"""The op table: one row per graph op, owning everything the op means to bfpdse.

A row (an :class:`Op` subclass, registered with :func:`register`) gives

- ``name``: the graph op (``Node.op``) and ``onnx``: the ONNX op types it is imported from;
- ``convert(imp, node)``: the importer's translation of one ONNX node (``imp`` is the
  importer of ``onnx_import.py``; the default reads one activation and no attributes);
- ``prepare(attrs)`` and ``run(prepared, inputs)``: the float computation on the engine's
  internal layout (4-D tensors NHWC, other ranks as in ONNX; see ``ops.internal_axis``).
  ``prepare`` derives what a run needs from the attributes once per runner (float32 weights,
  BN's affine); the runner keeps it, not the node;
- ``nonneg(attrs, inputs)``: whether every output value is >= 0 given which inputs are, which
  decides the quantized sign of the tensors that feed crossbar layers;
- ``bounds(node, inputs, shapes)``: the output's :class:`~bfpdse.nn.stats.Stats` from the
  inputs', for the data-free activation ranges (``quantize.bn_bounds``);
- ``mvm``: True for the ops whose matrix products run on the crossbars (conv and linear).

Everything else (engine, quantization, importer, the zoo card) asks this table. Adding an op is
a row here and its case in ``tests/nn/test_opset.py``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from bfpdse.nn.stats import Stats


class Op:
    """One graph op (see the module docs); subclasses override what differs."""

    name: ClassVar[str]
    onnx: ClassVar[tuple[str, ...]] = ()
    mvm: ClassVar[bool] = False

    def convert(self, imp: Any, node: Any) -> None:
        """Default: one activation in, same shape out, no attributes."""
        x = imp.act(node, 0)
        imp.emit(node, self.name, [x], imp.shapes[x])

    def prepare(self, attrs: dict[str, Any]) -> Any:
        return attrs

    def run(self, p: Any, ins: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def nonneg(self, attrs: dict[str, Any], ins: list[bool]) -> bool:
        return False

    def bounds(self, node: Any, ins: list[Stats], shapes: dict[str, tuple[int, ...]]) -> Stats:
        raise NotImplementedError


#: graph op name -> its row
OPS: dict[str, Op] = {}
#: ONNX op type -> the row that imports it
BY_ONNX: dict[str, Op] = {}


def register(cls: type[Op]) -> type[Op]:
    """Class decorator: add one row to the table (names must be new)."""
    row = cls()
    if row.name in OPS:
        raise ValueError(f"op {row.name!r} is registered twice")
    OPS[row.name] = row
    for onnx_op in cls.onnx:
        if onnx_op in BY_ONNX:
            raise ValueError(f"ONNX op {onnx_op!r} is imported by two rows")
        BY_ONNX[onnx_op] = row
    return cls


def get(name: str) -> Op:
    """The row of graph op ``name`` (a bug if unknown: the importer only emits known ops)."""
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"internal: unknown graph op {name!r}; known: {', '.join(OPS)}") from None


def channels(dims: tuple[int, ...]) -> int:
    """Channel count of a tensor shape without batch (ONNX axis 1; 1 for a scalar per image)."""
    return int(dims[0]) if dims else 1


# the rows, registered on import (order: the table's order in messages)
from bfpdse.nn.opset import mvm, elementwise, pool, norm, shape  # noqa: E402, F401, I001

MVM_OPS = tuple(name for name, row in OPS.items() if row.mvm)
