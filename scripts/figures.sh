#!/usr/bin/env bash
# Regenerate the README's figures: run the shipped sweeps (resuming whatever is already in the
# results folder), then draw every plot the tables support.
#
#   scripts/figures.sh                      # all shipped sweeps -> results/, figures -> results/figures/
#   OUT=/tmp/r scripts/figures.sh sweeps/smoke.yaml   # one sweep into another folder (what CI does)
#
# Extra sweep options (e.g. --jobs 2) go in SWEEP_OPTS.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-results}
if [ "$#" -gt 0 ]; then
    SWEEPS=("$@")
else
    SWEEPS=(sweeps/adc_bits.yaml sweeps/block_size.yaml sweeps/input_bfp.yaml sweeps/array_size.yaml
            sweeps/noise.yaml sweeps/noise_ties.yaml sweeps/claim.yaml)
fi

for spec in "${SWEEPS[@]}"; do
    echo "== sweep $spec -> $OUT" >&2
    # shellcheck disable=SC2086
    bfpdse sweep "$spec" --out "$OUT" ${SWEEP_OPTS:-}
done

echo "== plots -> $OUT/figures" >&2
bfpdse plot "$OUT" --out "$OUT/figures" --format png
for spec in "${SWEEPS[@]}"; do
    name=$(basename "$spec" .yaml)
    bfpdse pareto "$OUT/$name" > "$OUT/figures/pareto_$name.txt" || true
done
