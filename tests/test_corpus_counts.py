"""The corpus' counts add up (issue 20): files are distinct files, rows are what the mix
repeats, and seen − dropped − duplicates − left out = kept, in the record and in the report."""

from __future__ import annotations

import hashlib
from collections import Counter

from pipeline.corpus import Candidate, dedup, make_stats, part_stats, take_subset, weigh


def candidate(i: int, part: str, library: str, size: int = 100, split: str = "train") -> Candidate:
    digest = hashlib.sha256(f"{part}{split}{i}".encode()).digest()
    rank = 0.001 * (i + 1) if split == "valid" else 0.5 + 0.0001 * i
    return Candidate(item={}, digest=digest, nbytes=size, repo_name=library, rank=rank, part=part)


def test_files_are_distinct_and_rows_count_the_mix() -> None:
    # 25 library files (weight 0.25: about a quarter stay), 10 doctest scripts (weight 2: each
    # twice), 1 duplicate of a doctest script, in 23 libraries; 2 validation files.
    library = [candidate(i, "library", f"lib{i % 21}") for i in range(25)]
    doctests = [candidate(i, "doctests", "pandas", 50) for i in range(10)]
    duplicate = candidate(3, "doctests", "numpy", 50)  # same content as doctests[3]
    valid = [candidate(i, "doctests", "sklearn", 70, "valid") for i in range(2)]
    kept = {"valid": valid, "train": library + doctests + [duplicate]}
    file_counts = Counter({"kept": 38, "keywords": 40, "max_line_length": 2})
    kept, dedup_removed = dedup(kept)
    weights = {"library": 0.25, "doctests": 2.0}
    kept = {split: weigh(kept[split], split, weights, 42) for split in ("valid", "train")}
    stats = make_stats({"source": "installed"}, "key", kept, file_counts, dedup_removed)

    library_in = sum(c.part == "library" for c in kept["train"])
    assert 0 < library_in < 25 and dedup_removed == 1
    assert stats["train_files"] == library_in + 10 and stats["valid_files"] == 2
    assert stats["train_rows"] == library_in + 20 and stats["valid_rows"] == 2
    assert stats["train_bytes"] == library_in * 100 + 10 * 50
    assert stats["train_rows_bytes"] == library_in * 100 + 20 * 50
    assert stats["files_kept"] == library_in + 12
    assert stats["bytes_kept"] == stats["train_bytes"] + stats["valid_bytes"]
    # the counts add up: seen − dropped − duplicates − left out by the mix = kept
    dropped = sum(stats["filtered"].values())
    assert stats["files_left_out"] == 25 - library_in
    assert (
        stats["files_seen"] - dropped - stats["dedup_removed"] - stats["files_left_out"]
        == stats["files_kept"]
    )
    # libraries: counted on distinct files, and the total is every library, not the top 20
    by_name = {x["name"]: x for x in stats["libraries"]}
    assert by_name["pandas"] == {"name": "pandas", "files": 10, "bytes": 500}
    assert len(stats["libraries"]) <= 20
    assert stats["libraries_total"] == len({c.repo_name for c in kept["train"] + kept["valid"]})

    parts = part_stats(kept, {}, weights, [])
    assert parts["doctests"]["train_files"] == 10 and parts["doctests"]["train_rows"] == 20
    assert parts["doctests"]["train_bytes"] == 500 and parts["doctests"]["train_rows_bytes"] == 1000
    assert parts["library"]["train_files"] == parts["library"]["train_rows"] == library_in


def test_a_subset_of_rows_leaves_files_out_and_the_counts_still_add_up() -> None:
    train = [candidate(i, "files", "src") for i in range(40)]
    valid = [candidate(i, "files", "src", split="valid") for i in range(4)]
    kept = {"valid": valid, "train": train}
    kept["train"] = take_subset(kept["train"], "train", {"train_subset": 15})
    stats = make_stats({"source": "path"}, "key", kept, Counter({"kept": 44, "keywords": 6}), 0)
    assert stats["files_kept"] == 19 and stats["files_left_out"] == 25
    assert stats["files_seen"] - 6 - 0 - 25 == stats["files_kept"]
    assert stats["train_rows"] == stats["train_files"] == 15
