"""Where a run's records and report go: results/ and build/ for the project's own matrix on a
machine profile, folders named for anything else, so one matrix never replaces another's report
or mixes into its results (and TensorBoard's `--logdir results` view).

    results_folder(None, "cpu", {})                  -> results
    results_folder(Path("my.toml"), "micro", {})     -> results-my-micro
    report_folder(None, "cpu", {"data": {"path": "~/src/app"}}) -> build-app-<hash>

Torch-free: the report computes the same folders from the same arguments.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pipeline.cache import key_hash
from pipeline.config import EXPERIMENTS_DIR, flatten

# The profiles that `auto` or the Colab notebook pick, one per kind of machine: they share
# results/ and build/, as the README, CI and the notebook expect. Any other (micro, your own)
# gets folders of its own.
SHARED_PROFILES = ("cpu", "gpu", "colab")
DEFAULT_MATRIX = EXPERIMENTS_DIR / "matrix.toml"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"


def folder_tag(matrix: Path | None, profile: str, sets: dict[str, Any]) -> str:
    """ "" for the default matrix on a shared profile without --set, else a name made of the
    matrix file's stem, the profile, data.path's name and a hash of any other --set values."""
    parts = []
    if matrix is not None and Path(matrix).resolve() != DEFAULT_MATRIX.resolve():
        parts.append(_safe(Path(matrix).stem))
    if profile not in SHARED_PROFILES:
        parts.append(_safe(profile))
    flat = flatten(sets)
    path = flat.pop("data.path", None)
    flat.pop("data.source", None)  # DATA=... sets it: the path names the folder already
    if path:
        # the folder's name, and a hash of the whole path: two projects' src/ stay apart
        resolved = str(Path(str(path)).expanduser().resolve())
        parts.append(f"{_safe(Path(resolved).name)}-{key_hash(resolved)[:6]}")
    if flat:
        parts.append(f"set-{key_hash(flat)[:6]}")
    return "-".join(parts)


def results_folder(matrix: Path | None, profile: str, sets: dict[str, Any], root: Path) -> Path:
    tag = folder_tag(matrix, profile, sets)
    return root / (f"results-{tag}" if tag else "results")


def report_folder(matrix: Path | None, profile: str, sets: dict[str, Any], root: Path) -> Path:
    tag = folder_tag(matrix, profile, sets)
    return root / (f"build-{tag}" if tag else "build")


def output_folders(args: Any) -> tuple[Path, Path]:
    """The report's --results and --out: as given, else the folders the pipeline wrote for the
    same matrix, profile ($PROFILE or --profile) and --set. With --failed-run a report already
    in the output folder stays: the failed run's report goes to <out>/failed-run/."""
    from pipeline.config import parse_sets, use_sets

    sets = parse_sets(args.set)
    use_sets(sets)
    profile = args.profile or os.environ.get("PROFILE", "").strip() or "auto"
    profile = SHARED_PROFILES[0] if profile == "auto" else profile  # cpu or gpu: same folders
    results = args.results or results_folder(args.matrix, profile, sets, Path())
    out = args.out or report_folder(args.matrix, profile, sets, Path())
    if args.failed_run and any((out / f"report.{ext}").exists() for ext in ("pdf", "md")):
        out = out / "failed-run"
    return results, out
