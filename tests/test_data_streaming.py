"""The data stage streams: the same blocks in any batching, Python memory flat in the corpus
size, the BPE's bounded training sample, and old cache entries still readable."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from datasets import Dataset, DatasetDict

from pipeline import chunks, tokenizer
from pipeline.chunks import Packer, build_chunks
from pipeline.tokenizer import train_bpe, training_sample

DOCS = [[1, 2, 3], [4, 5], [6, 7, 8, 9], [10], [11, 12, 13, 14, 15, 16, 17]]


def feed(mode: str, batches: list[list[list[int]]], context: int = 4) -> tuple[list, dict]:
    packer = Packer(mode, context, eos_id=0)
    blocks = []
    for docs in batches:
        lengths = np.array([len(d) for d in docs], dtype=np.int64)
        flat = np.array([t for d in docs for t in d], dtype=np.int32)
        blocks += packer.add(flat, lengths).tolist()
    return blocks, packer.stats()


def test_packed_blocks_by_hand():
    # 1 2 3 E | 4 5 E 6 | 7 8 9 E | 10 E 11 12 | 13 14 15 16 | 17 E -> 5 blocks, 2 dropped
    blocks, stats = feed("packed", [DOCS])
    assert blocks == [[1, 2, 3, 0], [4, 5, 0, 6], [7, 8, 9, 0], [10, 0, 11, 12], [13, 14, 15, 16]]
    assert stats["tokens"] == 22 and stats["chunks"] == 5 and stats["tokens_dropped"] == 2
    # course: 3 -> 0 blocks, 2 -> 0, 4 -> 1, 1 -> 0, 7 -> 1 (3 dropped): 17 - 8 = 9 dropped
    assert stats["by_mode"] == {"packed": 2, "course": 3 + 2 + 0 + 1 + 3}


def test_course_blocks_by_hand():
    blocks, stats = feed("course", [DOCS])
    assert blocks == [[6, 7, 8, 9], [11, 12, 13, 14]]
    assert stats["tokens"] == 17 and stats["chunks"] == 2 and stats["tokens_dropped"] == 9


@pytest.mark.parametrize("mode", ["packed", "course"])
@pytest.mark.parametrize("sizes", [[1, 1, 1, 1, 1], [2, 3], [4, 1], [5]])
def test_any_batching_gives_the_same_blocks(mode, sizes):
    batches, i = [], 0
    for n in sizes:
        batches.append(DOCS[i : i + n])
        i += n
    assert feed(mode, batches) == feed(mode, [DOCS])


@pytest.fixture(scope="module")
def tok():
    lines = ["import numpy as np\n", "x = np.arange(10)\n", "print(x.mean())\n"] * 20
    return train_bpe(iter([lines]), vocab_size=300)


def corpus_of(texts: list[str]) -> DatasetDict:
    return DatasetDict({
        "train": Dataset.from_dict({"content": texts}),
        "valid": Dataset.from_dict({"content": texts[:3]}),
    })  # fmt: skip


def texts(n: int) -> list[str]:
    return [f"x{i} = np.arange({i})\nprint(x{i}.mean() + {i})\n" * (1 + i % 7) for i in range(n)]


def test_streamed_chunks_equal_one_pass_over_all_documents(tmp_path, tok, monkeypatch):
    monkeypatch.setattr(chunks, "BATCH", 3)  # many batches, a carry across each
    docs = texts(40)
    got, stats = build_chunks(
        {"mode": "packed", "context_length": 16}, tok, corpus_of(docs), "k", tmp_path
    )
    ids = [tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for t in docs]
    flat = [t for d in ids for t in d]
    expected = [flat[i : i + 16] for i in range(0, len(flat) - 15, 16)]
    assert got["train"]["input_ids"] == expected
    assert stats["train_tokens"] == len(flat)
    assert stats["train_tokens_dropped"] == len(flat) % 16
    # The blocks are memory-mapped Arrow files in the cache folder, loaded again from there.
    again, _ = build_chunks(
        {"mode": "packed", "context_length": 16}, tok, corpus_of(docs), "k", tmp_path
    )
    assert again["train"]["input_ids"] == expected
    assert again["train"].cache_files[0]["filename"].endswith("train.arrow")


def test_a_cache_entry_from_before_streaming_still_loads(tmp_path, tok):
    """Versions before streaming saved the blocks with save_to_disk under the same key."""
    cfg = {"mode": "packed", "context_length": 8}
    folder = tmp_path / f"chunks-{chunks.chunks_key('k', cfg)}"
    old = DatasetDict({s: Dataset.from_dict({"input_ids": [[s == "train"] * 8]}) for s in ("train", "valid")})  # fmt: skip
    old.save_to_disk(str(folder))
    (folder / chunks.STATS_FILE).write_text('{"train_chunks": 1}')
    loaded, stats = build_chunks(cfg, tok, corpus_of(texts(5)), "k", tmp_path)
    assert stats == {"train_chunks": 1} and loaded["train"]["input_ids"] == [[1] * 8]


def python_peak(tok, tmp_path, n: int) -> int:
    corpus = corpus_of(texts(n))
    tracemalloc.start()
    build_chunks({"mode": "packed", "context_length": 16}, tok, corpus, f"k{n}", tmp_path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_python_memory_does_not_grow_with_the_corpus(tmp_path, tok, monkeypatch):
    """Before streaming, every token id was a Python int in a list (~36 bytes a token): the
    Python heap grew with the corpus. Now it holds one batch at a time."""
    monkeypatch.setattr(chunks, "BATCH", 50)
    small, large = python_peak(tok, tmp_path, 200), python_peak(tok, tmp_path, 3200)
    assert large < 1.5 * small, (small, large)


def test_the_bpe_trains_on_a_bounded_seeded_sample():
    split = Dataset.from_dict({"content": ["a" * 1000] * 400})  # 0.4 MB
    rows, sample = training_sample(split, cap_mb=0.1)
    assert rows == training_sample(split, cap_mb=0.1)[0]  # seeded: the same rows every build
    assert sample["of_files"] == 400 and sample["of_bytes"] == 400_000
    assert sample["files"] == len(rows) and sample["bytes"] == 1000 * len(rows)
    assert 60 <= len(rows) <= 140  # each file kept with p = 0.25: 100 expected, sd 8.7
    assert rows == sorted(rows)


@pytest.mark.parametrize("cap", [0, 1])
def test_a_split_within_the_cap_trains_on_everything(cap):
    split = Dataset.from_dict({"content": ["é" * 10, "ab"]})  # bytes, not characters: 20 + 2
    rows, sample = training_sample(split, cap_mb=cap)
    assert rows is None
    assert sample == {"files": 2, "bytes": 22, "of_files": 2, "of_bytes": 22, "cap_mb": cap}


def test_text_batches_reads_the_column_a_batch_at_a_time():
    split = Dataset.from_dict({"content": [str(i) for i in range(7)], "path": ["p"] * 7})
    assert list(tokenizer.text_batches(split, batch=3)) == [["0", "1", "2"], ["3", "4", "5"], ["6"]]
