"""The baseline's noise band: what changing only the training seed does to the eval loss.

One run per experiment cannot tell an effect from noise. The matrix holds seed replicas of
the baseline (experiments whose only change is `seed`); their spread is the band each other
experiment is judged against. Everything here is read from the records, through the views.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from .view import ExperimentView

# An experiment lies outside the band when it is more than this many standard deviations of
# the seeds from their mean: about 95 % of seed-only changes would fall inside if the seeds'
# losses were normal. With three seeds the standard deviation is itself rough; the report
# says how many seeds the band has.
WIDTH = 2.0


@dataclass
class Band:
    names: list[str]  # the baseline and its seed replicas with a finite final eval loss
    seeds: list[Any]
    mean: float
    std: float  # sample standard deviation (n - 1) of the final eval losses
    low: float  # the smallest and largest of them
    high: float
    curve: list[tuple[int, float, float, float]]  # (step, mean, mean - WIDTH·std, + WIDTH·std)
    width: float = WIDTH

    @property
    def lower(self) -> float:
        return self.mean - self.width * self.std

    @property
    def upper(self) -> float:
        return self.mean + self.width * self.std

    def verdict(self, value: float | None) -> str | None:
        """'lower' or 'higher' when outside the band, 'within' inside; None without a value."""
        if value is None or not math.isfinite(value):
            return None
        if value < self.lower:
            return "lower"
        return "higher" if value > self.upper else "within"


def is_seed_replica(exp: ExperimentView) -> bool:
    """The baseline itself, or an experiment that changes nothing but the training seed."""
    return exp.is_baseline or set(dict(exp.overrides)) == {"seed"}


def _usable(value: float) -> bool:
    """A loss the band's statistics can hold: finite, and small enough that squaring a
    deviation does not overflow (a record from elsewhere may say 1e308)."""
    return math.isfinite(value) and abs(value) < 1e150


def _spread(values: list[float]) -> tuple[float, float, float, float]:
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values), min(values), max(values)


def baseline_band(experiments: list[ExperimentView]) -> Band | None:
    """The band of the complete seed replicas; None with fewer than two (no spread to see)."""
    members = [
        e
        for e in experiments
        if is_seed_replica(e)
        and e.state == "complete"
        and e.eval_loss_final is not None
        and _usable(e.eval_loss_final)
    ]
    if len(members) < 2:
        return None
    mean, std, low, high = _spread([e.eval_loss_final for e in members])  # type: ignore[misc]
    curves = [dict(e.eval_loss) for e in members]
    shared = sorted(set.intersection(*(set(c) for c in curves)))
    curve = []
    for step in shared:
        values = [c[step] for c in curves]
        if all(_usable(v) for v in values):
            m, s, _, _ = _spread(values)
            curve.append((step, m, m - WIDTH * s, m + WIDTH * s))
    return Band(
        names=[e.name for e in members],
        seeds=[(e.entry.record or {}).get("seed") for e in members],
        mean=mean,
        std=std,
        low=low,
        high=high,
        curve=curve,
    )


def mark_verdicts(experiments: list[ExperimentView], band: Band | None) -> None:
    """Mark each experiment: a member of the band, or its difference from the band's mean and
    whether that lies outside the band."""
    for exp in experiments:
        exp.in_band = band is not None and exp.name in band.names
        if band is None or exp.in_band or exp.eval_loss_final is None:
            continue
        exp.verdict = band.verdict(exp.eval_loss_final)
        if exp.verdict is not None:
            exp.band_diff = exp.eval_loss_final - band.mean
