"""``bfpdse layers MODEL``: the crossbar layers of a model, in order, before paying for a run.

For each conv/linear node (``bfpdse.nn.graph.MVM_OPS``, in graph order): a short index name
(``L00``, ``L01``, ...), the ONNX node name, its kind, the K x N matrix of each group, the groups,
the input vectors per image, the MACs per image and the crossbar arrays that hold it at the
configured ``cim.*`` settings. Arrays are counted by the cost model's own
``bfpdse.energy.arrays_needed`` (groups included).

The index names come from ``bfpdse.nn.graph.layer_index_names`` (the names per-layer settings
will use). The pure parts (``crossbar_layers``, ``digital_ops``) take a graph and a CIMConfig;
the command only loads, prints and formats.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from bfpdse.cli._app import app, console
from bfpdse.cli._point import SetOpt, build_point, dump_json

if TYPE_CHECKING:
    from bfpdse.cim import CIMConfig
    from bfpdse.nn.graph import Graph, Node


@dataclass(frozen=True)
class CrossbarLayer:
    """One conv/linear layer as the crossbars see it; counts are per image."""

    index: str  # "L00", see layer_index_names
    name: str  # the ONNX node name
    op: str  # "conv" or "linear"
    kind: str  # "conv 3×3", "conv 1×1 s2", "depthwise 3×3", "grouped 3×3", "linear"
    k: int  # rows of one group's weight matrix: kh * kw * C_in / groups, or K of a (K, N) weight
    n: int  # columns (outputs) of one group's weight matrix: C_out / groups, or N
    groups: int
    positions: int  # input vectors per image and group: Ho * Wo, or prod(input) / K for linear
    macs: int  # positions * K * N * groups
    arrays: int  # groups * arrays_needed(K, N) at the configured cim.*


def _kind(node: Node) -> str:
    if node.op != "conv":
        return node.op
    w = node.attrs["weight"]  # (C_out, C_in / groups, kh, kw)
    groups = int(node.attrs["groups"])
    size = f"{w.shape[2]}×{w.shape[3]}"
    strides = tuple(int(s) for s in node.attrs["strides"])
    if any(s != 1 for s in strides):
        size += " s" + ("×".join(map(str, strides)) if len(set(strides)) > 1 else str(strides[0]))
    if groups == 1:
        return f"conv {size}"
    return f"{'depthwise' if w.shape[1] == 1 else 'grouped'} {size}"


def _matrix(node: Node, shapes: dict[str, tuple[int, ...]]) -> tuple[int, int, int, int]:
    """(K, N, groups, input vectors per image) of a conv/linear node."""
    w = node.attrs["weight"]
    if node.op == "conv":
        groups = int(node.attrs["groups"])
        k = int(math.prod(w.shape[1:]))  # C_in / groups * kh * kw
        _, ho, wo = shapes[node.output]
        return k, int(w.shape[0]) // groups, groups, int(ho * wo)
    k, n = (int(d) for d in w.shape)  # linear: x @ weight over x's last axis
    return k, n, 1, int(math.prod(shapes[node.inputs[0]])) // k


def crossbar_layers(graph: Graph, cim: CIMConfig) -> list[CrossbarLayer]:
    """The crossbar layers of ``graph`` in execution order, arrays counted at ``cim``."""
    from bfpdse.cim import CIMStats
    from bfpdse.energy import LayerUse, arrays_needed
    from bfpdse.nn.graph import layer_index_names

    names = layer_index_names(graph)
    out = []
    for node in graph.mvm_nodes():
        k, n, groups, positions = _matrix(node, graph.shapes)
        # the cost model's own count (a grouped conv maps one K x N matrix per group)
        use = LayerUse(node.name, k, n, positions, CIMStats(), groups)
        out.append(
            CrossbarLayer(
                index=names[node.name],
                name=node.name,
                op=node.op,
                kind=_kind(node),
                k=k,
                n=n,
                groups=groups,
                positions=positions,
                macs=positions * k * n * groups,
                arrays=arrays_needed(use, cim),
            )
        )
    return out


def digital_ops(graph: Graph) -> dict[str, int]:
    """Op -> count of the graph's non-crossbar nodes, most frequent first (ties in graph order)."""
    from bfpdse.nn.graph import MVM_OPS

    return dict(Counter(node.op for node in graph.nodes if node.op not in MVM_OPS).most_common())


