"""The result record: the only contract between pipeline/ (writes) and report/ (reads).

Plain JSON a person can read, versioned by "schema". Torch-free: report/ imports this module.

Shape of schema 1 (every key present; values may be null where noted):
    schema: 1
    status: "complete" | "failed" | "diverged"
    error: str | null                  # why it is not complete
    name, description, profile: str
    config: dict                       # fully resolved experiment config
    config_hash: str                   # identity (config without its speed section)
    overrides: dict                    # dotted keys this experiment changes from its profile
    seed: int
    environment: {python, torch, transformers, datasets, device, cpu_count, gpu_count,
                  git_commit, started_at, ended_at}
    data: {source, keywords, files_seen, files_kept, bytes_kept, filtered: {filter: files},
           dedup_removed, train_files, valid_files, train_bytes, valid_bytes,
           libraries: [{name, files, bytes}], train_tokens, valid_tokens, vocab_size,
           chunking_mode, context_length, train_chunks, valid_chunks, tokens_dropped,
           tokenizer: {kind, path, vocab_size, chars_per_token}}
    model: {preset, config: {GPT2Config values}, parameters: {total, embeddings, attention,
            mlp, norms, head}}
    training: {args: {TrainingArguments values used}, log_history: [...], train_runtime_s,
               train_loss, tokens_seen, tokens_per_second, steps, mfu: float | null}
    evaluation: {eval_results: {...verbatim from trainer.evaluate()}, perplexity,
                 step0_eval_loss, token_accuracy, bits_per_byte} | null when not reached
    prompts: [{name, prompt, completion, decoding: {...}, checks: {syntax_valid, patterns}}]
    weights: str | null                # save_pretrained folder, relative to the results folder
                                       # (older records: to the project root; pipeline.weights)
    hub: {repo_id, pushed, url, error}  # only when [hub] push is on (pipeline/hub.py)

Non-finite floats (a diverged loss, an overflowing perplexity) are stored as the strings
"inf", "-inf" and "nan" so the file stays strict JSON; `number()` turns them back.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
STATUSES = ("complete", "failed", "diverged")
REQUIRED = (
    "schema", "status", "error", "name", "description", "profile", "config", "config_hash",
    "overrides", "seed", "environment", "data", "model", "training", "evaluation", "prompts",
    "weights",
)  # fmt: skip
RECORD_FILE = "record.json"
# evaluation.loss_normalization of records whose losses are means over predicted tokens. Records
# without it were made when the Trainer divided by every label position (low by (T-1)/T, issue
# 12): the runner does not count them as current, so `make all` retrains them.
LOSS_NORMALIZATION = "mean over predicted tokens"
FILE_MODE = 0o644  # records, weights and reports: readable by the other users of a machine


class RecordError(ValueError):
    """A record that cannot be used; the message names the file."""


def json_safe(value: Any) -> Any:
    """Replace non-finite floats by strings, recursively, so json.dumps(allow_nan=False) works."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def number(value: Any) -> float | None:
    """A record value as a float: the strings 'inf'/'nan' become floats, None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        return float(value)  # "inf", "-inf", "nan"
    return float(value)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that readers see the old file or the new one, never half of one."""
    text = json.dumps(json_safe(data), indent=2, sort_keys=False, allow_nan=False) + "\n"
    write_atomic(path, text.encode("utf-8"))


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old one or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp makes it 0600: others on the machine read records
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_record(folder: Path, record: dict[str, Any]) -> Path:
    problems = check(record)
    if problems:
        raise RecordError(f"refusing to write an invalid record to {folder}: {'; '.join(problems)}")
    path = folder / RECORD_FILE
    write_json_atomic(path, record)
    return path


def check(record: Any) -> list[str]:
    """Problems with a record's shape (empty when it is usable)."""
    if not isinstance(record, dict):
        return ["not a JSON object"]
    schema = record.get("schema")
    if schema != SCHEMA_VERSION:
        return [
            f"schema version {schema!r}, this code reads version {SCHEMA_VERSION}; "
            "rerun the experiment (make experiment NAME=...) to rewrite it"
        ]
    problems = [f"missing key {k!r}" for k in REQUIRED if k not in record]
    if record.get("status") not in STATUSES:
        problems.append(f"status {record.get('status')!r} is not one of {', '.join(STATUSES)}")
    if record.get("status") == "complete":
        evaluation = record.get("evaluation") or {}
        if "eval_results" not in evaluation:
            problems.append("a complete record needs evaluation.eval_results")
        if not record.get("weights"):
            problems.append("a complete record needs the weights folder")
    elif not record.get("error"):
        problems.append("a record that is not complete needs an error message")
    return problems


def read_record(path: Path) -> dict[str, Any]:
    """Read and validate one record; every failure is a RecordError naming the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecordError(f"{path}: no record (the experiment has not run)") from None
    except OSError as e:
        raise RecordError(f"{path}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise RecordError(f"{path}: not UTF-8 text (byte {e.start})") from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as e:
        raise RecordError(
            f"{path}: corrupt JSON at line {e.lineno} ({e.msg}); rerun the experiment to rewrite it"
        ) from None
    problems = check(record)
    if problems:
        raise RecordError(f"{path}: {'; '.join(problems)}")
    return record


def perplexity(eval_loss: float) -> float:
    """exp(loss), inf on overflow (as run_clm.py does)."""
    try:
        return math.exp(eval_loss)
    except OverflowError:
        return math.inf
