"""Benchmark of crossbar_mvm: real MACs/s, the ratio to a float32 BLAS bound, stats overhead.

    python benchmarks/bench_mvm.py            # 1152 x 256 layer (3x3x128 conv), batch 1024
    python benchmarks/bench_mvm.py --quick    # a small run (seconds)
    python benchmarks/bench_mvm.py --memory   # peak RSS of a 4608 x 512 layer at batch 1024

For each rows R, weight mapping, ADC scheme (5 bits) and input distribution it times one call
with statistics off, one with them on (after a warm-up that loads or compiles the kernels) and
the bound, the three alternating (best of ``--reps`` each). The bound is the time numpy's
float32 matmul (BLAS) takes for the same bit-plane work: per row tile, the stacked product
(P*M, Rt) @ (Rt, S*pol*N) of 0/1 input planes and weight slices (both polarities for
differential: pol = 2), i.e. the partial sums alone, without any ADC.

``kernel/BLAS`` is kernel time / BLAS bound time (statistics off): below 1 means the kernel is
faster than that bound; ``x BLAS`` is its inverse (bound time / kernel time, i.e. kernel rate /
BLAS rate). The summary gives both per mapping (min / median / max over the cases) and says
whether the OpenBLAS throttling variables (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE) were set: they
slow the bound down; run with ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`` for the real one.
"""

from __future__ import annotations  # noqa: I001 (bfpdse first, see below)

import bfpdse  # noqa: F401 - before numpy: its thread policy (bfpdse.threads) acts then
import argparse
import os
import resource
import time
from collections.abc import Callable
from functools import partial

import numba
import numpy as np

from bfpdse.cim import CIMConfig, calibrate_window, crossbar_mvm

SCHEMES = ("linear", "calibrated", "rar", "bfp")
MAPPINGS = ("differential", "balanced", "offset")


def make_inputs(rng: np.random.Generator, M: int, K: int, dist: str) -> np.ndarray:
    """8-bit unsigned inputs: uniform 0..255, or ReLU-like (half zero, small values common)."""
    if dist == "uniform":
        return rng.integers(0, 256, size=(M, K), dtype=np.int64)
    x = np.minimum(rng.exponential(24.0, size=(M, K)), 255).astype(np.int64)
    return x * (rng.random((M, K)) < 0.5)


def make_weights(rng: np.random.Generator, K: int, N: int) -> np.ndarray:
    """8-bit signed weights, roughly normal like trained conv weights."""
    return np.clip(np.round(rng.normal(0.0, 32.0, size=(K, N))), -127, 127).astype(np.int64)


def best_time(fn: Callable[[], object], reps: int) -> float:
    """Smallest wall time of ``reps`` calls, seconds (the machine may be shared)."""
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def paired_best_times(
    fn_a: Callable[[], object], fn_b: Callable[[], object], reps: int
) -> tuple[float, float]:
    """Smallest wall times of a and b, calls alternating a, b, a, b, ...

    Alternating keeps the slow drifts of a shared machine out of the a/b ratio, which two
    back-to-back series of a then b would pick up.
    """
    best_a = best_b = float("inf")
    for _ in range(reps):
        best_a = min(best_a, best_time(fn_a, 1))
        best_b = min(best_b, best_time(fn_b, 1))
    return best_a, best_b


def paired_best_times3(fns: tuple[Callable[[], object], ...], reps: int) -> tuple[float, ...]:
    """``paired_best_times`` for any number of functions, called in turn ``reps`` times."""
    best = [float("inf")] * len(fns)
    for _ in range(reps):
        for j, fn in enumerate(fns):
            best[j] = min(best[j], best_time(fn, 1))
    return tuple(best)


def blas_bound_fn(cfg: CIMConfig, M: int, K: int, N: int) -> Callable[[], None]:
    """A call doing numpy float32 matmul's stacked bit-plane products of every tile."""
    rng = np.random.default_rng(1)
    P, SN = cfg.n_planes, cfg.n_slices * cfg.n_polarities * N
    R = cfg.rows
    a = (rng.random((P * M, R)) < 0.5).astype(np.float32)
    b = rng.integers(0, 1 << cfg.cell_bits, size=(R, SN)).astype(np.float32)
    tiles = [min(R, K - s) for s in range(0, K, R)]

    def run() -> None:
        for rt in tiles:
            np.matmul(a[:, :rt], b[:rt])

    run()
    return run


def blas_bound(cfg: CIMConfig, M: int, K: int, N: int, reps: int) -> float:
    """Seconds numpy float32 matmul takes for the stacked bit-plane products of every tile."""
    return best_time(blas_bound_fn(cfg, M, K, N), reps)


