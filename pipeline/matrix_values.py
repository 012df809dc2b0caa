"""Values a run gives its experiments besides their matrix tables: the command line's --set,
sweeps (a table that lists values expands into one experiment per value, or per combination),
and the defaults that depend on the data source; merge and flatten, the config's algebra.
Used by pipeline.config.load_matrix. Torch-free, like pipeline.config.
"""

from __future__ import annotations

import copy
import itertools
import re
import tomllib
from typing import Any


def merge(base: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge delta into a copy of base (tables merge, values replace)."""
    out = copy.deepcopy(base)
    for key, value in delta.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


# --set KEY=VALUE of the command line (python -m pipeline / python -m report): over every
# experiment of the matrix, as if each table held them. use_sets() sets them once per process.
SESSION_SETS: dict[str, Any] = {}


def parse_sets(items: list[str]) -> dict[str, Any]:
    """--set KEY=VALUE pairs as a nested table. VALUE is read as a TOML value (1e-3, true,
    [1e-3, 3e-3], "text"); what is not one is a string, so a path needs no quotes."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if (
            not sep
            or not key
            or not all(re.fullmatch(r"[A-Za-z0-9_-]+", k) for k in key.split("."))
        ):
            from pipeline.errors import ConfigError  # config imports this module

            raise ConfigError(
                f"--set {item!r}: expected KEY=VALUE with a dotted key, e.g. --set data.path=src"
            )
        try:
            value = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        out = merge(out, _nested(key.split("."), value))
    return out


def _nested(parts: list[str], value: Any) -> dict[str, Any]:
    return {parts[0]: _nested(parts[1:], value) if len(parts) > 1 else value}


def use_sets(sets: dict[str, Any]) -> None:
    """The command line's --set values, for every load_matrix() of this process."""
    SESSION_SETS.clear()
    SESSION_SETS.update(sets)


# TrainingArguments fields whose value is a list: a list there is the value, not a sweep.
LIST_VALUES = {"training.report_to", "training.label_names", "training.fsdp"}


def expand_sweep(
    name: str, entry: dict[str, Any], base: dict[str, Any]
) -> tuple[list[tuple[str, dict[str, Any], dict[str, Any]]], list[str]]:
    """A matrix entry whose values are lists (where the default is not one) is a sweep: one
    experiment per value, or per combination when two or more keys list values (a grid).
    Returns (name, swept values, entry) per member, and the problems found."""
    known = flatten(base)
    flat = flatten(entry)
    swept = {
        k: v
        for k, v in flat.items()
        if isinstance(v, list) and not isinstance(known.get(k), list) and k not in LIST_VALUES
    }
    if not swept:
        return [(name, {}, entry)], []
    empty = [k for k, v in swept.items() if not v]
    if empty:
        return [], [f"experiment {name!r}: {k} lists no values" for k in empty]
    members = []
    for combo in itertools.product(*swept.values()):
        values = dict(zip(swept, combo, strict=True))
        label = "-".join(f"{k.rsplit('.', 1)[-1]}-{value_text(v)}" for k, v in values.items())
        member = entry
        for key, value in values.items():
            member = merge(member, _nested(key.split("."), value))
        members.append((f"{name}-{label}", values, member))
    return members, []


def value_text(value: Any) -> str:
    """A swept value as part of a folder name: 0.003, 1e-05, adafactor, true."""
    if isinstance(value, bool):
        return str(value).lower()
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return re.sub(r"[^A-Za-z0-9._-]", "_", text.replace("+", ""))


def sweep_label(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {v!r}" for k, v in values.items())


def path_keywords_default(
    config: dict[str, Any], profile_delta: dict[str, Any], entry: dict[str, Any]
) -> None:
    """With data.source = "path" the keyword filter is off unless the profile, the entry or
    --set names data.keywords: codeparrot-ds's keywords pick code that uses pandas & co. out of
    GitHub, and would drop most of a user's own code (97 of 97 files, as reported)."""
    named = "keywords" in (profile_delta.get("data") or {}) or "keywords" in (
        entry.get("data") or {}
    )
    if (config.get("data") or {}).get("source") == "path" and not named:
        config["data"]["keywords"] = []
