"""Value checks of a resolved experiment config: types, ranges and what fits, before any work.

Torch-free (the report resolves the matrix too). Each check appends one line naming the key;
pipeline.config.validate() collects them for every experiment, so a run stops before its first
step instead of failing at the data stage, after training, or minutes into an out-of-memory.
"""

from __future__ import annotations

import math
import re
from typing import Any

# Set by pipeline/train.py itself: a value here would be silently replaced, so it is refused,
# with where the setting lives instead.
OVERRIDDEN_TRAINING_KEYS = {
    "output_dir": "the project writes checkpoints under results/<name>/checkpoints",
    "seed": "use the top-level `seed`",
    "data_seed": "use the top-level `seed`",
    "eval_strategy": "evaluation runs every eval_steps (and at step 0)",
    "evaluation_strategy": "evaluation runs every eval_steps (and at step 0)",
    "eval_on_start": "the step-0 evaluation is always on",
    "logging_strategy": "logging runs every logging_steps",
    "save_strategy": "checkpoints are saved every save_steps",
    "logging_nan_inf_filter": "NaN losses are always logged (divergence detection)",
    "report_to": "use [logging] tensorboard (results/<name>/runs) or [logging] wandb",
    "run_name": "each run is named after its experiment (TensorBoard, W&B)",
    "push_to_hub": "use [hub] push: the project uploads the weights once the record is written",
    "hub_model_id": "use [hub] repo_id",
    "hub_private_repo": "use [hub] private",
    "hub_strategy": "use [hub] push (one upload after the experiment completes)",
    "hub_token": "use HF_TOKEN or `hf auth login`: a token never belongs in a config file",
    "resume_from_checkpoint": "an interrupted experiment resumes from results/<name>/checkpoints "
    "by itself when its config is unchanged",
    "use_cpu": "the device is chosen by the machine",
    "bf16": "use [speed] bf16",
    "fp16": "use [speed] bf16 (fp16 is its fallback on GPUs without bf16)",
    "tf32": "use [speed] tf32",
    "torch_compile": "use [speed] torch_compile",
    "dataloader_num_workers": "use [speed] dataloader_num_workers",
    "dataloader_pin_memory": "pinned on CUDA only, by the project",
    "disable_tqdm": "set by the project",
    "remove_unused_columns": "set by the project (the collator needs input_ids only)",
}
MAX_CONTEXT = 32768  # learned positions: far beyond GPT-2's 1024, a value above is a typo
BYTE_ALPHABET = 256  # byte-level BPE starts from every byte, then adds specials and merges
SPECIAL_TOKENS = 1  # <|endoftext|>
ATTENTION = ("sdpa", "sdpa_fp32", "eager", "flash_attention_2")
HUMANEVAL_PROBLEMS = 164


