"""codeparrot-ds where the hub can be reached, the offline corpus where it cannot.

    data_cfg, tok_cfg, info = resolve(config, cache_dir)   # then build_corpus(data_cfg, ...)

A `source = "hub"` profile (colab, gpu, course) trains on the lab's own data. Before any
download this module says how large it is; a split with `hub_<split>_files = n` is streamed
(`load_dataset(..., streaming=True)`, shuffled in a buffer, first n files) into a local copy in
the cache, so a Colab run fetches tens of MB, not the whole 600k files. Where the hub is out of
reach (no network, HF_HUB_OFFLINE, or LAB_DATA=offline) the run falls back to `data.fallback`
(the offline corpus) with one line that says so, and `info` tells the record which corpus it was.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pipeline.cache import key_hash, publish, write_json_atomic
from pipeline.corpus import sources
from pipeline.errors import ConfigError

CODEPARROT = "huggingface-course/codeparrot-ds"  # -train and -valid
DATA_ENV = "LAB_DATA"  # codeparrot-ds (the default: the hub where reachable) | offline
DATA_CHOICES = ("codeparrot-ds", "offline")
SHUFFLE_BUFFER = 1000  # files held while streaming: a stream's first n files are not a sample
STREAM_VERSION = 1  # bump when a change here changes what a streamed copy holds
MARKER = "stream.json"  # written last: a folder without it is no cache entry
SPLITS = ("train", "valid")


def corpus_name(data_cfg: dict[str, Any]) -> str:
    """What the record calls the corpus: codeparrot-ds, another hub dataset, the offline corpus
    of installed packages, or the user's path."""
    source = data_cfg.get("source")
    if source == "hub":
        named = [str(data_cfg.get(f"hub_{s}", "")) for s in SPLITS]
        return "codeparrot-ds" if all(n.startswith(CODEPARROT) for n in named) else "hub"
    return "offline" if source == "installed" else str(source)


def data_choice() -> str:
    choice = os.environ.get(DATA_ENV, "").strip() or "codeparrot-ds"
    if choice not in DATA_CHOICES:
        raise ConfigError(
            f"{DATA_ENV}={choice!r} is unknown; choose {' or '.join(DATA_CHOICES)} (docs/data.md)"
        )
    return choice


def is_local(name: str) -> bool:
    return bool(name) and Path(name).expanduser().exists()


def hub_out_of_reach() -> str | None:
    """Why the hub cannot be used now, or None when it can."""
    import datasets

    if datasets.config.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    if not sources.hub_reachable():
        return "the HuggingFace hub is out of reach"
    return None


