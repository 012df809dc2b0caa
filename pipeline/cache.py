"""Files and cache folders that are whole or absent, and the keys that name them.

Each data stage (corpus, tokenizer, chunks) keys its folder by a hash of its inputs (key_hash)
and writes a marker file last; a folder whose marker exists is complete. Single files (records,
reports, weights' identity) are written atomically."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

FILE_MODE = 0o644  # records, weights and reports: readable by the other users of a machine
T = TypeVar("T")


def key_hash(value: Any, compact: bool = True) -> str:
    """16 hex digits of the sha256 of `value` as sorted JSON: a cache folder's or a config's
    identity. compact=False is the spacing the tokenizer and chunk keys were first made with;
    changing it would orphan every cache entry."""
    separators = (",", ":") if compact else (", ", ": ")
    blob = json.dumps(value, sort_keys=True, separators=separators, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def json_safe(value: Any) -> Any:
    """Replace non-finite floats by strings, recursively, so json.dumps(allow_nan=False) works."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


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


def cached(
    folder: Path, marker: str, load: Callable[[Path], T], build: Callable[[], tuple[Any, dict]]
) -> tuple[T, dict[str, Any]]:
    """(load(folder), the marker's JSON) from a complete cache folder; else build() returns
    (save, info): save(tmp) fills the folder, info becomes the marker, written last."""
    path = folder / marker
    if path.exists():  # written last: the folder is complete
        return load(folder), json.loads(path.read_text())
    save, info = build()

    def write(tmp: Path) -> None:
        save(tmp)
        write_json_atomic(tmp / marker, info)

    publish(folder, marker, write)
    return load(folder), info


def publish(folder: Path, marker: str, write: Callable[[Path], None]) -> None:
    """Call write(tmp) to fill a temporary folder (marker file last), then rename it to folder.

    A killed build leaves only a temp folder, which the next build removes."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_builds(folder)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.{os.getpid()}."))
    try:
        write(tmp)
        try:
            os.rename(tmp, folder)
        except OSError:  # the folder exists: a concurrent build of the same key, or debris
            if (folder / marker).is_file():
                shutil.rmtree(tmp)
            else:
                shutil.rmtree(folder)
                os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale_builds(folder: Path) -> None:
    """Temporary folders of builds whose process is gone (killed, crashed)."""
    for tmp in folder.parent.glob(f".{folder.name}.*"):
        try:
            pid = int(tmp.name.split(".")[2])
            os.kill(pid, 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except (ValueError, IndexError, PermissionError):
            continue
