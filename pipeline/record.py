"""The result record: the only contract between pipeline/ (writes) and report/ (reads).

Plain JSON a person can read, versioned by "schema". Torch-free: report/ imports this module.
Its shape is the TypedDicts below, written once: new_record() starts a record, the pipeline's
stages fill its sections, write_record() refuses a record that does not match them (a missing
or unknown key anywhere), and read_record() checks what the report needs (older records stay
readable). tests/fixtures/records.py builds its records from the same definitions.

Non-finite floats (a diverged loss, an overflowing perplexity) are stored as the strings
"inf", "-inf" and "nan" so the file stays strict JSON; `number()` turns them back.
"""

# No `from __future__ import annotations`: on Python 3.11 TypedDict only sees NotRequired in
# annotations that are evaluated, and check_shape() reads the required keys from them.
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict

from pipeline.cache import write_json_atomic
from pipeline.inputs import read_text
from pipeline.record_types import check_types, too_deep
from pipeline.secrets import redact_all

SCHEMA_VERSION = 1
RECORD_FILE = "record.json"
PREVIOUS_FILE = "record.previous.json"  # the last complete record, kept when a rerun failed
# evaluation.loss_normalization of records whose losses are means over predicted tokens. Records
# without it were made when the Trainer divided by every label position (low by (T-1)/T, issue
# 12): the runner does not count them as current, so `make all` retrains them.
LOSS_NORMALIZATION = "mean over predicted tokens"


class Environment(TypedDict):
    python: str
    torch: str
    transformers: str | None
    datasets: str | None
    tokenizers: str | None
    platform: str
    device: str  # torch's GPU name, or "CPU: <model name>"
    cpu_count: int | None
    gpu_count: int
    torch_threads: int
    git_commit: str | None
    started_at: str  # ISO 8601, UTC
    ended_at: str | None  # set when the record is written


class Library(TypedDict):
    name: str
    files: int
    bytes: int


class Part(TypedDict):
    """One part of the `installed` corpus (library, doctests, examples)."""

    weight: float
    files_seen: int
    files_passed: int
    filtered: dict[str, int]  # files dropped, by filter (only filters that dropped any)
    train_files: int  # distinct files (the mix repeats some: train_rows)
    train_bytes: int
    # rows after the mix, repeats counted (absent from corpora cached before they were counted)
    train_rows: NotRequired[int]
    train_rows_bytes: NotRequired[int]
    valid_files: int
    valid_bytes: int
    missing: list[str]  # sdists that could not be read (examples part)


class TrainingSample(TypedDict):
    files: int
    bytes: int
    of_files: int
    of_bytes: int
    cap_mb: float


class Tokenizer(TypedDict):
    kind: str  # "trained-bpe" or "pretrained"
    name: str
    pre_tokenizer: NotRequired[str | None]  # a trained BPE's word split (tokenizer.PRE_TOKENIZERS)
    path: str
    vocab_size: int
    eos_token: str
    eos_token_id: int
    chars_per_token: float | None
    special_tokens: list[str]
    sample_line: str
    sample_tokens: list[str]
    # The train rows the BPE learnt from: all, or a seeded sample of about cap_mb (None when
    # pretrained); tokenizer.training_sample.
    training_sample: NotRequired[TrainingSample | None]
    key: str  # its cache key


