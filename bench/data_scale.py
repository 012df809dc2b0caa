"""Data stage at growing sizes: seconds, MB/s and peak memory per stage, on codeparrot-ds-shaped data.

    .venv/bin/python bench/data_scale.py                      # 0.1, 0.4 and 1.6 GB of text
    .venv/bin/python bench/data_scale.py --sizes 0.05,0.2 --sources hub

The data is made from the installed packages' .py files that mention one of codeparrot-ds's
keywords, in its columns (repo_name, path, copies, size, content, license). Copy k of a file
starts with a comment naming the copy, so exact dedup keeps every copy: the text is distinct,
its statistics are real Python's. Each size is written twice: as a local dataset folder of
parquet shards, read through the hub code path (`datasets.load_dataset` on the folder, train
and validation as separate datasets, as codeparrot-ds-train / -valid are), and as one parquet
file for the `path` source. Each run is a fresh process with a fresh cache; a thread samples
its memory every 50 ms. Memory columns:

  anon   private memory (Python objects, Arrow buffers, the tokenizer's): what has to fit;
  rss    resident set, which also counts pages of memory-mapped Arrow files the stage has read
         (clean page cache the kernel drops under pressure, as datasets' own map() does).

The last lines extrapolate to codeparrot-ds-train (about 2.1 billion tokens) from the largest size.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEYWORDS = (b"pandas", b"sklearn", b"matplotlib", b"seaborn")
SHARD_BYTES = 128_000_000  # a parquet shard's text, as hub datasets are sharded
VALID_SHARE = 3_322 / 606_720  # codeparrot-ds's valid / train files
CODEPARROT_TRAIN_TOKENS = 2.1e9
STAGES = ("corpus", "tokenizer", "chunks")


# ---- making the data ----


def seed_files() -> list[tuple[str, str, str, str]]:
    """(repo_name, path, license, text) of the installed .py files that pass the keyword filter."""
    from pipeline.corpus import sources

    out = []
    for f in sources.installed_files():
        try:
            data = Path(f.file).read_bytes()
        except OSError:
            continue
        if any(k in data for k in KEYWORDS) and b"\x00" not in data:
            try:
                out.append((f.repo_name, f.path, f.license, data.decode("utf-8")))
            except UnicodeDecodeError:
                continue
    return out


def rows(seed: list[tuple[str, str, str, str]], nbytes: float):
    """Rows in codeparrot-ds's columns until nbytes of content: copy after copy of the seed."""
    made, copy = 0, 0
    while True:
        for repo, path, license_, text in seed:
            content = f"# copy {copy} of {repo}/{path}\n{text}"
            size = len(content.encode())
            yield {
                "repo_name": f"{repo}-{copy}",
                "path": path,
                "copies": "1",
                "size": str(size),
                "content": content,
                "license": license_,
            }
            made += size
            if made >= nbytes:
                return
        copy += 1


