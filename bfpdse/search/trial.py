"""One trial's evaluation: the sweep's ``evaluate(point)``, with an optional early look.

With ``search.prune: {samples: n, max_drop: d}`` a trial first evaluates its point on ``n`` test
images (the same ``evaluate``, on the point with ``samples=n``: same seed, fewer images drawn). If
the accuracy drop there already exceeds ``d``, the trial stops: its record carries those early
metrics and ``pruned_at_samples``, the search stores it with status ``pruned`` and tells optuna
the trial was pruned (after reporting the early drop as its intermediate value). Otherwise the
full point is evaluated as in a sweep. The rule is a fixed threshold (optuna's ThresholdPruner
semantics) applied where the trial runs, so workers need no access to the study.

The function is module-level and takes its evaluate by reference, so that ``functools.partial``
of it travels to worker processes and Dask workers.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bfpdse.run.local import Evaluate
from bfpdse.spec.point import Point

#: the metric that marks a pruned record (the images of the early look)
PRUNED_AT = "pruned_at_samples"


def evaluate_trial(
    point: Point,
    *,
    evaluate: Evaluate,
    prune_samples: int | None = None,
    prune_max_drop: float | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    """Metrics of ``point``; early metrics plus PRUNED_AT when the early look prunes it."""
    if prune_samples is not None and prune_max_drop is not None and prune_samples < point.samples:
        early = dict(evaluate(replace(point, samples=prune_samples)))
        drop = early.get("accuracy_drop")
        if drop is not None and drop > prune_max_drop:
            return {**early, PRUNED_AT: prune_samples}
    return dict(evaluate(point))
