"""Counts of one crossbar_mvm call, for the cost model.

Every field is a total over the call (all M input vectors). ``a + b`` adds two calls, so a layer's
counts over many batches, or a network's over its layers, are plain sums.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

#: Largest possible full resolution F: Pmax <= 4096 * 15 * 65535 < 2^32.
MAX_WINDOW = 32


def _empty_hist() -> np.ndarray:
    return np.zeros(MAX_WINDOW + 1, dtype=np.int64)


@dataclass
class CIMStats:
    """Event counts of a crossbar matrix-vector product (units in the field docs)."""

    #: input vectors M
    vectors: int = 0
    #: logical multiply-accumulates, M * K * N
    macs: int = 0
    #: one cycle = one input plane of one vector driven into one row tile; dense M * T * P
    input_cycles_dense: int = 0
    #: input cycles after skipping planes that are all zero over their block
    input_cycles: int = 0
    #: word-line (DAC) activations: per input cycle, the number of rows of that tile (dense)
    wordline_drives_dense: int = 0
    #: word-line activations after zero-plane skipping
    wordline_drives: int = 0
    #: ADC conversions if nothing is skipped: M * T * P * S * n_polarities * N
    conversions_dense: int = 0
    #: ADC conversions after zero-plane skipping
    conversions: int = 0
    #: SAR bit-cycles if nothing is skipped (skipped conversions count as converting p = 0)
    adc_bit_cycles_dense: int = 0
    #: SAR bit-cycles after skipping: b per linear/calibrated/bfp conversion, F for ideal,
    #: F - k for rar (k = that value's window)
    adc_bit_cycles: int = 0
    #: bfp blocks (one exponent search each) if nothing is skipped; 0 for other schemes
    blocks_dense: int = 0
    #: bfp blocks after skipping
    blocks: int = 0
    #: codes clipped to 2^b - 1 (linear and calibrated)
    saturated: int = 0
    #: conversions of a nonzero partial sum whose code is 0
    rounded_to_zero: int = 0
    #: conversions (after skipping) per window k = 0 .. MAX_WINDOW
    window_hist: np.ndarray = field(default_factory=_empty_hist)

    def __add__(self, other: CIMStats) -> CIMStats:
        if not isinstance(other, CIMStats):
            return NotImplemented
        return CIMStats(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def to_dict(self) -> dict[str, int | list[int]]:
        """Plain Python values: ints, and the histogram as a list."""
        out: dict[str, int | list[int]] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = [int(c) for c in v] if f.name == "window_hist" else int(v)
        return out
