"""Corpus stage: Python files from a source -> quality filters -> exact dedup -> train/valid.

    dsd, stats = build_corpus(config["data"], Path("cache"), seed=config["data"]["subset_seed"])

dsd is a datasets.DatasetDict ("train", "valid") with codeparrot-ds's columns; stats is the
record's `data` section so far (see pipeline/record.py). A build is cached in
cache_dir/corpus-<key>/, keyed by the [data] table, the seed and a fingerprint of the source;
stats.json is the completion marker, and the folder appears whole or not at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from pipeline.arrow_batches import write_rows
from pipeline.cache import publish, write_json_atomic
from pipeline.corpus import sources, usage
from pipeline.corpus.filters import FILTERS, Screen, unit_hash
from pipeline.corpus.sources import COLUMNS
from pipeline.errors import ROOT, ConfigError

if TYPE_CHECKING:
    import datasets

SOURCES = ("installed", "path", "hub")
SPLITS = ("valid", "train")  # valid first: of two equal files, the valid one stays
CORPUS_VERSION = 4  # bump when a change here changes what a build holds (old caches go stale)
STATS_FILE = "stats.json"
TOP_LIBRARIES = 20


class Candidate(NamedTuple):
    """A file that passed the filters, waiting for dedup and the subsets."""

    item: Any  # the row (installed, path) or its index in the loaded split (hub)
    digest: bytes  # of the whitespace-stripped content
    nbytes: int
    repo_name: str
    rank: float  # the path's hash in [0, 1): below valid_fraction goes to valid
    part: str = "files"  # the installed source's part (usage.PARTS); "files" elsewhere


def build_corpus(
    data_cfg: dict[str, Any], cache_dir: Path, seed: int = 42, exclude: tuple[str, ...] = ()
) -> tuple[datasets.DatasetDict, dict[str, Any]]:
    """The train/valid corpus for this [data] config, from the cache when it was built before.

    A file that contains one of the `exclude` texts (the evaluation prompts) is dropped, so no
    prompt is ever answered from memory; stats["filtered"]["contains_prompt"] counts them."""
    screen, weights, dedup_on = checked(data_cfg, seed, exclude)
    key = cache_key(data_cfg, seed, exclude)
    folder = Path(cache_dir) / f"corpus-{key}"
    cached = load_cached(folder)
    if cached is not None:
        stats = cached[1]
        print(
            f"corpus: cached {folder} ({stats['train_files']} train, {stats['valid_files']} valid files)"
        )
        return cached

    print(f"corpus: building from source {data_cfg['source']!r} into {folder}", flush=True)
    # The rows that pass are spooled to disk beside the cache folder: nothing holds the text.
    # Named as publish's temporary folders are, so a killed build's spool is removed too.
    spool_dir = Path(cache_dir) / f".{folder.name}.{os.getpid()}.spool"
    spool_dir.mkdir(parents=True, exist_ok=True)
    spool = Spool(spool_dir)
    try:
        return build(data_cfg, folder, seed, (screen, weights, dedup_on), spool)
    finally:
        spool.close()
        shutil.rmtree(spool_dir, ignore_errors=True)


def build(
    data_cfg: dict[str, Any],
    folder: Path,
    seed: int,
    checks: tuple[Screen, dict[str, float], bool],
    spool: Spool,
) -> tuple[datasets.DatasetDict, dict[str, Any]]:
    """gather -> dedup -> mix -> subsets -> the saved cache folder."""
    screen, weights, dedup_on = checks
    key = folder.name.removeprefix("corpus-")
    start = time.perf_counter()
    file_counts: Counter[str] = Counter()
    parts: dict[str, Counter[str]] = {}
    kept, raw, missing = gather(data_cfg, screen, file_counts, parts, weights, spool)
    unreadable = file_counts.pop("unreadable", 0)
    kept, dedup_removed = dedup(kept, within_splits=dedup_on)
    for split in SPLITS:
        if not kept[split]:
            raise ConfigError(empty_message(split, file_counts, dedup_removed))
    if weights:  # the mix first: a subset then draws its files from the mix
        kept = {split: weigh(kept[split], split, weights, seed) for split in SPLITS}
        for split in SPLITS:
            if not kept[split]:
                raise ConfigError(
                    f"data.parts: the mix leaves no {split} files; raise a part's weight"
                )
    before = sum(len(v) for v in kept.values())
    kept = {split: take_subset(kept[split], split, data_cfg) for split in SPLITS}
    subset_removed = before - sum(len(v) for v in kept.values())
    dsd = materialize(kept, raw, data_cfg)

    stats = make_stats(data_cfg, key, kept, file_counts, dedup_removed)
    stats["subset_removed"] = subset_removed
    if weights:
        stats["parts"] = part_stats(kept, parts, weights, missing)
    stats["unreadable"] = unreadable
    stats["build_seconds"] = round(time.perf_counter() - start, 2)
    save(dsd, stats, folder)
    print(summary(stats), flush=True)
    return load_cached(folder) or (dsd, stats)


def checked(
    data_cfg: dict[str, Any], seed: int, exclude: tuple[str, ...]
) -> tuple[Screen, dict[str, float], bool]:
    """(filters, part weights, dedup) of a [data] table whose values pipeline.rules passed."""
    screen = Screen.from_config(data_cfg, seed, exclude)
    weights = usage.part_weights(data_cfg) if data_cfg["source"] == "installed" else {}
    return screen, weights, data_cfg.get("filters", {}).get("dedup", True)


def gather(
    data_cfg: dict[str, Any],
    screen: Screen,
    file_counts: Counter[str],
    parts: dict[str, Counter[str]],
    weights: dict[str, float],
    spool: Spool,
) -> tuple[dict[str, list[Candidate]], dict[str, Any], list[str]]:
    """The files that pass the filters, by split; the datasets their rows are in (the loaded
    hub splits, or the spool); the example sdists that were not downloaded."""
    source = data_cfg["source"]
    missing: list[str] = []
    if source == "hub":
        # The dataset's own split is kept; the test fixtures are local folders of the same shape.
        raw = {s: sources.load_hub_split(data_cfg[f"hub_{s}"], s) for s in SPLITS}
        kept = {}
        for split in SPLITS:
            rows = sources.hub_rows(raw[split], data_cfg[f"hub_{split}"])
            filtered = (filter_file(row, screen, i) for i, row in enumerate(rows))
            kept[split] = collect(filtered, file_counts, len(raw[split]))
        return kept, raw, missing
    if source == "installed":
        passed, missing = gather_parts(screen, weights, data_cfg, file_counts, parts, spool)
    else:
        path = sources.resolve_path(data_cfg.get("path", ""))
        files = sources.path_files(path) if path.is_dir() else []
        if files:
            passed = collect(filter_files(files, screen), file_counts, len(files), spool=spool)
        else:
            rows = (filter_file(row, screen) for row in sources.table_rows(path))
            passed = collect(rows, file_counts, spool=spool)
    fraction = data_cfg.get("valid_fraction", 0.02)
    kept = {
        "valid": [c for c in passed if c.rank < fraction],
        "train": [c for c in passed if c.rank >= fraction],
    }
    balance(kept)
    spooled = spool.dataset()
    return kept, {"train": spooled, "valid": spooled}, missing


def gather_parts(
    screen: Screen,
    weights: dict[str, float],
    data_cfg: dict[str, Any],
    file_counts: Counter[str],
    parts: dict[str, Counter[str]],
    spool: Spool,
) -> tuple[list[Candidate], list[str]]:
    """The installed source, part by part (usage.PARTS); parts of weight 0 are not read.
    Returns the files that passed, and the example sdists that were not downloaded."""
    missing: list[str] = []
    files = sources.installed_files()
    examples_dir = examples_folder(data_cfg)
    prose = data_cfg.get("examples_prose", False)
    comments = data_cfg.get("usage_comments", True)
    passed: list[Candidate] = []
    shared: dict[str, list] = {}  # the library's files with docstring examples, read once
    for part in usage.PARTS:
        if not weights[part]:
            continue
        rows, lacking = usage.installed_part_rows(
            part, files, screen.keywords, examples_dir, prose, shared, comments
        )
        if lacking:
            print(
                f"corpus: part {part!r} skips {', '.join(lacking)}: no sdist in {examples_dir} "
                "(make fetch downloads it)"
            )
        missing += lacking
        part_screen = screen if part == "library" else screen.for_usage()
        if part == "doctests":  # the keyword filter ran on the docstrings' home files
            part_screen = part_screen.without_keywords()
        counts: Counter[str] = Counter()
        filtered = (filter_file(row, part_screen, part=part) for row in rows)
        total = len(files) if part == "library" else None
        passed += collect(filtered, counts, total, part, spool)
        parts[part] = counts
        file_counts.update(counts)
    return passed, missing


def examples_folder(data_cfg: dict[str, Any]) -> Path:
    folder = Path(data_cfg.get("examples_dir") or "cache/downloads").expanduser()
    return folder if folder.is_absolute() else ROOT / folder


def weigh(
    kept: list[Candidate], split: str, weights: dict[str, float], seed: int
) -> list[Candidate]:
    """Mix the parts: a train file of weight w appears floor(w) times, and once more with
    probability frac(w) (seeded per file, so a rebuild keeps the same mix); validation files
    appear at most once (min(w, 1)), so the evaluation text has no repeats."""
    out = []
    for c in kept:
        w = weights.get(c.part, 1.0)
        w = min(w, 1.0) if split == "valid" else w
        copies = int(w) + (unit_hash(seed, "weight", c.repo_name, c.digest.hex()) < w % 1)
        out += [c] * copies
    return out


def cache_key(data_cfg: dict[str, Any], seed: int, exclude: tuple[str, ...] = ()) -> str:
    source = data_cfg.get("source")
    if source == "installed":
        fingerprint: Any = sources.installed_fingerprint()
        fingerprint += usage.examples_fingerprint(examples_folder(data_cfg))
    elif source == "path":
        fingerprint = sources.path_fingerprint(sources.resolve_path(data_cfg.get("path", "")))
    else:
        fingerprint = sources.hub_fingerprint(
            [data_cfg.get("hub_train"), data_cfg.get("hub_valid")]
        )
    blob = {
        "version": CORPUS_VERSION,
        "data": data_cfg,
        "seed": seed,
        "source": fingerprint,
        "exclude": sorted(exclude),
    }
    text = json.dumps(blob, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def filter_file(
    row: dict[str, Any], screen: Screen, index: int = -1, part: str = "files"
) -> tuple[str, Candidate | None]:
    """(drop_reason, candidate): drop_reason is the filter that drops the row, or "kept". A hub row is
    kept by its index in the split (index >= 0), other rows whole."""
    content = row["content"]
    reason = screen.drop_reason(content, row["repo_name"], row["path"])
    if reason:
        return reason, None
    digest = hashlib.blake2b(content.strip().encode(), digest_size=16).digest()
    # a doctest script's split follows its home file (issue 20)
    rank = unit_hash("split", f"{row['repo_name']}/{usage.split_path(row['path'])}")
    return "kept", Candidate(
        row if index < 0 else index, digest, len(content.encode()), row["repo_name"], rank, part
    )


def filter_files(
    files: list[sources.SourceFile], screen: Screen
) -> Iterator[tuple[str, Candidate | None]]:
    # Serial on purpose: a process pool (fork or spawn, 500-file chunks) measured no faster
    # on 2 cores, and spawn would re-run an unguarded caller's __main__.
    missing: list[str] = []
    for row in sources.read_files(files, missing):
        yield filter_file(row, screen)
    for _ in missing:
        yield "unreadable", None


def collect(
    filtered: Iterable[tuple[str, Candidate | None]],
    file_counts: Counter[str],
    total: int | None = None,
    desc: str = "corpus",
    spool: Spool | None = None,
) -> list[Candidate]:
    """The candidates that passed; file_counts counts every file under its drop_reason. With a
    spool, each passing row is written to it and the candidate keeps the row's index there."""
    from tqdm import tqdm

    out = []
    bar = tqdm(filtered, total=total, unit="file", desc=desc, leave=False, disable=None)
    for drop_reason, candidate in bar:
        file_counts[drop_reason] += 1
        if candidate is not None:
            if spool is not None:
                candidate = candidate._replace(item=spool.add(candidate.item))
            out.append(candidate)
    return out


