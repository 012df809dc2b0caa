"""Stage 2b: entries -> the template context, drawing the figures it needs on the way."""

from __future__ import annotations

import math
import os
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from .band import Band, baseline_band, is_seed_replica, judge
from .figures import Figures
from .highlight import stylesheet
from .load import Entry
from .sections import architectures, data_view
from .view import CODEGEN_COLUMNS, SUMMARY_COLUMNS, Experiment, best, experiment_view


def report_date(entries: list[Entry]) -> str:
    """SOURCE_DATE_EPOCH when set (reproducible builds), else the day the newest run ended, so
    the same records always give the same report; today only when there is no record at all."""
    if epoch := os.environ.get("SOURCE_DATE_EPOCH"):
        return datetime.fromtimestamp(int(epoch), UTC).date().isoformat()
    ended = [
        str(((e.record or {}).get("environment") or {}).get("ended_at") or "")[:10] for e in entries
    ]
    ended = [d for d in ended if d]
    return max(ended) if ended else datetime.now(UTC).date().isoformat()


def _unique(values: list[Any]) -> list[str]:
    return list(dict.fromkeys(str(v) for v in values if v))


def build_context(
    entries: list[Entry],
    figures: Figures,
    profile: str,
    states: dict[str, str],
    band_label: str = "baseline seeds",
) -> dict[str, Any]:
    """Everything the templates read. `states` are the templates' words for each state, used
    where a figure has to say why a bar is missing; `band_label` names the band in figures."""
    experiments = [experiment_view(e, i == 0) for i, e in enumerate(entries)]
    band = baseline_band(experiments)
    judge(experiments, band)
    for exp in experiments:
        if exp.has_curves:
            exp.figures["curves"] = figures.get(
                f"curves-{exp.name}", "curves", exp.name, exp.colour, exp.train_loss,
                exp.eval_loss, exp.learning_rate, exp.tokens_per_step, exp.diverged_at,
            )  # fmt: skip
    archs = architectures(experiments)
    for i, a in enumerate(archs, 1):
        a.figures["diagram"] = figures.get(
            f"architecture-{i}", "diagram", a.config, a.head_dim, a.inner
        )
        parts = [(p, n) for p, n, _ in a.parts]
        a.figures["parameters"] = figures.get(f"parameters-{i}", "parameters", parts)
    data, data_from = data_view(experiments)
    records = [e.entry.record for e in experiments if e.entry.record]
    context: dict[str, Any] = {
        "date": report_date(entries),
        "profiles": _unique([r.get("profile") for r in records]) or [profile],
        "devices": _unique([(r.get("environment") or {}).get("device") for r in records]),
        "corpora": _unique([(r.get("data") or {}).get("source") for r in records]),
        "state_counts": sorted(Counter(e.state for e in experiments).items(), key=_state_order),
        "experiments": experiments,
        "summary_columns": SUMMARY_COLUMNS,
        "codegen_columns": CODEGEN_COLUMNS,
        # a seed replica is the baseline again: the best run is judged among the others
        "best": best([e for e in experiments if e.is_baseline or not is_seed_replica(e)]),
        "band": band,
        "architectures": archs,
        "data": data,
        "data_from": data_from,
        "figures": _across(experiments, figures, data, states, band, band_label),
        "pygments_css": stylesheet(),
    }
    return context


def _state_order(item: tuple[str, int]) -> int:
    order = ("complete", "diverged", "failed", "invalid", "missing")
    return order.index(item[0]) if item[0] in order else len(order)


def _across(
    experiments: list[Experiment],
    figures: Figures,
    data: dict[str, Any] | None,
    states: dict[str, str],
    band: Band | None = None,
    band_label: str = "baseline seeds",
) -> dict[str, Any]:
    def note(e: Experiment) -> str:
        return states.get(e.state, e.state)

    # With a band, its members are drawn as the band (shaded), not one line each.
    series = [
        (e.name, e.colour, e.eval_loss, e.tokens_per_step)
        for e in experiments
        if e.eval_loss and not e.in_band
    ]
    shade = None
    if band is not None:
        colour, tps = experiments[0].colour, experiments[0].tokens_per_step
        shade = (band_label, colour, band.curve, tps)
    span = (math.exp(band.lower), math.exp(band.upper), experiments[0].colour) if band else None
    out: dict[str, Any] = {
        "overlay": figures.get("eval-loss", "eval_overlay", series, shade)
        if series or shade
        else None,
        "perplexity": figures.get(
            "perplexity", "bars",
            [(e.name, e.colour, e.perplexity, "∞ (overflow)" if e.perplexity == float("inf") else note(e)) for e in experiments],
            "perplexity on the validation split (log scale)", log=True, digits=2, span=span,
        ),
        "throughput": figures.get(
            "throughput", "bars",
            [(e.name, e.colour, e.tokens_per_second, note(e)) for e in experiments],
            "training throughput (tokens per second)", log=False, digits=0,
        ),
        "libraries": None,
    }  # fmt: skip
    if data and data["libraries"]:
        rows = [(str(x.get("name")), float(x.get("bytes") or 0)) for x in data["libraries"]]
        out["libraries"] = figures.get("libraries", "libraries", rows)
    return out
