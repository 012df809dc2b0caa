"""Sweeps: the experiments one matrix entry expanded into (a list of values, or a grid over
several keys), grouped, with the final bits per byte against each swept value (the unit the
baseline's seed interval is in, and one that does not depend on the tokenizer).

For a grid, each key gets its main effect: the loss at each of its values, averaged over the
other keys' values. The seed interval drawn around each point is the spread that changing only
the training seed gives: from the sweep's own seeds when it lists `seed`, else from the
baseline's seed replicas (report.band). Everything is read from the records' `sweep` section.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from .band import LEVEL, Band, t_quantile
from .figures import Figures
from .view import ExperimentView, Figure

SEED = "seed"


@dataclass
class Effect:
    key: str  # dotted key
    points: list[tuple[str, float | None, float, int]]  # (value as text, as number, mean, runs)
    log: bool  # numeric values spanning 10x or more: a log axis


@dataclass
class SweepView:
    name: str  # the matrix entry
    keys: list[str]  # the swept keys, seed last
    members: list[tuple[str, list[tuple[str, Any]], float | None, str]]  # name, values, loss, state
    effects: list[Effect]
    half_width: float | None  # the seed interval: +- this around each point
    interval_from: str  # "sweep" (its own seeds), "baseline" or "" (none)
    seeds: int  # seeds behind the interval
    figures: dict[str, Figure] = field(default_factory=dict)


def _sweep(exp: ExperimentView) -> tuple[str, dict[str, Any]] | None:
    sweep = (exp.entry.record or {}).get("sweep")
    if not isinstance(sweep, dict):
        return None
    of, values = sweep.get("of"), sweep.get("values")
    return (of, values) if isinstance(of, str) and isinstance(values, dict) else None


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok and math.isfinite(value) else None


def seed_interval(
    runs: list[tuple[dict[str, Any], float | None]], keys: list[str], band: Band | None
) -> tuple[float | None, str, int]:
    """(half-width, where from, seeds) of the 95 % prediction interval for one more seed run:
    from the sweep's own seeds (cells of equal non-seed values, variances pooled:
    t(0.975, dof) · s · √(1 + 1/n)), else the baseline's seed interval (report.band)."""
    if SEED in keys:
        cells: dict[tuple, list[float]] = {}
        for values, loss in runs:
            if _finite(loss):
                cell = tuple(repr(values.get(k)) for k in keys if k != SEED)
                cells.setdefault(cell, []).append(loss)  # type: ignore[arg-type]
        spread = [c for c in cells.values() if len(c) >= 2]
        if spread:
            dof = sum(len(c) - 1 for c in spread)
            pooled = sum(statistics.variance(c) * (len(c) - 1) for c in spread) / dof
            n = max(len(c) for c in spread)
            t = t_quantile((1 + LEVEL) / 2, dof)
            return t * math.sqrt(pooled) * math.sqrt(1 + 1 / n), "sweep", n
    if band is not None:
        return band.half, "baseline", band.n
    return None, "", 0


def effects(runs: list[tuple[dict[str, Any], float | None]], keys: list[str]) -> list[Effect]:
    """Each non-seed key's mean loss at each of its values (over everything else)."""
    out = []
    for key in [k for k in keys if k != SEED]:
        order: dict[str, tuple[Any, list[float]]] = {}
        for values, loss in runs:
            value = values.get(key)
            slot = order.setdefault(repr(value), (value, []))
            if _finite(loss):
                slot[1].append(loss)  # type: ignore[arg-type]
        points = [
            (str(value), _number(value), statistics.fmean(losses), len(losses))
            for value, losses in order.values()
            if losses
        ]
        numbers = [p[1] for p in points]
        log = all(n is not None and n > 0 for n in numbers) and len(numbers) > 1
        log = log and max(numbers) / min(numbers) >= 10  # type: ignore[type-var, operator]
        out.append(Effect(key, points, log))
    return out


def sweep_views(
    experiments: list[ExperimentView], figures: Figures, band: Band | None, label: str
) -> list[SweepView]:
    """One view per sweep of the matrix that has records, in matrix order."""
    groups: dict[str, list[tuple[ExperimentView, dict[str, Any]]]] = {}
    for exp in experiments:
        found = _sweep(exp)
        if found:
            groups.setdefault(found[0], []).append((exp, found[1]))
    views = []
    for name, members in groups.items():
        keys = list(dict.fromkeys(k for _, values in members for k in values))
        keys.sort(key=lambda k: k == SEED)  # seed last: it is the noise, not a factor
        runs = [
            (values, e.bits_per_byte if e.state == "complete" else None) for e, values in members
        ]
        half, source, seeds = seed_interval(runs, keys, band)
        view = SweepView(
            name=name,
            keys=keys,
            members=[(e.name, list(v.items()), loss, e.state) for (e, v), (_, loss) in zip(members, runs, strict=True)],
            effects=effects(runs, keys),
            half_width=half,
            interval_from=source,
            seeds=seeds,
        )  # fmt: skip
        drawn = [(x.key, x.points, x.log) for x in view.effects if x.points]
        if drawn:
            reference = (band.mean, band.lower, band.upper, label) if band else None
            view.figures["effects"] = figures.get(
                f"sweep-{name}", "sweep", drawn, half, reference, experiments[0].colour
            )
        views.append(view)
    return views