class DataSection(TypedDict):  # the record's `data`; pipeline.data.PreparedData is the stage's
    source: str  # "installed" | "hub" | "path": what the corpus was built from
    # codeparrot-ds | hub | offline | path: the corpus trained on (pipeline/hub_data.py);
    # records made before it have neither key
    corpus: NotRequired[str]
    fallback: NotRequired[str | None]  # why the profile's hub corpus was not used; None: it was
    keywords: list[str]
    # Files are distinct files: files_seen − sum(filtered) − dedup_removed − files_left_out
    # = files_kept. Rows are what the model reads after the part weights repeat files. The
    # NotRequired keys are absent from corpora cached before they were counted (there the files
    # are rows, as the report then says).
    files_seen: int
    files_kept: int
    bytes_kept: int
    filtered: dict[str, int]  # files dropped, by filter
    dedup_removed: int
    files_left_out: NotRequired[
        int
    ]  # passed filters and dedup; left out by a part weight < 1 or the subset
    train_files: int
    valid_files: int
    train_bytes: int
    valid_bytes: int
    train_rows: NotRequired[int]
    valid_rows: NotRequired[int]
    train_rows_bytes: NotRequired[int]
    valid_rows_bytes: NotRequired[int]
    libraries: list[Library]  # the largest (corpus.TOP_LIBRARIES), by distinct bytes
    libraries_total: NotRequired[int]  # how many libraries the corpus draws from
    cache_key: str
    subset_removed: int
    parts: NotRequired[dict[str, Part]]  # the installed source only
    unreadable: int
    build_seconds: float
    chunking_mode: str
    context_length: int
    train_tokens: int
    train_chunks: int
    train_tokens_dropped: int
    valid_tokens: int
    valid_chunks: int
    valid_tokens_dropped: int
    tokens_dropped: int
    tokens_dropped_by_mode: dict[str, int]  # what each chunking mode would drop
    chunks_key: str
    vocab_size: int
    tokenizer: Tokenizer


class Parameters(TypedDict):
    embeddings: int
    attention: int
    mlp: int
    norms: int
    head: int  # 0: the head is tied to the token embedding
    total: int


class Model(TypedDict):
    preset: str
    config: dict[str, Any]  # GPT2Config values
    parameters: Parameters


class Precision(TypedDict):
    """How training's precision was chosen (pipeline/precision.py)."""

    setting: Any  # [speed] bf16 as configured: true, false or "auto"
    chosen: str  # "bf16" | "float32" | "fp16" (a GPU without bf16)
    how: str  # "set" (true/false), "device" (auto on a GPU), "measured" or "cached" (auto on a CPU)
    bf16_tokens_per_second: float | None  # the timed rates (auto on a CPU), else None
    float32_tokens_per_second: float | None
    key: str | None  # the measurement's file under cache/precision/
    measure_s: float | None  # what timing cost this experiment (0 when read from the cache)


class Training(TypedDict):
    args: dict[str, Any]  # the [training] table passed to TrainingArguments
    log_history: list[dict[str, Any]]  # trainer.state.log_history, verbatim
    train_runtime_s: float
    train_only_s: float  # without the evaluations run during training
    train_loss: float | None
    steps: int
    tokens_per_step: int
    tokens_seen: int
    resumed_from_step: int
    tokens_per_second: float  # steady rate (pipeline.throughput.StepClock), else overall
    tokens_per_second_overall: float
    steady_steps: int | None
    mfu: float | None  # None where the device's peak is unknown
    world_size: int
    train_blocks: int
    speed: dict[str, Any]  # the resolved [speed] table (not part of the identity)
    resumed: bool
    stopped_by_time_budget_at: int | None
    time_spent_before_resume_s: float
    # other experiments training on this machine at the start or end of this one's training
    # (parallel workers): its tokens/s is then one run's share (absent from older records)
    experiments_beside: NotRequired[int]
    precision: NotRequired[Precision]  # records from before issue 22 lack it


class SampleSummary(TypedDict):
    """pipeline.passk.summarize over one prompt group's sampled completions."""

    prompts: int
    samples: int
    n: int
    syntax_valid_rate: float
    pattern_hit_rate: float
    pass_rate: float
    pass_at_k: dict[str, float]
    per_prompt: list[dict[str, Any]]
    early_hit_rate: float


