"""The matrix: every experiment whose record is not complete and current, one lock each.

Torch-free (`list` uses is_current); one experiment's run is pipeline.experiment."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from pipeline.config import Experiment
from pipeline.environment import end_distributed, is_main
from pipeline.eta import MatrixEta
from pipeline.record import LOSS_NORMALIZATION, PREVIOUS_FILE, RECORD_FILE, RecordError, read_record
from pipeline.tensorboard_logs import restore_runs
from pipeline.weights import weights_folder, weights_problem


def is_current(exp: Experiment, results: Path) -> bool:
    """True when the experiment has a complete record for this exact config, and its weights
    are whole (also when that record is the one a failed rerun set aside)."""
    return current_record(exp, results) is not None


def current_record(exp: Experiment, results: Path) -> Path | None:
    """record.json, else record.previous.json, when it is complete, made from this exact config
    and its weights load: a failed run whose config was then put back finds its results again."""
    for name in (RECORD_FILE, PREVIOUS_FILE):
        path = results / exp.name / name
        try:
            record = read_record(path)
        except RecordError:
            continue
        if record["status"] != "complete" or record["config_hash"] != exp.config_hash:
            continue
        # made before the loss fix (issue 12): its losses are low by (T-1)/T, so not current
        if (record.get("evaluation") or {}).get("loss_normalization") != LOSS_NORMALIZATION:
            continue
        if weights_problem(weights_folder(record, results), exp.config_hash) is None:
            return path
    return None


@contextmanager
def experiment_lock(folder: Path, wait: bool = True) -> Iterator[bool]:
    """One process per experiment folder; a second one waits and says who holds it. With
    wait=False it does not wait: it yields False (a parallel worker then takes another one)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                yield False
                return
            f.seek(0)
            holder = f.read().strip() or "another process"
            print(f"    {folder.name}: waiting for the lock held by {holder}", flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} since {time.strftime('%H:%M:%S')}")
        f.flush()
        try:
            yield True
        finally:
            f.seek(0)
            f.truncate()
            fcntl.flock(f, fcntl.LOCK_UN)


def run_matrix(
    experiments: list[Experiment],
    results: Path,
    cache: Path,
    force: tuple[str, ...] = (),
    claim: bool = False,
) -> list[dict[str, Any]]:
    """Run what is not current (and what `force` names); returns one summary row each.

    claim: as one of several workers (pipeline.parallel), run only experiments whose lock is
    free and leave the others to the worker that holds them (they get no row here)."""
    summary = []
    eta = MatrixEta()  # this matrix's finish estimate, passed to each experiment's Trainer
    if is_main():
        to_run = [e for e in experiments if e.name in force or not is_current(e, results)]
        eta.start([e.config for e in to_run])
    for exp in experiments:
        folder = results / exp.name
        with experiment_lock(folder, wait=not claim) if is_main() else nullcontext(True) as held:
            if not held:
                continue
            found = None if exp.name in force else current_record(exp, results)
            if found is not None:
                if found.name == PREVIOUS_FILE:  # the config is back to that run's
                    os.replace(found, folder / RECORD_FILE)
                    restore_runs(folder)  # and its TensorBoard curve
                    print(f"--- {exp.name}: restored its complete record from {PREVIOUS_FILE}")
                record = read_record(folder / RECORD_FILE)
                print(f"--- {exp.name}: up to date (config {exp.config_hash}), skipped")
            else:
                if claim:  # the others may have finished some meanwhile
                    eta.start([e.config for e in experiments if not is_current(e, results)])
                start = time.perf_counter()
                print(f"=== experiment {exp.name} ({exp.profile}): {exp.description}", flush=True)
                from pipeline.experiment import run_experiment  # torch: only when one runs

                record = run_experiment(exp, results, cache, eta)
                elapsed = time.perf_counter() - start
                print(f"=== {exp.name}: {record['status']} in {elapsed:.1f} s")
                training = record.get("training") or {}
                eta.finished_one(elapsed - training.get("train_runtime_s", elapsed))
        summary.append(summary_row(record))
    end_distributed()
    return summary


def summary_row(record: dict[str, Any]) -> dict[str, Any]:
    evaluation = record.get("evaluation") or {}
    return {
        "name": record["name"],
        "status": record["status"],
        "step0_eval_loss": evaluation.get("step0_eval_loss"),
        "eval_loss": (evaluation.get("eval_results") or {}).get("eval_loss"),
        "perplexity": evaluation.get("perplexity"),
        "bits_per_byte": evaluation.get("bits_per_byte"),
        "error": record.get("error"),
    }
