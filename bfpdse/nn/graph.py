"""The network graph that the engine runs: a short list of ops over named tensors.

The ONNX importer (``onnx_import.py``) turns a model into a :class:`Graph`; constant sub-graphs
are already folded, no-op nodes (Identity, Dropout) removed, and the bias of a MatMul + Add pair
merged into one ``linear`` node. Every node has one output tensor.

Shapes in ``Graph.shapes`` are ONNX shapes without the batch dimension. The engine keeps
4-D activations in NHWC order internally (im2col then reads contiguous channels) and other ranks
in ONNX order; ops that take axes map them (``ops.internal_axis``), so results follow ONNX
semantics.

The ops, their attributes and everything else they mean live in one table,
``bfpdse.nn.opset`` (one row per op).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from bfpdse.nn.opset import MVM_OPS
from bfpdse.nn.opset.norm import bn_affine


@dataclass
class Node:
    """One op: ``output = op(*inputs)`` with constant ``attrs`` (see the module table)."""

    op: str
    name: str
    inputs: tuple[str, ...]
    output: str
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    """A network as nodes in execution order, from one input tensor to one output tensor."""

    nodes: list[Node]
    input: str
    output: str
    #: tensor name -> ONNX shape without batch (C, H, W) or (F,)
    shapes: dict[str, tuple[int, ...]]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.shapes[self.input]

    def consumers(self) -> dict[str, list[Node]]:
        """Tensor name -> the nodes that read it."""
        out: dict[str, list[Node]] = {}
        for node in self.nodes:
            for name in node.inputs:
                out.setdefault(name, []).append(node)
        return out

    def producers(self) -> dict[str, Node]:
        """Tensor name -> the node that writes it."""
        return {node.output: node for node in self.nodes}

    def mvm_nodes(self) -> list[Node]:
        """The conv and linear nodes, in execution order."""
        return [node for node in self.nodes if node.op in MVM_OPS]


def layer_index_names(graph: Graph) -> dict[str, str]:
    """ONNX node name -> ``"Lnn"`` for each crossbar layer, numbered in graph order from 0.

    Two digits (``L00`` … ``L99``) below 100 layers, three from 100, one more per factor of ten:
    short, stable across runs of the same file, and safe in dotted keys and YAML
    (``cim.layers.L03.adc_bits``), which ONNX names such as ``/layer1/layer1.0/conv1/Conv`` are not.
    """
    nodes = graph.mvm_nodes()
    width = max(2, len(str(len(nodes))))
    return {node.name: f"L{i:0{width}d}" for i, node in enumerate(nodes)}


def fold_batchnorm(graph: Graph) -> Graph:
    """A copy of ``graph`` with each BN that follows a conv/linear (its only reader) folded in.

    The folded node keeps the BN's ``gamma`` and ``beta`` under ``attrs["bn"]``: its output is
    then distributed about N(beta_c, gamma_c^2) per channel on the training data, which the
    data-free activation ranges use. Folding happens in float64.
    """
    consumers = graph.consumers()
    producers = graph.producers()
    rename: dict[str, str] = {}
    nodes: list[Node] = []
    folded: dict[str, Node] = {}  # mvm output name -> its folded copy
    for node in graph.nodes:
        inputs = tuple(rename.get(name, name) for name in node.inputs)
        prev = producers.get(node.inputs[0])
        if (
            node.op == "bn"
            and prev is not None
            and prev.op in MVM_OPS
            and len(consumers.get(prev.output, [])) == 1
            and prev.output != graph.output
            # an N-D linear's features are its last axis, not BN's channel axis
            and (prev.op == "conv" or len(graph.shapes[prev.output]) == 1)
        ):
            mvm = folded[prev.output]
            mult, add = bn_affine(node.attrs)
            attrs = dict(mvm.attrs)
            if mvm.op == "conv":
                attrs["weight"] = mvm.attrs["weight"] * mult[:, None, None, None]
            else:
                attrs["weight"] = mvm.attrs["weight"] * mult[None, :]
            attrs["bias"] = mvm.attrs["bias"] * mult + add
            attrs["bn"] = {"gamma": node.attrs["gamma"], "beta": node.attrs["beta"]}
            mvm.attrs = attrs
            # the folded node now writes the BN's output name
            rename[node.output] = mvm.output
            continue
        new = replace(node, inputs=inputs, attrs=dict(node.attrs))
        if node.op in MVM_OPS:
            new.attrs["weight"] = np.asarray(new.attrs["weight"], dtype=np.float64)
            new.attrs["bias"] = np.asarray(new.attrs["bias"], dtype=np.float64)
            folded[node.output] = new
        nodes.append(new)
    output = rename.get(graph.output, graph.output)
    shapes = dict(graph.shapes)
    for old, new_name in rename.items():
        shapes[new_name] = graph.shapes[old]
    return Graph(nodes=nodes, input=graph.input, output=output, shapes=shapes)
