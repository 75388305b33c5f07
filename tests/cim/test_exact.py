"""crossbar_mvm gives docs/spec.md's numbers bit for bit: against the slow reference, by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from naive import STAT_FIELDS, apply_input_blocks, naive_mvm

from bfpdse.cim import CIMConfig, CIMStats, calibrate_window, crossbar_mvm, mvm, prepare_weights
from bfpdse.cim import kernels as kn

from .cases import (
    MAPPINGS,
    SCHEMES,
    STYLES,
    Case,
    cases,
    draw_window,
    full_bits,
    make_array,
    w_range,
    x_range,
)


def run_fast(case: Case) -> np.ndarray:
    cfg = CIMConfig(**case.cfg)
    if case.window is None:
        y = crossbar_mvm(case.x, case.w, cfg)
    else:
        y = crossbar_mvm(case.x, case.w, cfg, window=case.window)
    assert isinstance(y, np.ndarray) and y.dtype == np.int64, case.describe()
    assert y.shape == (case.x.shape[0], case.w.shape[1]), case.describe()
    return y


def check_against_naive(case: Case) -> None:
    y = run_fast(case)
    y_ref, _ = naive_mvm(case.x, case.w, CIMConfig(**case.cfg), window=case.window)
    np.testing.assert_array_equal(y, y_ref, err_msg=case.describe())


def exact_product(case: Case) -> np.ndarray:
    """x' @ w in Python ints (x' = x unless input blocks are on)."""
    xq = apply_input_blocks(case.x, CIMConfig(**case.cfg))
    return (xq.astype(object) @ case.w.astype(object)).astype(np.int64)


# -- random cases against the reference ---------------------------------------------------------


@pytest.mark.parametrize("adc", SCHEMES)
@settings(max_examples=2 * settings.default.max_examples)
@given(data=st.data())
def test_random_matches_naive(adc: str, data: st.DataObject) -> None:
    # one search per scheme (calibrated with a random valid window)
    check_against_naive(data.draw(cases(adc=adc)))


@given(data=cases(input_blocks=True))
def test_input_blocks_match_naive(data: Case) -> None:
    check_against_naive(data)


@given(data=cases(max_rows=3, max_k=12))
def test_tiny_tiles_match_naive(data: Case) -> None:
    # R = 1 .. 3: many tiles, K rarely a multiple of R
    check_against_naive(data)


# -- exactness ----------------------------------------------------------------------------------


@given(data=cases(adc="ideal", input_blocks=False))
def test_ideal_is_x_at_w(data: Case) -> None:
    np.testing.assert_array_equal(run_fast(data), data.x @ data.w, err_msg=data.describe())


@given(data=cases(adc="ideal", input_blocks=True))
def test_ideal_with_input_blocks_is_xq_at_w(data: Case) -> None:
    np.testing.assert_array_equal(run_fast(data), exact_product(data), err_msg=data.describe())


@pytest.mark.parametrize("adc", SCHEMES)
@given(data=st.data())
def test_wide_adc_is_exact(adc: str, data: st.DataObject) -> None:
    # "Whenever b >= F, every scheme is exact" (then max(0, F - b) = 0 is the only window)
    case = data.draw(cases(adc=adc, wide_adc=True))
    np.testing.assert_array_equal(run_fast(case), exact_product(case), err_msg=case.describe())


@pytest.mark.parametrize(("adc", "mapping"), list(itertools.product(SCHEMES, MAPPINGS)))
@pytest.mark.parametrize("signed", [False, True])
def test_default_config_is_exact(adc: str, mapping: str, signed: bool) -> None:
    # defaults: R = 128, c = 2, d = 1, Wb = Ab = 8, adc_bits = F; K = 300 spans three tiles
    cfg = CIMConfig(adc=adc, weight_mapping=mapping, input_signed=signed)
    rng = np.random.default_rng(7)
    lo, hi = (-128, 127) if signed else (0, 255)
    x = rng.integers(lo, hi + 1, size=(3, 300))
    x[0] = hi  # extremes too
    x[1] = lo
    w = rng.integers(-127, 128, size=(300, 11))
    w[:, 0] = 127
    w[:, 1] = -127
    kw = {"window": 0} if adc == "calibrated" else {}
    y = crossbar_mvm(x, w, cfg, **kw)
    np.testing.assert_array_equal(y, x @ w)
    np.testing.assert_array_equal(naive_mvm(x, w, cfg, **kw)[0], x @ w)


@pytest.mark.parametrize("mapping", MAPPINGS)
@pytest.mark.parametrize("adc_bits", [3, 5])
def test_wide_bfp_layer_matches_naive(mapping: str, adc_bits: int) -> None:
    # N = 200 fills a task's 512 lanes, so bfp sums each vector's planes in place (no stacking),
    # over several vectors per task and output chunks (the last one short)
    cfg = CIMConfig(adc="bfp", adc_bits=adc_bits, weight_mapping=mapping)
    rng = np.random.default_rng(adc_bits)
    x = np.minimum(rng.exponential(30.0, size=(40, 150)), 255).astype(np.int64)
    x *= rng.random(x.shape) < 0.6
    w = rng.integers(-127, 128, size=(150, 200))
    prep = prepare_weights(w, cfg)
    assert prep.SP * prep.nc >= kn.STACK_LANES and prep.n_chunks >= 2
    y, stats = crossbar_mvm(x, prep, return_stats=True)
    y_ref, stats_ref = naive_mvm(x, w, cfg)
    np.testing.assert_array_equal(y, y_ref)
    got = stats.to_dict()
    assert {f: got[f] for f in STAT_FIELDS} == {f: stats_ref[f] for f in STAT_FIELDS}


# -- hand-made edges ----------------------------------------------------------------------------

EDGE_CONFIGS = [
    # R not dividing K, the last tile short; d > 1 with Ab not a multiple of d
    dict(rows=3, cell_bits=2, weight_bits=7, input_bits=5, dac_bits=2, adc_bits=3, block=4),
    # R = 1: every row its own tile
    dict(rows=1, cell_bits=1, weight_bits=4, input_bits=3, adc_bits=1, block=3, rounding="floor"),
    # signed inputs, block longer than N
    dict(rows=5, cell_bits=3, weight_bits=9, input_bits=6, input_signed=True, adc_bits=2, block=50),
    dict(rows=5, cell_bits=3, weight_bits=9, input_bits=6, input_signed=True, adc_bits=2, block=3,
         rounding="floor"),
    # widest cells and DAC, B = 1
    dict(rows=7, cell_bits=4, weight_bits=16, input_bits=16, dac_bits=16, adc_bits=5, block=1),
    # the most slices (1-bit cells, 16-bit weights) on the float32 ADC path: its slice sums
    dict(rows=64, cell_bits=1, weight_bits=16, input_bits=8, adc_bits=4, block=3),
    # input blocks on
    dict(rows=4, cell_bits=2, weight_bits=8, input_bits=8, input_mantissa_bits=3, adc_bits=3),
    dict(rows=4, cell_bits=2, weight_bits=8, input_bits=8, input_mantissa_bits=1, adc_bits=2,
         dac_bits=3, rounding="floor"),
    # minimal widths
    dict(rows=2, cell_bits=1, weight_bits=2, input_bits=1, adc_bits=1, block=2, rounding="floor"),
]  # fmt: skip


def edge_data(cfg: dict, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """x (3, 10) and w (10, 7) at the extremes of the ranges."""
    ab, wb = cfg["input_bits"], cfg["weight_bits"]
    lo, hi = (-(2 ** (ab - 1)), 2 ** (ab - 1) - 1) if cfg.get("input_signed") else (0, 2**ab - 1)
    wt = 2 ** (wb - 1) - 1
    x = {"zero": np.zeros((3, 10)), "max": np.full((3, 10), hi), "min": np.full((3, 10), lo)}
    x["mixed"] = np.resize([hi, lo, 0, hi, 1], (3, 10))
    w = np.resize([wt, -wt, 0, wt, -wt, 1, -1], (10, 7))
    return x[kind].astype(np.int64), w.astype(np.int64)


@pytest.mark.parametrize("base", EDGE_CONFIGS)
@pytest.mark.parametrize("adc", SCHEMES)
@pytest.mark.parametrize("mapping", MAPPINGS)
def test_edges_match_naive(base: dict, adc: str, mapping: str) -> None:
    cfg = dict(base, adc=adc, weight_mapping=mapping)
    F = full_bits(cfg["rows"], cfg["cell_bits"], cfg.get("dac_bits", 1))
    window = max(0, F - cfg["adc_bits"]) // 2 if adc == "calibrated" else None
    for kind in ("zero", "max", "min", "mixed"):
        x, w = edge_data(cfg, kind)
        check_against_naive(Case(cfg, x, w, window))


# -- the worked example of docs/spec.md ---------------------------------------------------------

# R = 4, c = 2, d = 1 (one plane: Ab = 1), Wb = 3 (one slice of 2 bits): Pmax = 12, F = 4.
# Column 0 gives p = 3 + 3 + 3 + 2 = 11, column 1 gives p = 1 + 1 + 1 + 0 = 3 (positive polarity;
# the negative one sees p = 0 and contributes q = 0).
WORKED_X = np.array([[1, 1, 1, 1]])
WORKED_W = np.array([[3, 1], [3, 1], [3, 1], [2, 0]])


@pytest.mark.parametrize(
    ("adc", "rounding", "expected"),
    [
        ("linear", "nearest", [12, 4]),  # k = 2: min(rnd(11, 2), 3) = 3 -> 12; rnd(3, 2) = 1 -> 4
        ("rar", "nearest", [12, 3]),  # 11: msb 3, k = 2, code 3 -> 12; 3: msb 1, k = 0 -> 3
        ("linear", "floor", [8, 0]),  # floor(11 / 4) = 2 -> 8; floor(3 / 4) = 0
        ("rar", "floor", [8, 3]),
        ("bfp", "nearest", [12, 4]),  # one block of B = 8: E = 3, k = 2 for both
        ("ideal", "nearest", [11, 3]),
    ],
)
def test_worked_example(adc: str, rounding: str, expected: list[int]) -> None:
    cfg = CIMConfig(
        rows=4, cell_bits=2, dac_bits=1, input_bits=1, weight_bits=3, adc=adc, adc_bits=2,
        rounding=rounding, weight_mapping="differential",
    )  # fmt: skip
    assert full_bits(4, 2, 1) == 4
    np.testing.assert_array_equal(naive_mvm(WORKED_X, WORKED_W, cfg)[0], [expected])
    np.testing.assert_array_equal(crossbar_mvm(WORKED_X, WORKED_W, cfg), [expected])
    # negated weights: the same sums on the negative polarity, subtracted
    np.testing.assert_array_equal(crossbar_mvm(WORKED_X, -WORKED_W, cfg), [[-v for v in expected]])


def test_worked_example_balanced_sign_magnitude() -> None:
    # balanced: p = p+ - p- = -11 and -3; the ADC converts |p| and restores the sign
    cfg = CIMConfig(
        rows=4, cell_bits=2, input_bits=1, weight_bits=3, adc="linear", adc_bits=2,
        weight_mapping="balanced",
    )  # fmt: skip
    np.testing.assert_array_equal(crossbar_mvm(WORKED_X, -WORKED_W, cfg), [[-12, -4]])
    np.testing.assert_array_equal(naive_mvm(WORKED_X, -WORKED_W, cfg)[0], [[-12, -4]])


def test_input_block_by_hand() -> None:
    # m = 2, R = 3: block [7, 1, 0] has E = 2, kx = 1 -> x' = [min(4, 3) * 2, 1 * 2, 0] = [6, 2, 0];
    # block [200, 255, 3] has E = 7, kx = 6 -> [3 * 64, min(4, 3) * 64, 0] = [192, 192, 0]
    cfg = CIMConfig(rows=3, input_bits=8, input_mantissa_bits=2, adc="ideal")
    x = np.array([[7, 1, 0, 200, 255, 3, 0]])
    w = np.eye(7, dtype=np.int64)
    np.testing.assert_array_equal(crossbar_mvm(x, w, cfg), [[6, 2, 0, 192, 192, 0, 0]])
    np.testing.assert_array_equal(naive_mvm(x, w, cfg)[0], [[6, 2, 0, 192, 192, 0, 0]])


# -- the two routes to the input-plane patterns -------------------------------------------------


@given(
    rows=st.integers(1, 40),
    d=st.sampled_from([1, 2]),
    input_bits=st.integers(2, 8),
    shape=st.tuples(st.integers(1, 9), st.integers(1, 90)),
    seed=st.integers(0, 2**32 - 1),
    sparsity=st.floats(0.0, 1.0),
)
def test_packed_patterns_equal_the_general_kernel(
    rows: int, d: int, input_bits: int, shape: tuple[int, int], seed: int, sparsity: float
) -> None:
    # 8-bit plane sources take the word-at-a-time kernel; it must give the general kernel's
    # patterns on every live plane, and the same live planes (K not a multiple of R, R not a
    # multiple of the group size, dead planes)
    d = min(d, input_bits)
    cfg = CIMConfig(rows=rows, input_bits=input_bits, dac_bits=d, adc="ideal")
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 1 << input_bits, size=shape) * (rng.random(shape) >= sparsity)
    plan = mvm._Plan(np.zeros((shape[1], 1), np.int64), cfg, shape[0])
    pat8, nz8 = plan.patterns(x.astype(np.uint8))
    pat, nz = plan.patterns(x.astype(np.int64))
    np.testing.assert_array_equal(nz8, nz)
    live = nz.astype(bool)
    np.testing.assert_array_equal(pat8[live], pat[live])


# -- prepared weights: the same numbers and counts as the plain call -----------------------------


def _call(x, w, cfg, window, stats=True):
    kw = {} if window is None else {"window": window}
    return crossbar_mvm(x, w, cfg, return_stats=stats, **kw)


@pytest.mark.parametrize("adc", SCHEMES)
@given(data=st.data(), cut=st.floats(0, 1))
def test_prepared_weights_equal_the_plain_call(adc: str, data: st.DataObject, cut: float) -> None:
    # every mapping, option and field (cases() draws them); one preparation serves two calls
    case = data.draw(cases(adc=adc))
    cfg = CIMConfig(**case.cfg)
    prep = prepare_weights(case.w, cfg)
    h = int(round(cut * case.x.shape[0]))
    for x in (case.x, case.x[:h], case.x[h:]):
        y, st_plain = _call(x, case.w, cfg, case.window)
        kw = {} if case.window is None else {"window": case.window}
        y_prep, st_prep = crossbar_mvm(x, prep, return_stats=True, **kw)
        np.testing.assert_array_equal(y_prep, y, err_msg=case.describe())
        assert st_prep.to_dict() == st_plain.to_dict(), case.describe()
        np.testing.assert_array_equal(crossbar_mvm(x, prep, cfg, **kw), y)
    np.testing.assert_array_equal(y_prep, naive_mvm(case.x[h:], case.w, cfg, window=case.window)[0])


# -- grouped layers: one pass over all groups equals one call per group ---------------------------


@st.composite
def grouped_cases(draw, adc: str | None = None) -> tuple[Case, np.ndarray, np.ndarray, list]:
    """A case plus x (groups, M, K), w (groups, K, N) and one window per group."""
    case = draw(cases(adc=adc))
    groups = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    xs, ws, wins = [case.x], [case.w], [case.window]
    for _ in range(groups - 1):
        xs.append(make_array(rng, case.x.shape, *x_range(case.cfg), draw(st.sampled_from(STYLES))))
        ws.append(make_array(rng, case.w.shape, *w_range(case.cfg), draw(st.sampled_from(STYLES))))
        wins.append(draw_window(draw, case.cfg))
    return case, np.stack(xs).astype(np.int64), np.stack(ws).astype(np.int64), wins


def _per_group(x, w, cfg, wins) -> tuple[np.ndarray, CIMStats]:
    ys, total = [], CIMStats()
    for g in range(x.shape[0]):
        y, s = _call(x[g], w[g], cfg, wins[g])
        ys.append(y)
        total = total + s
    return np.stack(ys), total


@pytest.mark.parametrize("adc", SCHEMES)
@given(data=st.data())
def test_grouped_pass_equals_one_call_per_group(adc: str, data: st.DataObject) -> None:
    case, x, w, wins = data.draw(grouped_cases(adc=adc))
    cfg = CIMConfig(**case.cfg)
    y_ref, st_ref = _per_group(x, w, cfg, wins)
    window = None if wins[0] is None else wins
    y, stats = _call(x, w, cfg, window)
    assert y.shape == x.shape[:2] + (w.shape[2],)
    np.testing.assert_array_equal(y, y_ref, err_msg=case.describe())
    assert stats.to_dict() == st_ref.to_dict(), case.describe()
    np.testing.assert_array_equal(_call(x, prepare_weights(w, cfg), None, window)[0], y_ref)
    for g in range(x.shape[0]):  # and the reference, group by group
        y_naive, st_naive = naive_mvm(x[g], w[g], cfg, window=wins[g])
        np.testing.assert_array_equal(y[g], y_naive, err_msg=case.describe())


def _both_paths(x, w, cfg, window, lanes: int):
    """(y, stats) of the groups side by side (tasks of ``lanes`` lanes) and of the plain pass."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mvm, "GROUP_LANES_MAX", None)
        mp.setattr(mvm, "GROUP_TASK_LANES", lanes)
        side = _call(x, w, cfg, window)
        mp.setattr(mvm, "GROUP_LANES_MAX", 0)
        return side, _call(x, w, cfg, window)


