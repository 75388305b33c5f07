"""Benchmark of the noisy crossbar path against the exact one (docs/spec.md, "Noise").

    python benchmarks/bench_noise.py            # 1152 x 256 layer (3x3x128 conv), batch 1024
    python benchmarks/bench_noise.py --quick    # a small run (seconds)

The layer of benchmarks/bench_mvm.py (R = 128, 2-bit cells, 8-bit inputs and weights, 5-bit
ADC). For each scheme and input distribution it times the exact ``crossbar_mvm`` and
``noisy_mvm`` with ADC-only noise (thermal and offset), with cell variation, and with every
term, calls alternating so that a shared machine's drifts stay out of the ratios; the per-array
draws are prepared once (as the engine does for every batch after the first). Targets (issue
16): ADC-only noise <= 2x and cell noise <= 5x the noiseless time.
"""

from __future__ import annotations  # noqa: I001 (bfpdse first, see below)

import bfpdse  # noqa: F401 - before numpy: its thread policy (bfpdse.threads) acts then
import argparse
from functools import partial

import numpy as np
from bench_mvm import make_inputs, make_weights, paired_best_times

from bfpdse.cim import CIMConfig, crossbar_mvm
from bfpdse.cim.noise import NoiseConfig, noisy_mvm, prepare_noisy

CASES = {
    "adc": NoiseConfig(adc_sigma=0.5, adc_offset_sigma=0.5),
    "cell": NoiseConfig(cell_sigma=0.05),
    "all": NoiseConfig(
        adc_sigma=0.5,
        adc_offset_sigma=0.5,
        cell_sigma=0.05,
        read_sigma=0.02,
        stuck_off=0.01,
        stuck_on=0.01,
    ),  # fmt: skip
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small layer and batch (a smoke run)")
    ap.add_argument("--schemes", default="linear,rar,bfp")
    ap.add_argument("--dists", default="relu,uniform")
    ap.add_argument("--stats", action="store_true", help="with statistics (as the engine runs)")
    ap.add_argument("--reps", type=int, default=5, help="timed call pairs per case (best kept)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    M, K, N = (128, 288, 64) if args.quick else (1024, 1152, 256)
    w = make_weights(rng, K, N)
    print(f"layer K={K} N={N}, batch M={M}, R=128, 2-bit cells, 5-bit ADC, stats={args.stats}")
    print(f"{'adc':8} {'inputs':8} {'noise':6} {'exact s':>8} {'noisy s':>8} {'ratio':>6}")
    ratios: dict[str, list[float]] = {name: [] for name in CASES}
    for dist in args.dists.split(","):
        x = make_inputs(rng, M, K, dist)
        for scheme in args.schemes.split(","):
            cfg = CIMConfig(rows=128, adc=scheme, adc_bits=5)
            for name, noise in CASES.items():
                prep = prepare_noisy(w, cfg, noise)
                crossbar_mvm(x[:4], w, cfg)  # warm the jit (compile or cache load)
                noisy_mvm(x[:4], w, cfg, noise, prepared=prep)
                exact = partial(crossbar_mvm, x, w, cfg, return_stats=args.stats)
                noisy = partial(noisy_mvm, x, w, cfg, noise, prepared=prep,
                                return_stats=args.stats)  # fmt: skip
                t0, t1 = paired_best_times(exact, noisy, args.reps)
                ratios[name].append(t1 / t0)
                print(f"{scheme:8} {dist:8} {name:6} {t0:8.3f} {t1:8.3f} {t1 / t0:6.2f}")
    for name, r in ratios.items():
        print(
            f"{name}: noisy / exact median {np.median(r):.2f} (min {min(r):.2f}, max {max(r):.2f})"
        )


if __name__ == "__main__":
    main()
