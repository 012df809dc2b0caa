"""Do two results folders hold the same experiments? For a refactor that must not change them.

    .venv/bin/python bench/same_records.py results-before results-after

Each `<name>/record.json` of the first folder is compared with the second's, field by field,
leaving out what differs from run to run whatever the code: wall-clock fields (names ending in
_at or _s, runtimes, rates per second), the git commit, how the precision was found (measured or
cached) and machine paths (the folders' own roots are made equal). The weights
(`model/model.safetensors`) are compared bit for bit. Prints a line per experiment and each
differing field; exits 1 when anything differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

RUN_TO_RUN = re.compile(r"(_at|_s|seconds|runtime|^git_commit|^how)$|per_second")


def comparable(value: Any, root: str) -> Any:
    """The record without its run-to-run fields, its folder's root written as ROOT."""
    if isinstance(value, dict):
        return {k: comparable(v, root) for k, v in value.items() if not RUN_TO_RUN.search(k)}
    if isinstance(value, list):
        return [comparable(v, root) for v in value]
    return value.replace(root, "ROOT") if isinstance(value, str) else value


def differences(a: Any, b: Any, where: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                out.append(f"{where}.{key}: only in the {'second' if key in b else 'first'}")
            else:
                out += differences(a[key], b[key], f"{where}.{key}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {str(a)[:60]!r} != {str(b)[:60]!r}"]


def weights_digest(folder: Path) -> str | None:
    path = folder / "model" / "model.safetensors"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def compare(first: Path, second: Path) -> list[str]:
    """One line per experiment, then its differences; empty differences mean the same."""
    lines, same = [], True
    roots = [str(f.resolve().parent) for f in (first, second)]
    names = sorted({p.parent.name for f in (first, second) for p in f.glob("*/record.json")})
    for name in names:
        files = [f / name / "record.json" for f in (first, second)]
        if not all(f.is_file() for f in files):
            lines.append(f"{name}: only in the {'first' if files[0].is_file() else 'second'}")
            same = False
            continue
        a, b = (comparable(json.loads(f.read_text()), r) for f, r in zip(files, roots, strict=True))
        diff = differences(a, b)
        weights = [weights_digest(f / name) for f in (first, second)]
        lines.append(
            f"{name}: records {'equal' if not diff else 'DIFFER'}, weights "
            f"{'equal' if weights[0] == weights[1] else 'DIFFER'}"
        )
        lines += [f"  {d}" for d in diff]
        same = same and not diff and weights[0] == weights[1]
    lines.append("same experiments" if same and names else "NOT the same")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    args = parser.parse_args()
    lines = compare(args.first, args.second)
    print("\n".join(lines))
    return 0 if lines[-1] == "same experiments" else 1


if __name__ == "__main__":
    sys.exit(main())