@pytest.mark.parametrize("adc", SCHEMES)
@given(data=st.data(), lanes=st.sampled_from([1, 16, 1024]))
def test_side_by_side_equals_the_plain_pass(adc: str, data: st.DataObject, lanes: int) -> None:
    # every mapping, option and field; runs of equal windows, tasks of one or more groups
    case, x, w, wins = data.draw(grouped_cases(adc=adc))
    cfg = CIMConfig(**case.cfg)
    window = None if wins[0] is None else wins
    prep = prepare_weights(w, cfg)
    (y, stats), (y_ref, st_ref) = _both_paths(x, prep, cfg, window, lanes)
    np.testing.assert_array_equal(y, y_ref, err_msg=case.describe())
    assert stats.to_dict() == st_ref.to_dict(), case.describe()
    if prep.n_chunks == 1 and x.shape[0] > 1:  # the side-by-side path ran: check the reference
        for g in range(x.shape[0]):
            y_naive, _ = naive_mvm(x[g], w[g], cfg, window=wins[g])
            np.testing.assert_array_equal(y[g], y_naive, err_msg=case.describe())


@pytest.mark.parametrize("adc", SCHEMES)
@pytest.mark.parametrize("mapping", MAPPINGS)
def test_depthwise_side_by_side_equals_one_call_per_group(adc: str, mapping: str) -> None:
    # depthwise-like: 40 groups of K = 9, N = 1 (bfp: one block of one output), ReLU-like inputs
    rng = np.random.default_rng(11)
    cfg = CIMConfig(adc=adc, adc_bits=3, weight_mapping=mapping)
    x = np.minimum(rng.exponential(40.0, size=(40, 70, 9)), 255).astype(np.uint8)
    x *= (rng.random(x.shape) < 0.5).astype(np.uint8)
    x[3] = 0  # a group without input
    w = rng.integers(-127, 128, size=(40, 9, 1))
    window = None
    if adc == "calibrated":
        window = [calibrate_window(x[g], w[g], cfg) for g in range(40)]
        window[5:20] = [window[5]] * 15  # a long run of one window
    (y, stats), (y_ref, st_ref) = _both_paths(x, w, cfg, window, 64)
    y_pg, st_pg = _per_group(x, w, cfg, window or [None] * 40)
    np.testing.assert_array_equal(y, y_pg)
    np.testing.assert_array_equal(y_ref, y_pg)
    assert stats.to_dict() == st_pg.to_dict() == st_ref.to_dict()


