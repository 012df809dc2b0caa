"""Data stages in order: corpus -> tokenizer -> chunks. Each is cached on disk by its inputs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.chunks import build_chunks
from pipeline.corpus import build_corpus
from pipeline.hub_data import resolve
from pipeline.prompts import evaluation_prompts
from pipeline.tokenizer import build_tokenizer


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Wall time of a stage the user waits on, printed when it ends."""
    print(f"==> {name}", flush=True)
    start = time.perf_counter()
    try:
        yield
    finally:
        print(f"<== {name}: {time.perf_counter() - start:.1f} s", flush=True)


@dataclass
class PreparedData:
    """What an experiment trains on, as prepare_data built or found it."""

    tokenizer: Any
    chunks: Any  # DatasetDict train/valid with input_ids
    stats: dict[str, Any]  # the record's `data` section


_memo: dict[str, PreparedData] = {}


def prepare_data(config: dict[str, Any], cache_dir: Path) -> PreparedData:
    """Build (or load from cache) everything an experiment trains on."""
    # No training file may hold an evaluation prompt: such files are dropped and counted.
    exclude = tuple(p["text"] for p in evaluation_prompts(config["generation"]))
    key = json.dumps(
        # data.subset_seed, not the training seed: a seed replica must train on the same data
        [config["data"], config["tokenizer"], config["chunking"], exclude, str(cache_dir)],
        sort_keys=True,
    )
    if key in _memo:  # experiments of one matrix usually share their data
        return _memo[key]
    context = config["chunking"]["context_length"]
    # codeparrot-ds streamed where the hub is reachable, else the fallback (one line says so)
    data_cfg, tok_cfg, corpus_info = resolve(config, cache_dir)
    with stage("corpus"):
        corpus, corpus_stats = build_corpus(
            data_cfg, cache_dir, seed=config["data"]["subset_seed"], exclude=exclude
        )
        print(
            f"    {corpus_stats['train_files']} train / {corpus_stats['valid_files']} valid files"
        )
    with stage("tokenizer"):
        tokenizer, tok_info = build_tokenizer(
            tok_cfg, corpus, corpus_stats["cache_key"], context, cache_dir
        )
        print(f"    vocab {tok_info['vocab_size']}, {tok_info['chars_per_token']} chars/token")
    with stage("chunks"):
        chunks, chunk_stats = build_chunks(
            config["chunking"], tokenizer, corpus, tok_info["key"], cache_dir
        )
        print(
            f"    {chunk_stats['train_chunks']} train / {chunk_stats['valid_chunks']} valid blocks "
            f"of {context} tokens ({chunk_stats['tokens_dropped']} tokens dropped)"
        )
    stats = {
        **corpus_stats,
        **corpus_info,  # corpus, fallback: which corpus this run trained on, and why
        **chunk_stats,
        "vocab_size": tok_info["vocab_size"],
        "tokenizer": tok_info,
    }
    _memo[key] = PreparedData(tokenizer, chunks, stats)
    return _memo[key]
