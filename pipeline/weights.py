"""Weights and checkpoints on disk: where a record's weights are, whether they are whole, and
saving them so that a kill never leaves something that looks complete. Torch-free (the report
uses it; save_weights only calls the objects it is given).

A record names its weights folder relative to the results folder ("<name>/model"), so a moved
or copied results folder still finds them; records written before that named it relative to
the project root ("results/<name>/model") and are still read.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from typing import Any

from pipeline.cache import FILE_MODE, write_json_atomic

IDENTITY_FILE = "identity.json"  # config hash of the run that saved weights or checkpoints
WEIGHTS_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"  # sharded weights (large models)


def weights_folder(record: dict[str, Any], results: Path) -> Path | None:
    """The record's weights folder: absolute as stored, else under the results folder. Older
    records say "results/<name>/model" (from the project root): their last two parts under the
    results folder, wherever it is now, else the path from the project root."""
    from pipeline.errors import ROOT

    stored = record.get("weights")
    if not stored:
        return None
    path = Path(str(stored))
    if path.is_absolute():
        return path
    for candidate in (results / path, results / Path(*path.parts[-2:]), ROOT / path):
        if candidate.exists():
            return candidate
    return results / path


def safetensors_problem(path: Path) -> str | None:
    """Why a .safetensors file is not whole (None when it is): its header must parse and its
    tensors' data must end exactly at the end of the file, as a complete save leaves it."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return f"{path.name} is truncated ({size} bytes)"
            (length,) = struct.unpack("<Q", head)
            if length > size - 8:
                return f"{path.name} is truncated (header of {length} bytes, file of {size})"
            header = json.loads(f.read(length))
    except FileNotFoundError:
        return f"{path.name} is missing"
    except OSError as e:
        return f"{path.name} cannot be read ({e.strerror})"
    except (ValueError, UnicodeDecodeError):
        return f"{path.name} has a corrupt header"
    if not isinstance(header, dict):
        return f"{path.name} has a corrupt header"
    try:  # a header from elsewhere may hold anything: [0, "x"], a number, a 5,000-digit end
        ends = [
            int(t["data_offsets"][1])
            for k, t in header.items()
            if k != "__metadata__" and isinstance(t, dict) and "data_offsets" in t
        ]
    except (TypeError, ValueError, KeyError, IndexError):
        return f"{path.name} has a corrupt header"
    if 8 + length + max(ends, default=0) != size:
        return f"{path.name} is truncated or padded (size {size} does not match its header)"
    return None


def weights_problem(folder: Path | None, config_hash: str | None = None) -> str | None:
    """Why the weights folder cannot be loaded as this run's model (None when it can)."""
    if folder is None:
        return "the record names no weights folder"
    if not folder.is_dir():
        return f"weights folder {folder} not found"
    if not (folder / "config.json").is_file():
        return f"weights folder {folder} has no config.json"
    if (folder / INDEX_FILE).is_file():
        try:
            shards = set(json.loads((folder / INDEX_FILE).read_text())["weight_map"].values())
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return f"weights folder {folder}: {INDEX_FILE} is corrupt"
    else:
        shards = {WEIGHTS_FILE}
    for shard in sorted(shards):
        problem = safetensors_problem(folder / shard)
        if problem:
            return f"weights in {folder}: {problem}"
    identity = folder / IDENTITY_FILE
    if config_hash and identity.is_file():  # weights saved before this file existed: trusted
        try:
            saved = json.loads(identity.read_text()).get("config_hash")
        except (OSError, ValueError, AttributeError):
            saved = None
        if saved != config_hash:
            return f"weights in {folder} are from another config ({saved})"
    return None


def last_checkpoint(ckpt_dir: Path, config_hash: str) -> bool:
    """Resume only from checkpoints of this exact config; others are stale and removed, and so
    are checkpoints a kill or a full disk left half-written (the Trainer would resume from the
    newest folder and fail on it, every run after)."""
    identity = ckpt_dir / IDENTITY_FILE
    if not ckpt_dir.exists():
        return False
    try:
        same = json.loads(identity.read_text()).get("config_hash") == config_hash
    except (OSError, ValueError, AttributeError):
        same = False
    if not same:
        shutil.rmtree(ckpt_dir)
        return False
    complete = False
    for folder in ckpt_dir.iterdir():
        if not folder.name.startswith("checkpoint-"):
            continue
        problem = checkpoint_problem(folder)
        if problem:
            print(f"    removing an incomplete checkpoint: {folder} ({problem})")
            shutil.rmtree(folder, ignore_errors=True)
        else:
            complete = True
    return complete


def checkpoint_problem(folder: Path) -> str | None:
    """Why a checkpoint folder is not whole. The Trainer writes trainer_state.json after the
    model, optimizer, scheduler and RNG states: it parses only if the save reached its end,
    and the weights must still match their own header."""
    try:
        state = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "no complete trainer_state.json"
    if not isinstance(state, dict) or "global_step" not in state:
        return "trainer_state.json has no global_step"
    if not any(
        (folder / f).exists() for f in ("model.safetensors", "model.safetensors.index.json")
    ):
        return None  # save_safetensors = false: a .bin the Trainer checks itself
    return weights_problem(folder)


def save_weights(model, tokenizer, folder: Path, config_hash: str) -> None:
    """save_pretrained into a temp folder, then swap: old weights survive a failed save."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)  # safetensors
    tokenizer.save_pretrained(tmp)
    # Which config made these weights: a record set aside by a failed rerun is only restored
    # when the weights beside it are still its own.
    write_json_atomic(tmp / IDENTITY_FILE, {"config_hash": config_hash})
    for path in [tmp, *tmp.rglob("*")]:  # readable by every user, whatever wrote them
        path.chmod(0o755 if path.is_dir() else FILE_MODE)
    old = folder.with_name(folder.name + ".old")
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
