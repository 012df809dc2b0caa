"""Read a datasets.Dataset a batch of rows at a time without growing the process's memory.

`Dataset.iter()` reads through a memory map: every page it touches stays in the process's
resident set until the dataset is closed, so reading a 2 GB split once adds 2 GB to RSS (clean
page cache, but counted, and a 12.7 GB Colab sees it). Where the dataset is plain Arrow files
on disk (what `load_from_disk`, `Dataset.from_file` and `load_dataset`'s cache give), this reads
those files with ordinary reads instead, one record batch at a time, and frees each batch after
use. Anything else (an in-memory table, an indices mapping, a renamed or sliced table) goes
through `Dataset.iter()`, which gives the same rows in the same order.
"""

from __future__ import annotations

from collections.abc import Iterator
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


def column_batches(ds: Any, column: str, batch_size: int) -> Iterator[list[Any]]:
    """One column as Python lists of `batch_size` values (the last list shorter)."""
    for table in arrow_batches(ds, [column], batch_size):
        yield table.column(column).to_pylist()
