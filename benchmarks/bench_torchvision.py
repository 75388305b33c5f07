"""Reach and cost of torchvision's CNN families on bfpdse: one markdown row per exported file.

    python benchmarks/bench_torchvision.py DIR [--size 224] [--cim-images 1]

DIR holds the files of ``scripts/export_torchvision.py`` (``<model>_<exporter>_<size>.onnx`` and
``<model>_<size>.npz``). Per file: whether it loads, the graph's crossbar layers and MACs per
image, the float backend's largest error against onnxruntime (relative to the largest logit),
and the seconds per image of a cim forward (``adc=bfp``, 5 bits, batch 1, one numba thread per
core as the engine sets it) after a warm-up image. The machine is shared: read the seconds as
rough.
"""

from __future__ import annotations  # noqa: I001 (bfpdse first, see below)

import bfpdse  # noqa: F401 - before numpy: its thread policy (bfpdse.threads) acts then
import argparse
import time
from pathlib import Path

import numpy as np


def _onnxruntime(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def row(path: Path, size: int, cim_images: int) -> str:
    from bfpdse.cim import CIMConfig
    from bfpdse.errors import BfpdseError
    from bfpdse.nn import load_model
    from bfpdse.nn.opset import MVM_OPS

    family, exporter = path.stem.rsplit("_", 2)[:2]
    try:
        model = load_model(path)
    except BfpdseError as exc:
        return f"| {family} | {exporter} | no: {str(exc)[:120]} | | | | |"
    ref = np.load(path.parent / f"{family}_{size}.npz")
    x = ref["x"]
    onnx_y = _onnxruntime(path, x)
    err = float(np.abs(model.forward(x) - onnx_y).max() / np.abs(onnx_y).max())
    layers = [n for n in model.graph.nodes if n.op in MVM_OPS]
    macs = 0
    for node in layers:
        w = node.attrs["weight"]
        out = model.graph.shapes[node.output]
        if node.op == "conv":
            macs += int(np.prod(out)) * int(np.prod(w.shape[1:]))
        else:
            macs += int(np.prod(out)) * int(w.shape[0])
    cfg = CIMConfig(adc="bfp", adc_bits=5)
    model.forward(x, "cim", cim=cfg)  # warm-up: quantization, jit
    xs = np.repeat(x, cim_images, axis=0)
    t0 = time.perf_counter()
    model.forward(xs, "cim", cim=cfg, batch_size=1)
    per_image = (time.perf_counter() - t0) / cim_images
    return (
        f"| {family} | {exporter} | yes | {len(layers)} | {macs / 1e9:.3f} | {err:.1e} | "
        f"{per_image:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--cim-images", type=int, default=1)
    args = parser.parse_args()
    print(f"size {args.size}x{args.size}")
    print("| model | exporter | loads | crossbar layers | GMAC/image | float vs onnxruntime | "
          "cim s/image (bfp 5 b, batch 1) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for path in sorted(args.dir.glob(f"*_{args.size}.onnx")):
        print(row(path, args.size, args.cim_images), flush=True)


if __name__ == "__main__":
    main()
