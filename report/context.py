"""Stage 2b: entries -> the template context (the view model): every experiment's view, the
shared sections (architecture, data) read from the records, and the figures they need."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipeline.model import analytic_parameters

from .band import Band, baseline_band, mark_verdicts
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
        "best": best(experiments),
        "band": band,
        "architectures": archs,
        "data": data,
        "data_from": data_from,
        "figures": _across(experiments, figures, data, states, band, band_label),
        "sweeps": sweep_views(experiments, figures, band, band_label),  # report/sweeps.py
        "pygments_css": stylesheet(),
        "matrix": matrix_totals(records),
        "closing": closing_view(experiments, archs, data),
    }
    return context


def closing_view(
    experiments: list[ExperimentView], archs: list[Architecture], data: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The numbers of the closing section, all from the baseline's record: its model size, the
    tokens it trained on, and how much of the validation split it was evaluated on."""
    base = experiments[0] if experiments else None
    if base is None or base.state != "complete" or not archs:
        return None
    params = (archs[0].parameters or {}).get("total")
    blocks = dig(base.entry.record, "evaluation", "eval_blocks")
    return {
        "name": base.name,
        "parameters": params,
        "tokens": base.tokens_seen,
        "tokens_per_parameter": base.tokens_seen / params if params and base.tokens_seen else None,
        "eval_blocks": blocks,
        "valid_chunks": (data or {}).get("valid_chunks"),
        "train_tokens": (data or {}).get("train_tokens"),
        "perplexity": base.perplexity,
        "vocab_size": (data or {}).get("vocab_size"),
    }


def matrix_totals(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The matrix as a whole, from the records: training tokens of every run, the wall time from
    the first run's start to the last run's end, and their ratio (what the machine trained per
    second, parallel runs together)."""
    tokens = sum((r.get("training") or {}).get("tokens_seen") or 0 for r in records)
    times = []
    for r in records:
        env = r.get("environment") or {}
        try:
            times.append((datetime.fromisoformat(env["started_at"]),
                          datetime.fromisoformat(env["ended_at"])))  # fmt: skip
        except (KeyError, TypeError, ValueError):
            continue
    wall = (max(e for _, e in times) - min(s for s, _ in times)).total_seconds() if times else 0
    return {
        "tokens": tokens,
        "wall_s": wall or None,
        "rate": tokens / wall if wall > 0 else None,
        "parallel": any((r.get("training") or {}).get("experiments_beside") for r in records),
    }


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

    # Bits per byte, the measure the interval is on. With a band, its members are drawn as the
    # band (shaded), not one line each.
    series = [
        (e.name, e.colour, e.bpb_curve, e.tokens_per_step)
        for e in experiments
        if e.bpb_curve and not e.in_band
    ]
    shade = None
    if band is not None:
        colour, tps = experiments[0].colour, experiments[0].tokens_per_step
        shade = (band_label, colour, band.curve, tps)
    span = (band.lower, band.upper, experiments[0].colour) if band else None
    out: dict[str, Any] = {
        "overlay": figures.get("eval-loss", "eval_overlay", series, shade, ylabel="eval bits per byte")
        if series or shade
        else None,
        "bpb": figures.get(
            "bits-per-byte", "bars",
            [(e.name, e.colour, e.bits_per_byte, note(e)) for e in experiments],
            "bits per byte on the evaluation text (lower is better)", log=False, digits=3,
            span=span, zoom=True,
        ),
        "throughput": figures.get(
            "throughput", "bars",
            [(e.name, e.colour, e.tokens_per_second, note(e)) for e in experiments],
            "training throughput per run (tokens per second)", log=False, digits=0,
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
    "corpus", "fallback", "files_left_out", "train_rows", "valid_rows", "train_rows_bytes",
    "valid_rows_bytes",
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
            # the record stores the largest only; older records lack the real total
            view["libraries_total"] = data.get("libraries_total")
            view["libraries_stored"] = len(libraries)
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
