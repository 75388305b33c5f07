"""``bfpdse layers MODEL``: crossbar layers, their index names, K×N, MACs and arrays."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from nn.nn_builders import Builder, save  # tests/ is on sys.path (rootdir-relative packages)
from typer.testing import CliRunner

from bfpdse.cim import CIMConfig
from bfpdse.cli import app
from bfpdse.cli.layers import crossbar_layers, digital_ops
from bfpdse.energy import EnergyConfig, component_prices
from bfpdse.nn import QuantConfig, load_model
from bfpdse.nn.graph import Graph, Node, fold_batchnorm, layer_index_names
from bfpdse.spec.point import make_point

from .helpers import run_main

runner = CliRunner()

#: cim settings the array counts are checked at (S = weight slices, columns per weight)
CIMS = [
    {},  # 128 x 128, 8-bit weights on 2-bit cells: S = 4, differential: 2 columns
    {"rows": 16, "cols": 32},
    {"rows": 256, "cols": 64, "cell_bits": 1, "weight_mapping": "offset"},  # S = 8, 1 column
    {"weight_bits": 4, "cell_bits": 4, "weight_mapping": "balanced"},  # S = 1, 2 columns
]


def small_model(tmp_path):
    """conv, grouped conv (g=2, stride 2), depthwise conv, MatMul on (C, H, W), Gemm."""
    b = Builder((4, 6, 6), seed=1)
    x = b.relu(b.conv("input", 4, 8, pads=[1, 1, 1, 1]))  # (8, 6, 6)
    x = b.relu(b.conv(x, 8, 8, groups=2, pads=[1, 1, 1, 1], strides=[2, 2]))  # (8, 3, 3)
    x = b.relu(b.conv(x, 8, 8, groups=8, pads=[1, 1, 1, 1]))  # depthwise, (8, 3, 3)
    w = b.rng.normal(0, 0.5, (3, 5)).astype(np.float32)
    x = b.relu(b.node("MatMul", [x, b.const(w, "w")]))  # over the last axis: (8, 3, 5)
    x = b.node("Flatten", [x], axis=1)  # (120,)
    proto = b.model(b.gemm(x, 120, 10, transB=1))
    proto.graph.node[0].name = "stem[bits].conv"  # markup-like and dotted: shown as it is
    return save(proto, tmp_path / "small.onnx")


#: by hand: (index, kind, K, N, groups, vectors per image) of small_model
SMALL = [
    ("L00", "conv 3×3", 4 * 9, 8, 1, 6 * 6),
    ("L01", "grouped 3×3 s2", 4 * 9, 4, 2, 3 * 3),
    ("L02", "depthwise 3×3", 9, 1, 8, 3 * 3),
    ("L03", "linear", 3, 5, 1, 8 * 3),  # every (c, h) position is one input vector
    ("L04", "linear", 120, 10, 1, 1),
]


def hand_arrays(k: int, n: int, groups: int, cim: CIMConfig) -> int:
    """groups * ceil(K / R) * ceil(N * S * columns per weight / C), S and columns by hand."""
    wb, cb, mapping = cim.weight_bits, cim.cell_bits, cim.weight_mapping
    slices = math.ceil((wb if mapping == "offset" else wb - 1) / cb)
    columns = 1 if mapping == "offset" else 2
    return groups * math.ceil(k / cim.rows) * math.ceil(n * slices * columns / cim.cols)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return small_model(tmp_path_factory.mktemp("layers"))


# ------------------------------------------------------------------ the pure functions


def _chain(count: int) -> Graph:
    """A graph of ``count`` linear nodes with dotted ONNX names, and a relu between each."""
    nodes, shapes, x = [], {"x": (4,)}, "x"
    for i in range(count):
        w = np.zeros((4, 4), np.float32)
        nodes.append(Node("linear", f"/blocks/blocks.{i}/fc", (x,), f"y{i}", {"weight": w}))
        nodes.append(Node("relu", f"relu{i}", (f"y{i}",), f"r{i}"))
        shapes[f"y{i}"] = shapes[f"r{i}"] = (4,)
        x = f"r{i}"
    return Graph(nodes=nodes, input="x", output=x, shapes=shapes)


@pytest.mark.parametrize(("count", "last"), [(1, "L00"), (22, "L21"), (99, "L98"), (100, "L099")])
def test_index_names_are_two_digits_three_from_100_layers(count, last):
    names = layer_index_names(_chain(count))
    assert list(names) == [f"/blocks/blocks.{i}/fc" for i in range(count)]  # graph order
    assert names["/blocks/blocks.0/fc"] == ("L000" if count >= 100 else "L00")
    assert list(names.values())[-1] == last
    assert all("." not in v and v.isalnum() for v in names.values())


def test_small_model_by_hand(small):
    graph = load_model(small).graph
    for cfg in CIMS:
        cim = CIMConfig(**cfg)
        got = crossbar_layers(graph, cim)
        assert [(r.index, r.kind, r.k, r.n, r.groups, r.positions) for r in got] == SMALL
        for row, (_, _, k, n, g, pos) in zip(got, SMALL, strict=True):
            assert row.macs == pos * k * n * g
            assert row.arrays == hand_arrays(k, n, g, cim), (cfg, row)
    names = [r.name for r in got]
    assert names[0] == "stem[bits].conv" and names == [n.name for n in graph.mvm_nodes()]
    assert layer_index_names(graph) == {r.name: r.index for r in got}
    # by hand at the default 128 x 128: 64 columns per output group fit one array
    assert [r.arrays for r in crossbar_layers(graph, CIMConfig())] == [1, 2, 8, 1, 1]
    assert [r.arrays for r in crossbar_layers(graph, CIMConfig(rows=16, cols=32))] == [
        3 * 2,  # ceil(36 / 16) row tiles x ceil(8 * 4 * 2 / 32) column tiles
        2 * 3 * 1,  # two groups of 36 x 4
        8 * 1 * 1,  # eight groups of 9 x 1
        1 * 2,  # 5 * 8 = 40 columns
        8 * 3,  # ceil(120 / 16) x ceil(80 / 32)
    ]


def test_small_model_matches_what_the_engine_runs(small):
    """K, N, groups, vectors and MACs per image as crossbar_mvm counts them on a real pass."""
    model = load_model(small)
    x = np.random.default_rng(0).uniform(0, 1, (2, *model.input_shape)).astype(np.float32)
    _, reports = model.forward(
        x, "cim", cim=CIMConfig(adc="ideal"), quant=QuantConfig(), collect=True
    )
    got = crossbar_layers(model.graph, CIMConfig())
    assert list(reports) == [r.name for r in got]
    for row in got:
        rep = reports[row.name]
        assert (rep.k, rep.n, rep.groups) == (row.k, row.n, row.groups)
        assert rep.vectors == 2 * row.positions  # per group, over both images
        assert rep.stats.macs == 2 * row.macs  # summed over the groups


def test_digital_ops_of_the_graph_that_runs(small):
    graph = load_model(small).graph
    assert digital_ops(graph) == {"relu": 4, "reshape": 1}
    resnet = load_model("resnet20").graph
    assert digital_ops(resnet)["bn"] == 21
    assert digital_ops(fold_batchnorm(resnet)) == {"relu": 19, "add": 9, "gap": 1, "reshape": 1}


@pytest.mark.parametrize("name", ["lenet5", "resnet20"])
@pytest.mark.parametrize("cfg", CIMS[:3])
def test_zoo_layers_agree_with_the_cost_model(name, cfg):
    """Shapes as evaluate sees them; total arrays as the cost model's array area counts them."""
    from bfpdse.evaluate import estimate_cost, layer_shapes

    point = make_point({"model": name, **{f"cim.{k}": v for k, v in cfg.items()}})
    got = crossbar_layers(load_model(name).graph, point.cim)
    assert [(r.name, r.k, r.n, r.positions, r.groups) for r in got] == layer_shapes(point)
    assert all(r.groups == 1 for r in got)
    for r in got:
        assert r.arrays == hand_arrays(r.k, r.n, 1, point.cim)
    cim, energy = point.cim, EnergyConfig()
    per_array_mm2 = cim.rows * cim.cols * component_prices(cim, energy)["array"].area_um2 * 1e-6
    arrays = estimate_cost(point)["area_array_mm2"] / per_array_mm2
    assert sum(r.arrays for r in got) == pytest.approx(arrays, rel=1e-9)