class HumanEval(TypedDict):
    benchmark: str
    source: str
    problems: int
    subset: int
    seed: int
    n: int
    temperature: float
    top_p: float
    decoding: dict[str, Any] | None
    max_new_tokens: int
    timeout: float
    pass_at_k: dict[str, float]
    outcomes: dict[str, int]
    failures: dict[str, int]
    prompts_truncated: int
    generation_s: float
    execution_s: float
    per_problem: list[dict[str, Any]]
    reference: dict[str, Any]
    note: str


class Evaluation(TypedDict):
    eval_results: dict[str, Any]  # verbatim from trainer.evaluate()
    loss_normalization: str
    perplexity: float
    step0_eval_loss: float | None
    step0_perplexity: float | None
    token_accuracy: float | None
    key_token_loss: float | None
    key_tokens: dict[str, int]
    bits_per_byte: float | None
    eval_blocks: int
    # added once the weights are saved (absent from a record that diverged at evaluation)
    prompt_samples: NotRequired[SampleSummary | None]
    heldout_samples: NotRequired[SampleSummary | None]
    humaneval: NotRequired[HumanEval | None]  # None unless [humaneval] enabled


class Checks(TypedDict):
    checked: str  # the completion's complete lines, which the checks read
    syntax_valid: bool
    patterns: dict[str, bool]  # expected regex -> found
    early_hit: bool
    no_room: NotRequired[bool]  # the prompt filled the context


class Sample(TypedDict):
    completion: str
    checks: Checks


class Prompt(TypedDict):
    name: str
    group: str  # "course" | "heldout"
    prompt: str
    completion: str
    prompt_tokens: int
    decoding: dict[str, Any]
    checks: Checks
    samples: list[Sample]
    sampling: dict[str, Any]


class Hub(TypedDict):
    repo_id: str
    pushed: bool
    url: str | None
    error: str | None  # one line: why the push failed
    commit: NotRequired[str | None]  # the Hub commit id of a push that went through


class Sweep(TypedDict):
    """The matrix entry a swept experiment came from, and its values (pipeline.config)."""

    of: str
    values: dict[str, Any]  # dotted key -> this member's value


class Record(TypedDict):
    schema: int
    status: Literal["complete", "failed", "diverged"]
    error: str | None  # why it is not complete
    name: str
    description: str
    profile: str
    config: dict[str, Any]  # the fully resolved experiment config
    config_hash: str  # identity: the config without its [speed] table
    overrides: dict[str, Any]  # dotted keys this experiment changes from its profile
    seed: int
    environment: Environment
    data: DataSection | None  # None: not reached (likewise below)
    model: Model | None
    training: Training | None
    evaluation: Evaluation | None
    prompts: list[Prompt]
    weights: str | None  # save_pretrained folder, relative to the results folder
    # (older records: to the project root; pipeline.weights)
    # what a one-off script changed in a record after the run (examples/gpu-*/README.md)
    corrections: NotRequired[list[dict[str, Any]]]
    hub: NotRequired[Hub]  # only when [hub] push is on (pipeline/hub.py)
    sweep: NotRequired[Sweep]  # only for a member of a sweep (a matrix entry that lists values)


def new_record(exp: Any, environment: Environment) -> Record:  # exp: a config.Experiment
    """A record for an experiment that has not run yet: failed until a stage says otherwise."""
    record: Record = {
        "schema": SCHEMA_VERSION,
        "status": "failed",
        "error": None,
        "name": exp.name,
        "description": exp.description,
        "profile": exp.profile,
        "config": exp.config,
        "config_hash": exp.config_hash,
        "overrides": exp.overrides,
        "seed": exp.config["seed"],
        "environment": environment,
        "data": None,
        "model": None,
        "training": None,
        "evaluation": None,
        "prompts": [],
        "weights": None,
    }
    if exp.sweep_of:  # the report groups a sweep's members and plots the loss against values
        record["sweep"] = {"of": exp.sweep_of, "values": exp.sweep}
    return record


