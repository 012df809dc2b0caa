"""Read a datasets.Dataset a batch of rows at a time without growing the process's memory.

`Dataset.iter()` reads through a memory map: every page it touches stays in the process's
resident set until the dataset is closed, so reading a 2 GB split once adds 2 GB to RSS (clean
page cache, but counted, and a 12.7 GB Colab sees it). Where the dataset is plain Arrow files
on disk (what `load_from_disk`, `Dataset.from_file` and `load_dataset`'s cache give), this reads
those files with ordinary reads instead, one record batch at a time, and frees each batch after
use. Anything else (an in-memory table, an indices mapping, a renamed or sliced table) goes
through `Dataset.iter()`, which gives the same rows in the same order.

Where rows must be gathered through the map (a selection in any order, as the corpus stage
writes its splits), write_rows() gathers a batch at a time and then hands the pages it touched
back (madvise MADV_DONTNEED: the mapping is read-only, so the next read maps them again).
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa


def _plain_files(ds: Any) -> list[str] | None:
    """The Arrow files whose rows, in order, are exactly ds's rows; None if ds is anything else."""
    from datasets.table import ConcatenationTable, MemoryMappedTable

    if getattr(ds, "_indices", None) is not None:
        return None
    table = ds.data
    if isinstance(table, MemoryMappedTable):
        blocks = [table]
    elif isinstance(table, ConcatenationTable) and all(len(row) == 1 for row in table.blocks):
        blocks = [row[0] for row in table.blocks]
    else:
        return None
    if not all(isinstance(b, MemoryMappedTable) and _same_rows(b.replays) for b in blocks):
        return None
    if sum(b.num_rows for b in blocks) != len(ds):
        return None
    return [b.path for b in blocks]


def _same_rows(replays: list | None) -> bool:
    """Only schema metadata replaced (Dataset.from_file on a file without datasets' own
    metadata): the file's columns and rows are the table's."""
    return all(op == "replace_schema_metadata" for op, _, _ in replays or [])


def arrow_batches(ds: Any, columns: list[str], batch_size: int) -> Iterator[pa.Table]:
    """ds's `columns`, `batch_size` rows at a time (the last batch shorter), as Arrow tables."""
    paths = _plain_files(ds)
    if paths is None:
        view = ds.select_columns(columns).with_format("arrow")
        yield from view.iter(batch_size=batch_size)
        return
    pending: list[pa.RecordBatch] = []
    held = 0
    for path in paths:
        with pa.OSFile(path, "rb") as source, pa.ipc.open_stream(source) as reader:
            for batch in reader:
                pending.append(batch.select(columns))
                held += batch.num_rows
                while held >= batch_size:
                    table = pa.Table.from_batches(pending)
                    yield table.slice(0, batch_size)
                    rest = table.slice(batch_size)
                    pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending)


def column_batches(
    ds: Any, column: str, batch_size: int, rows: list[int] | None = None
) -> Iterator[list[Any]]:
    """One column as Python lists of `batch_size` values (the last list shorter); with `rows`
    (ascending indices), only those rows, as ds.select(rows) gives them."""
    if rows is not None and _plain_files(ds) is None:
        ds, rows = ds.select(rows), None
    if rows is None:
        for table in arrow_batches(ds, [column], batch_size):
            yield table.column(column).to_pylist()
        return
    import numpy as np

    wanted = np.zeros(len(ds), dtype=bool)
    wanted[rows] = True
    out: list[Any] = []
    start = 0
    for table in arrow_batches(ds, [column], batch_size):  # every row read, the wanted kept
        picked = table.filter(pa.array(wanted[start : start + table.num_rows]))
        start += table.num_rows
        out += picked.column(column).to_pylist()
        while len(out) >= batch_size:
            yield out[:batch_size]
            out = out[batch_size:]
    if out:
        yield out


MADV_DONTNEED = 4  # Linux


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)  # loaded once: write_rows calls per batch


def drop_mapped_pages(paths: set[str]) -> None:
    """Take this process's pages of the read-only memory maps of `paths` out of its resident set;
    the data stays in the page cache and in the file. Linux only, as the project is."""
    if not os.path.exists("/proc/self/maps"):  # not Linux: the pages stay, nothing breaks
        return
    libc = _libc()
    with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) < 6 or "w" in fields[1] or fields[5].rstrip("\n") not in paths:
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), MADV_DONTNEED)


def write_rows(ds: Any, path: Path, batch_size: int = 1000) -> None:
    """Write ds's rows (any selection, in its order) to the Arrow stream file `path`, as
    Dataset.from_file reads it, with the memory it takes bounded by a batch."""
    sources = {os.path.realpath(f["filename"]) for f in ds.cache_files}
    schema = ds.features.arrow_schema  # with datasets' features in its metadata
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for table in ds.with_format("arrow").iter(batch_size=batch_size):
            # One record batch per batch: a gathered table has a chunk per row, and a file of
            # one-row batches is read whole (each batch's header) just to be opened.
            writer.write_table(table.cast(schema).combine_chunks())
            drop_mapped_pages(sources)