def resolve(
    config: dict[str, Any], cache_dir: Path
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """([data] to build the corpus from, [tokenizer] to build the tokenizer from, the record's
    corpus fields). Unchanged tables for every source but the hub."""
    data_cfg, tok_cfg = config["data"], config["tokenizer"]
    info: dict[str, Any] = {"corpus": corpus_name(data_cfg), "fallback": None}
    if data_cfg.get("source") != "hub":
        return data_cfg, tok_cfg, info
    names = {s: str(data_cfg.get(f"hub_{s}") or "") for s in SPLITS}
    counts = {s: stream_count(data_cfg, s) for s in SPLITS}
    copies = {s: stream_folder(names[s], s, counts[s], data_cfg, cache_dir) for s in SPLITS}
    # A streamed copy already in the cache, or a local dataset, needs no hub.
    needs_hub = [s for s in SPLITS if not is_local(names[s]) and not is_done(copies[s])]
    reason = "LAB_DATA=offline" if data_choice() == "offline" else None
    if reason is None and needs_hub:
        reason = hub_out_of_reach()
    if reason:
        return fall_back(data_cfg, tok_cfg, info, reason)
    built = dict(data_cfg)
    for split in SPLITS:
        if counts[split]:
            copy = stream_subset(names[split], split, counts[split], data_cfg, copies[split])
            built[f"hub_{split}"] = str(copy)
        else:
            announce_download(names[split], split)
    return built, tok_cfg, info


def fall_back(
    data_cfg: dict[str, Any], tok_cfg: dict[str, Any], info: dict[str, Any], reason: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The profile's other settings on the fallback source, and the one line that says so."""
    fallback = data_cfg.get("fallback", "installed")
    wanted = info["corpus"]
    if not fallback:
        raise ConfigError(
            f'this profile trains on {wanted} only (data.fallback = "") and {reason}: '
            "run it where the hub is reachable, or choose a profile with an offline corpus"
        )
    tok = dict(tok_cfg)
    extra = ""
    pretrained = str(tok_cfg.get("pretrained") or "")
    if pretrained and not is_local(pretrained):  # a hub tokenizer is out of reach as well
        tok["pretrained"] = ""
        extra = f" and a BPE trained on it instead of {pretrained}"
    print(
        f"data: {reason}, so this run trains on the offline corpus (the installed packages' "
        f"code){extra}, not on {wanted} (docs/data.md)",
        flush=True,
    )
    built = {**data_cfg, "source": fallback}
    return built, tok, {"corpus": corpus_name(built), "fallback": reason}


def stream_count(data_cfg: dict[str, Any], split: str) -> int:
    n = data_cfg.get(f"hub_{split}_files", 0)
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ConfigError(
            f"data.hub_{split}_files must be a whole number >= 0 (0: the whole split), got {n!r}"
        )
    return n


def stream_folder(
    name: str, split: str, n: int, data_cfg: dict[str, Any], cache_dir: Path
) -> Path | None:
    """Where the first n files of a split go (None: the whole split, no copy)."""
    if not n:
        return None
    source: Any = sources.path_fingerprint(Path(name).expanduser(), "*") if is_local(name) else name
    key = key_hash([STREAM_VERSION, source, split, n, data_cfg.get("subset_seed", 42)])
    return Path(cache_dir) / f"hub-{split}-{key}"


def is_done(folder: Path | None) -> bool:
    return folder is not None and (folder / MARKER).is_file()


def split_info(name: str, split: str) -> tuple[int | None, int | None]:
    """(files, bytes to download) of a hub split from its card, or a local folder's bytes on
    disk; None where unknown. Never raises: the size is a courtesy, not a condition."""
    if is_local(name):
        path = Path(name).expanduser()
        files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
        return None, sum(f.stat().st_size for f in files)
    try:
        import datasets

        info = datasets.load_dataset_builder(name).info
        chosen = next((s for s in sources.HUB_SPLITS[split] if s in (info.splits or {})), None)
        if chosen is None and info.splits and len(info.splits) == 1:
            chosen = next(iter(info.splits))
        files = info.splits[chosen].num_examples if chosen else None
        return files, info.download_size
    except Exception:  # no card, no network, a dataset without metadata
        return None, None


def size_text(files: int | None, nbytes: int | None) -> str:
    size = ""
    if nbytes:
        size = f"{nbytes / 1e6:,.1f} MB" if nbytes >= 1e6 else f"{nbytes / 1e3:,.1f} kB"
    parts = [f"{files:,} files" if files else "", size]
    return ", ".join(p for p in parts if p) or "size unknown"


def announce_download(name: str, split: str) -> None:
    """Before a whole split is loaded: how large it is (load_dataset caches it for next time)."""
    files, nbytes = split_info(name, split)
    print(
        f"data: loading the whole {split} split of {name} ({size_text(files, nbytes)}); "
        f"data.hub_{split}_files = n streams only n files",
        flush=True,
    )


def stream_subset(name: str, split: str, n: int, data_cfg: dict[str, Any], folder: Path) -> Path:
    """A local dataset folder with n files of the split (fewer if it has fewer): shuffled in a
    buffer of SHUFFLE_BUFFER files with data.subset_seed, then the first n. Cached by the
    dataset, the split, n and the seed; written whole or not at all."""
    if is_done(folder):
        return folder / "data"
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    files, nbytes = split_info(name, split)
    whole = f"; the whole split is {size_text(files, nbytes)}" if files or nbytes else ""
    print(f"data: streaming {n:,} {split} files of {name}{whole}", flush=True)
    local = Path(name).expanduser()
    try:
        loaded = datasets.load_dataset(str(local) if is_local(name) else name, streaming=True)
    except Exception as e:  # not found, gated, the network dropped: the library says which
        reason = str(e).splitlines()[0] if str(e) else ""
        raise ConfigError(
            f"data.hub_{split} {name!r}: cannot stream ({type(e).__name__}: {reason})"
        ) from None
    chosen = next((s for s in sources.HUB_SPLITS[split] if s in loaded), None)
    if chosen is None and len(loaded) == 1:
        chosen = next(iter(loaded))
    if chosen is None:
        raise ConfigError(
            f"data.hub_{split} {name!r} has splits {', '.join(loaded)}; "
            f"expected one of {', '.join(sources.HUB_SPLITS[split])}"
        )
    seed = data_cfg.get("subset_seed", 42)
    stream = loaded[chosen].shuffle(seed=seed, buffer_size=SHUFFLE_BUFFER).take(n)
    schema = pa.schema([(c, pa.string()) for c in sources.COLUMNS])
    stats = {"name": name, "split": chosen, "files": 0, "bytes": 0, "seed": seed}

    def write(tmp: Path) -> None:
        # Batches of 1000 rows: memory stays flat whatever n is.
        (tmp / "data").mkdir()  # the dataset alone in its folder: load_dataset reads all files
        with pq.ParquetWriter(tmp / "data" / "data.parquet", schema) as writer:
            batch: list[dict[str, Any]] = []
            for row in stream:
                if "content" not in row:
                    raise ConfigError(f"data.hub_{split} {name!r}: no 'content' column")
                batch.append(sources.table_row(row, name, stats["files"]))
                stats["files"] += 1
                stats["bytes"] += len((batch[-1]["content"] or "").encode("utf-8", "replace"))
                if len(batch) == 1000:
                    writer.write_table(pa.Table.from_pylist(batch, schema))
                    batch = []
            writer.write_table(pa.Table.from_pylist(batch, schema))
        write_json_atomic(tmp / MARKER, stats)

    publish(folder, MARKER, write)
    short = f" (the split has only {stats['files']:,})" if stats["files"] < n else ""
    print(
        f"data: streamed {stats['files']:,} {split} files{short}, "
        f"{size_text(None, stats['bytes'])} of code, into {folder}",
        flush=True,
    )
    return folder / "data"
