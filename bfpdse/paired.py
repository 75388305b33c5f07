"""The statistical resolution of an accuracy drop: a 95 % interval of a paired difference.

A point's ``accuracy_drop`` is ideal-ADC accuracy minus the point's accuracy on the *same* test
images, so it is a difference of two paired proportions. What decides it is the images the two
classify differently: ``lost`` (the ideal ADC right, the point wrong) and ``gained`` (the other
way round); drop = (lost - gained) / n.

The interval is Newcombe's hybrid score interval for paired proportions ("method 10" of
R. G. Newcombe, Improved confidence intervals for the difference between binomial proportions
based on paired data, Statistics in Medicine 17:2635-2650, 1998): a Wilson score interval for
each accuracy, combined with the correlation of the pairs. Chosen over a paired bootstrap
because it needs only the four counts of the 2 x 2 table (so shards of a point, merged, give the
same interval, and the interval can be recomputed from a row), has no seed, costs nothing, and
keeps a sensible width when few or no images differ, where a bootstrap collapses to [0, 0].
Reviews of paired intervals (Fagerland, Lydersen and Laake, Statistics in Medicine 33, 2014)
recommend it.
"""

from __future__ import annotations

import math

import numpy as np

#: two-sided 95 % normal quantile
Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of the proportion k / n."""
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    # at k = 0 (k = n) the lower (upper) bound is 0 (1) exactly, not a rounding error away
    return (0.0 if k == 0 else centre - half), (1.0 if k == n else centre + half)


def paired_interval(
    both: int, first_only: int, second_only: int, neither: int, z: float = Z95
) -> tuple[float, float]:
    """Interval of p1 - p2 from a paired 2 x 2 table (Newcombe's method 10).

    ``both``: pairs where both succeed; ``first_only``: only the first; ``second_only``: only
    the second; ``neither``. p1 = (both + first_only) / n, p2 = (both + second_only) / n.
    """
    a, b, c, d = both, first_only, second_only, neither
    n = a + b + c + d
    if n <= 0:
        return math.nan, math.nan
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson(a + b, n, z)
    l2, u2 = wilson(a + c, n, z)
    denom = (a + b) * (c + d) * (a + c) * (b + d)
    cross = a * d - b * c
    if cross > 0:  # Newcombe's correction of a positive correlation: max(ad - bc - n/2, 0)
        cross = max(cross - n / 2, 0.0)
    phi = cross / math.sqrt(denom) if denom else 0.0
    below = (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2
    above = (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2
    diff = p1 - p2
    return diff - math.sqrt(max(below, 0.0)), diff + math.sqrt(max(above, 0.0))


def drop_counts(ideal_correct: np.ndarray, point_correct: np.ndarray) -> tuple[int, int, int, int]:
    """(both right, lost, gained, both wrong) over the same images, in the same order."""
    ideal = np.asarray(ideal_correct, dtype=bool)
    point = np.asarray(point_correct, dtype=bool)
    if ideal.shape != point.shape:
        raise ValueError(
            f"paired results need the same images: {ideal.shape[0]} ideal vs {point.shape[0]}"
        )
    both = int(np.count_nonzero(ideal & point))
    lost = int(np.count_nonzero(ideal & ~point))
    gained = int(np.count_nonzero(~ideal & point))
    return both, lost, gained, ideal.size - both - lost - gained


def drop_interval(ideal_correct: np.ndarray, point_correct: np.ndarray) -> tuple[float, float]:
    """95 % interval of accuracy_drop = ideal accuracy - point accuracy (fractions)."""
    return paired_interval(*drop_counts(ideal_correct, point_correct))


def resolution(n: int, accuracy: float) -> float:
    """The finest a drop can be resolved on ``n`` images at this (ideal) accuracy.

    Half the width of the interval of a point that classifies every image as the ideal ADC does
    (drop 0, no image differs): a budget below it cannot be told from zero on ``n`` images. It
    shrinks as 1 / n (about 3.8 / n near 94 %). A measured drop's interval is wider: about
    1.96 sqrt(lost + gained) / n on each side, with lost + gained the images that changed.
    """
    if n <= 0 or not math.isfinite(accuracy):
        return math.nan
    right = round(accuracy * n)
    lo, hi = paired_interval(right, 0, 0, n - right)
    return (hi - lo) / 2
