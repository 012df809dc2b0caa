"""pipeline.arrow_batches: the same rows, in the same order and batches, as Dataset.iter(),
read from the Arrow files with plain reads where the dataset is plain files on disk."""

from __future__ import annotations

import pytest
from datasets import Dataset, load_from_disk

from pipeline.arrow_batches import _plain_files, arrow_batches, column_batches


def rows(n: int) -> dict[str, list]:
    return {"content": [f"x = {i}\n" * (i % 7 + 1) for i in range(n)], "n": list(range(n))}


def expected(ds: Dataset, column: str, size: int) -> list[list]:
    return [b[column] for b in ds.select_columns([column]).iter(batch_size=size)]


@pytest.mark.parametrize("size", [1, 7, 100, 1000, 5000])
def test_sharded_files_give_the_rows_of_iter(tmp_path, size):
    Dataset.from_dict(rows(2345)).save_to_disk(str(tmp_path / "ds"), num_shards=3)
    ds = load_from_disk(str(tmp_path / "ds"))
    files = _plain_files(ds)
    assert files is not None and len(files) == 3  # read from the files, not the memory map
    got = list(column_batches(ds, "content", size))
    assert got == expected(ds, "content", size)
    assert [len(b) for b in got][:-1] == [size] * (len(got) - 1)  # only the last batch shorter
    assert sum(len(b) for b in got) == 2345


def test_two_columns_keep_their_order_and_values(tmp_path):
    Dataset.from_dict(rows(50)).save_to_disk(str(tmp_path / "ds"), num_shards=2)
    ds = load_from_disk(str(tmp_path / "ds"))
    tables = list(arrow_batches(ds, ["n", "content"], 16))
    assert [t.column_names for t in tables] == [["n", "content"]] * 4
    assert sum((t.column("n").to_pylist() for t in tables), []) == list(range(50))


def test_anything_but_plain_files_goes_through_iter(tmp_path):
    Dataset.from_dict(rows(40)).save_to_disk(str(tmp_path / "ds"))
    ds = load_from_disk(str(tmp_path / "ds"))
    picked = ds.select([5, 3, 30, 3])  # an indices mapping: rows out of file order
    assert _plain_files(picked) is None
    assert list(column_batches(picked, "n", 3)) == [[5, 3, 30], [3]]
    renamed = ds.rename_column("content", "text")  # a replay on the mapped table
    assert _plain_files(renamed) is None
    assert list(column_batches(renamed, "text", 100)) == [rows(40)["content"]]
    memory = Dataset.from_dict(rows(9))
    assert _plain_files(memory) is None
    assert list(column_batches(memory, "n", 4)) == [[0, 1, 2, 3], [4, 5, 6, 7], [8]]


def test_an_empty_file_gives_no_batch(tmp_path):
    import pyarrow as pa

    schema = pa.schema([("content", pa.string())])
    with pa.OSFile(str(tmp_path / "e.arrow"), "wb") as sink, pa.ipc.new_stream(sink, schema):
        pass
    empty = Dataset.from_file(str(tmp_path / "e.arrow"))
    assert _plain_files(empty) is not None
    assert list(column_batches(empty, "content", 10)) == []
