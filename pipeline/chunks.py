"""Chunking stage: token ids cut into blocks of the context length.

packed (default): every document followed by EOS, all joined, cut into full blocks; only the
    tail of the last block is lost.
course: the HuggingFace course's way — each document truncated into overflowing chunks of the
    context length, chunks shorter than that dropped (the end of almost every file is lost).

The stage streams: documents are read from the corpus in batches, encoded by the Rust
tokenizer on all cores, cut into blocks and appended to an Arrow file per split, so memory does
not grow with the corpus (codeparrot-ds is about 2.1 billion tokens). The blocks are then
memory-mapped, as datasets' own map(batched=True) leaves them.
"""

from __future__ import annotations

from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.cache import key_hash, publish, write_json_atomic
from pipeline.tokenizer import text_batches

STATS_FILE = "chunk_stats.json"
BATCH = 1024  # documents per encode call: enough work for every core, a few MB of text


def encode(tokenizer, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(all token ids of the batch, one after another, as int32; each document's length).

    encode_batch_fast skips the offsets that chunking never reads (a third faster); the ids
    are the same as encode_batch's."""
    encoded = tokenizer.backend_tokenizer.encode_batch_fast(texts, add_special_tokens=False)
    ids = [e.ids for e in encoded]
    lengths = np.fromiter(map(len, ids), np.int64, len(ids))
    return np.fromiter(chain.from_iterable(ids), np.int32, int(lengths.sum())), lengths


class Packer:
    """Cuts a stream of documents into full blocks, batch by batch, with the counts the record
    keeps. Fed the same documents in any batching, it gives the same blocks."""

    def __init__(self, mode: str, context: int, eos_id: int) -> None:
        self.mode, self.context, self.eos_id = mode, context, eos_id
        self.carry = np.empty(0, np.int32)  # packed: tokens after the last full block
        self.tokens = self.course_dropped = self.packed_total = 0

    def add(self, flat: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Blocks [n, context] completed by these documents (ids one after another)."""
        context = self.context
        self.packed_total += int((lengths + 1).sum())
        self.course_dropped += int((lengths % context).sum())
        if self.mode == "packed":
            self.tokens += int(lengths.sum()) + len(lengths)
            ends = np.cumsum(lengths)
            joined = np.concatenate([self.carry, np.insert(flat, ends, self.eos_id)])
            n = len(joined) // context
            self.carry = joined[n * context :].copy()
            return joined[: n * context].reshape(n, context)
        self.tokens += int(lengths.sum())
        starts = np.cumsum(lengths) - lengths
        full = lengths // context
        parts = [flat[s : s + f * context] for s, f in zip(starts, full, strict=True) if f]
        blocks = np.concatenate(parts) if parts else np.empty(0, np.int32)
        return blocks.reshape(-1, context)

    def stats(self) -> dict[str, Any]:
        dropped = len(self.carry) if self.mode == "packed" else self.course_dropped
        return {
            "tokens": self.tokens,
            "chunks": (self.tokens - dropped) // self.context,
            "tokens_dropped": dropped,
            # What each mode would lose on these documents, for the report's comparison.
            "by_mode": {
                "packed": self.packed_total % self.context,
                "course": self.course_dropped,
            },
        }


def pack(docs: list[list[int]], eos_id: int, context: int) -> tuple[np.ndarray, int, int]:
    """Join documents with EOS after each, cut into full blocks.

    Returns (blocks [n, context], tokens_total, tokens_dropped)."""
    return _in_one_batch("packed", docs, context, eos_id)


def course_chunks(docs: list[list[int]], context: int) -> tuple[np.ndarray, int, int]:
    """Split each document into consecutive chunks of `context`, keep only full ones.

    Same result as the course's tokenizer(truncation=True, max_length=context,
    return_overflowing_tokens=True) followed by keeping the chunks whose length == context."""
    return _in_one_batch("course", docs, context, eos_id=0)


def _in_one_batch(mode: str, docs: list[list[int]], context: int, eos_id: int):
    packer = Packer(mode, context, eos_id)
    lengths = np.array([len(d) for d in docs], dtype=np.int64)
    flat = np.fromiter(chain.from_iterable(docs), np.int32, int(lengths.sum()))
    blocks = packer.add(flat, lengths)
    s = packer.stats()
    return blocks, s["tokens"], s["tokens_dropped"]


def write_split(tokenizer, texts, mode: str, context: int, out: Path, total: int = 0) -> dict:
    """Encode batches of texts, append their blocks to the Arrow file `out`; the split's counts.

    `texts` yields lists of strings; `total` (batches) only sizes the progress bar."""
    import pyarrow as pa
    from tqdm.auto import tqdm

    schema = pa.schema([("input_ids", pa.list_(pa.int32(), context))])
    packer = Packer(mode, context, tokenizer.eos_token_id)
    with pa.OSFile(str(out), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for batch in tqdm(texts, total=total or None, desc="tokenize", unit="batch", leave=False):
            blocks = packer.add(*encode(tokenizer, batch))
            if len(blocks):
                values = pa.array(blocks.reshape(-1), type=pa.int32())
                column = pa.FixedSizeListArray.from_arrays(values, context)
                writer.write_batch(pa.record_batch([column], schema=schema))
    return packer.stats()


def chunks_key(tokenizer_key: str, chunk_cfg: dict[str, Any]) -> str:
    return key_hash({"tok": tokenizer_key, "chunking": chunk_cfg}, compact=False)


def load_chunks(folder: Path):
    """The cached blocks, memory-mapped: a DatasetDict train/valid with an input_ids column."""
    from datasets import Dataset, DatasetDict, load_from_disk

    if (folder / "dataset_dict.json").is_file():  # saved by a version before streaming
        return load_from_disk(str(folder))
    return DatasetDict(
        {s: Dataset.from_file(str(folder / f"{s}.arrow")) for s in ("train", "valid")}
    )


def load_cached(folder: Path) -> tuple[Any, dict[str, Any]] | None:
    import json

    if not (folder / STATS_FILE).is_file():  # written last: without it, no cache entry
        return None
    return load_chunks(folder), json.loads((folder / STATS_FILE).read_text())


def build_chunks(
    chunk_cfg: dict[str, Any], tokenizer, corpus, tokenizer_key: str, cache_dir: Path
) -> tuple[Any, dict[str, Any]]:
    """Return (DatasetDict train/valid with an input_ids column, stats)."""
    key = chunks_key(tokenizer_key, chunk_cfg)
    folder = cache_dir / f"chunks-{key}"
    cached = load_cached(folder)
    if cached is not None:
        return cached
    mode, context = chunk_cfg["mode"], chunk_cfg["context_length"]
    stats: dict[str, Any] = {"chunking_mode": mode, "context_length": context}

    def write(tmp: Path) -> None:
        dropped_by_mode: dict[str, int] = {}
        for split in ("train", "valid"):
            docs = corpus[split]
            batches = -(-len(docs) // BATCH)
            s = write_split(
                tokenizer, text_batches(docs, BATCH), mode, context, tmp / f"{split}.arrow", batches
            )
            stats.update({f"{split}_tokens": s["tokens"], f"{split}_chunks": s["chunks"]})
            stats[f"{split}_tokens_dropped"] = s["tokens_dropped"]
            for m, n in s["by_mode"].items():
                dropped_by_mode[m] = dropped_by_mode.get(m, 0) + n
        stats["tokens_dropped"] = stats["train_tokens_dropped"] + stats["valid_tokens_dropped"]
        stats["tokens_dropped_by_mode"] = dropped_by_mode
        stats["chunks_key"] = key
        write_json_atomic(tmp / STATS_FILE, stats)  # last: the folder is complete

    publish(folder, STATS_FILE, write)
    return load_chunks(folder), stats
