"""Per-channel value statistics of a tensor, for the data-free activation bounds.

Each tensor of a graph is tracked as a per-channel Gaussian (``mu``, ``sd``) and a hard interval
[``lo``, ``hi``] that every value lies in (interval arithmetic over the weights). A channel is
axis 1 of the ONNX shape (the feature axis of an (N, F) tensor); arrays hold one value per
channel, or one value for all channels. Every op of ``bfpdse.nn.opset`` says how its output's
statistics follow from its inputs'; ``quantize.bn_bounds`` walks the graph with them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_erf = np.vectorize(math.erf, otypes=[np.float64])


@dataclass
class Stats:
    """Per-channel Gaussian (mu, sd) and hard interval [lo, hi] of a tensor."""

    mu: np.ndarray
    sd: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    @property
    def channels(self) -> int:
        return int(max(np.size(self.mu), np.size(self.sd), np.size(self.lo), np.size(self.hi)))

    def widen_to_zero(self) -> Stats:
        """The same values, or zeros (padding)."""
        return Stats(self.mu, self.sd, np.minimum(self.lo, 0), np.maximum(self.hi, 0))

    def widen_to(self, value: float) -> Stats:
        """The same values, or ``value`` (constant padding)."""
        return Stats(self.mu, self.sd, np.minimum(self.lo, value), np.maximum(self.hi, value))

    def worst(self, channels: int) -> Stats:
        """Every one of ``channels`` output channels gets the worst input channel."""
        worst = (np.max(self.mu), np.max(self.sd), np.min(self.lo), np.max(self.hi))
        return Stats(*(np.full(channels, v, dtype=np.float64) for v in worst))

    def expand(self, channels: int) -> Stats:
        """The arrays broadcast to ``channels`` values each."""
        return Stats(*(np.broadcast_to(v, (channels,)).astype(np.float64) for v in self.arrays()))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.mu, self.sd, self.lo, self.hi

    @staticmethod
    def interval(lo: float, hi: float, channels: int = 1) -> Stats:
        """Values known only to lie in [lo, hi]: spread over it as a uniform distribution."""
        lo_a, hi_a = np.full(channels, float(lo)), np.full(channels, float(hi))
        return Stats((lo_a + hi_a) / 2, (hi_a - lo_a) / math.sqrt(12.0), lo_a, hi_a)


def same_channels(a: Stats, b: Stats) -> tuple[Stats, Stats]:
    """``a`` and ``b`` with per-channel arrays of one length (a mismatch takes the worst)."""
    ca, cb = a.channels, b.channels
    if ca == cb:
        return a, b
    if ca == 1:
        return a.expand(cb), b
    if cb == 1:
        return a, b.expand(ca)
    c = max(ca, cb)
    return a.worst(c), b.worst(c)


def relu_moments(mu: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of max(0, X) for X ~ N(mu, sd^2), per channel."""
    safe = np.where(sd > 0, sd, 1.0)
    a = mu / safe
    cdf = 0.5 * (1.0 + _erf(a / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi)
    mean = mu * cdf + sd * pdf
    second = (mu * mu + sd * sd) * cdf + mu * sd * pdf
    var = np.maximum(second - mean * mean, 0.0)
    mean = np.where(sd > 0, mean, np.maximum(mu, 0.0))
    return mean, np.where(sd > 0, np.sqrt(var), 0.0)


def add(a: Stats, b: Stats) -> Stats:
    """Statistics of a + b (independent)."""
    a, b = same_channels(a, b)
    return Stats(a.mu + b.mu, np.sqrt(a.sd**2 + b.sd**2), a.lo + b.lo, a.hi + b.hi)


def negate(a: Stats) -> Stats:
    return Stats(-a.mu, a.sd, -a.hi, -a.lo)


def mul(a: Stats, b: Stats) -> Stats:
    """Statistics of a * b (independent moments; the interval is exact interval arithmetic)."""
    a, b = same_channels(a, b)
    corners = np.stack([a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi])
    with np.errstate(invalid="ignore"):  # inf * 0 in a corner: the interval is unbounded
        corners = np.where(np.isnan(corners), np.inf, corners)
    var = (a.sd**2 + a.mu**2) * (b.sd**2 + b.mu**2) - (a.mu * b.mu) ** 2
    lo = np.min(np.where(np.isinf(corners), -np.inf, corners), axis=0)
    return Stats(a.mu * b.mu, np.sqrt(np.maximum(var, 0.0)), lo, np.max(corners, axis=0))


def reciprocal(b: Stats) -> Stats:
    """Statistics of 1 / b (delta method); unbounded if the interval holds 0."""
    straddles = (b.lo <= 0) & (b.hi >= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = np.where(b.mu != 0, 1.0 / b.mu, np.inf)
        sd = np.where(b.mu != 0, b.sd / (b.mu * b.mu), np.inf)
        lo = np.where(straddles, -np.inf, np.minimum(1.0 / b.lo, 1.0 / b.hi))
        hi = np.where(straddles, np.inf, np.maximum(1.0 / b.lo, 1.0 / b.hi))
    return Stats(mu, sd, lo, hi)


def monotone(s: Stats, fn, slope: float) -> Stats:
    """Statistics of fn(x) for a non-decreasing ``fn`` whose slope is at most ``slope``."""
    return Stats(fn(s.mu), s.sd * slope, fn(s.lo), fn(s.hi))


def relu_like(s: Stats, fn, minimum: float) -> Stats:
    """Statistics of an activation below Relu that dips to ``minimum`` on negative inputs.

    GELU, SiLU and HardSwish are <= max(0, x) everywhere and >= ``minimum``: the rectified
    Gaussian's moments bound them from above; the interval is fn at its ends and the dip.
    """
    mu, sd = relu_moments(s.mu, s.sd)
    # far below 0 these functions are 0 to float precision (and fn(-inf) may be nan)
    ends = np.maximum(fn(np.maximum(s.lo, -60.0)), fn(np.maximum(s.hi, -60.0)))
    lo = np.where(s.lo >= 0, fn(np.maximum(s.lo, 0)), minimum)
    return Stats(mu, sd, lo, ends)
