"""Every config key's rule in one table: its type, range and meaning (RULES), then the few
rules that compare two keys (RELATIONS). pipeline.validate applies both to every experiment
before any work; nothing checks a value again at data time.

A leaf: it imports nothing of the project, so any module can read the table. The choices that
name an implementation (presets, pre-tokenizers) are tested against it in tests/test_rules.py.
Keys under [training] that are not here are TrainingArguments fields, checked against the
installed transformers; keys under [model] besides these are refused (GPT2Config fields only).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

SEED_MAX = 2**32 - 1  # numpy's seed range; set_seed passes the seed to numpy
MAX_CONTEXT = 32768  # learned positions: far beyond GPT-2's 1024, a value above is a typo
MAX_HUMANEVAL_TIMEOUT = 600.0  # seconds per program; RLIMIT_CPU takes int(timeout) + 1
HUMANEVAL_PROBLEMS = 164
BYTE_ALPHABET = 256  # byte-level BPE starts from every byte, then adds specials and merges
SPECIAL_TOKENS = 1  # <|endoftext|>
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


@dataclass(frozen=True)
class Rule:
    kind: str  # flag | whole | number | text | choice | words | flag_or_auto
    meaning: str
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    nonempty: bool = False
    optional: bool = False  # not in defaults.toml: checked only where a config sets it

    def problem(self, key: str, value: Any) -> str | None:
        """None if value follows the rule, else one line that names the key and what to write."""
        if self.kind in ("flag", "flag_or_auto"):
            if isinstance(value, bool) or (self.kind == "flag_or_auto" and value == "auto"):
                return None
            if self.kind == "flag_or_auto":
                return f'{key} must be true, false or "auto", got {value!r}'
            # A string "false" is true to Python: it would switch on what it names.
            return f"{key} must be true or false (a TOML boolean, no quotes), got {value!r}"
        if self.kind in ("whole", "number"):
            return (
                None if self._in_range(value) else f"{key} must be {self._bound()}, got {value!r}"
            )
        if self.kind == "choice":
            if isinstance(value, str) and value in self.choices:
                return None
            shown = ", ".join(c or '""' for c in self.choices)
            return f"{key} {value!r} is unknown; choose one of {shown}"
        if self.kind == "words":
            if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
                return None
            return f"{key} must be a list of non-empty strings, got {value!r}"
        if not isinstance(value, str) or (self.nonempty and not value.strip()):
            return f"{key} must be a {'non-empty ' if self.nonempty else ''}string, got {value!r}"
        return None

    def _in_range(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind == "whole" and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def _bound(self) -> str:
        kind = "whole number" if self.kind == "whole" else "number"
        if self.low == 0 and self.low_open and self.high == math.inf:
            return f"a positive {kind}"
        if self.high == math.inf:
            return f"a {kind} {'>' if self.low_open else '>='} {_shown(self.low)}"
        lo, hi = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"a {kind} in {lo}{_shown(self.low)}, {_shown(self.high)}{hi}"


def _shown(bound: float) -> str:
    """4294967295 as written, not 4.29497e+09; 0.5 as 0.5."""
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def flag(meaning: str, optional: bool = False) -> Rule:
    return Rule("flag", meaning, optional=optional)


def whole(meaning: str, low: float = 0, high: float = math.inf, **kw: Any) -> Rule:
    return Rule("whole", meaning, low, high, **kw)


def number(meaning: str, low: float = 0, high: float = math.inf, **kw: Any) -> Rule:
    return Rule("number", meaning, low, high, **kw)


def positive(meaning: str, integer: bool = False) -> Rule:
    return Rule("whole" if integer else "number", meaning, 0, low_open=True)


def choice(meaning: str, *choices: str) -> Rule:
    return Rule("choice", meaning, choices=choices)


def text(meaning: str, nonempty: bool = False) -> Rule:
    return Rule("text", meaning, nonempty=nonempty)


def seed(meaning: str) -> Rule:
    return whole(meaning, 0, SEED_MAX)


def share(meaning: str) -> Rule:
    return number(meaning, 0, 1)


def dropout(meaning: str) -> Rule:
    return number(meaning, 0, 1, high_open=True, optional=True)


RULES: dict[str, Rule] = {
    "seed": seed("model initialization, data order and sampling"),
    # [data]
    "data.source": choice("where the code comes from", "installed", "hub", "path"),
    "data.keywords": Rule("words", "a file is kept if it mentions one of these; [] keeps all"),
    "data.valid_fraction": number(
        "share of files (by a path hash) in validation", 0, 1, low_open=True, high_open=True
    ),  # fmt: skip
    "data.path": text("the path source: a folder of .py files, a .jsonl or a .parquet"),
    "data.hub_train": text("the hub source's train dataset id (or a local dataset folder)"),
    "data.hub_valid": text("the hub source's valid dataset id (or a local dataset folder)"),
    "data.train_subset": whole("seeded sample of train files (0 keeps all)"),
    "data.valid_subset": whole("seeded sample of valid files (0 keeps all)"),
    "data.subset_seed": seed("the data's own seed: subsets and the filters' random drops"),
    "data.hub_train_files": whole("hub: stream this many train files (0 loads it whole)"),
    "data.hub_valid_files": whole("hub: stream this many valid files (0 loads it whole)"),
    "data.fallback": choice("hub: the source used where the hub is out of reach", "installed", ""),
    "data.examples_dir": text("where the example sdists are (make fetch)"),
    "data.examples_prose": flag("keep the examples' docstring and comment prose"),
    "data.usage_comments": flag("text before usage code becomes its comment"),
    "data.filters.max_line_length": number("drop files with a longer line (0: off)"),
    "data.filters.mean_line_length": number("drop files with a longer mean line (0: off)"),
    "data.filters.min_alphanum_fraction": share("drop files with fewer alphanumerics (0: off)"),
    "data.filters.autogenerated": flag("drop files marked auto-generated"),
    "data.filters.tests_and_configs": share("drop test/config-looking files with this probability"),
    "data.filters.no_code_structure": share(
        "drop files with no def/class/loop with this probability"
    ),
    "data.filters.dedup": flag("exact dedup on whitespace-stripped content, across splits"),
    "data.parts.library": number("weight of the packages' own files", 0, 100),
    "data.parts.doctests": number("weight of the docstrings' >>> examples", 0, 100),
    "data.parts.examples": number("weight of the example scripts and notebooks", 0, 100),
    # [tokenizer]
    "tokenizer.pretrained": text("a tokenizer folder or hub id; empty trains byte-level BPE"),
    "tokenizer.vocab_size": whole("size of the trained BPE vocabulary", 1),
    "tokenizer.pre_tokenizer": choice("the word-splitting regex", "gpt2", "grouped-newlines"),
    "tokenizer.train_sample_mb": number("MB of train text the BPE learns from (0: all)"),
    # [chunking]
    "chunking.context_length": whole("tokens per block", 2, MAX_CONTEXT),
    "chunking.mode": choice(
        "packed: documents joined by EOS; course: truncate with overflow", "packed", "course"
    ),  # fmt: skip
    # [model]
    "model.preset": choice(
        "the architecture's size (pipeline/model.py)", "tiny", "micro", "gpt2-small"
    ),  # fmt: skip
    "model.n_layer": whole("transformer blocks", 1, optional=True),
    "model.n_head": whole("attention heads", 1, optional=True),
    "model.n_embd": whole("hidden size (a multiple of n_head)", 1, optional=True),
    "model.n_inner": whole("MLP size (default 4 x n_embd)", 1, optional=True),
    "model.activation_function": Rule(
        "text", "GPT2Config's activation (e.g. gelu_new)", nonempty=True, optional=True
    ),  # fmt: skip
    "model.resid_pdrop": dropout("dropout after attention and MLP"),
    "model.embd_pdrop": dropout("dropout on the embeddings"),
    "model.attn_pdrop": dropout("dropout on the attention weights"),
    "model.layer_norm_epsilon": number("layer norm epsilon", 0, low_open=True, optional=True),
    "model.initializer_range": number(
        "std of the initial weights", 0, low_open=True, optional=True
    ),  # fmt: skip
    # [training]: TrainingArguments fields the project uses, and two of its own
    "training.learning_rate": positive("peak learning rate"),
    "training.weight_decay": number("AdamW weight decay"),
    "training.lr_scheduler_type": text("a transformers scheduler name (checked against it)"),
    "training.warmup_steps": number("linear warm-up steps"),
    "training.optim": text("a TrainingArguments optimizer name (checked against it)"),
    "training.per_device_train_batch_size": positive("sequences per micro-batch", integer=True),
    "training.per_device_eval_batch_size": positive("sequences per eval batch", integer=True),
    "training.gradient_accumulation_steps": positive("micro-batches per step", integer=True),
    "training.max_steps": positive("optimizer steps", integer=True),
    "training.eval_steps": positive("evaluate every N steps", integer=True),
    "training.logging_steps": positive("log the loss every N steps", integer=True),
    "training.max_grad_norm": number("gradient clipping norm (0: off)"),
    "training.save_steps": positive("checkpoint every N steps", integer=True),
    "training.save_total_limit": whole("checkpoints kept", 1),
    "training.max_eval_samples": whole("validation blocks used for evaluation", 1),
    "training.time_budget_s": number("stop training after this many seconds (0: max_steps)"),
    # [speed]: how fast, not what is learned
    "speed.bf16": Rule("flag_or_auto", "bfloat16 autocast; auto: measured on CPU"),
    "speed.tf32": flag("TF32 matmuls on CUDA"),
    "speed.torch_compile": flag("torch.compile the model"),
    "speed.fused_optimizer": flag("fused AdamW on CUDA (same update)"),
    "speed.chunked_loss": flag("LM-head loss in chunks (pipeline/loss.py)"),
    "speed.attn_implementation": choice(
        "attention kernel", "sdpa", "sdpa_fp32", "eager", "flash_attention_2"
    ),  # fmt: skip
    "speed.dataloader_num_workers": whole("DataLoader worker processes"),
    "speed.threads": whole("torch threads (0: one per core)"),
    # [logging]
    "logging.tensorboard": flag("TensorBoard logs into results/<name>/runs"),
    "logging.wandb": flag("Weights & Biases logs (optional package)"),
    "logging.wandb_mode": choice("offline: nothing leaves the machine", "offline", "online"),
    "logging.wandb_project": text("the W&B project", nonempty=True),
    # [hub]
    "hub.push": flag("upload the weights after the experiment completes"),
    "hub.repo_id": text('"user/name"; {name} becomes the experiment\'s name'),
    "hub.private": flag("a new repository is created private"),
    # [generation]
    "generation.prompts_file": text("the course's prompts (TOML)"),
    "generation.heldout_prompts_file": text("other prompts (TOML; empty skips them)"),
    "generation.max_new_tokens": whole("tokens generated per completion", 1),
    "generation.do_sample": flag("sample the main completion instead of greedy"),
    "generation.num_samples": whole("sampled completions per prompt (pass@k)"),
    "generation.temperature": positive("sampling temperature"),
    "generation.top_p": number("nucleus sampling mass", 0, 1, low_open=True),
    "generation.seed": seed("the samples' seed"),
    # [humaneval]
    "humaneval.enabled": flag("run HumanEval pass@k (executes model-written code)"),
    "humaneval.subset": whole("problems drawn by seed (0: all 164)", 0, HUMANEVAL_PROBLEMS),
    "humaneval.n": whole("samples per problem", 1),
    "humaneval.temperature": number("sampling temperature (0: greedy)"),
    "humaneval.top_p": number("nucleus sampling mass", 0, 1, low_open=True),
    "humaneval.max_new_tokens": whole("tokens generated per program", 1),
    "humaneval.timeout": number("seconds per program", 0, MAX_HUMANEVAL_TIMEOUT, low_open=True),
    "humaneval.seed": seed("the problems' and samples' seed"),
    "humaneval.workers": whole("programs run at once", 1),
}

# [training] keys the pipeline reads itself rather than passing to TrainingArguments.
LOCAL_TRAINING_KEYS = {"max_eval_samples", "time_budget_s"}

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


def get(config: dict[str, Any], dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _has(config: dict[str, Any], dotted: str) -> bool:
    *sections, last = dotted.split(".")
    table: Any = config
    for part in sections:
        table = table.get(part) if isinstance(table, dict) else None
    return isinstance(table, dict) and last in table


def check_rules(config: dict[str, Any]) -> list[str]:
    """One line per key whose value breaks its rule, then the relations between keys (those
    only where the keys they compare are themselves right)."""
    errors = []
    for key, rule in RULES.items():
        if rule.optional and not _has(config, key):
            continue
        problem = rule.problem(key, get(config, key))
        if problem:
            errors.append(problem)
    wrong = {e.split(" ", 1)[0] for e in errors}
    for relation in RELATIONS:
        errors += relation(config, wrong)
    return errors


# The rules between keys. Each takes the config and the keys already wrong, and says nothing
# about a key that is wrong on its own.


def _path_named(config: dict[str, Any], wrong: set[str]) -> list[str]:
    if get(config, "data.source") == "path" and not get(config, "data.path"):
        return ["data.source is 'path' but data.path is empty: name a folder, .jsonl or .parquet"]
    return []


def _vocab_has_merges(config: dict[str, Any], wrong: set[str]) -> list[str]:
    vocab, least = get(config, "tokenizer.vocab_size"), BYTE_ALPHABET + SPECIAL_TOKENS + 1
    if get(config, "tokenizer.pretrained") or "tokenizer.vocab_size" in wrong or vocab >= least:
        return []
    return [
        f"tokenizer.vocab_size {vocab} leaves no merges: byte-level BPE holds the "
        f"{BYTE_ALPHABET} bytes and {SPECIAL_TOKENS} special token first; use >= {least}"
    ]


def _heads_divide(config: dict[str, Any], wrong: set[str]) -> list[str]:
    from pipeline.model import PRESETS  # torch-free; the preset's values under the overrides

    model = config.get("model") or {}
    values = {**PRESETS.get(model.get("preset"), {}), **model}
    embd, head = values.get("n_embd"), values.get("n_head")
    if {"model.n_embd", "model.n_head"} & wrong or not isinstance(embd, int) or not head:
        return []
    return [f"model.n_embd {embd} must be divisible by model.n_head {head}"] if embd % head else []


def _samples_differ(config: dict[str, Any], wrong: set[str]) -> list[str]:
    n, temperature = get(config, "humaneval.n"), get(config, "humaneval.temperature")
    if {"humaneval.n", "humaneval.temperature"} & wrong or not (n > 1 and temperature == 0):
        return []
    return ["humaneval.temperature 0 is greedy: every one of n > 1 samples is the same"]


def _a_part_weighs(config: dict[str, Any], wrong: set[str]) -> list[str]:
    parts = get(config, "data.parts") or {}
    if get(config, "data.source") != "installed" or any(k.startswith("data.parts") for k in wrong):
        return []
    if any(parts.values()):
        return []
    return ["data.parts: every weight is 0; give at least one part a weight"]


def repo_problem(repo_id: str, name: str = "name") -> str | None:
    """hub.repo_id with {name} replaced must be a Hub repo id ("user/name")."""
    repo = repo_id.replace("{name}", name)
    if REPO_ID.fullmatch(repo) and ".." not in repo and "--" not in repo:
        return None
    return (
        f"hub.push is true but hub.repo_id {repo_id!r} is not a Hub repo id like "
        '"user/name" (or "user/codegen-{name}" for one repository per experiment)'
    )


def _repo_named(config: dict[str, Any], wrong: set[str]) -> list[str]:
    if get(config, "hub.push") is not True or "hub.repo_id" in wrong:
        return []
    problem = repo_problem(get(config, "hub.repo_id"))
    return [problem] if problem else []


RELATIONS = [_path_named, _vocab_has_merges, _heads_divide, _samples_differ, _a_part_weighs,
             _repo_named]  # fmt: skip
