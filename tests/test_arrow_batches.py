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


@pytest.mark.parametrize("size", [1, 4, 1000])
def test_chosen_rows_as_select_gives_them(tmp_path, size):
    Dataset.from_dict(rows(300)).save_to_disk(str(tmp_path / "ds"), num_shards=2)
    ds = load_from_disk(str(tmp_path / "ds"))
    chosen = [0, 1, 7, 149, 150, 151, 299]  # across the shard boundary
    got = list(column_batches(ds, "n", size, chosen))
    assert sum(got, []) == chosen
    assert got == expected(ds.select(chosen), "n", size)
    in_memory = Dataset.from_dict(rows(300))
    assert sum(column_batches(in_memory, "n", size, chosen), []) == chosen
    assert list(column_batches(ds, "n", size, [])) == []


def test_write_rows_keeps_a_selection_in_its_order_in_few_batches(tmp_path):
    import pyarrow as pa

    from pipeline.arrow_batches import write_rows

    Dataset.from_dict(rows(2500)).save_to_disk(str(tmp_path / "ds"), num_shards=2)
    picked = load_from_disk(str(tmp_path / "ds")).select([2499, 3, 3, *range(10, 2000)])
    write_rows(picked, tmp_path / "out.arrow", batch_size=1000)
    back = Dataset.from_file(str(tmp_path / "out.arrow"))
    assert back["n"] == [2499, 3, 3, *range(10, 2000)]
    assert back.features == picked.features
    with pa.memory_map(str(tmp_path / "out.arrow")) as source:
        batches = pa.ipc.open_stream(source).read_all().to_batches()
    assert [len(b) for b in batches] == [1000, 993]  # not one batch per gathered row


def test_dropped_pages_leave_the_resident_set(tmp_path):
    import mmap
    from pathlib import Path

    from pipeline.arrow_batches import drop_mapped_pages

    def rss_file() -> int:
        status = Path("/proc/self/status").read_text().splitlines()
        return next(int(x.split()[1]) for x in status if x.startswith("RssFile")) * 1024

    path = tmp_path / "big.bin"
    path.write_bytes(bytes(range(256)) * (64 * 4096))  # 64 MiB
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        before = rss_file()
        assert sum(m[i + 1] for i in range(0, len(m), 4096)) > 0  # touch every page
        touched = rss_file()
        drop_mapped_pages({str(path.resolve())})
        dropped = rss_file()
        assert touched - before > 48 * 2**20
        assert touched - dropped > 48 * 2**20
        assert m[4096 * 7 + 5] == 5  # the data is read again from the file