def test_resnet20_by_hand():
    got = crossbar_layers(load_model("resnet20").graph, CIMConfig())
    assert len(got) == 22 and got[0].index == "L00" and got[-1].index == "L21"
    assert (got[0].kind, got[0].k, got[0].n, got[0].positions) == ("conv 3×3", 9, 16, 28 * 28)
    assert (got[7].kind, got[7].k, got[7].n, got[7].positions) == ("conv 3×3 s2", 144, 32, 196)
    assert (got[9].kind, got[9].k, got[9].n) == ("conv 1×1 s2", 16, 32)  # the 1x1 shortcut
    assert (got[-1].kind, got[-1].k, got[-1].n, got[-1].positions) == ("linear", 64, 10, 1)
    # 3x3 convs: 1 + 6 at 16 ch (28x28), 6 + 1 at 32 (14x14; one from 16), same at 64 (7x7)
    macs = 784 * 9 * 16 + 6 * 784 * 144 * 16 + 196 * 144 * 32 + 5 * 196 * 288 * 32
    macs += 49 * 288 * 64 + 5 * 49 * 576 * 64 + 196 * 16 * 32 + 49 * 32 * 64 + 64 * 10
    assert sum(r.macs for r in got) == macs == 31_021_952
    assert sum(r.arrays for r in got) == 166


