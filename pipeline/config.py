"""Experiment configuration: defaults.toml <- profiles/<profile>.toml <- matrix.toml[<name>].

Torch-free on purpose: the report reads the matrix through this module and must stay light.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.cache import key_hash
from pipeline.errors import EXPERIMENTS_DIR, PROFILES, ROOT, ConfigError  # noqa: F401  (re-exported)
from pipeline.inputs import load_toml
from pipeline.matrix_values import (  # noqa: F401  (merge, flatten, parse_sets: their old home)
    SESSION_SETS,
    expand_sweep,
    flatten,
    merge,
    parse_sets,
    path_keywords_default,
    sweep_label,
    use_sets,
)
from pipeline.rules import check_rules
from pipeline.validate import PROFILE_NAME, check_sections, validate

# Sections whose values change speed but not what is learned: outside the identity hash.
SPEED_SECTION = "speed"
# Where logs and weights go (TensorBoard, the Hub) does not change what is learned either.
NON_IDENTITY_SECTIONS = (SPEED_SECTION, "logging", "hub")
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    profile: str
    config: dict[str, Any]  # fully resolved
    overrides: dict[str, Any]  # what this experiment changes from its profile (dotted keys)
    # A sweep's member: the matrix entry it came from and its swept values (dotted keys).
    sweep_of: str = ""
    sweep: dict[str, Any] = field(default_factory=dict)

    @property
    def config_hash(self) -> str:
        return config_hash(self.config)


def config_hash(config: dict[str, Any]) -> str:
    """Identity of an experiment: every resolved value except the speed, logging and hub
    sections (a config without the latter two hashes as it did before they existed)."""
    ident = {k: v for k, v in config.items() if k not in NON_IDENTITY_SECTIONS}
    return key_hash(ident)


def profile_config(profile: str, experiments_dir: Path = EXPERIMENTS_DIR) -> dict[str, Any]:
    if (
        not PROFILE_NAME.match(profile)
        or profile not in PROFILES
        and not (experiments_dir / "profiles" / f"{profile}.toml").exists()
    ):
        raise ConfigError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    defaults = load_toml(experiments_dir / "defaults.toml")
    delta = load_toml(experiments_dir / "profiles" / f"{profile}.toml")
    errors = unknown_keys(defaults, delta, f"profiles/{profile}.toml")
    errors += [f"profiles/{profile}.toml: {e}" for e in check_sections(defaults, delta)]
    if errors:
        raise ConfigError("; ".join(errors))
    config = merge(defaults, delta)
    own = flatten(delta)  # a profile's wrong value is said once, not once per experiment
    errors = [f"profiles/{profile}.toml: {e}" for e in check_rules(config) if e.split()[0] in own]
    if errors:
        raise ConfigError("\n".join(errors))
    return config


def load_matrix(
    profile: str = "cpu",
    experiments_dir: Path = EXPERIMENTS_DIR,
    matrix_file: Path | None = None,
    check_training_args: bool = True,
    sets: dict[str, Any] | None = None,
) -> list[Experiment]:
    """Resolve every experiment of the matrix; all problems are reported together.

    check_training_args=False skips the checks that import transformers (and so torch, seconds):
    the report only needs names and overrides. sets: --set values, over every experiment
    (None: the command line's, SESSION_SETS)."""
    base = profile_config(profile, experiments_dir)
    matrix = load_toml(matrix_file or experiments_dir / "matrix.toml")
    if not matrix:
        raise ConfigError(
            f"{matrix_file or experiments_dir / 'matrix.toml'}: no experiments defined"
        )
    errors: list[str] = []
    experiments = []
    sets = SESSION_SETS if sets is None else sets
    if sets:
        errors += unknown_keys(base, sets, "--set")
    profile_delta = load_toml(experiments_dir / "profiles" / f"{profile}.toml")
    for name, entry in matrix.items():
        if not isinstance(entry, dict):
            errors.append(f"experiment {name!r}: expected a table like [{name}], got a value")
            continue
        if not SAFE_NAME.match(name):
            errors.append(
                f"experiment {name!r}: use letters, digits, '.', '_' or '-' (it becomes a folder name)"
            )
        sections = check_sections(base, entry)  # `training = 5`: no merge, no checks after it
        if sections:
            errors += [f"experiment {name!r}: {e}" for e in sections]
            continue
        entry = dict(entry)
        description = str(entry.pop("description", ""))
        # [name.profile.<profile>] holds values for one profile only (steps differ by scale).
        per_profile = entry.pop("profile", {})
        entry = merge(entry, per_profile.get(profile, {}) if isinstance(per_profile, dict) else {})
        entry, problems = derive(entry, base)  # learning_rate_scale -> learning_rate
        errors += [f"experiment {name!r}: {e}" for e in problems]
        entry = merge(entry, sets)  # --set wins over the matrix, for every experiment
        members, problems = expand_sweep(name, entry, base)
        errors += problems
        for member, swept, member_entry in members:
            if not SAFE_NAME.match(member):
                errors.append(
                    f"experiment {member!r}: use letters, digits, '.', '_' or '-' (at most 64; "
                    "it becomes a folder name)"
                )
            errors += unknown_keys(base, member_entry, f"experiment {member!r}")
            config = merge(base, member_entry)
            path_keywords_default(config, profile_delta, member_entry)
            problems = validate(config, member, check_training_args)
            errors += [f"experiment {member!r}: {e}" for e in problems]
            text = " ".join(filter(None, [description, swept and f"({sweep_label(swept)})"]))
            overrides = {k: v for k, v in flatten(member_entry).items() if k not in flatten(sets)}
            sweep_of = name if swept else ""
            experiments.append(
                Experiment(member, text, profile, config, overrides, sweep_of, swept)
            )
    if len({e.name for e in experiments}) < len(experiments):
        errors.append("two experiments share a name: rename a table or a sweep's entry")
    if errors:
        raise ConfigError("\n".join(errors))
    return experiments


def derive(entry: dict[str, Any], base: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Matrix values derived from the profile's, so that they follow it when it changes:
    `training.learning_rate_scale = 4` is four times the profile's learning rate. The entry
    gets the value itself, so its identity and overrides are those of the written-out number."""
    training = entry.get("training")
    if not isinstance(training, dict) or "learning_rate_scale" not in training:
        return entry, []
    training = dict(training)
    scale = training.pop("learning_rate_scale")
    if "learning_rate" in training:
        return entry, ["set training.learning_rate or training.learning_rate_scale, not both"]
    if not isinstance(scale, int | float) or isinstance(scale, bool) or not 0 < scale < math.inf:
        return entry, [f"training.learning_rate_scale must be a positive number, got {scale!r}"]
    training["learning_rate"] = base["training"]["learning_rate"] * scale
    return {**entry, "training": training}, []


def unknown_keys(base: dict[str, Any], delta: dict[str, Any], where: str) -> list[str]:
    """Keys of delta that base does not have, with the closest valid key as a hint."""
    known = flatten(base)
    errors = []
    for key in flatten(delta):
        if key in known:
            continue
        section = key.split(".")[0]
        if section in ("training", "model") and key.count(".") == 1:
            continue  # TrainingArguments / GPT2Config fields: checked in validate()
        hint = difflib.get_close_matches(key, list(known), n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        errors.append(f"{where}: unknown key {key!r}{suggestion}")
    return errors


def select(experiments: list[Experiment], name: str) -> Experiment:
    for exp in experiments:
        if exp.name == name:
            return exp
    names = [e.name for e in experiments]
    hint = difflib.get_close_matches(name, names, n=1)
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    raise ConfigError(
        f"no experiment named {name!r}{suggestion}; the matrix has: {', '.join(names)}"
    )