def write_data(folder: Path, gigabytes: float, seed) -> dict[str, Path]:
    """The hub folders (train, valid) and the path source's parquet file, made once per size."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    done = folder / "done.json"
    paths = {
        "hub_train": folder / "hub-train",
        "hub_valid": folder / "hub-valid",
        "path": folder / "code.parquet",
    }
    if done.exists():
        return paths
    shutil.rmtree(folder, ignore_errors=True)
    for p in ("hub_train", "hub_valid"):
        (paths[p] / "data").mkdir(parents=True)
    schema = pa.schema([(c, pa.string()) for c in ("repo_name", "path", "copies", "size", "content", "license")])  # fmt: skip
    whole = pq.ParquetWriter(paths["path"], schema)
    shards: dict[str, Any] = {"train": None, "validation": None}
    counts = {"train": 0, "validation": 0}
    shard_bytes, shard_no, batch = 0, 0, {"train": [], "validation": []}

    def flush(split: str) -> None:
        nonlocal shard_no
        if not batch[split]:
            return
        table = pa.Table.from_pylist(batch[split], schema=schema)
        whole.write_table(table)
        if shards[split] is None:
            name = "hub-train" if split == "train" else "hub-valid"
            number = shard_no if split == "train" else 0
            shards[split] = pq.ParquetWriter(
                folder / name / "data" / f"{split}-{number:05d}.parquet", schema
            )
        shards[split].write_table(table)
        batch[split] = []

    for i, row in enumerate(rows(seed, gigabytes * 1e9)):
        split = "validation" if (i * 7919) % 10_000 < VALID_SHARE * 10_000 else "train"
        batch[split].append(row)
        counts[split] += 1
        if split == "train":
            shard_bytes += int(row["size"])
        if len(batch[split]) >= 1000:
            flush(split)
        if shard_bytes >= SHARD_BYTES:  # a new train shard
            flush("train")
            shards["train"].close()
            shards["train"], shard_bytes, shard_no = None, 0, shard_no + 1
    for split in batch:
        flush(split)
        if shards[split] is not None:
            shards[split].close()
    whole.close()
    done.write_text(json.dumps(counts))
    return paths


# ---- one run of the data stage (a child process) ----


class Peak(threading.Thread):
    """Samples /proc/self/status; peak() gives the highest anon and rss since the last reset."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.anon = self.rss = 0

    @staticmethod
    def now() -> tuple[int, int]:
        fields = {}
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("RssAnon", "VmRSS"):
                fields[key] = int(value.split()[0]) * 1024
        return fields["RssAnon"], fields["VmRSS"]

    def run(self) -> None:
        while True:
            anon, rss = self.now()
            self.anon, self.rss = max(self.anon, anon), max(self.rss, rss)
            time.sleep(0.05)

    def take(self) -> tuple[int, int]:
        out = (max(self.anon, self.now()[0]), max(self.rss, self.now()[1]))
        self.anon = self.rss = 0
        return out


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Corpus, tokenizer and chunks, as prepare_data runs them, each timed and sampled."""
    peak = Peak()
    peak.start()
    sys.path.insert(0, spec.get("root") or str(ROOT))  # --baseline: an older version's pipeline/
    import datasets  # noqa: F401  # imported before timing, as in bench/data.py

    from pipeline.chunks import build_chunks
    from pipeline.config import profile_config
    from pipeline.corpus import build_corpus
    from pipeline.prompts import evaluation_prompts
    from pipeline.tokenizer import build_tokenizer

    config = profile_config("cpu")
    config["data"].update(spec["data"])
    config["tokenizer"]["vocab_size"] = spec["vocab"]
    cache = Path(spec["cache"])
    exclude = tuple(p["text"] for p in evaluation_prompts(config["generation"]))
    out: dict[str, Any] = {"import": peak.take()}
    start = time.perf_counter()
    corpus, stats = build_corpus(config["data"], cache, seed=42, exclude=exclude)
    out["corpus"] = (time.perf_counter() - start, *peak.take())
    start = time.perf_counter()
    context = config["chunking"]["context_length"]
    tok, info = build_tokenizer(config["tokenizer"], corpus, stats["cache_key"], context, cache)
    out["tokenizer"] = (time.perf_counter() - start, *peak.take())
    start = time.perf_counter()
    _, chunk_stats = build_chunks(config["chunking"], tok, corpus, info["key"], cache)
    out["chunks"] = (time.perf_counter() - start, *peak.take())
    out["text_bytes"] = stats["bytes_kept"]
    out["files"] = [stats["files_seen"], stats["files_kept"]]
    out["tokens"] = chunk_stats["train_tokens"] + chunk_stats["valid_tokens"]
    out["sample"] = info.get("training_sample")
    return out


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "HF_DATASETS_CACHE": str(Path(spec["cache"]) / "hf")}
    env.setdefault("TOKENIZERS_PARALLELISM", "true")
    wall = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode != 0:
        sys.exit(f"bench/data_scale.py: the data stage failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - wall
    return result


# ---- the table ----


def row_lines(source: str, gigabytes: float, r: dict[str, Any]) -> list[str]:
    mb = r["text_bytes"] / 1e6
    lines = []
    for stage in STAGES:
        seconds, anon, rss = r[stage]
        lines.append(
            f"{source:<5} {gigabytes:>5.2f} {stage:<10} {seconds:>8.1f} {mb / seconds:>7.1f} "
            f"{anon / 1e9:>6.2f} {rss / 1e9:>6.2f}"
        )
    anon = max(r[s][1] for s in STAGES)
    rss = max(r[s][2] for s in STAGES)
    total = sum(r[s][0] for s in STAGES)
    lines.append(
        f"{source:<5} {gigabytes:>5.2f} {'all':<10} {total:>8.1f} {mb / total:>7.1f} "
        f"{anon / 1e9:>6.2f} {rss / 1e9:>6.2f}   {total / mb:.3f} s/MB, {r['tokens']:,} tokens, "
        f"wall {r['wall']:.0f} s"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0.1,0.4,1.6", help="GB of text, comma-separated")
    parser.add_argument("--sources", default="hub,path", help="hub and/or path")
    parser.add_argument("--vocab", type=int, default=32768)
    parser.add_argument("--work", default="", help="folder for the data (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the generated data in --work")
    parser.add_argument(
        "--baseline",
        default="",
        help="also run this git revision's data stage (e.g. 3a99877, before streaming) at each "
        "size up to --baseline-max GB, for ratios measured in the same run",
    )
    parser.add_argument("--baseline-max", type=float, default=0.4)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    sizes = [float(s) for s in args.sizes.split(",")]
    sources = args.sources.split(",")
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-data-scale-"))
    print(f"bench/data_scale.py: sizes {sizes} GB, sources {sources}, vocab {args.vocab}, "
          f"{os.cpu_count()} CPUs, work folder {work}")  # fmt: skip
    baseline = ""
    if args.baseline:  # that revision's pipeline/ and experiments/, beside the data
        baseline = str(work / f"baseline-{args.baseline}")
        os.makedirs(baseline, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.baseline, "pipeline", "experiments"],
            capture_output=True, check=True,
        ).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", baseline], input=archive, check=True)
    seed = seed_files()
    print(f"seed: {len(seed)} installed files, {sum(len(s[3]) for s in seed) / 1e6:.1f} MB")
    header = f"{'src':<5} {'GB':>5} {'stage':<10} {'seconds':>8} {'MB/s':>7} {'anon':>6} {'rss':>6}"
    lines, results = [header], {}
    try:
        for gigabytes in sizes:
            start = time.perf_counter()
            paths = write_data(work / f"data-{gigabytes:g}", gigabytes, seed)
            print(f"data {gigabytes:g} GB ready ({time.perf_counter() - start:.0f} s)", flush=True)
            runs = [(source, "") for source in sources]
            if baseline and gigabytes <= args.baseline_max:
                runs += [(source, baseline) for source in sources]
            for source, root in runs:
                cache = work / f"cache-{source}-{gigabytes:g}"
                shutil.rmtree(cache, ignore_errors=True)
                data = (
                    {"source": "hub", "hub_train": str(paths["hub_train"]),
                     "hub_valid": str(paths["hub_valid"])}
                    if source == "hub"
                    else {"source": "path", "path": str(paths["path"])}
                )  # fmt: skip
                spec = {"data": data, "vocab": args.vocab, "cache": str(cache), "root": root}
                r = run_child(spec)
                shutil.rmtree(cache, ignore_errors=True)
                label = source + ("@" + args.baseline if root else "")
                results[(label, gigabytes)] = r
                lines += row_lines(label, gigabytes, r)
                print("\n".join(lines[-4:]), flush=True)
            if not args.keep:
                shutil.rmtree(work / f"data-{gigabytes:g}", ignore_errors=True)
    finally:
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print("\n".join(lines))
    print_summary(results, sizes, sources, args.baseline)


def seconds_per_mb(r: dict[str, Any]) -> float:
    return sum(r[st][0] for st in STAGES) / (r["text_bytes"] / 1e6)


def print_summary(results: dict, sizes: list[float], sources: list[str], baseline: str) -> None:
    big, small = max(sizes), min(sizes)
    for (label, gigabytes), old in results.items():
        if "@" in label:
            new = results[(label.split("@")[0], gigabytes)]
            print(
                f"{label} at {gigabytes:g} GB: {seconds_per_mb(old):.3f} s/MB, peak anon "
                f"{max(old[st][1] for st in STAGES) / 1e9:.2f} GB, peak rss "
                f"{max(old[st][2] for st in STAGES) / 1e9:.2f} GB; this version "
                f"{seconds_per_mb(old) / seconds_per_mb(new):.2f}x faster per MB, "
                f"{max(old[st][1] for st in STAGES) / max(new[st][1] for st in STAGES):.2f}x "
                "less memory"
            )
    for source in sources:
        r, s = results[(source, big)], results[(source, small)]
        anon = [max(x[st][1] for st in STAGES) for x in (s, r)]
        rss = [max(x[st][2] for st in STAGES) for x in (s, r)]
        per_mb = seconds_per_mb(r)
        tokens_per_byte = r["tokens"] / r["text_bytes"]
        hours = CODEPARROT_TRAIN_TOKENS / tokens_per_byte / 1e6 * per_mb / 3600
        print(
            f"{source}: peak anon {anon[1] / 1e9:.2f} GB at {big:g} GB vs {anon[0] / 1e9:.2f} GB "
            f"at {small:g} GB ({anon[1] / anon[0]:.2f}x), peak rss {rss[1] / 1e9:.2f} vs "
            f"{rss[0] / 1e9:.2f} GB ({rss[1] / rss[0]:.2f}x); {per_mb:.3f} s/MB; codeparrot-ds-train "
            f"(~{CODEPARROT_TRAIN_TOKENS / 1e9:.1f}B tokens, ~{CODEPARROT_TRAIN_TOKENS / tokens_per_byte / 1e9:.1f} GB "
            f"at this data's {tokens_per_byte:.3f} tokens/byte): about {hours:.1f} h on this machine"
        )


if __name__ == "__main__":
    main()
