"""Where the corpus comes from: installed packages, a local folder/.jsonl/.parquet, or the hub.

installed and path give rows (dicts with codeparrot-ds's columns, content None when the bytes are
not UTF-8 text); the hub gives datasets.Dataset splits that are filtered in place by index.
Each source also has a fingerprint: what the cache key must change with.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.arrow_batches import arrow_batches
from pipeline.corpus.filters import decode
from pipeline.errors import ConfigError
from pipeline.inputs import hub_reachable, path_problem, read_regular

if TYPE_CHECKING:
    import datasets

COLUMNS = ("repo_name", "path", "copies", "size", "content", "license")
OFFLINE_HINT = 'use data.source = "installed" (the offline default), or "path" with a local copy'
# A source file larger than this is no code a model learns from (a data dump, a minified
# bundle): left out as unreadable, and never read whole. A .jsonl line likewise.
MAX_FILE_BYTES = 16 << 20
MAX_LINE_BYTES = 64 << 20
# A split name for each of our splits, in order of preference, when a dataset has several.
HUB_SPLITS = {"train": ("train",), "valid": ("validation", "valid", "test")}


@dataclass(frozen=True)
class SourceFile:
    repo_name: str
    path: str  # relative, with "/": what the path column holds
    file: str | Path  # where to read it
    license: str


# ---- installed: the .py files of the distributions in this environment ----


def _installed() -> list[tuple[str, metadata.Distribution, Message]]:
    """(name, distribution, metadata) once per name, the copy import would find first,
    sorted by name."""
    first: dict[str, tuple[str, metadata.Distribution, Message]] = {}
    for dist in metadata.distributions():  # sys.path order
        meta = dist.metadata  # every access parses the file again: read it once
        name = meta["Name"] or ""
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key and key not in first:
            first[key] = (name, dist, meta)
    return [first[k] for k in sorted(first)]


def dist_license(meta: Message) -> str:
    expression = meta.get("License-Expression")
    if expression:
        return expression.strip()
    text = (meta.get("License") or "").strip()
    # Some packages paste the whole license text here; a classifier names it better.
    if text and "\n" not in text and len(text) <= 64 and text.upper() != "UNKNOWN":
        return text
    classifiers = [
        c.split("::")[-1].strip()
        for c in meta.get_all("Classifier") or []
        if c.startswith("License ::")
    ]
    if classifiers:
        return "; ".join(classifiers)
    return text.splitlines()[0][:64] if text and text.upper() != "UNKNOWN" else "unknown"


def dist_py_files(dist: metadata.Distribution) -> list[str]:
    """The distribution's .py files, sorted; ".." entries (scripts outside site-packages) skipped."""
    record = dist.read_text("RECORD")
    if record is not None:
        # RECORD is CSV (path, hash, size). Reading it directly skips building ~50k pathlib
        # objects in dist.files: about a second of a few-second build.
        paths = [row[0] for row in csv.reader(record.splitlines()) if row]
    else:  # egg-info and other layouts
        paths = [str(f) for f in dist.files or []]
    return sorted(p for p in paths if p.endswith(".py") and not p.startswith(".."))


def installed_files() -> list[SourceFile]:
    files = []
    for name, dist, meta in _installed():
        license_ = dist_license(meta)
        base = str(dist.locate_file(""))
        for rel in dist_py_files(dist):
            files.append(SourceFile(name, rel, os.path.join(base, rel), license_))
    return files


def installed_fingerprint() -> list[str]:
    return [f"{name}=={meta['Version']}" for name, _, meta in _installed()]


# ---- path: a folder of .py files, a .jsonl or a .parquet file ----


def folder_files(root: Path) -> list[Path]:
    """Every *.py under root, sorted; hidden folders (.git, .venv, .tox) are skipped."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"]
        out += [Path(dirpath, f) for f in filenames if f.endswith(".py")]
    return sorted(out, key=lambda p: p.relative_to(root).as_posix())


def resolve_path(value: str) -> Path:
    problem = path_problem(value)
    if problem:
        raise ConfigError(problem)
    return Path(value).expanduser()


def path_files(path: Path) -> list[SourceFile]:
    files = [
        SourceFile(path.resolve().name, f.relative_to(path).as_posix(), f, "unknown")
        for f in folder_files(path)
    ]
    if not files:
        raise ConfigError(f"data.path {str(path)!r} has no .py files")
    return files


def read_files(files: list[SourceFile], unreadable: list[str]) -> Iterator[dict[str, Any]]:
    for f in files:
        try:  # regular files only: a FIFO would block for ever, /dev/zero never end
            data = read_regular(Path(f.file), MAX_FILE_BYTES)
        except OSError:  # a RECORD entry whose file was removed, a permission problem
            unreadable.append(str(f.file))
            continue
        yield {
            "repo_name": f.repo_name,
            "path": f.path,
            "copies": "1",
            "size": str(len(data)),
            "content": decode(data),
            "license": f.license,
        }


def table_row(obj: dict[str, Any], repo_name: str, index: int) -> dict[str, Any]:
    """A .jsonl/.parquet/hub row in codeparrot-ds's columns; absent columns get defaults."""
    content = obj.get("content")
    if isinstance(content, bytes | bytearray):  # a parquet `binary` column: UTF-8 text is kept
        content = decode(bytes(content))
    if not isinstance(content, str):
        content = None  # null, not text, or bytes that are not UTF-8: dropped as not_utf8
    defaults = {
        "repo_name": repo_name,
        "path": str(index),
        "copies": "1",
        "size": str(len(content.encode("utf-8", "replace"))) if content else "0",
        "license": "unknown",
    }
    row = {k: str(obj[k]) if obj.get(k) is not None else v for k, v in defaults.items()}
    row["content"] = content
    return {c: row[c] for c in COLUMNS}  # codeparrot-ds's column order


