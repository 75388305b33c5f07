"""calibrate_window: the k in 0 .. max(0, F - b) of least squared error, ties to the larger k."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from naive import derived, naive_calibrate_window, naive_partial_magnitudes, window_error

from bfpdse.cim import CIMConfig, calibrate_window, crossbar_mvm

from .cases import Case, cases


def fast_window(case: Case) -> int:
    k = calibrate_window(case.x, case.w, CIMConfig(**case.cfg))
    assert isinstance(k, int) and not isinstance(k, bool), type(k)
    return k


@given(data=cases(adc="calibrated"))
def test_random_matches_naive(data: Case) -> None:
    cfg = CIMConfig(**data.cfg)
    k = fast_window(data)
    assert k == naive_calibrate_window(data.x, data.w, cfg), data.describe()
    dv = derived(cfg)
    assert 0 <= k <= max(0, dv["F"] - dv["b"])


@given(data=cases(adc="calibrated", input_blocks=True))
def test_random_with_input_blocks_matches_naive(data: Case) -> None:
    assert fast_window(data) == naive_calibrate_window(data.x, data.w, CIMConfig(**data.cfg))


@given(data=cases(adc="calibrated"))
def test_beats_or_equals_linear(data: Case) -> None:
    # linear's window F - b is one of the candidates, so the chosen one is at least as good
    cfg = CIMConfig(**data.cfg)
    dv = derived(cfg)
    mags = naive_partial_magnitudes(data.x, data.w, cfg)
    k = fast_window(data)
    k_lin = max(0, dv["F"] - dv["b"])
    assert window_error(mags, k, dv["b"], cfg.rounding) <= window_error(
        mags, k_lin, dv["b"], cfg.rounding
    ), data.describe()


@given(data=cases(adc="calibrated"))
def test_calibrated_at_linear_window_is_linear(data: Case) -> None:
    cfg = CIMConfig(**data.cfg)
    dv = derived(cfg)
    y_cal = crossbar_mvm(data.x, data.w, cfg, window=max(0, dv["F"] - dv["b"]))
    lin = CIMConfig(**dict(data.cfg, adc="linear"))
    np.testing.assert_array_equal(y_cal, crossbar_mvm(data.x, data.w, lin), err_msg=data.describe())


# R = 4, c = 2, d = 1, Ab = 1, Wb = 3: F = 4. With b = 2 the windows are k = 0, 1, 2.
TIE_CFG = dict(rows=4, cell_bits=2, input_bits=1, weight_bits=3, adc="calibrated", adc_bits=2)


@pytest.mark.parametrize("rounding", ["nearest", "floor"])
@pytest.mark.parametrize(
    ("column", "expected"),
    [
        # p = 4: k = 0 clips to 3 (error 1); k = 1 gives 2 * 2 and k = 2 gives 1 * 4, both exact:
        # a tie between 1 and 2, so 2
        ([2, 2, 0, 0], 2),
        # p = 6: k = 1 gives 3 * 2 exactly; k = 2 gives 2 * 4 (nearest) or 1 * 4 (floor): so 1
        ([3, 3, 0, 0], 1),
        # p = 3: only k = 0 is exact
        ([3, 0, 0, 0], 0),
        # all p = 0: every window is exact, the largest wins
        ([0, 0, 0, 0], 2),
    ],
)
def test_tie_goes_to_larger_window(rounding: str, column: list[int], expected: int) -> None:
    cfg = CIMConfig(**TIE_CFG, rounding=rounding)
    x = np.array([[1, 1, 1, 1]])
    w = np.array(column).reshape(4, 1)
    assert naive_calibrate_window(x, w, cfg) == expected
    assert calibrate_window(x, w, cfg) == expected
    # the negative polarity (differential) sees the same sums
    assert calibrate_window(x, -w, cfg) == expected


def test_wide_adc_gives_zero() -> None:
    # b >= F: the only window is 0
    cfg = CIMConfig(**dict(TIE_CFG, adc_bits=6))
    x = np.array([[1, 1, 1, 1]])
    w = np.array([[0], [0], [0], [0]])
    assert calibrate_window(x, w, cfg) == 0