class Spool:
    """An Arrow file of rows, appended in batches as they pass the filters, then memory-mapped:
    the path and installed sources end where the hub's do, as a dataset rows are selected from
    by index, and no source's text is held in Python objects."""

    ROWS = 1000  # rows per record batch

    def __init__(self, folder: Path) -> None:
        import pyarrow as pa

        self.path = folder / "rows.arrow"
        self.schema = pa.schema([(c, pa.string()) for c in COLUMNS])
        self.sink = pa.OSFile(str(self.path), "wb")
        self.writer = pa.ipc.new_stream(self.sink, self.schema)
        self.buffer: list[dict[str, Any]] = []
        self.count = 0

    def add(self, row: dict[str, Any]) -> int:
        """Append a row; its index in the dataset()."""
        self.buffer.append(row)
        self.count += 1
        if len(self.buffer) >= self.ROWS:
            self.flush()
        return self.count - 1

    def flush(self) -> None:
        import pyarrow as pa

        if self.buffer:
            self.writer.write_batch(pa.RecordBatch.from_pylist(self.buffer, schema=self.schema))
            self.buffer = []

    def close(self) -> None:
        if not self.sink.closed:
            self.flush()
            self.writer.close()
            self.sink.close()

    def dataset(self) -> datasets.Dataset:
        import datasets

        self.close()
        return datasets.Dataset.from_file(str(self.path))