def fill_row(row: dict[str, Any], i: int, repo_name: str, indices: list[int]) -> dict[str, Any]:
    """Dataset.map function: the defaults table_row gave the same row while filtering."""
    return table_row(row, repo_name, indices[i])


def table_rows(path: Path) -> Iterator[dict[str, Any]]:
    if path.suffix.lower() == ".jsonl":
        with open(path, "rb") as f:
            for lineno, line in enumerate(iter(lambda: f.readline(MAX_LINE_BYTES + 1), b""), 1):
                if len(line) > MAX_LINE_BYTES:
                    raise ConfigError(
                        f"{path}:{lineno}: a line over {MAX_LINE_BYTES >> 20} MiB; one JSON "
                        "object of a file's code per line was expected"
                    )
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except RecursionError:  # the C parser's depth limit, as an exception
                    raise ConfigError(f"{path}:{lineno}: JSON nested too deep") from None
                except ValueError as e:  # also a number past Python's digit limit
                    raise ConfigError(f"{path}:{lineno}: not valid JSON ({e})") from None
                if not isinstance(obj, dict) or "content" not in obj:
                    raise ConfigError(
                        f"{path}:{lineno}: no 'content' column; each line must be a JSON object with a 'content' string"
                    )
                yield table_row(obj, path.stem, lineno)
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        raise ConfigError(f"{path}: not a readable parquet file ({e})") from None
    names = parquet.schema_arrow.names
    if "content" not in names:
        raise ConfigError(
            f"{path}: no 'content' column (columns: {', '.join(names)}); the code must be in 'content'"
        )
    index = 0
    for batch in parquet.iter_batches(batch_size=1024, columns=[c for c in COLUMNS if c in names]):
        for obj in batch.to_pylist():
            yield table_row(obj, path.stem, index)
            index += 1


def path_fingerprint(path: Path, pattern: str = "*.py") -> list[Any]:
    """Name, size and mtime of every file: cheap, and changes when any file does."""
    files = [path] if path.is_file() else sorted(path.rglob(pattern))
    digest = hashlib.sha256()
    for f in files:
        try:
            st = f.stat()
        except OSError:  # a dangling link: read_files counts it as unreadable
            continue
        digest.update(f"{f.relative_to(path.parent)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return [str(path.resolve()), digest.hexdigest()]


# ---- hub: datasets.load_dataset, with a clear error where the hub is out of reach ----


def _local(name: str) -> Path | None:
    path = Path(name).expanduser()
    if path.exists():
        return path
    if name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name:
        raise ConfigError(f"{name!r} not found (a local dataset folder or file was expected)")
    return None  # an "owner/name" hub id


def load_hub_split(name: str, split: str) -> datasets.Dataset:
    import datasets

    key = f"data.hub_{split}"
    if not name:
        raise ConfigError(f"{key} is empty: name a hub dataset id or a local dataset folder")
    local = _local(name)
    if local is None and not datasets.config.HF_HUB_OFFLINE and not hub_reachable():
        raise ConfigError(f"{key} {name!r}: the HuggingFace hub is unreachable; {OFFLINE_HINT}")
    try:
        loaded = datasets.load_dataset(str(local) if local else name)
    except ConnectionError as e:  # offline mode without a cached copy, or the network dropped
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(
            f"{key} {name!r}: cannot reach the HuggingFace hub ({reason}); {OFFLINE_HINT}"
        ) from None
    except Exception as e:  # not found, gated, broken files: the library's message says which
        reason = str(e).splitlines()[0] if str(e) else ""
        raise ConfigError(f"{key} {name!r}: cannot load ({type(e).__name__}: {reason})") from None
    names = list(loaded)
    chosen = next(
        (s for s in HUB_SPLITS[split] if s in loaded), names[0] if len(names) == 1 else None
    )
    if chosen is None:
        raise ConfigError(
            f"{key} {name!r} has splits {', '.join(names)}; expected one of {', '.join(HUB_SPLITS[split])}"
        )
    ds = loaded[chosen]
    if "content" not in ds.column_names:
        raise ConfigError(
            f"{key} {name!r}: no 'content' column (columns: {', '.join(ds.column_names)})"
        )
    return ds


def hub_rows(ds: datasets.Dataset, repo_name: str) -> Iterator[dict[str, Any]]:
    """Rows of a hub split in codeparrot-ds's columns (the index is the default path)."""
    columns = [c for c in COLUMNS if c in ds.column_names]
    index = 0
    for table in arrow_batches(ds, columns, 1000):  # plain reads: RSS stays flat
        batch = table.to_pydict()
        for i in range(len(batch["content"])):
            yield table_row({c: batch[c][i] for c in columns}, repo_name, index)
            index += 1


def hub_fingerprint(names: list[str]) -> list[Any]:
    out: list[Any] = []
    for name in names:
        local = _local(name) if name else None
        out.append(path_fingerprint(local, "*") if local else name)
    return out