def test_grouped_counts_are_sums_over_groups() -> None:
    # depthwise-like: K = 9 on 128-row arrays, one output per group, a calibrated window each
    rng = np.random.default_rng(5)
    cfg = CIMConfig(adc="calibrated", adc_bits=3)
    x = rng.integers(0, 256, size=(6, 50, 9)) * (rng.random((6, 50, 9)) < 0.6)
    w = rng.integers(-127, 128, size=(6, 9, 1))
    wins = [calibrate_window(x[g], w[g], cfg) for g in range(6)]
    y, stats = crossbar_mvm(x, w, cfg, window=wins, return_stats=True)
    y_ref, st_ref = _per_group(x, w, cfg, wins)
    np.testing.assert_array_equal(y, y_ref)
    assert stats.to_dict() == st_ref.to_dict()
    assert set(stats.to_dict()) == set(STAT_FIELDS)
    assert stats.vectors == 6 * 50 and stats.macs == 6 * 50 * 9


def test_prepared_and_grouped_argument_errors() -> None:
    cfg = CIMConfig(adc="calibrated", adc_bits=3, rows=8)
    w = np.ones((3, 4, 2), dtype=np.int64)
    prep = prepare_weights(w, cfg)
    x = np.ones((3, 5, 4), dtype=np.int64)
    with pytest.raises(ValueError, match="prepared for"):
        crossbar_mvm(x, prep, CIMConfig(adc="calibrated", adc_bits=3, rows=16), window=0)
    with pytest.raises(ValueError, match="one per group"):
        crossbar_mvm(x, prep, window=[0, 1])
    with pytest.raises(ValueError, match="groups, M, K"):
        crossbar_mvm(x[0], prep, window=0)
    with pytest.raises(ValueError, match="shapes do not match"):
        crossbar_mvm(np.ones((2, 5, 4), dtype=np.int64), prep, window=0)
    with pytest.raises(ValueError, match="per group"):
        calibrate_window(x[0], prep)
    with pytest.raises(TypeError, match="needs cfg"):
        crossbar_mvm(x[0], w[0])
    with pytest.raises(ValueError, match="weight_bits"):
        prepare_weights(np.full((2, 4, 2), 200), cfg)
    np.testing.assert_array_equal(  # one window for every group
        crossbar_mvm(x, prep, window=1), crossbar_mvm(x, prep, window=[1, 1, 1])
    )


