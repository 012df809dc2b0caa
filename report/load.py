"""Stage 1: the matrix and its records -> one Entry per experiment, in matrix order.

Nothing here raises for a bad record: a missing, corrupt or outdated record becomes an Entry
whose state says so, and the report shows it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import ConfigError, load_matrix
from pipeline.inputs import read_text
from pipeline.record import MAX_RECORD_BYTES, RECORD_FILE, RecordError, read_record
from pipeline.weights import weights_folder, weights_problem

# States of an experiment in the report: the three record statuses plus two of our own.
MISSING = "missing"  # no record yet
INVALID = "invalid"  # a record that cannot be read (corrupt JSON, older schema, bad shape)


class ReportError(Exception):
    """A problem the user can fix; the CLI prints it as one line, without a traceback."""


class ReportInputError(ReportError):
    """An input that is not what it should be (the matrix, the results or templates folder):
    exit code 2, as the pipeline's config errors."""


@dataclass(frozen=True)
class Entry:
    index: int  # position in the matrix; picks the experiment's colour
    name: str
    description: str
    overrides: dict[str, Any]  # dotted keys changed from the profile (from the record if any)
    state: str  # complete | failed | diverged | missing | invalid
    problem: str | None  # error of a failed/diverged run, or why the record is unusable
    record: dict[str, Any] | None
    stale: bool  # the record was made from a different config than the matrix holds now
    path: Path
    weights_problem: str | None = None  # why a complete record's weights cannot be loaded


def default_profile(results: Path) -> str:
    """$PROFILE when set; else the profile the records were made with (the pipeline picks gpu
    by itself on a CUDA machine, and the report cannot ask torch); else cpu."""
    profile = os.environ.get("PROFILE", "").strip()
    if profile and profile != "auto":
        return profile
    newest: tuple[str, str] | None = None
    for path in results.glob(f"*/{RECORD_FILE}"):
        try:  # a regular file of a record's size only, parsed without a traceback
            text = read_text(path, RecordError, "", "a record", "", limit=MAX_RECORD_BYTES)
            record = json.loads(text)
            found = (str(record["environment"]["ended_at"] or ""), str(record["profile"]))
        except (RecordError, RecursionError, ValueError, KeyError, TypeError):
            continue  # unreadable records are reported later, where they belong
        newest = max(newest or found, found)
    return newest[1] if newest else "cpu"


def load_entries(results: Path, profile: str, matrix: Path | None) -> list[Entry]:
    """Read results/<name>/record.json for each experiment of the matrix."""
    try:
        experiments = load_matrix(profile, matrix_file=matrix, check_training_args=False)
    except ConfigError as e:
        raise ReportInputError(f"cannot read the experiment matrix: {e}") from None
    if not results.is_dir():
        what = "is a file, not a folder" if results.exists() else "not found"
        raise ReportInputError(f"results folder {results} {what}")
    entries = []
    for index, exp in enumerate(experiments):
        path = results / exp.name / RECORD_FILE
        record: dict[str, Any] | None = None
        if path.parent.exists() and not path.parent.is_dir():
            state, problem = INVALID, f"{path.parent} is a file, not an experiment folder"
        elif not path.exists() and not path.is_symlink():
            state, problem = MISSING, None
        else:
            try:
                record = read_record(path)
            except RecordError as e:
                state, problem = INVALID, str(e)
            else:
                state, problem = record["status"], record["error"]
        entries.append(
            Entry(
                index=index,
                name=exp.name,
                description=(record or {}).get("description") or exp.description,
                overrides=record["overrides"] if record else exp.overrides,
                state=state,
                problem=problem,
                record=record,
                stale=bool(record) and record.get("config_hash") != exp.config_hash,
                path=path,
                weights_problem=_weights_problem(record, results),
            )
        )
    if all(e.state == MISSING for e in entries):
        raise ReportInputError(
            f"no records in {results} for any experiment of the matrix "
            f"({', '.join(e.name for e in entries)}): run them first (make experiments), "
            "or name the right --results folder"
        )
    return entries


def _weights_problem(record: dict[str, Any] | None, results: Path) -> str | None:
    """Only complete records promise weights; the report says when they are gone or broken."""
    if not record or record["status"] != "complete":
        return None
    return weights_problem(weights_folder(record, results), record.get("config_hash"))
