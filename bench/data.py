"""Data-stage benchmark: each stage cold (empty cache) and cached, on a profile's config.

    .venv/bin/python bench/data.py [--profile cpu]

Goals on 2 cores: the whole data stage <= 60 s cold and <= 3 s cached; the corpus stage
itself a few seconds cold. One function per stage returns table rows; add a stage by
adding a function to STAGES. Every run uses a fresh temporary cache, so "cold" is cold (the
files themselves may sit in the OS page cache).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from pipeline.config import profile_config  # noqa: E402


@dataclass
class Row:
    stage: str
    mode: str  # cold | cached | cached, new process
    seconds: float
    megabytes: float  # what the rate is of (see note)
    note: str = ""


def timed(fn, *args, **kwargs) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def seconds_in_new_process(statement: str, profile: str, cache: Path) -> float:
    """Wall time of `statement` in a fresh interpreter, imports included; it sees the profile's
    config as `c` and the cache folder as `cache`."""
    code = (
        "import sys, time; t = time.perf_counter(); sys.path.insert(0, sys.argv[1]);"
        "from pathlib import Path; from pipeline.config import profile_config;"
        "c = profile_config(sys.argv[2]); cache = Path(sys.argv[3]);"
        f"{statement}; print(time.perf_counter() - t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(ROOT), profile, str(cache)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(out.stdout.strip().splitlines()[-1])


def bench_corpus(profile: str, config: dict[str, Any], cache: Path) -> list[Row]:
    from pipeline.corpus import build_corpus, sources

    data = config["data"]
    import datasets  # noqa: F401  # imported before timing: the first import costs ~1 s alone

    (_, stats), cold = timed(build_corpus, data, cache, seed=config["data"]["subset_seed"])
    (_, again), cached = timed(build_corpus, data, cache, seed=config["data"]["subset_seed"])
    assert again["cache_key"] == stats["cache_key"]
    scanned = 0.0
    if data["source"] == "installed":
        files = sources.installed_files()
        scanned = sum(os.path.getsize(f.file) for f in files if os.path.exists(f.file)) / 1e6
    kept = stats["bytes_kept"] / 1e6
    dropped = ", ".join(f"{k} {v}" for k, v in stats["filtered"].items() if v)
    # A new process pays the imports too: what a second `make data` sees.
    fresh = seconds_in_new_process(
        "from pipeline.corpus import build_corpus; build_corpus(c['data'], cache, seed=c['data']['subset_seed'])",
        profile,
        cache,
    )
    return [
        Row(
            "corpus",
            "cold",
            cold,
            scanned or kept,
            f"MB scanned; {stats['files_seen']} files seen, {stats['files_kept']} kept "
            f"({stats['train_files']} train, {stats['valid_files']} valid); dropped: {dropped}; "
            f"dedup {stats['dedup_removed']}",
        ),
        Row("corpus", "cached", cached, kept, "MB kept, loaded"),
        Row("corpus", "cached, new process", fresh, kept, "MB kept; includes imports"),
    ]


def bench_tokenizer_and_chunks(profile: str, config: dict[str, Any], cache: Path) -> list[Row]:
    """The two stages after the corpus (which bench_corpus left in `cache`), cold then cached,
    and the whole data stage as a second `make data` sees it: a new process, all cached."""
    from pipeline.chunks import build_chunks
    from pipeline.corpus import build_corpus
    from pipeline.tokenizer import build_tokenizer

    corpus, stats = build_corpus(config["data"], cache, seed=config["data"]["subset_seed"])
    context = config["chunking"]["context_length"]
    train_mb = stats["train_bytes"] / 1e6
    all_mb = (stats["train_bytes"] + stats["valid_bytes"]) / 1e6
    args = (config["tokenizer"], corpus, stats["cache_key"], context, cache)
    (tok, info), tok_cold = timed(build_tokenizer, *args)
    _, tok_cached = timed(build_tokenizer, *args)
    chunk_args = (config["chunking"], tok, corpus, info["key"], cache)
    (_, cstats), chunks_cold = timed(build_chunks, *chunk_args)
    _, chunks_cached = timed(build_chunks, *chunk_args)
    fresh = seconds_in_new_process(
        "from pipeline.data import prepare_data; prepare_data(c, cache)", profile, cache
    )
    tokens = cstats["train_tokens"] + cstats["valid_tokens"]
    return [
        Row("tokenizer", "cold", tok_cold, train_mb, f"MB trained on; vocab {info['vocab_size']}"),
        Row("tokenizer", "cached", tok_cached, train_mb, "MB; loaded"),
        Row("chunks", "cold", chunks_cold, all_mb, f"MB tokenized; {tokens:,} tokens, "
            f"{tokens / chunks_cold:,.0f} tokens/s"),
        Row("chunks", "cached", chunks_cached, all_mb, "MB; loaded (memory-mapped)"),
        Row("all", "cached, new process", fresh, all_mb, "what a second `make data` costs, imports included"),
    ]  # fmt: skip


def summary(rows: list[Row]) -> str:
    cold = sum(r.seconds for r in rows if r.mode == "cold")
    cached = next(r.seconds for r in rows if r.stage == "all")
    return (f"data stage: cold {cold:.1f} s (goal <= 60 s: {cold / 60:.2f}x of it), "
            f"cached {cached:.1f} s (goal <= 3 s: {cached / 3:.2f}x of it)")  # fmt: skip


STAGES = [bench_corpus, bench_tokenizer_and_chunks]


def print_table(rows: list[Row]) -> None:
    print(f"{'stage':<10} {'mode':<20} {'seconds':>8} {'MB':>8} {'MB/s':>8}  note")
    for r in rows:
        rate = r.megabytes / r.seconds if r.seconds > 0 else float("inf")
        print(
            f"{r.stage:<10} {r.mode:<20} {r.seconds:>8.2f} {r.megabytes:>8.1f} {rate:>8.1f}  {r.note}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=os.environ.get("PROFILE") or "cpu")
    args = parser.parse_args()
    config = profile_config(args.profile)
    print(
        f"bench/data.py: profile {args.profile}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        rows = [row for stage in STAGES for row in stage(args.profile, config, Path(tmp))]
    print()
    print_table(rows)
    print(summary(rows))


if __name__ == "__main__":
    main()
