"""Images per second of resnet20 (zoo) on Fashion-MNIST test images: float, int and cim backends.

    python benchmarks/bench_resnet20.py [--samples 1000] [--model resnet20] [--profile] [--stats]

The cim point is the issue's reference design: ``adc="rar"``, ``adc_bits=5``, every other
CIMConfig field at its default, with per-layer reports collected (as ``bfpdse run`` does). The
numba kernels are compiled (or loaded from the cache) on a few images before timing. With
``--profile`` the cim run is profiled and the share of ``crossbar_mvm`` is printed. With
``--stats`` the crossbar calls of one batch are recorded and timed with statistics on and off
(calls alternating, best of 5 each, CPU time of all threads): what collecting them costs, in
the crossbar calls and as a share of the whole forward pass that a sweep point runs.
"""

from __future__ import annotations  # noqa: I001 (bfpdse first, see below)

import bfpdse  # noqa: F401 - before numpy: its thread policy (bfpdse.threads) acts then
import argparse
import cProfile
import pstats
import time

import numpy as np

import bfpdse.nn.engine as engine
from bfpdse.cim import CIMConfig, crossbar_mvm
from bfpdse.data import load_dataset
from bfpdse.nn import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--stats", action="store_true", help="cost of the statistics, per layer")
    args = parser.parse_args()

    model = load_model(args.model)
    data = load_dataset("fashion-mnist", model=model).take(args.samples)
    cim = CIMConfig(adc="rar", adc_bits=5)
    n = len(data)
    print(f"model {model.name} ({model.version}), {n} images, batch {args.batch_size}")
    print(f"cim: {cim.to_dict()}")
    model.forward(data.x[:2], "cim", cim=cim, collect=True)  # compile / load the kernels
    if args.stats:
        return stats_cost(model, data.x[: args.batch_size], cim)

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


def stats_cost(model, x: np.ndarray, cim: CIMConfig, reps: int = 5) -> None:
    """CPU seconds of the batch's crossbar calls with statistics off and on (best of reps)."""
    calls = []

    def record(*args, **kwargs):
        calls.append((args, kwargs))
        return crossbar_mvm(*args, **kwargs)

    engine.crossbar_mvm = record
    try:
        model.forward(x, "cim", cim=cim, collect=True)
    finally:
        engine.crossbar_mvm = crossbar_mvm
    best = {False: 0.0, True: 0.0}
    for args, kwargs in calls:
        t = {False: float("inf"), True: float("inf")}
        for _ in range(reps):
            for on in (False, True):
                start = time.process_time()
                crossbar_mvm(*args, **{**kwargs, "return_stats": on})
                t[on] = min(t[on], time.process_time() - start)
        best[False] += t[False]
        best[True] += t[True]
    off, on = best[False], best[True]
    whole = float("inf")  # the batch as a sweep point runs it: forward with reports collected
    for _ in range(reps):
        start = time.process_time()
        model.forward(x, "cim", cim=cim, collect=True)
        whole = min(whole, time.process_time() - start)
    print(f"{len(calls)} crossbar calls of {len(x)} images, CPU s: statistics off {off:.3f}, "
          f"on {on:.3f} ({100 * (on / off - 1):+.1f} %)")  # fmt: skip
    print(f"forward with reports (collect=True) {whole:.3f} CPU s: the statistics are "
          f"{100 * (on - off) / whole:.1f} % of it")  # fmt: skip


if __name__ == "__main__":
    main()