def openblas_setting() -> str:
    """The OpenBLAS throttling variables as set in this process ("unset" if neither is)."""
    keys = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    found = [f"{k}={os.environ[k]}" for k in keys if k in os.environ]
    return ", ".join(found) if found else "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small layer and batch (a smoke run)")
    ap.add_argument(
        "--memory", action="store_true", help="peak RSS of a 4608x512 layer, batch 1024"
    )
    ap.add_argument("--rows", default="128,256", help="comma-separated rows R")
    ap.add_argument("--mappings", default=",".join(MAPPINGS))
    ap.add_argument("--schemes", default=",".join(SCHEMES))
    ap.add_argument("--dists", default="uniform,relu")
    ap.add_argument(
        "--reps", type=int, default=5, help="timed calls per case and stats setting (best kept)"
    )
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    if args.memory:
        return memory_run(rng)
    M, K, N = (128, 288, 64) if args.quick else (1024, 1152, 256)
    w = make_weights(rng, K, N)
    xs = {d: make_inputs(rng, M, K, d) for d in args.dists.split(",")}
    rows_list = [int(r) for r in args.rows.split(",")]
    print(f"layer K={K} N={N}, batch M={M}, 8-bit inputs and weights, 2-bit cells, 5-bit ADC")
    print(f"BLAS: {openblas_setting()}; numba threads {numba.get_num_threads()}")
    results = []
    for R in rows_list:
        for mapping in args.mappings.split(","):
            base = CIMConfig(rows=R, weight_mapping=mapping, adc="ideal")
            bound_fn = blas_bound_fn(base, M, K, N)
            for scheme in args.schemes.split(","):
                cfg = CIMConfig(rows=R, weight_mapping=mapping, adc=scheme, adc_bits=5)
                for dist, x in xs.items():
                    kw = {}
                    if scheme == "calibrated":
                        kw["window"] = calibrate_window(x[:64], w, cfg)
                    crossbar_mvm(x[:4], w, cfg, **kw)  # warm the jit (compile or cache load)

                    def run(stats: bool, x=x, cfg=cfg, kw=kw) -> None:
                        crossbar_mvm(x, w, cfg, return_stats=stats, **kw)

                    t_off, t_on, bound = paired_best_times3(
                        (partial(run, False), partial(run, True), bound_fn), args.reps
                    )
                    results.append((R, mapping, scheme, dist, t_off, t_on, bound))
    print_table(results, M * K * N)


def print_table(results: list[tuple], macs: int) -> None:
    header = ("R", "mapping", "adc", "inputs", "time s", "GMAC/s", "bound s", "kernel/BLAS",
              "x BLAS", "stats on s", "stats +%")  # fmt: skip
    rows = []
    for R, mapping, scheme, dist, t_off, t_on, bound in results:
        rows.append((str(R), mapping, scheme, dist, f"{t_off:.3f}", f"{macs / t_off / 1e9:.2f}",
                     f"{bound:.3f}", f"{t_off / bound:.2f}", f"{bound / t_off:.2f}", f"{t_on:.3f}",
                     f"{100 * (t_on / t_off - 1):+.1f}"))  # fmt: skip
    try:
        from rich.console import Console
        from rich.table import Table

        table = Table(*header)
        for r in rows:
            table.add_row(*r)
        Console(width=160).print(table)
    except ImportError:  # plain text
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        for r in (header, *rows):
            print("  ".join(c.rjust(wd) for c, wd in zip(r, widths, strict=True)))
    over = [t_on / t_off - 1 for *_, t_off, t_on, _ in results]
    print(f"stats on vs off: median {100 * float(np.median(over)):+.1f}% "
          f"(min {100 * min(over):+.1f}%, max {100 * max(over):+.1f}%)")  # fmt: skip
    print(f"kernel time / BLAS bound time (stats off), {openblas_setting()}:")
    mappings = dict.fromkeys(r[1] for r in results)
    for mapping in (*mappings, "all"):
        rs = [t / b for _, mp, *_, t, _, b in results if mapping in ("all", mp)]
        print(f"  {mapping:>12}: min {min(rs):.2f}  median {float(np.median(rs)):.2f}  "
              f"max {max(rs):.2f}   (x BLAS: {1 / max(rs):.2f} .. {1 / min(rs):.2f}, "
              f"median {1 / float(np.median(rs)):.2f}; {len(rs)} cases)")  # fmt: skip


def memory_run(rng: np.random.Generator) -> None:
    """Peak resident memory of one 4608 x 512 layer at batch 1024 (rar, 5 bits, R = 128)."""
    M, K, N = 1024, 4608, 512
    x = make_inputs(rng, M, K, "uniform")
    w = make_weights(rng, K, N)
    cfg = CIMConfig(rows=128, adc="rar", adc_bits=5)
    crossbar_mvm(x[:4], w, cfg)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    _, st = crossbar_mvm(x, w, cfg, return_stats=True)
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"4608x512 layer, batch 1024: {dt:.2f} s, {M * K * N / dt / 1e9:.2f} GMAC/s, "
          f"{st.conversions_dense / dt / 1e6:.0f} M partial sums/s")  # fmt: skip
    print(f"peak RSS {peak:.0f} MiB (inputs alone {x.nbytes / 2**20:.0f} MiB; "
          f"before the call {before:.0f} MiB)")  # fmt: skip


if __name__ == "__main__":
    main()