def balance(kept: dict[str, list[Candidate]]) -> None:
    """A small corpus can hash every file to one side: move the file nearest the cut over."""
    train, valid = kept["train"], kept["valid"]
    if not valid and len(train) > 1:
        valid.append(train.pop(min(range(len(train)), key=lambda i: train[i].rank)))
    elif not train and len(valid) > 1:
        train.append(valid.pop(max(range(len(valid)), key=lambda i: valid[i].rank)))


def dedup(
    kept: dict[str, list[Candidate]], within_splits: bool = True
) -> tuple[dict[str, list[Candidate]], int]:
    """Exact dedup on stripped content. A train file equal to a valid one always goes (that is
    leakage); within_splits=False keeps repeats inside a split."""
    first_split: dict[bytes, str] = {}
    out: dict[str, list[Candidate]] = {}
    removed = 0
    for split in SPLITS:  # valid first
        out[split] = []
        for c in kept[split]:
            where = first_split.get(c.digest)
            if where is not None and (where != split or within_splits):
                removed += 1
                continue
            first_split[c.digest] = split
            out[split].append(c)
    return out, removed


def subset_size(data_cfg: dict[str, Any], split: str) -> int:
    return data_cfg.get(f"{split}_subset") or 0


def take_subset(kept: list[Candidate], split: str, data_cfg: dict[str, Any]) -> list[Candidate]:
    """A seeded sample of n files, as Dataset.shuffle(seed).select(range(n)) draws it; the
    files keep their corpus order."""
    import numpy as np

    n = subset_size(data_cfg, split)
    if n == 0:
        return kept
    if n > len(kept):
        raise ConfigError(
            f"data.{split}_subset = {n} but only {len(kept)} {split} files remain after filters and dedup; "
            "lower it, or set 0 to keep them all"
        )
    chosen = np.random.default_rng(data_cfg.get("subset_seed", 42)).permutation(len(kept))[:n]
    return [kept[i] for i in sorted(chosen.tolist())]