def _ops_text(ops: dict[str, int]) -> str:
    return ", ".join(f"{op} ×{count}" for op, count in ops.items()) or "none"


def layers_table(layers: list[CrossbarLayer], title: str) -> Table:
    """The rich table of the crossbar layers, with a total row."""
    table = Table(
        title=escape(title),
        caption="K×N: the weight matrix of one group; vectors and MACs per image",
        box=box.SIMPLE_HEAD,  # no vertical rules: room for the names on an 80-column terminal
        collapse_padding=True,
        pad_edge=False,
    )
    table.add_column("#", no_wrap=True)
    table.add_column("ONNX node", overflow="fold")  # long names fold; numbers never wrap
    table.add_column("kind", no_wrap=True)
    for header in ("K×N", "groups", "vectors", "MACs", "arrays"):
        table.add_column(header, justify="right", no_wrap=True)
    for layer in layers:
        table.add_row(
            layer.index,
            escape(layer.name),
            escape(layer.kind),
            f"{layer.k}×{layer.n}",
            str(layer.groups),
            f"{layer.positions:,}",
            f"{layer.macs:,}",
            f"{layer.arrays:,}",
        )
    total_macs = sum(layer.macs for layer in layers)
    total_arrays = sum(layer.arrays for layer in layers)
    table.add_row("", "total", "", "", "", "", f"{total_macs:,}", f"{total_arrays:,}", style="bold")
    return table


@app.command()
def layers(
    model: Annotated[
        str,
        typer.Argument(
            metavar="MODEL", help="Zoo name (lenet5, resnet20) or path to an .onnx file."
        ),
    ],
    set_: SetOpt = None,
    json_: Annotated[
        bool,
        typer.Option("--json", help="Print the layers as a JSON list of objects (stdout)."),
    ] = False,
) -> None:
    """The crossbar layers of a model (K×N, MACs, arrays): what a run will map.

    Per conv/linear layer: index name (L00, L01, ...), ONNX node, kind, the K×N matrix of each
    group, groups, input vectors and MACs per image, and crossbar arrays at the cim.* settings
    (rows, cols, cell_bits, weight_bits, weight_mapping), counted as the cost model counts them:
    groups × ceil(K / rows) × ceil(N × slices × columns per weight / cols). Then the totals and
    the ops that run digitally between crossbar layers (BatchNorm after a conv/linear is folded
    into it). Other --set keys are accepted, as by `bfpdse run`, and change nothing here.
    """
    from bfpdse.nn import load_model
    from bfpdse.nn.graph import fold_batchnorm

    point = build_point(model, None, None, None, set_)
    net = load_model(point.model)
    cim = point.cim
    rows = crossbar_layers(net.graph, cim)
    if json_:
        print(dump_json([asdict(layer) for layer in rows]))
        return
    mapping = f"{cim.weight_mapping} mapping"
    title = (
        f"{net.name}: crossbar layers at {cim.rows}×{cim.cols} arrays, {cim.weight_bits}-bit "
        f"weights on {cim.cell_bits}-bit cells ({cim.n_slices} slices, {mapping})"
    )
    console.print(layers_table(rows, title))
    run_graph = fold_batchnorm(net.graph)  # what runs: BN after a conv/linear is folded into it
    digital = digital_ops(run_graph)
    folded = digital_ops(net.graph).get("bn", 0) - digital.get("bn", 0)
    total_macs = sum(layer.macs for layer in rows)
    total_arrays = sum(layer.arrays for layer in rows)
    console.print(
        f"{len(rows)} crossbar layers, {total_macs:,} MACs per image, "
        f"{total_arrays:,} arrays of {cim.rows}×{cim.cols}",
        highlight=False,
    )
    note = f" (bn ×{folded} folded into the crossbar layer before it)" if folded else ""
    console.print(
        escape(f"digital, between crossbar layers: {_ops_text(digital)}{note}"),
        highlight=False,
        soft_wrap=True,
    )
