"""Both chunking modes, with exact token counts on small inputs."""

import numpy as np
import pytest
from datasets import Dataset, DatasetDict

from pipeline.chunks import build_chunks, course_chunks, pack
from pipeline.tokenizer import train_bpe


def test_pack_joins_with_eos_and_drops_only_the_tail():
    docs = [[1, 2, 3], [4, 5], [6, 7, 8, 9]]  # 3+1 + 2+1 + 4+1 = 12 tokens
    blocks, total, dropped = pack(docs, eos_id=0, context=5)
    assert total == 12 and dropped == 2
    assert blocks.tolist() == [[1, 2, 3, 0, 4], [5, 0, 6, 7, 8]]


def test_course_mode_keeps_only_full_chunks_per_document():
    docs = [list(range(1, 12)), [20, 21], list(range(30, 35))]  # 11, 2, 5 tokens
    blocks, total, dropped = course_chunks(docs, context=5)
    assert total == 18
    assert blocks.tolist() == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [30, 31, 32, 33, 34]]
    assert dropped == 1 + 2 + 0


def test_course_mode_with_no_full_chunk_is_empty_not_an_error():
    blocks, total, dropped = course_chunks([[1, 2]], context=5)
    assert blocks.shape == (0, 5) and total == 2 and dropped == 2


@pytest.fixture(scope="module")
def tokenizer():
    lines = ["import numpy as np\n", "x = np.arange(10)\n", "print(x.mean())\n"] * 20
    return train_bpe(iter([lines]), vocab_size=300)


def test_course_mode_matches_the_course_tokenizer_call(tokenizer):
    text = "import numpy as np\nx = np.arange(10)\nprint(x.mean())\n" * 7
    ids = tokenizer(text)["input_ids"]
    out = tokenizer(text, truncation=True, max_length=16, return_overflowing_tokens=True,
                    return_length=True)  # fmt: skip
    course = [c for c, n in zip(out["input_ids"], out["length"], strict=True) if n == 16]
    blocks, total, dropped = course_chunks([ids], 16)
    assert blocks.tolist() == course
    assert total == len(ids) and dropped == len(ids) % 16


def test_build_chunks_counts_and_caches(tmp_path, tokenizer):
    texts = ["x = np.arange(10)\n" * 5, "print(x.mean())\n" * 3]
    corpus = DatasetDict(
        {
            "train": Dataset.from_dict({"content": texts}),
            "valid": Dataset.from_dict({"content": texts[:1]}),
        }
    )
    lengths = [len(tokenizer(t)["input_ids"]) for t in texts]
    cfg = {"mode": "packed", "context_length": 8}
    chunks, stats = build_chunks(cfg, tokenizer, corpus, "tok", tmp_path)
    total = sum(lengths) + 2  # an EOS after each document
    assert stats["train_tokens"] == total
    assert stats["train_chunks"] == total // 8 and len(chunks["train"]) == total // 8
    assert stats["train_tokens_dropped"] == total % 8
    row = np.asarray(chunks["train"][0]["input_ids"])
    assert row.tolist() == tokenizer(texts[0])["input_ids"][:8]
    # Second call: read from the cache folder, same stats, no rebuild.
    folder = next(tmp_path.glob("chunks-*"))
    mtime = (folder / "chunk_stats.json").stat().st_mtime_ns
    chunks2, stats2 = build_chunks(cfg, tokenizer, corpus, "tok", tmp_path)
    assert stats2 == stats and (folder / "chunk_stats.json").stat().st_mtime_ns == mtime
    # Course mode is a different cache entry with its own counts.
    _, course = build_chunks({**cfg, "mode": "course"}, tokenizer, corpus, "tok", tmp_path)
    assert course["train_tokens"] == sum(lengths)
    assert course["train_tokens_dropped"] == sum(n % 8 for n in lengths)
    # Both modes' losses are recorded whichever mode is used, for the report's comparison.
    valid_total = lengths[0] + 1
    assert stats["tokens_dropped_by_mode"] == {
        "packed": total % 8 + valid_total % 8,
        "course": sum(n % 8 for n in lengths) + lengths[0] % 8,
    }
    assert course["tokens_dropped_by_mode"] == stats["tokens_dropped_by_mode"]