def materialize(
    kept: dict[str, list[Candidate]], raw: dict[str, Any], data_cfg: dict[str, Any]
) -> datasets.DatasetDict:
    import datasets

    features = datasets.Features({c: datasets.Value("string") for c in COLUMNS})
    out = {}
    for split in ("train", "valid"):
        items = [c.item for c in kept[split]]
        # Rows stay in Arrow (the hub's split or the spool): only indices went through Python.
        ds = raw[split].select(items)
        if set(COLUMNS) <= set(ds.column_names):
            ds = ds.select_columns(list(COLUMNS))
            if ds.features != features:
                ds = ds.cast(features)
        else:
            ds = ds.map(
                sources.fill_row,
                with_indices=True,
                fn_kwargs={"repo_name": data_cfg[f"hub_{split}"], "indices": items},
                remove_columns=ds.column_names,
                features=features,
            )
        out[split] = ds
    return datasets.DatasetDict(out)


def _distinct(rows: list[Candidate]) -> list[Candidate]:
    """The files behind a split's rows: the mix repeats a file (one Candidate, several rows);
    a file is its path hash and content."""
    seen: dict[tuple[str, float, bytes], Candidate] = {}
    for c in rows:
        seen.setdefault((c.repo_name, c.rank, c.digest), c)
    return list(seen.values())


def make_stats(
    data_cfg: dict[str, Any],
    key: str,
    kept: dict[str, list[Candidate]],
    file_counts: Counter[str],
    dedup_removed: int,
) -> dict[str, Any]:
    """The corpus in numbers. Files are distinct files, so that files_seen − the filters' drops
    − dedup_removed − files_left_out = files_kept; rows are what the model reads after the mix
    repeats files (train_rows, *_rows_bytes). Libraries are counted in distinct files."""
    distinct = {split: _distinct(kept[split]) for split in ("train", "valid")}
    libraries: dict[str, list[int]] = {}
    for c in distinct["train"] + distinct["valid"]:
        files_bytes = libraries.setdefault(c.repo_name, [0, 0])
        files_bytes[0] += 1
        files_bytes[1] += c.nbytes
    top = sorted(libraries.items(), key=lambda kv: (-kv[1][1], kv[0]))[:TOP_LIBRARIES]
    train_bytes = sum(c.nbytes for c in distinct["train"])
    valid_bytes = sum(c.nbytes for c in distinct["valid"])
    files_kept = len(distinct["train"]) + len(distinct["valid"])
    # passed the filters and dedup, but a part weight below 1 or the subset left them out
    left_out = file_counts["kept"] - dedup_removed - files_kept
    return {
        "source": data_cfg["source"],
        "keywords": list(data_cfg.get("keywords") or []),
        "files_seen": file_counts.total(),
        "files_kept": files_kept,
        "bytes_kept": train_bytes + valid_bytes,
        "filtered": {name: file_counts[name] for name in FILTERS},
        "dedup_removed": dedup_removed,
        "files_left_out": left_out,
        "train_files": len(distinct["train"]),
        "valid_files": len(distinct["valid"]),
        "train_bytes": train_bytes,
        "valid_bytes": valid_bytes,
        "train_rows": len(kept["train"]),
        "valid_rows": len(kept["valid"]),
        "train_rows_bytes": sum(c.nbytes for c in kept["train"]),
        "valid_rows_bytes": sum(c.nbytes for c in kept["valid"]),
        "libraries": [{"name": n, "files": f, "bytes": b} for n, (f, b) in top],
        "libraries_total": len(libraries),
        "cache_key": key,
    }


