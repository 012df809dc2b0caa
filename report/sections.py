"""Stage 2, shared sections: the model architecture and the data, each read from the records
(the first complete one, or every distinct model config)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pipeline.model import analytic_parameters

from .view import Experiment, Figure, dig

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


def architectures(experiments: list[Experiment]) -> list[Architecture]:
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


def data_view(experiments: list[Experiment]) -> tuple[dict[str, Any] | None, str | None]:
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
