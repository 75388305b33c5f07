"""crossbar_mvm(..., return_stats=True): the counts of docs/spec.md ("Counting"), internals.md."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from naive import STAT_FIELDS, derived, naive_mvm

from bfpdse.cim import CIMConfig, CIMStats, crossbar_mvm, mvm

from .cases import MAPPINGS, SCHEMES, Case, cases


def fast_stats(case: Case) -> tuple[np.ndarray, CIMStats]:
    kw = {} if case.window is None else {"window": case.window}
    y, stats = crossbar_mvm(case.x, case.w, CIMConfig(**case.cfg), return_stats=True, **kw)
    assert isinstance(stats, CIMStats)
    return y, stats


def assert_stats_equal(got: CIMStats, expected: dict, msg: str = "") -> None:
    got_d = got.to_dict()
    assert set(got_d) == set(STAT_FIELDS)
    bad = {f: (got_d[f], expected[f]) for f in STAT_FIELDS if got_d[f] != expected[f]}
    assert not bad, f"fields (got, expected): {bad}{msg}"


# -- random cases against the reference ---------------------------------------------------------


@pytest.mark.parametrize("adc", SCHEMES)
@settings(max_examples=2 * settings.default.max_examples)
@given(data=st.data())
def test_random_stats_match_naive(adc: str, data: st.DataObject) -> None:
    case = data.draw(cases(adc=adc))
    y, stats = fast_stats(case)
    y_ref, st_ref = naive_mvm(case.x, case.w, CIMConfig(**case.cfg), window=case.window)
    np.testing.assert_array_equal(y, y_ref, err_msg=case.describe())
    assert_stats_equal(stats, st_ref, case.describe())


@given(data=cases())
def test_stats_do_not_change_y(data: Case) -> None:
    cfg = CIMConfig(**data.cfg)
    kw = {} if data.window is None else {"window": data.window}
    y, _ = crossbar_mvm(data.x, data.w, cfg, return_stats=True, **kw)
    np.testing.assert_array_equal(y, crossbar_mvm(data.x, data.w, cfg, **kw))


@given(data=cases(), cut=st.floats(0, 1))
def test_halves_add_up(data: Case, cut: float) -> None:
    # every count is a sum over vectors: two halves of a batch add up to the whole
    M = data.x.shape[0]
    h = int(round(cut * M))
    kw = {} if data.window is None else {"window": data.window}
    cfg = CIMConfig(**data.cfg)
    _, whole = crossbar_mvm(data.x, data.w, cfg, return_stats=True, **kw)
    parts = []
    for xs in (data.x[:h], data.x[h:]):
        if xs.shape[0]:
            parts.append(crossbar_mvm(xs, data.w, cfg, return_stats=True, **kw)[1])
    total = parts[0] + parts[1] if len(parts) == 2 else parts[0]
    assert total.to_dict() == whole.to_dict(), data.describe()


@pytest.mark.parametrize("adc", ["linear", "rar", "bfp"])
def test_counts_survive_many_vectors_per_task(adc: str) -> None:
    # int16 lane counters are emptied every 32767 // P (vector, tile) pairs: a batch far past
    # that (few tasks) must count what 500-vector slices of it count, each of which never
    # reaches a flush and is checked against the reference by the tests above. The weights
    # make most events happen in every lane (column 0 = 127 dwarfs the columns of 1 in each
    # block; 1-bit ADC), so a counter left unflushed would wrap.
    rng = np.random.default_rng(7)
    cfg = CIMConfig(rows=8, cols=4, cell_bits=4, adc=adc, adc_bits=1, block=4)
    x = rng.integers(0, 256, size=(60_000, 8))
    w = np.ones((8, 4), dtype=np.int64)
    w[:, 0] = 127
    plan = mvm._Plan(w, cfg, x.shape[0])
    assert plan.mc > plan.flush_every  # the premise: a task flushes its counters mid-way
    _, whole = crossbar_mvm(x, w, cfg, return_stats=True)
    total = CIMStats()
    for m0 in range(0, x.shape[0], 500):
        total = total + crossbar_mvm(x[m0 : m0 + 500], w, cfg, return_stats=True)[1]
    assert whole.to_dict() == total.to_dict()


# -- hand-checked counts ------------------------------------------------------------------------


def dims(cfg: CIMConfig, K: int) -> tuple[int, int, int, int]:
    """T, P, S, polarities from docs/spec.md (tests/naive.py computes them from the fields)."""
    dv = derived(cfg)
    return -(-K // cfg.rows), dv["P"], dv["S"], dv["pol"]


@pytest.mark.parametrize("mapping", MAPPINGS)
@pytest.mark.parametrize("adc", SCHEMES)
def test_all_zero_inputs_skip_everything(mapping: str, adc: str) -> None:
    cfg = CIMConfig(rows=4, cell_bits=2, weight_bits=6, input_bits=5, dac_bits=2, adc=adc,
                    adc_bits=2, block=3, weight_mapping=mapping)  # fmt: skip
    M, K, N = 3, 10, 7
    x = np.zeros((M, K), dtype=np.int64)
    w = np.random.default_rng(1).integers(-31, 32, size=(K, N))
    kw = {"window": 1} if adc == "calibrated" else {}
    y, s = crossbar_mvm(x, w, cfg, return_stats=True, **kw)
    T, P, S, pol = dims(cfg, K)
    assert (T, P) == (3, 3)
    np.testing.assert_array_equal(y, 0)
    assert s.vectors == M and s.macs == M * K * N
    assert s.conversions == 0 and s.input_cycles == 0 and s.wordline_drives == 0
    assert s.adc_bit_cycles == 0 and s.blocks == 0
    assert s.conversions_dense == M * T * P * S * pol * N
    assert s.input_cycles_dense == M * T * P
    assert s.wordline_drives_dense == M * P * K  # every tile's rows, the last tile has 2
    assert s.blocks_dense == (M * T * P * S * pol * 3 if adc == "bfp" else 0)  # ceil(7 / 3) = 3
    assert s.saturated == 0 and s.rounded_to_zero == 0
    assert int(np.sum(s.window_hist)) == 0 and len(s.window_hist) == 33


@pytest.mark.parametrize("mapping", MAPPINGS)
@pytest.mark.parametrize(
    ("signed", "dac_bits", "value"),
    [
        (False, 2, 8),  # bit 3 lies in plane 1 (bits 2..3)
        (False, 1, 1),
        (True, 1, -16),  # -2^(Ab-1): only the top two's-complement bit is set
        (True, 1, 4),
    ],
)
def test_single_input_bit(mapping: str, signed: bool, dac_bits: int, value: int) -> None:
    cfg = CIMConfig(rows=4, cell_bits=3, weight_bits=7, input_bits=5, dac_bits=dac_bits,
                    input_signed=signed, adc="rar", adc_bits=2, weight_mapping=mapping)  # fmt: skip
    M, K, N = 2, 10, 5
    x = np.zeros((M, K), dtype=np.int64)
    x[1, 9] = value  # the last tile (rows 8, 9) is two rows long
    w = np.random.default_rng(2).integers(-63, 64, size=(K, N))
    y, s = crossbar_mvm(x, w, cfg, return_stats=True)
    T, P, S, pol = dims(cfg, K)
    assert s.input_cycles == 1
    assert s.wordline_drives == 2
    assert s.conversions == S * pol * N
    assert s.input_cycles_dense == M * T * P
    assert int(np.sum(s.window_hist)) == S * pol * N
    # the rest is as the reference says
    assert_stats_equal(s, naive_mvm(x, w, cfg)[1])


@pytest.mark.parametrize("mapping", MAPPINGS)
def test_bfp_block_counts(mapping: str) -> None:
    cfg = CIMConfig(rows=3, cell_bits=2, weight_bits=5, input_bits=4, adc="bfp", adc_bits=2,
                    block=4, weight_mapping=mapping)  # fmt: skip
    M, K, N = 3, 7, 10  # T = 3 tiles, ceil(10 / 4) = 3 blocks per column group
    x = np.zeros((M, K), dtype=np.int64)
    x[0] = 15  # every plane of every tile busy
    x[1, 0] = 2  # one plane of tile 0
    x[2, 3:6] = 1  # one plane of tile 1
    w = np.random.default_rng(3).integers(-15, 16, size=(K, N))
    _, s = crossbar_mvm(x, w, cfg, return_stats=True)
    T, P, S, pol = dims(cfg, K)
    busy_planes = T * P + 1 + 1
    assert s.blocks_dense == M * T * P * S * pol * 3
    assert s.blocks == busy_planes * S * pol * 3
    assert s.conversions == busy_planes * S * pol * N
    assert s.adc_bit_cycles == 2 * s.conversions  # b per member
    assert s.adc_bit_cycles_dense == 2 * s.conversions_dense


def test_rar_bit_cycles_by_hand() -> None:
    # the worked example: F = 4, b = 2. Vector 0 gives p = 11 (k = 2) and p = 3 (k = 0) on the
    # positive polarity and p = 0 twice on the negative one; vector 1 is zero and skipped.
    cfg = CIMConfig(rows=4, cell_bits=2, input_bits=1, weight_bits=3, adc="rar", adc_bits=2)
    x = np.array([[1, 1, 1, 1], [0, 0, 0, 0]])
    w = np.array([[3, 1], [3, 1], [3, 1], [2, 0]])
    y, s = crossbar_mvm(x, w, cfg, return_stats=True)
    np.testing.assert_array_equal(y, [[12, 3], [0, 0]])
    assert s.conversions == 4 and s.conversions_dense == 8
    assert s.adc_bit_cycles == (4 - 2) + 4 + 4 + 4  # F - k; p = 0 gives k = 0
    assert s.adc_bit_cycles_dense == 14 + 4 * 4  # skipped conversions cost F as p = 0
    hist = np.zeros(33, dtype=np.int64)
    hist[0], hist[2] = 3, 1
    np.testing.assert_array_equal(s.window_hist, hist)
    assert s.blocks == 0 and s.blocks_dense == 0


@pytest.mark.parametrize(
    ("rounding", "y0", "saturated", "to_zero"),
    [("nearest", [12, 0, 4], 1, 1), ("floor", [12, 0, 0], 0, 2)],
)
def test_linear_saturation_and_rounding_to_zero(rounding, y0, saturated, to_zero) -> None:
    # R = 5, c = 2: Pmax = 15, F = 4; b = 2 so k = 2. p = 14, 1, 2 on the positive polarity.
    # nearest: rnd(14, 2) = 4 > 3 saturates to 3 (q = 12); rnd(1, 2) = 0; rnd(2, 2) = 1 (q = 4).
    # floor: 14 >> 2 = 3 (no clip); 1 >> 2 = 0; 2 >> 2 = 0.
    cfg = CIMConfig(rows=5, cell_bits=2, input_bits=1, weight_bits=3, adc="linear", adc_bits=2,
                    rounding=rounding)  # fmt: skip
    x = np.ones((1, 5), dtype=np.int64)
    w = np.array([[3, 1, 2], [3, 0, 0], [3, 0, 0], [3, 0, 0], [2, 0, 0]])
    y, s = crossbar_mvm(x, w, cfg, return_stats=True)
    np.testing.assert_array_equal(y, [y0])
    assert s.saturated == saturated
    assert s.rounded_to_zero == to_zero
    assert s.window_hist[2] == 6 and int(np.sum(s.window_hist)) == 6
    assert s.adc_bit_cycles == 2 * 6
