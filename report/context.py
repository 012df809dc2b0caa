"""Stage 2b: entries -> the template context (the view model): every experiment's view, the
shared sections (architecture, data) read from the records, and the figures they need."""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipeline.model import analytic_parameters

from .band import Band, baseline_band, is_seed_replica, mark_verdicts
from .figures import Figures
from .highlight import stylesheet
from .load import Entry
from .sweeps import sweep_views
from .view import (
    CODEGEN_COLUMNS,
    SUMMARY_COLUMNS,
    ExperimentView,
    Figure,
    best,
    dig,
    experiment_view,
)


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
    mark_verdicts(experiments, band)
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
        "sweeps": sweep_views(experiments, figures, band, band_label),  # report/sweeps.py
        "pygments_css": stylesheet(),
    }
    return context


def _state_order(item: tuple[str, int]) -> int:
    order = ("complete", "diverged", "failed", "invalid", "missing")
    return order.index(item[0]) if item[0] in order else len(order)


def _across(
    experiments: list[ExperimentView],
    figures: Figures,
    data: dict[str, Any] | None,
    states: dict[str, str],
    band: Band | None = None,
    band_label: str = "baseline seeds",
) -> dict[str, Any]:
    def note(e: ExperimentView) -> str:
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


PARTS = ("embeddings", "attention", "mlp", "norms", "head")


@dataclass
class Architecture:
    config: dict[str, Any]
    parameters: dict[str, int]
    analytic: dict[str, int]
    experiments: list[str]
    head_dim: int
    inner: int
    figures: dict[str, Figure] = field(default_factory=dict)

    @property
    def parts(self) -> list[tuple[str, int, float]]:
        total = self.parameters.get("total") or 0
        return [(p, self.parameters.get(p, 0), self.parameters.get(p, 0) / total) for p in PARTS]


def architectures(experiments: list[ExperimentView]) -> list[Architecture]:
    """One entry per distinct model config among the records (usually one for the matrix)."""
    found: dict[str, Architecture] = {}
    for exp in experiments:
        config = dig(exp.entry.record, "model", "config")
        if not isinstance(config, dict) or not {"n_layer", "n_head", "n_embd"} <= set(config):
            continue
        key = json.dumps(config, sort_keys=True)
        if key in found:
            found[key].experiments.append(exp.name)
            continue
        try:
            analytic = analytic_parameters(config)
        except (KeyError, TypeError):
            analytic = {}
        recorded = dig(exp.entry.record, "model", "parameters")
        found[key] = Architecture(
            config=config,
            parameters=recorded if isinstance(recorded, dict) and recorded else analytic,
            analytic=analytic,
            experiments=[exp.name],
            head_dim=config["n_embd"] // config["n_head"],
            inner=config.get("n_inner") or 4 * config["n_embd"],
        )
    return list(found.values())


DATA_KEYS = (
    "source", "keywords", "files_seen", "files_kept", "bytes_kept", "filtered", "dedup_removed",
    "train_files", "valid_files", "train_bytes", "valid_bytes", "libraries", "train_tokens",
    "valid_tokens", "vocab_size", "chunking_mode", "context_length", "train_chunks",
    "valid_chunks", "tokens_dropped", "tokenizer", "subset_removed", "tokens_dropped_by_mode",
)  # fmt: skip


def data_view(experiments: list[ExperimentView]) -> tuple[dict[str, Any] | None, str | None]:
    """The data part of the first complete record (else of the first record that has one),
    with every schema key present (None when the record lacks it) so templates can test it."""
    ordered = sorted(experiments, key=lambda e: e.state != "complete")
    for exp in ordered:
        data = dig(exp.entry.record, "data")
        if isinstance(data, dict) and data:
            view = {k: data.get(k) for k in DATA_KEYS}
            view["filtered"] = list((data.get("filtered") or {}).items())
            libraries = [x for x in data.get("libraries") or [] if isinstance(x, dict)]
            view["libraries"] = sorted(libraries, key=lambda x: -(x.get("bytes") or 0))[:10]
            view["libraries_total"] = len(libraries)
            view["parts"] = [
                {"name": name, **entry}
                for name, entry in (data.get("parts") or {}).items()
                if isinstance(entry, dict)
            ]
            view["prompts_dropped"] = (data.get("filtered") or {}).get("contains_prompt")
            tok = data.get("tokenizer") or {}
            view["tokenizer"] = {
                k: tok.get(k)
                for k in ("name", "kind", "path", "vocab_size", "chars_per_token", "special_tokens",
                          "sample_line", "sample_tokens")
            }  # fmt: skip
            return view, exp.name
    return None, None
