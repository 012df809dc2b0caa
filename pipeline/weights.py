"""Where a record's weights are, and whether they are whole. Torch-free: the report uses it.

A record names its weights folder relative to the results folder ("<name>/model"), so a moved
or copied results folder still finds them; records written before that named it relative to
the project root ("results/<name>/model") and are still read.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

IDENTITY_FILE = "identity.json"  # config hash of the run that saved the weights
WEIGHTS_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"  # sharded weights (large models)


def weights_folder(record: dict[str, Any], results: Path) -> Path | None:
    """The record's weights folder: absolute as stored, else under the results folder. Older
    records say "results/<name>/model" (from the project root): their last two parts under the
    results folder, wherever it is now, else the path from the project root."""
    from pipeline.config import ROOT

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
    ends = [
        int(t["data_offsets"][1])
        for k, t in header.items()
        if k != "__metadata__" and isinstance(t, dict) and "data_offsets" in t
    ]
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