def part_stats(
    kept: dict[str, list[Candidate]],
    parts: dict[str, Counter[str]],
    weights: dict[str, float],
    missing: list[str],
) -> dict[str, Any]:
    """Per part: its weight, what the filters did, and what it holds in each split: distinct
    files and bytes, and the train rows after the mix (repeats counted): the data section of
    the report shows this table."""
    out: dict[str, Any] = {}
    for part, weight in weights.items():
        counts = parts.get(part, Counter())
        entry: dict[str, Any] = {
            "weight": weight,
            "files_seen": counts.total() - counts["unreadable"],
            "files_passed": counts["kept"],
            "filtered": {name: counts[name] for name in FILTERS if counts[name]},
        }
        for split in ("train", "valid"):
            rows = [c for c in kept[split] if c.part == part]
            mine = _distinct(rows)
            entry[f"{split}_files"] = len(mine)
            entry[f"{split}_bytes"] = sum(c.nbytes for c in mine)
            if split == "train":
                entry["train_rows"] = len(rows)
                entry["train_rows_bytes"] = sum(c.nbytes for c in rows)
        entry["missing"] = missing if part == "examples" else []
        out[part] = entry
    return out


def dropped(file_counts: Counter[str]) -> str:
    counts = sorted(((n, name) for name in FILTERS if (n := file_counts[name])), reverse=True)
    return ", ".join(f"{name} {n}" for n, name in counts) or "none"


def empty_message(split: str, file_counts: Counter[str], dedup_removed: int) -> str:
    return (
        f"the corpus has no {split} files after filters and dedup ({file_counts.total()} files seen; "
        f"dropped by {dropped(file_counts)}; dedup {dedup_removed}): "
        "loosen data.keywords or data.filters, or point the source at more code"
    )


def summary(stats: dict[str, Any]) -> str:
    mb = stats["bytes_kept"] / 1e6
    return (
        f"corpus: {stats['files_seen']} files seen, {stats['files_kept']} kept "
        f"({stats['train_files']} train, {stats['valid_files']} valid, {mb:.1f} MB) "
        f"in {stats['build_seconds']:.1f}s; dropped by {dropped(Counter(stats['filtered']))}, "
        f"dedup {stats['dedup_removed']}, subset {stats['subset_removed']}"
    )


def load_cached(folder: Path) -> tuple[datasets.DatasetDict, dict[str, Any]] | None:
    if not (folder / STATS_FILE).is_file():
        return None
    import datasets

    try:
        stats = json.loads((folder / STATS_FILE).read_text(encoding="utf-8"))
        if (folder / "dataset_dict.json").is_file():  # saved by a version before write_rows
            return datasets.DatasetDict.load_from_disk(str(folder)), stats
        order = ("train", "valid")  # as materialize builds it
        splits = {s: datasets.Dataset.from_file(str(folder / f"{s}.arrow")) for s in order}
        return datasets.DatasetDict(splits), stats
    except Exception as e:  # damaged by hand or by a full disk: rebuild rather than fail
        print(f"corpus: ignoring unreadable cache {folder} ({type(e).__name__}: {e})")
        shutil.rmtree(folder, ignore_errors=True)
        return None


def save(dsd: datasets.DatasetDict, stats: dict[str, Any], folder: Path) -> None:
    """stats.json is written last: a folder without it is not a cache entry."""

    def write(tmp: Path) -> None:
        for split in SPLITS:  # one Arrow file per split, its rows gathered a batch at a time
            write_rows(dsd[split], tmp / f"{split}.arrow")
        write_json_atomic(tmp / STATS_FILE, stats)

    publish(folder, STATS_FILE, write)
