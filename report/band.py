"""The baseline's seed interval: what changing only the training seed does to bits per byte.

One run per experiment cannot tell an effect from noise. The matrix holds seed replicas of
the baseline (experiments whose only change is `seed`). From their n values (mean m, sample
standard deviation s) one more run of the baseline with a new seed lies, 95 % of the time,
within the prediction interval

    m ± t(0.975, n − 1) · s · √(1 + 1/n)

(the new run differs from the mean of n by a t-distributed amount with n − 1 degrees of
freedom, scaled by √(1 + 1/n)). A changed experiment outside it is a change a new seed
produces only 5 % of the time. Mean ± 2 s instead holds only about 78 % of seed noise at n = 3.

The measure is bits per byte: unlike the loss per token it does not depend on the tokenizer.
An experiment evaluated on other text than the baseline gets no verdict. Everything here is read
from the records, through the views.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .view import ExperimentView

LEVEL = 0.95  # the interval's coverage of one more seed run


def _t_density(x: float, df: int) -> float:
    c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(c - (df + 1) / 2 * math.log1p(x * x / df))


def _t_cdf(x: float, df: int) -> float:
    """P(T <= x) for x >= 0: 1/2 plus the density's integral from 0 (Simpson, 2000 panels;
    the density is smooth, so this is exact to about 1e-10)."""
    panels = 2000
    h = x / panels
    total = _t_density(0, df) + _t_density(x, df)
    total += sum((4 if i % 2 else 2) * _t_density(i * h, df) for i in range(1, panels))
    return 0.5 + total * h / 3


@lru_cache(maxsize=64)
def t_quantile(p: float, df: int) -> float:
    """The p quantile (p > 1/2) of Student's t with df degrees of freedom, by bisection: the
    report stays free of scipy."""
    if not (0.5 < p < 1 and df >= 1):
        raise ValueError(f"t_quantile needs 1/2 < p < 1 and df >= 1, got p={p}, df={df}")
    low, high = 0.0, 1.0
    while _t_cdf(high, df) < p:
        low, high = high, high * 2
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if _t_cdf(mid, df) < p else (low, mid)
    return (low + high) / 2


def prediction_interval(values: list[float], level: float = LEVEL) -> tuple[float, float]:
    """(mean, half width) of the interval that holds one more draw with probability `level`,
    from n >= 2 draws of a normal variable: t((1 + level)/2, n − 1) · s · √(1 + 1/n)."""
    n = len(values)
    if n < 2:
        raise ValueError("a prediction interval needs at least two values")
    t = t_quantile((1 + level) / 2, n - 1)
    return statistics.fmean(values), t * statistics.stdev(values) * math.sqrt(1 + 1 / n)


@dataclass
class Band:
    names: list[str]  # the baseline and its seed replicas with a finite bits per byte
    seeds: list[Any]
    mean: float  # of their bits per byte
    std: float  # sample standard deviation (n − 1)
    low: float  # the smallest and largest of them
    high: float
    t: float  # t(0.975, n − 1)
    half: float  # t · std · √(1 + 1/n)
    curve: list[tuple[int, float, float, float]]  # (step, mean, lower, upper) in bits per byte
    eval_set: tuple[Any, ...]  # what the baseline was evaluated on (view.eval_set)
    level: float = LEVEL

    @property
    def n(self) -> int:
        return len(self.names)

    @property
    def lower(self) -> float:
        return self.mean - self.half

    @property
    def upper(self) -> float:
        return self.mean + self.half

    def verdict(self, value: float | None) -> str | None:
        """'lower' or 'higher' when outside the interval, 'within' inside; None without a value."""
        if value is None or not math.isfinite(value):
            return None
        if value < self.lower:
            return "lower"
        return "higher" if value > self.upper else "within"


def is_seed_replica(exp: ExperimentView) -> bool:
    """The baseline itself, or an experiment that changes nothing but the training seed."""
    return exp.is_baseline or set(dict(exp.overrides)) == {"seed"}


def _finite(value: float | None) -> bool:
    """A value the interval's statistics can hold: finite, and small enough that squaring a
    deviation does not overflow (a record from elsewhere may say 1e308)."""
    return value is not None and math.isfinite(value) and abs(value) < 1e150


def baseline_band(experiments: list[ExperimentView]) -> Band | None:
    """The interval of the complete seed replicas evaluated on the baseline's text; None with
    fewer than two (no spread to see)."""
    base = experiments[0] if experiments else None
    members = [
        e
        for e in experiments
        if is_seed_replica(e)
        and e.state == "complete"
        and _finite(e.bits_per_byte)
        and e.eval_set == (base.eval_set if base else None)
    ]
    if len(members) < 2:
        return None
    values = [e.bits_per_byte for e in members]
    mean, half = prediction_interval(values)  # type: ignore[arg-type]
    curves = [dict(e.bpb_curve) for e in members]
    shared = sorted(set.intersection(*(set(c) for c in curves)))
    curve = []
    for step in shared:
        at = [c[step] for c in curves]
        if all(_finite(v) for v in at) and len(set(at)) > 1:
            m, h = prediction_interval(at)
            curve.append((step, m, m - h, m + h))
    return Band(
        names=[e.name for e in members],
        seeds=[(e.entry.record or {}).get("seed") for e in members],
        mean=mean,
        std=statistics.stdev(values),  # type: ignore[arg-type]
        low=min(values),  # type: ignore[type-var]
        high=max(values),  # type: ignore[type-var]
        t=t_quantile((1 + LEVEL) / 2, len(values) - 1),
        half=half,
        curve=curve,
        eval_set=members[0].eval_set,
    )


def mark_verdicts(experiments: list[ExperimentView], band: Band | None) -> None:
    """Mark each experiment: a member of the band, evaluated on other text (no verdict), or its
    difference from the seeds' mean and whether that lies outside the interval."""
    for exp in experiments:
        exp.in_band = band is not None and exp.name in band.names
        if band is None or exp.in_band or not _finite(exp.bits_per_byte):
            continue
        if exp.eval_set != band.eval_set:
            exp.verdict = "other_text"
            continue
        exp.verdict = band.verdict(exp.bits_per_byte)
        if exp.verdict is not None:
            exp.band_diff = exp.bits_per_byte - band.mean  # type: ignore[operator]
