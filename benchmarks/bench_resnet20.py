"""Images per second of resnet20 (zoo) on Fashion-MNIST test images: float, int and cim backends.

    python benchmarks/bench_resnet20.py [--samples 1000] [--model resnet20] [--profile]

The cim point is the issue's reference design: ``adc="rar"``, ``adc_bits=5``, every other
CIMConfig field at its default, with per-layer reports collected (as ``bfpdse run`` does). The
numba kernels are compiled (or loaded from the cache) on a few images before timing. With
``--profile`` the cim run is profiled and the share of ``crossbar_mvm`` is printed.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import numpy as np

from bfpdse.cim import CIMConfig
from bfpdse.data import load_dataset
from bfpdse.nn import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    model = load_model(args.model)
    data = load_dataset("fashion-mnist", model=model).take(args.samples)
    cim = CIMConfig(adc="rar", adc_bits=5)
    n = len(data)
    print(f"model {model.name} ({model.version}), {n} images, batch {args.batch_size}")
    print(f"cim: {cim.to_dict()}")
    model.forward(data.x[:2], "cim", cim=cim, collect=True)  # compile / load the kernels

    rows = []
    for backend in ("float", "int", "cim"):
        kwargs = {"cim": cim, "collect": True} if backend == "cim" else {}
        start = time.perf_counter()
        if backend == "cim" and args.profile:
            prof = cProfile.Profile()
            out = prof.runcall(model.forward, data.x, backend, batch_size=args.batch_size, **kwargs)
        else:
            out = model.forward(data.x, backend, batch_size=args.batch_size, **kwargs)
        wall = time.perf_counter() - start
        logits = out[0] if isinstance(out, tuple) else out
        acc = float(np.mean(logits.argmax(axis=1) == data.y))
        rows.append((backend, wall, n / wall, acc))
    print(f"{'backend':8} {'wall_s':>8} {'images/s':>10} {'accuracy':>9}")
    for backend, wall, ips, acc in rows:
        print(f"{backend:8} {wall:8.2f} {ips:10.1f} {acc:9.4f}")
    if args.profile:
        stats = pstats.Stats(prof)
        total = stats.total_tt
        mvm = next(
            (v[3] for k, v in stats.stats.items() if k[2] == "crossbar_mvm"),
            0.0,
        )
        print(f"crossbar_mvm: {mvm:.2f} s of {total:.2f} s profiled ({100 * mvm / total:.0f} %)")
        stats.sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()