# -- the partial-sum paths: int8 chunks of the lookup table, four-group passes, direct rows


@pytest.mark.parametrize("mapping", MAPPINGS)
@pytest.mark.parametrize("adc", ["ideal", "calibrated", "rar", "bfp"])
def test_table_paths_equal_direct_rows_and_naive(mapping: str, adc: str) -> None:
    # batches large enough for the lookup table; 1- and 2-bit cells take its int8 eight-group
    # chunks, 3-bit cells the four-group passes; K not a multiple of R (a short last tile whose
    # groups are not a multiple of 8), N not a multiple of the bfp block; signed inputs and
    # dac_bits = 2; the same numbers and counts with the table turned off (direct rows)
    rng = np.random.default_rng(11)
    shapes = [(128, 300, 21), (100, 233, 13), (37, 90, 9)]
    for (rows, K, N), cell_bits, extra in itertools.product(
        shapes, (1, 2, 3), ({}, {"input_signed": True}, {"dac_bits": 2})
    ):
        cfg = CIMConfig(rows=rows, cell_bits=cell_bits, weight_mapping=mapping, adc=adc,
                        adc_bits=None if adc == "ideal" else 4, block=5, **extra)  # fmt: skip
        lo, hi = (-128, 127) if cfg.input_signed else (0, 255)
        x = rng.integers(lo, hi + 1, size=(24, K)) * (rng.random((24, K)) < 0.7)
        w = rng.integers(-127, 128, size=(K, N))
        w[:, 0] = 127
        w[:, 1] = -127
        kw = {"window": 2} if adc == "calibrated" else {}
        prep = prepare_weights(w, cfg)
        y, st = crossbar_mvm(x, prep, return_stats=True, **kw)
        direct = prepare_weights(w, cfg)
        direct.min_live = 1 << 30  # no tile builds its table
        y_rows, st_rows = crossbar_mvm(x, direct, return_stats=True, **kw)
        what = f"rows={rows} K={K} N={N} c={cell_bits} {extra}"
        np.testing.assert_array_equal(y, y_rows, err_msg=what)
        assert st.to_dict() == st_rows.to_dict(), what
        y_ref, st_ref = naive_mvm(x, w, cfg, **kw)
        np.testing.assert_array_equal(y, y_ref, err_msg=what)
        if adc == "ideal":
            np.testing.assert_array_equal(y, x @ w, err_msg=what)