def _get(config: dict[str, Any], dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(config: dict, key: str, errors: list[str], low: float, high: float = math.inf,
            low_open: bool = False, high_open: bool = False, integer: bool = False) -> None:  # fmt: skip
    """key must be a number (a whole one if integer) in [low, high] (open ends as asked)."""
    value = _get(config, key)
    ok = _is_int(value) if integer else _is_number(value)
    ok = ok and (value > low if low_open else value >= low)
    ok = ok and (value < high if high_open else value <= high)
    if not ok:
        kind = "a whole number" if integer else "a number"
        lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
        bound = (
            f">= {low:g}" if high == math.inf and not low_open else f"in {lo}{low:g}, {high:g}{hi}"
        )
        if high == math.inf and low_open:
            bound = f"> {low:g}"
        errors.append(f"{key} must be {kind} {bound}, got {value!r}")


def _bool(config: dict, key: str, errors: list[str]) -> None:
    value = _get(config, key)
    if not isinstance(value, bool):
        # A string "false" is true to Python: it would switch on what it names.
        errors.append(f"{key} must be true or false (a TOML boolean, no quotes), got {value!r}")


def _string(config: dict, key: str, errors: list[str], choices: tuple[str, ...] = ()) -> None:
    value = _get(config, key)
    if not isinstance(value, str):
        errors.append(f"{key} must be a string, got {value!r}")
    elif choices and value not in choices:
        errors.append(f"{key} {value!r} is unknown; choose one of {', '.join(choices)}")


def check_values(config: dict[str, Any], check_training_args: bool = True) -> list[str]:
    """Every typed value of the resolved config; one message per problem. Without
    check_training_args nothing imports transformers (the report stays light)."""
    errors: list[str] = []
    if not _is_int(config.get("seed")):
        errors.append(f"seed must be a whole number, got {config.get('seed')!r}")
    errors += _data(config) + _model(config) + _speed(config) + _generation(config)
    errors += _humaneval(config) + _training(config, check_training_args) + check_ranges(config)
    if check_training_args:  # the pipeline's side: the report never runs HumanEval
        errors += check_sandbox(config)
    _number(config, "tokenizer.vocab_size", errors, 1, integer=True)
    _number(config, "tokenizer.train_sample_mb", errors, 0)
    _string(config, "tokenizer.pretrained", errors)
    from pipeline.tokenizer import PRE_TOKENIZERS

    pre = _get(config, "tokenizer.pre_tokenizer")
    if pre is not None and pre not in PRE_TOKENIZERS:
        errors.append(
            f"tokenizer.pre_tokenizer must be one of {', '.join(PRE_TOKENIZERS)}, got {pre!r}"
        )
    vocab = _get(config, "tokenizer.vocab_size")
    if not _get(config, "tokenizer.pretrained") and _is_int(vocab):
        least = BYTE_ALPHABET + SPECIAL_TOKENS + 1
        if vocab < least:
            errors.append(
                f"tokenizer.vocab_size {vocab} leaves no merges: byte-level BPE holds the "
                f"{BYTE_ALPHABET} bytes and {SPECIAL_TOKENS} special token first; use >= {least}"
            )
    _number(config, "chunking.context_length", errors, 2, MAX_CONTEXT, integer=True)
    return errors


def _data(config: dict) -> list[str]:
    errors: list[str] = []
    keywords = _get(config, "data.keywords")
    if not isinstance(keywords, list) or not all(isinstance(k, str) and k for k in keywords):
        errors.append(f"data.keywords must be a list of non-empty strings, got {keywords!r}")
    for key in ("path", "hub_train", "hub_valid"):
        _string(config, f"data.{key}", errors)
    for key in ("train_subset", "valid_subset"):
        _number(config, f"data.{key}", errors, 0, integer=True)
    if not _is_int(_get(config, "data.subset_seed")):
        errors.append(
            f"data.subset_seed must be a whole number, got {_get(config, 'data.subset_seed')!r}"
        )
    filters = _get(config, "data.filters")
    if not isinstance(filters, dict):
        return [*errors, f"data.filters must be a table, got {filters!r}"]
    for key in ("max_line_length", "mean_line_length"):
        if key in filters:
            _number(config, f"data.filters.{key}", errors, 0)
    for key in ("min_alphanum_fraction", "tests_and_configs", "no_code_structure"):
        if key in filters:
            _number(config, f"data.filters.{key}", errors, 0, 1)
    for key in ("autogenerated", "dedup"):
        if key in filters:
            _bool(config, f"data.filters.{key}", errors)
    return errors


def _model(config: dict) -> list[str]:
    errors: list[str] = []
    model = config.get("model") or {}
    from pipeline.model import PRESETS

    values = {**PRESETS.get(model.get("preset"), {}), **model}
    for key in ("n_layer", "n_head", "n_embd"):
        if key in model:
            _number(config, f"model.{key}", errors, 1, integer=True)
    if model.get("n_inner") is not None:
        _number(config, "model.n_inner", errors, 1, integer=True)
    for key in ("resid_pdrop", "embd_pdrop", "attn_pdrop"):
        if key in model:
            _number(config, f"model.{key}", errors, 0, 1, high_open=True)
    for key in ("layer_norm_epsilon", "initializer_range"):
        if key in model:
            _number(config, f"model.{key}", errors, 0, low_open=True)
    embd, head = values.get("n_embd"), values.get("n_head")
    if _is_int(embd) and _is_int(head) and head > 0 and embd % head:
        errors.append(f"model.n_embd {embd} must be divisible by model.n_head {head}")
    return errors


def _speed(config: dict) -> list[str]:
    errors: list[str] = []
    bf16 = _get(config, "speed.bf16")
    if not (isinstance(bf16, bool) or bf16 == "auto"):
        errors.append(f'speed.bf16 must be true, false or "auto", got {bf16!r}')
    for key in ("tf32", "torch_compile", "fused_optimizer", "chunked_loss"):
        if key in config.get("speed", {}):
            _bool(config, f"speed.{key}", errors)
    _string(config, "speed.attn_implementation", errors, ATTENTION)
    for key in ("dataloader_num_workers", "threads"):
        _number(config, f"speed.{key}", errors, 0, integer=True)
    return errors


def _generation(config: dict) -> list[str]:
    errors: list[str] = []
    _string(config, "generation.prompts_file", errors)
    _number(config, "generation.max_new_tokens", errors, 1, integer=True)
    _bool(config, "generation.do_sample", errors)
    _number(config, "generation.num_samples", errors, 0, integer=True)
    _number(config, "generation.temperature", errors, 0, low_open=True)
    _number(config, "generation.top_p", errors, 0, 1, low_open=True)
    if not _is_int(_get(config, "generation.seed")):
        errors.append(
            f"generation.seed must be a whole number, got {_get(config, 'generation.seed')!r}"
        )
    return errors


def _humaneval(config: dict) -> list[str]:
    errors: list[str] = []
    _bool(config, "humaneval.enabled", errors)
    _number(config, "humaneval.subset", errors, 0, HUMANEVAL_PROBLEMS, integer=True)
    _number(config, "humaneval.n", errors, 1, integer=True)
    _number(config, "humaneval.temperature", errors, 0)
    _number(config, "humaneval.top_p", errors, 0, 1, low_open=True)
    _number(config, "humaneval.max_new_tokens", errors, 1, integer=True)
    _number(config, "humaneval.timeout", errors, 0, low_open=True)
    _number(config, "humaneval.workers", errors, 1, integer=True)
    if not _is_int(_get(config, "humaneval.seed")):
        errors.append(
            f"humaneval.seed must be a whole number, got {_get(config, 'humaneval.seed')!r}"
        )
    n, temperature = _get(config, "humaneval.n"), _get(config, "humaneval.temperature")
    if _is_int(n) and n > 1 and temperature == 0:
        errors.append("humaneval.temperature 0 is greedy: every one of n > 1 samples is the same")
    return errors


def _training(config: dict, check_training_args: bool) -> list[str]:
    errors: list[str] = []
    training = config.get("training") or {}
    for key in sorted(set(training) & set(OVERRIDDEN_TRAINING_KEYS)):
        errors.append(
            f"training.{key} is set by the project and would be ignored: "
            f"{OVERRIDDEN_TRAINING_KEYS[key]}"
        )
    for key, low in (("warmup_steps", 0), ("weight_decay", 0), ("max_grad_norm", 0),
                     ("time_budget_s", 0)):  # fmt: skip
        if key in training:
            _number(config, f"training.{key}", errors, low)
    for key in ("save_total_limit", "max_eval_samples"):
        if key in training:
            _number(config, f"training.{key}", errors, 1, integer=True)
    if "lr_scheduler_type" in training:
        names = scheduler_names() if check_training_args else []
        value = training["lr_scheduler_type"]
        if not isinstance(value, str) or (names and value not in names):
            errors.append(
                f"training.lr_scheduler_type {value!r} is unknown; valid: {', '.join(names)}"
            )
    return errors


def scheduler_names() -> list[str]:
    try:
        from transformers.trainer_utils import SchedulerType
    except ImportError:  # the report's environment need not have transformers
        return []
    return [s.value for s in SchedulerType]


SEED_MAX = 2**32 - 1  # numpy's seed range; set_seed passes the seed to numpy
MAX_HUMANEVAL_TIMEOUT = 600.0  # seconds per program; RLIMIT_CPU takes int(timeout) + 1
PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # a file in profiles/, no path


def check_sections(base: dict[str, Any], delta: dict[str, Any], where: str = "") -> list[str]:
    """Issue 24: a table given as a plain value (`training = 5`, `model = "x"`, `data = []`)
    replaced the whole section and every check after it failed with a traceback. One line per
    such key, before the delta is merged; `profile.<name>` must name a profile and hold a table.
    Also the values that passed as numbers and failed after training (seeds, a HumanEval
    timeout past any use)."""
    errors: list[str] = []
    for key, value in delta.items():
        dotted = f"{where}{key}"
        if not where and key == "profile":  # [name.profile.<profile>]: per-profile values
            errors += _per_profile(value)
        elif isinstance(base.get(key), dict):
            if not isinstance(value, dict):
                errors.append(
                    f"{dotted} must be a table ([{dotted}] or {dotted}.<key> = ...), got {value!r}"
                )
            else:
                errors += check_sections(base[key], value, f"{dotted}.")
    return errors


def _per_profile(value: Any) -> list[str]:
    from pipeline.errors import EXPERIMENTS_DIR, PROFILES

    if not isinstance(value, dict):
        return [f"profile must be a table of profiles (profile.cpu.<key> = ...), got {value!r}"]
    known = sorted({*PROFILES, *(p.stem for p in (EXPERIMENTS_DIR / "profiles").glob("*.toml"))})
    errors = []
    for name, table in value.items():
        if name not in known:
            errors.append(f"profile.{name}: no such profile; choose one of {', '.join(known)}")
        elif not isinstance(table, dict):
            errors.append(
                f"profile.{name} must be a table (profile.{name}.<key> = ...), got {table!r}"
            )
    return errors


def check_ranges(config: dict[str, Any]) -> list[str]:
    """Values of the right type whose range only failed after training."""
    errors: list[str] = []
    for key in ("seed", "generation.seed", "humaneval.seed", "data.subset_seed"):
        value = _get(config, key)
        if _is_int(value) and not 0 <= value <= SEED_MAX:
            errors.append(f"{key} must be in [0, {SEED_MAX}] (numpy's seed range), got {value}")
    timeout = _get(config, "humaneval.timeout")
    if _is_number(timeout) and timeout > MAX_HUMANEVAL_TIMEOUT:
        errors.append(
            f"humaneval.timeout must be at most {MAX_HUMANEVAL_TIMEOUT:g} s per program, got {timeout!r}"
        )
    return errors


def check_sandbox(config: dict[str, Any]) -> list[str]:
    """HumanEval runs model-written code: only in an OS sandbox, or where the user named the
    unsafe mode (pipeline.sandbox). Said before training, not after it."""
    if _get(config, "humaneval.enabled") is not True:
        return []
    from pipeline.sandbox import sandbox_problem

    problem = sandbox_problem()
    return [f"humaneval.enabled: {problem}"] if problem else []
