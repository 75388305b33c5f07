#!/usr/bin/env python
"""Accuracy vs ADC thermal noise of a noise sweep (sweeps/noise.yaml): one line per ADC scheme,
one panel per cell variation, error bars the spread over the trials (accuracy_std).

    python scripts/plot_noise.py RESULTS_FOLDER [--out FILE.png]

A stop-gap until ``bfpdse plot`` draws noise sweeps itself.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import bfpdse  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("results", type=Path)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    df = bfpdse.read_results(args.results)
    df = df[df["status"] == "ok"]
    cells = sorted(df["noise.cell_sigma"].unique())
    fig, axes = plt.subplots(1, len(cells), figsize=(4.5 * len(cells), 3.6), sharey=True,
                             squeeze=False)  # fmt: skip
    ideal = 100 * df["accuracy_ideal"].iloc[0]
    for ax, cell in zip(axes[0], cells, strict=True):
        part = df[df["noise.cell_sigma"] == cell]
        for scheme, rows in part.groupby("cim.adc", sort=False):
            rows = rows.sort_values("noise.adc_sigma")
            std = rows["accuracy_std"].fillna(0.0) if "accuracy_std" in rows else 0.0
            ax.errorbar(rows["noise.adc_sigma"], 100 * rows["accuracy"], yerr=100 * std,
                        marker="o", capsize=3, label=scheme)  # fmt: skip
        ax.axhline(ideal, color="grey", lw=0.8, ls="--", label="ideal ADC, no noise")
        ax.set_title(f"noise.cell_sigma = {cell:g} levels")
        ax.set_xlabel("noise.adc_sigma (partial-sum units)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("top-1 accuracy (%)")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    out = args.out or args.results / "figures" / "noise_accuracy.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    print(out)


if __name__ == "__main__":
    main()
