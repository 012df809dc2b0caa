"""Validation of a resolved experiment config, before any work: the rules of pipeline.rules
(every key's type and range, the relations between keys), then what the machine must provide
(TrainingArguments names, input files, packages, a Hub token, memory).

Torch-free (the report resolves the matrix too): with check_training_args=False nothing imports
transformers. pipeline.config.load_matrix() collects the lines for every experiment, so a run
stops before its first step instead of failing at the data stage, after training, or minutes
into an out-of-memory.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from pipeline.data_checks import check_path_data
from pipeline.hub import check_config as check_hub
from pipeline.inputs import check_files, check_memory, machine_memory
from pipeline.rules import LOCAL_TRAINING_KEYS, OVERRIDDEN_TRAINING_KEYS, check_rules, get
from pipeline.tensorboard_logs import check_config as check_tensorboard
from pipeline.wandb_logs import check_config as check_wandb

PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # a file in profiles/, no path


def validate(
    config: dict[str, Any], name: str = "name", check_training_args: bool = True
) -> list[str]:
    """Every problem of one experiment's config, one line each (each starts with its key)."""
    errors = check_rules(config) + _training_keys(config, check_training_args)
    errors += _model_keys(config)
    if not check_training_args:  # the report's side: names and overrides only
        return errors
    errors += check_files(config) + check_sandbox(config)
    errors += check_hub(config, name) + check_tensorboard(config) + check_wandb(config)
    if not any(e.startswith("data.") for e in errors):
        errors += check_path_data(config)  # a folder too small for the config, found now
    if not errors:  # only a config that is otherwise right is sized
        errors += check_memory(config, machine_memory())
    return errors


def _training_keys(config: dict[str, Any], check_training_args: bool) -> list[str]:
    """[training] keys the project sets itself, and names transformers must know."""
    training = config.get("training") or {}
    errors = [
        f"training.{key} is set by the project and would be ignored: "
        f"{OVERRIDDEN_TRAINING_KEYS[key]}"
        for key in sorted(set(training) & set(OVERRIDDEN_TRAINING_KEYS))
    ]
    if not check_training_args:
        return errors
    for key, valid, what in (
        ("optim", optimizer_names(), "is not a TrainingArguments optimizer"),
        ("lr_scheduler_type", scheduler_names(), "is unknown"),
    ):
        value = training.get(key)
        if isinstance(value, str) and valid and value not in valid:
            errors.append(f"training.{key} {value!r} {what}; valid: {', '.join(valid)}")
    names = training_argument_names()
    local = LOCAL_TRAINING_KEYS | set(OVERRIDDEN_TRAINING_KEYS)
    for key in sorted(set(training) - names - local) if names else []:
        hint = difflib.get_close_matches(key, sorted(names), n=1)
        suggestion = f" (did you mean 'training.{hint[0]}'?)" if hint else ""
        errors.append(f"unknown key 'training.{key}': not a TrainingArguments field{suggestion}")
    return errors


def _model_keys(config: dict[str, Any]) -> list[str]:
    from pipeline.model import MODEL_FIELDS  # torch-free module

    errors = []
    for key in sorted(set(config.get("model") or {}) - {"preset", *MODEL_FIELDS}):
        hint = difflib.get_close_matches(key, MODEL_FIELDS, n=1)
        suggestion = f" (did you mean 'model.{hint[0]}'?)" if hint else ""
        errors.append(
            f"unknown key 'model.{key}'{suggestion}; [model] takes preset and "
            + ", ".join(MODEL_FIELDS)
        )
    return errors


def optimizer_names() -> list[str]:
    try:
        from transformers.training_args import OptimizerNames
    except ImportError:  # the report's environment need not have transformers
        return []
    return [o.value for o in OptimizerNames]


def scheduler_names() -> list[str]:
    try:
        from transformers.trainer_utils import SchedulerType
    except ImportError:
        return []
    return [s.value for s in SchedulerType]


def training_argument_names() -> set[str]:
    try:
        import dataclasses

        from transformers import TrainingArguments
    except ImportError:
        return set()
    return {f.name for f in dataclasses.fields(TrainingArguments)}


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


def check_sandbox(config: dict[str, Any]) -> list[str]:
    """HumanEval runs model-written code: only in an OS sandbox, or where the user named the
    unsafe mode (pipeline.sandbox). Said before training, not after it."""
    if get(config, "humaneval.enabled") is not True:
        return []
    from pipeline.sandbox import sandbox_problem

    problem = sandbox_problem()
    return [f"humaneval.enabled: {problem}"] if problem else []