# ------------------------------------------------------------------ the command


def test_table_lists_layers_and_summary(small):
    got = runner.invoke(app, ["layers", str(small)], env={"COLUMNS": "200"})
    assert got.exit_code == 0, got.output
    out = got.stdout
    for index, kind, k, n, _, _ in SMALL:
        assert index in out and kind in out and f"{k}×{n}" in out
    assert "stem[bits].conv" in out  # escaped, not eaten as markup
    macs = sum(pos * k * n * g for _, _, k, n, g, pos in SMALL)
    assert f"5 crossbar layers, {macs:,} MACs per image, 13 arrays of 128×128" in out
    assert "digital, between crossbar layers: relu ×4, reshape ×1" in out


def test_table_of_resnet20_with_set():
    got = runner.invoke(app, ["layers", "resnet20"], env={"COLUMNS": "200"})
    assert got.exit_code == 0, got.output
    assert "22 crossbar layers, 31,021,952 MACs per image, 166 arrays of 128×128" in got.stdout
    assert "relu ×19, add ×9, gap ×1, reshape ×1 (bn ×21 folded" in got.stdout
    got = runner.invoke(app, ["layers", "resnet20", "--set", "cim.rows=256", "-s", "cim.cols=256"])
    assert got.exit_code == 0, got.output
    want = sum(hand_arrays(r.k, r.n, 1, CIMConfig(rows=256, cols=256)) for r in
               crossbar_layers(load_model("resnet20").graph, CIMConfig()))  # fmt: skip
    assert "arrays of 256×256" in got.stdout and f"{want} arrays" in got.stdout


def test_json_is_a_list_of_layer_objects(small):
    got = runner.invoke(app, ["layers", str(small), "--json", "--set", "cim.rows=16"])
    assert got.exit_code == 0, got.output
    doc = json.loads(got.stdout)
    assert isinstance(doc, list) and len(doc) == len(SMALL)
    assert list(doc[0]) == [
        "index", "name", "op", "kind", "k", "n", "groups", "positions", "macs", "arrays"
    ]  # fmt: skip
    for row, (index, kind, k, n, g, pos) in zip(doc, SMALL, strict=True):
        assert (row["index"], row["kind"], row["k"], row["n"]) == (index, kind, k, n)
        assert (row["groups"], row["positions"], row["macs"]) == (g, pos, pos * k * n * g)
        assert row["arrays"] == hand_arrays(k, n, g, CIMConfig(rows=16))
    assert [row["op"] for row in doc] == ["conv", "conv", "conv", "linear", "linear"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["{tmp}/missing.onnx"], "missing.onnx: no such model file"),
        (["nosuchmodel"], "zoo models: lenet5, resnet20"),
        (["lenet5", "--set", "cim.row=64"], "did you mean 'cim.rows'"),
        (["lenet5", "--set", "cim.rows=0"], "rows=0 is out of range"),
    ],
)
def test_input_errors_exit_2_with_one_line(tmp_path, monkeypatch, capsys, args, needle):
    args = [a.format(tmp=tmp_path) for a in args]
    code, captured = run_main(monkeypatch, capsys, "layers", *args)
    assert code == 2
    assert captured.out == ""
    err = captured.err.strip()
    assert err.startswith("error:") and needle in " ".join(err.split())
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1  # soft-wrapped: one line however long


def test_help_lists_the_command():
    got = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert "layers" in got.stdout
    got = runner.invoke(app, ["layers", "--help"], env={"COLUMNS": "200"})
    assert got.exit_code == 0 and "MODEL" in got.stdout and "--json" in got.stdout