def check_shape(value: Any, shape: Any = Record, where: str = "") -> list[str]:
    """Where `value` departs from a TypedDict of this module: missing or unknown keys, at any
    depth. Leaf values are not type-checked (JSON has one number type)."""
    if typing.is_typeddict(shape):
        if not isinstance(value, dict):
            return [f"{where.rstrip('.') or 'record'} is not an object"]
        known = shape.__required_keys__ | shape.__optional_keys__
        problems = [
            f"missing key {where}{k}"
            for k in shape.__annotations__
            if k not in value and k in shape.__required_keys__
        ]
        problems += [f"unknown key {where}{k}" for k in value if k not in known]
        hints = typing.get_type_hints(shape)
        for key in [k for k in value if k in known]:
            problems += check_shape(value[key], hints[key], f"{where}{key}.")
        return problems
    origin, args = typing.get_origin(shape), typing.get_args(shape)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return []
        return next((check_shape(value, a, where) for a in args if a is not type(None)), [])
    if origin is list and isinstance(value, list):
        return [p for i, v in enumerate(value) for p in check_shape(v, args[0], f"{where}{i}.")]
    if origin is dict and isinstance(value, dict) and typing.is_typeddict(args[1]):
        return [p for k, v in value.items() for p in check_shape(v, args[1], f"{where}{k}.")]
    return []


class RecordError(ValueError):
    """A record that cannot be used; the message names the file."""


def number(value: Any) -> float | None:
    """A record value as a float: the strings 'inf'/'nan' become floats, None stays None."""
    return None if value is None else float(value)  # float("inf") reads the strings too


def write_record(folder: Path, record: Record) -> Path:
    """Validate against the schema (every key, at every depth), then write atomically."""
    problems = check(record) or check_shape(record)
    if problems:
        raise RecordError(f"refusing to write an invalid record to {folder}: {'; '.join(problems)}")
    path = folder / RECORD_FILE
    # A token in an exception text, a completion or a config value never reaches the file.
    write_json_atomic(path, redact_all(record))
    return path


STATUSES = typing.get_args(Record.__annotations__["status"])
REQUIRED = tuple(k for k in Record.__annotations__ if k in Record.__required_keys__)


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


MAX_RECORD_BYTES = 64 << 20  # HumanEval's 164 problems with their completions: a few MB
MAX_DEPTH = 32  # the schema nests about 6 deep; a record from elsewhere may not nest deeper


def read_record(path: Path) -> Record:
    """Read and validate one record; every failure is a RecordError naming the file, in one
    line. A record may come from someone else: a special file (a FIFO, /dev/zero), a huge
    file, JSON nested deeper than the schema, a 5,000-digit number or a value of the wrong
    type anywhere the schema says what belongs is refused here, before any reader uses it."""
    text = read_text(
        path, RecordError, "no record (the experiment has not run)", "a record file",
        "rerun the experiment to rewrite it", limit=MAX_RECORD_BYTES,
    )  # fmt: skip
    try:
        record = json.loads(text)
    except json.JSONDecodeError as e:
        raise RecordError(
            f"{path}: corrupt JSON at line {e.lineno} ({e.msg}); rerun the experiment to rewrite it"
        ) from None
    except RecursionError:
        raise RecordError(f"{path}: JSON nested too deep to be a record") from None
    except ValueError as e:  # an integer past Python's digit limit
        raise RecordError(f"{path}: unreadable JSON ({str(e).splitlines()[0]})") from None
    if too_deep(record, MAX_DEPTH):
        raise RecordError(f"{path}: JSON nested more than {MAX_DEPTH} deep, not a record")
    current = isinstance(record, dict) and record.get("schema") == SCHEMA_VERSION
    problems = (check_types(record, Record) if current else []) or check(record)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise RecordError(f"{path}: {'; '.join(problems[:3])}{more}")
    return record


def perplexity(eval_loss: float) -> float:
    """exp(loss), inf on overflow (as run_clm.py does)."""
    try:
        return math.exp(eval_loss)
    except OverflowError:
        return math.inf
