"""Chunking stage: token ids cut into blocks of the context length.

packed (default): every document followed by EOS, all joined, cut into full blocks; only the
    tail of the last block is lost.
course: the HuggingFace course's way — each document truncated into overflowing chunks of the
    context length, chunks shorter than that dropped (the end of almost every file is lost).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipeline.cache import cached, key_hash

STATS_FILE = "chunk_stats.json"
BATCH = 512


def encode(tokenizer, texts: list[str]) -> list[list[int]]:
    # The Rust backend encodes a batch on all cores and skips the per-call Python overhead.
    return [
        e.ids for e in tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=False)
    ]


def pack(docs: list[list[int]], eos_id: int, context: int) -> tuple[np.ndarray, int, int]:
    """Join documents with EOS after each, cut into full blocks.

    Returns (blocks [n, context], tokens_total, tokens_dropped)."""
    total = sum(len(d) + 1 for d in docs)
    flat = np.empty(total, dtype=np.int32)
    pos = 0
    for d in docs:
        flat[pos : pos + len(d)] = d
        flat[pos + len(d)] = eos_id
        pos += len(d) + 1
    n = total // context
    return flat[: n * context].reshape(n, context), total, total - n * context


def course_chunks(docs: list[list[int]], context: int) -> tuple[np.ndarray, int, int]:
    """Split each document into consecutive chunks of `context`, keep only full ones.

    Same result as the course's tokenizer(truncation=True, max_length=context,
    return_overflowing_tokens=True) followed by keeping the chunks whose length == context."""
    blocks = []
    total = dropped = 0
    for d in docs:
        total += len(d)
        full = len(d) // context
        blocks.extend(d[i * context : (i + 1) * context] for i in range(full))
        dropped += len(d) - full * context
    arr = np.array(blocks, dtype=np.int32).reshape(-1, context)
    return arr, total, dropped


def chunk_split(tokenizer, texts: list[str], mode: str, context: int) -> tuple[np.ndarray, dict]:
    from tqdm.auto import tqdm

    docs: list[list[int]] = []
    for i in tqdm(range(0, len(texts), BATCH), desc="tokenize", unit="batch", leave=False):
        docs.extend(encode(tokenizer, texts[i : i + BATCH]))
    if mode == "packed":
        blocks, total, dropped = pack(docs, tokenizer.eos_token_id, context)
    else:
        blocks, total, dropped = course_chunks(docs, context)
    # What each mode would lose on these documents, for the report's comparison.
    lengths = np.array([len(d) for d in docs], dtype=np.int64)
    by_mode = {
        "packed": int((lengths + 1).sum() % context),
        "course": int((lengths % context).sum()),
    }
    return blocks, {
        "tokens": total,
        "chunks": len(blocks),
        "tokens_dropped": dropped,
        "by_mode": by_mode,
    }


def to_dataset(blocks: np.ndarray):
    import pyarrow as pa
    from datasets import Dataset

    context = blocks.shape[1]
    column = pa.FixedSizeListArray.from_arrays(pa.array(blocks.reshape(-1)), context)
    return Dataset(pa.table({"input_ids": column}))


def chunks_key(tokenizer_key: str, chunk_cfg: dict[str, Any]) -> str:
    return key_hash({"tok": tokenizer_key, "chunking": chunk_cfg}, compact=False)


def build_chunks(
    chunk_cfg: dict[str, Any], tokenizer, corpus, tokenizer_key: str, cache_dir: Path
) -> tuple[Any, dict[str, Any]]:
    """Return (DatasetDict train/valid with an input_ids column, stats)."""
    from datasets import DatasetDict, load_from_disk

    key = chunks_key(tokenizer_key, chunk_cfg)

    def build() -> tuple[Any, dict[str, Any]]:
        mode, context = chunk_cfg["mode"], chunk_cfg["context_length"]
        splits, stats = {}, {"chunking_mode": mode, "context_length": context}
        dropped_by_mode: dict[str, int] = {}
        for split in ("train", "valid"):
            blocks, s = chunk_split(tokenizer, corpus[split]["content"], mode, context)
            splits[split] = to_dataset(blocks)
            stats.update({f"{split}_tokens": s["tokens"], f"{split}_chunks": s["chunks"]})
            stats[f"{split}_tokens_dropped"] = s["tokens_dropped"]
            for m, n in s["by_mode"].items():
                dropped_by_mode[m] = dropped_by_mode.get(m, 0) + n
        stats["tokens_dropped"] = stats["train_tokens_dropped"] + stats["valid_tokens_dropped"]
        stats["tokens_dropped_by_mode"] = dropped_by_mode
        stats["chunks_key"] = key
        return lambda tmp: DatasetDict(splits).save_to_disk(str(tmp)), stats

    return cached(cache_dir / f"chunks-{key}", STATS_FILE, lambda f: load_from_disk(str(f)), build)
