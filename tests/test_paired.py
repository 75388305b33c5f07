"""The 95 % interval of a paired accuracy drop (Newcombe's method 10) and the resolution floor."""

import math

import numpy as np
import pytest

from bfpdse.paired import drop_counts, drop_interval, paired_interval, resolution, wilson


def test_newcombe_1998_worked_example():
    # Newcombe (1998), paired data a=36, b=12, c=2, d=0: difference 0.2, method 10 gives
    # 0.0569 to 0.3404 (the paper's z = 1.96 reproduces its figures to 1e-6)
    lo, hi = paired_interval(36, 12, 2, 0, z=1.96)
    assert lo == pytest.approx(0.0569267, abs=1e-6)
    assert hi == pytest.approx(0.3404303, abs=1e-6)
    lo, hi = paired_interval(36, 12, 2, 0)
    assert (round(lo, 4), round(hi, 4)) == (0.0569, 0.3404)


def test_wilson_bounds_solve_the_score_equation():
    # each bound pi satisfies (k/n - pi)^2 = z^2 pi (1 - pi) / n
    k, n, z = 23, 60, 1.96
    for bound in wilson(k, n, z):
        assert (k / n - bound) ** 2 == pytest.approx(z * z * bound * (1 - bound) / n)
    assert wilson(0, 50)[0] == 0.0 and wilson(50, 50)[1] == 1.0


def test_no_image_changed_still_has_a_width():
    # a bootstrap would say [0, 0]; the score interval keeps the sampling noise of n images
    lo, hi = paired_interval(940, 0, 0, 60)
    assert lo < 0 < hi
    assert hi - lo == pytest.approx(2 * resolution(1000, 0.94))
    assert 0.003 < hi < 0.005


def test_interval_is_mirrored_when_the_roles_swap():
    lo, hi = paired_interval(900, 30, 10, 60)
    lo2, hi2 = paired_interval(900, 10, 30, 60)
    assert lo < 0.02 < hi
    assert (lo2, hi2) == pytest.approx((-hi, -lo))


def test_counts_and_interval_from_per_image_results():
    ideal = np.array([1, 1, 1, 0, 0, 1, 1, 0], dtype=bool)
    point = np.array([1, 0, 1, 1, 0, 0, 1, 0], dtype=bool)
    assert drop_counts(ideal, point) == (3, 2, 1, 2)
    lo, hi = drop_interval(ideal, point)
    assert lo < (2 - 1) / 8 < hi
    assert (lo, hi) == paired_interval(3, 2, 1, 2)
    with pytest.raises(ValueError, match="same images"):
        drop_interval(ideal, point[:5])


def test_resolution_shrinks_as_one_over_n():
    # no image changed: the floor is like a rule of three, ~1/n, not the 1/sqrt(n) of one accuracy
    r1, r4 = resolution(1000, 0.94), resolution(4000, 0.94)
    assert r1 / r4 == pytest.approx(4, rel=0.05)
    assert resolution(1000, 0.94) < math.sqrt(0.94 * 0.06 / 1000)
    assert math.isnan(resolution(0, 0.9))
