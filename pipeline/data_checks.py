"""What a data.source = "path" corpus will hold, found at `validate` time, before any work.

A folder can be too small for what the config asks of it: every file dropped by a filter, no
file hashed into the validation split, a subset larger than its split. The corpus stage would
find these one at a time, each after minutes of other work; here the folder is screened once
with the corpus stage's own filters, split and dedup (pipeline.corpus), and every problem is one
line, all together. The hub and installed sources are not screened: the hub is remote, and
the installed packages are sized by the profiles themselves.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

_memo: dict[str, list[str]] = {}  # the experiments of a matrix usually share their [data]


def check_path_data(config: dict[str, Any]) -> list[str]:
    """Problems of the corpus a "path" source would build (empty for other sources)."""
    data = config.get("data") or {}
    path = Path(str(data.get("path") or "")).expanduser()
    if data.get("source") != "path" or not data.get("path") or not path.exists():
        return []  # a missing path is pipeline.inputs.check_files' line
    from pipeline.errors import ConfigError
    from pipeline.prompts import evaluation_prompts

    try:  # the corpus drops files that hold a prompt: counted the same way here
        exclude = tuple(p["text"] for p in evaluation_prompts(config["generation"]))
    except ConfigError:
        return []  # the prompts file's own error is reported before any work, by the CLI
    from pipeline.corpus import cache_key

    key = cache_key(data, data["subset_seed"], exclude)  # with the files' names, sizes, times
    if key not in _memo:
        _memo[key] = screen_folder(data, exclude)
    return _memo[key]


def screen_folder(data: dict[str, Any], exclude: tuple[str, ...]) -> list[str]:
    from pipeline.corpus import SPLITS, Spool, checked, dedup, dropped, gather
    from pipeline.errors import ConfigError

    try:
        screen, weights, dedup_on = checked(data, data["subset_seed"], exclude)
        file_counts: Counter[str] = Counter()
        with tempfile.TemporaryDirectory(prefix="data-check-") as tmp:  # rows go to disk
            spool = Spool(Path(tmp))
            kept, _, _ = gather(data, screen, file_counts, {}, weights, spool)
            spool.close()
    except ConfigError as e:  # an unreadable table, a bad value: one line as well
        return [str(e)]
    kept, dedup_removed = dedup(kept, within_splits=dedup_on)
    seen, passed = file_counts.total(), file_counts["kept"]
    where = f"data.path {data['path']!r}"
    if passed == 0:
        hint = (
            "set data.keywords = [] (keep every file)"
            if file_counts["keywords"]
            else "loosen data.filters"
        )
        return [
            f"{where}: all {seen} files are dropped by the filters ({dropped(file_counts)}): "
            f"{hint}, or point data.path at more code"
        ]
    errors = []
    sizes = {split: len(kept[split]) for split in SPLITS}
    after = f"{passed} of {seen} files pass the filters, {dedup_removed} duplicates removed"
    if sizes["valid"] == 0 or sizes["train"] == 0:
        errors.append(
            f"{where}: {after}; that leaves {sizes['train']} train and {sizes['valid']} valid "
            "files: the corpus needs at least one of each, point data.path at more code"
        )
    for split in SPLITS:
        wanted = data.get(f"{split}_subset") or 0
        if wanted > sizes[split]:
            more = " or raise data.valid_fraction" if split == "valid" else ""
            errors.append(
                f"data.{split}_subset = {wanted} but {where} gives {sizes[split]} {split} files "
                f"({after}; valid_fraction {data['valid_fraction']:g}): lower it to "
                f"{sizes[split]}{more}, or set 0 to keep them all"
            )
    return errors
