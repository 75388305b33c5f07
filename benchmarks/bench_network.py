"""A network's real-MAC rate on the cim backend against the crossbar kernel's own, same process.

    python benchmarks/bench_network.py                                    # resnet20, rar 5 bits
    python benchmarks/bench_network.py /work/tvx2/resnet18_legacy_224.onnx --images 32 --batches 32
    python benchmarks/bench_network.py alexnet_legacy_224.onnx --batches 1,8,32 --adc bfp
    python benchmarks/bench_network.py mobilenet_v2_legacy_224.onnx --batches 1 --layers

MODEL is a zoo name (its images: Fashion-MNIST test images) or an ``.onnx`` file (its images:
the ``<family>_<size>.npz`` that ``scripts/export_torchvision.py`` writes beside it, else random
pixels). Per batch size: seconds per image of a cim forward with per-layer reports collected (as
``bfpdse run`` does), best of ``--reps``, and the real MACs per second (every crossbar layer's
M * K * N per group, summed) against the kernel's rate on the benchmark layer (1152 x 256, batch
1024, ReLU-like 8-bit inputs, statistics on, the same CIMConfig), the two timed alternately.
The same two runs also give ADC conversions per second. A layer whose last row tile is short
(K = 144 on 128 rows: 1.8 times the conversions per MAC of full tiles) converts as often per
column as a full one, so the MAC ratio understates how close a network runs to the kernel per
unit of crossbar work; the conversion ratio does not.
The first forward (quantization, jit load, weight preparation) is left out of the timings.
``--layers`` prints each crossbar layer's share of one forward. numba uses its default thread
count (the cores) unless NUMBA_NUM_THREADS says otherwise: never more threads than cores.
"""

from __future__ import annotations  # noqa: I001 (bfpdse first, see below)

import bfpdse  # noqa: F401 - before numpy: its thread policy (bfpdse.threads) acts then
import argparse
import time
from pathlib import Path

import numpy as np

import bfpdse.nn.engine as engine
from bfpdse.cim import CIMConfig, crossbar_mvm, prepare_weights


def load(name: str, images: int):
    """(model, float32 images) of a zoo name or an ONNX file."""
    from bfpdse.data import load_dataset
    from bfpdse.nn import load_model

    model = load_model(name)
    path = Path(name)
    if path.suffix != ".onnx":
        return model, load_dataset("fashion-mnist", model=model).take(images).x
    family, _, size = path.stem.rsplit("_", 2)
    ref = path.parent / f"{family}_{size}.npz"
    if ref.exists():
        x = np.load(ref)["x"]
    else:
        x = np.random.default_rng(0).random((1, *model.input_shape), dtype=np.float32)
    return model, np.resize(x, (images, *x.shape[1:])).astype(np.float32)


def kernel_rate(cfg: CIMConfig) -> tuple[float, float, float]:
    """(seconds, real MACs / s, ADC conversions / s) of one call on the 1152 x 256 layer at
    batch 1024, stats on."""
    rng = np.random.default_rng(0)
    M, K, N = 1024, 1152, 256
    x = np.minimum(rng.exponential(24.0, size=(M, K)), 255).astype(np.uint8)
    x *= (rng.random((M, K)) < 0.5).astype(np.uint8)
    w = np.clip(np.round(rng.normal(0.0, 32.0, size=(K, N))), -127, 127).astype(np.int64)
    prep = prepare_weights(w, cfg)
    crossbar_mvm(x[:8], prep, return_stats=True)
    t0 = time.perf_counter()
    _, stats = crossbar_mvm(x, prep, return_stats=True)
    dt = time.perf_counter() - t0
    return dt, M * K * N / dt, stats.conversions / dt


def forward_time(model, x: np.ndarray, cfg: CIMConfig, batch: int) -> tuple[float, int, int]:
    """(seconds, real MACs, ADC conversions) of one cim forward of x with reports collected."""
    t0 = time.perf_counter()
    _, reports = model.forward(x, "cim", cim=cfg, collect=True, batch_size=batch)
    dt = time.perf_counter() - t0
    stats = [r.stats for r in reports.values()]
    return dt, sum(s.macs for s in stats), sum(s.conversions for s in stats)


def layer_table(model, x: np.ndarray, cfg: CIMConfig, batch: int) -> None:
    """Each crossbar layer's seconds in one forward (the crossbar call and its report)."""
    spent: dict[str, list] = {}
    run_layer = engine._QuantRunner._cim_matmul

    def timed(self, layer, cols, images):
        t0 = time.perf_counter()
        out = run_layer(self, layer, cols, images)
        row = spent.setdefault(layer.name, [0.0, layer.groups, layer.k, layer.n, 0])
        row[0] += time.perf_counter() - t0
        row[4] += cols.shape[1]
        return out

    engine._QuantRunner._cim_matmul = timed
    try:
        t0 = time.perf_counter()
        model.forward(x, "cim", cim=cfg, collect=True, batch_size=batch)
        whole = time.perf_counter() - t0
    finally:
        engine._QuantRunner._cim_matmul = run_layer
    total = sum(r[0] for r in spent.values())
    print(f"{'layer':40} {'groups':>6} {'K':>6} {'N':>5} {'vectors':>8} {'s':>7} {'GMAC/s':>7}")
    for name, (s, g, k, n, m) in spent.items():
        print(f"{name[-40:]:40} {g:6} {k:6} {n:5} {m:8} {s:7.3f} {g * m * k * n / s / 1e9:7.2f}")
    print(f"crossbar layers {total:.3f} s of {whole:.3f} s ({100 * total / whole:.0f} %)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("model", nargs="?", default="resnet20", help="zoo name or .onnx file")
    ap.add_argument("--images", type=int, default=None, help="images per forward (default: batch)")
    ap.add_argument("--batches", default="100", help="comma-separated batch sizes")
    ap.add_argument("--adc", default="rar")
    ap.add_argument("--adc-bits", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3, help="timed runs per batch size (best kept)")
    ap.add_argument("--layers", action="store_true", help="per-layer seconds of one forward")
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    cfg = CIMConfig(adc=args.adc, adc_bits=args.adc_bits)
    n = args.images or max(batches)
    model, x = load(args.model, n)
    print(f"model {model.name} ({model.version}), {n} images, cim {args.adc} {args.adc_bits} bits")
    model.forward(x[:1], "cim", cim=cfg, collect=True)  # jit, quantization
    if args.layers:
        return layer_table(model, x, cfg, batches[0])
    print(f"{'batch':>5} {'s/image':>8} {'net GMAC/s':>10} {'kernel GMAC/s':>13} {'ratio':>6} "
          f"{'net Gconv/s':>11} {'kernel Gconv/s':>14} {'ratio':>6}")  # fmt: skip
    for batch in batches:
        net = [0.0, 0.0]  # best real MACs / s, conversions / s
        kernel = [0.0, 0.0]
        per_image = float("inf")
        for _ in range(args.reps):  # alternate, so that a busy spell hits both
            dt, macs, conv = forward_time(model, x, cfg, batch)
            per_image = min(per_image, dt / n)
            net = [max(net[0], macs / dt), max(net[1], conv / dt)]
            _, k_macs, k_conv = kernel_rate(cfg)
            kernel = [max(kernel[0], k_macs), max(kernel[1], k_conv)]
        print(f"{batch:5} {per_image:8.4f} {net[0] / 1e9:10.2f} {kernel[0] / 1e9:13.2f} "
              f"{net[0] / kernel[0]:6.2f} {net[1] / 1e9:11.3f} {kernel[1] / 1e9:14.3f} "
              f"{net[1] / kernel[1]:6.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
