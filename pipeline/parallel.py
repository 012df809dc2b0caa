"""Experiments side by side on a CPU: `python -m pipeline run --jobs 2`.

A tiny model's matrix products are too small for two threads to share well: on 2 cores, two
experiments at one thread each train 1.13x (float32) to 1.24x (bf16) the tokens per second of
one experiment at two threads (bench/throughput.py, measured in bench/README.md). So the
matrix runs as `jobs` worker processes, `python -m pipeline run --worker`, each with
cores // jobs threads.
A worker takes the next experiment whose lock is free (runner.run_matrix(claim=True)) and
leaves the ones another worker holds; the data caches are built first, once, here.

Torch-free until the workers start: this process only plans, prints and waits.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from pipeline.config import Experiment
from pipeline.environment import JOBS_VARIABLE, running_beside  # noqa: F401  (its old home)

AUTO = "auto"


def cores() -> int:
    """The cores this process may run on."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return n or 1


def resolve_jobs(jobs: str | int, experiments_to_run: int, cuda: bool) -> int:
    """The number of worker processes: `auto` is 2 on a CPU with 2 or more cores when two or
    more experiments are to run, else 1 (a GPU runs one experiment at a time; torchrun
    spreads one experiment over its processes)."""
    if jobs == AUTO:
        parallel = not cuda and cores() >= 2 and "WORLD_SIZE" not in os.environ
        return 2 if parallel and experiments_to_run >= 2 else 1
    return max(1, min(int(jobs), experiments_to_run or 1))


def threads_per_job(jobs: int) -> int:
    return max(1, cores() // jobs)


def worker_command(args: Any, profile: str, index: int) -> list[str]:
    """The same command line as this process's, as worker `index`."""
    cmd = [sys.executable, "-m", "pipeline", "--results", str(args.results)]
    cmd += ["--cache", str(args.cache), "--profile", profile]
    if args.matrix is not None:
        cmd += ["--matrix", str(args.matrix)]
    for item in getattr(args, "set", []):  # --set: the workers resolve the same matrix
        cmd += ["--set", item]
    return cmd + ["run", "--worker", str(index)]


def _die_with_parent() -> None:
    """In the worker, before exec: end it when this process dies (Linux), so a killed
    `make all` leaves no worker training on in the background."""
    # not Linux (no prctl): the worker then finishes its experiment on its own
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _relay(stream, prefix: str) -> None:
    """A worker's output, line by line, each line marked with its worker."""
    for line in iter(stream.readline, ""):
        sys.stdout.write(f"{prefix}{line}")
        sys.stdout.flush()
    stream.close()


def run_parallel(args: Any, experiments: list[Experiment], jobs: int, profile: str) -> int:
    """Start the workers, relay their output and wait; returns the first non-zero exit code
    that is not an experiment failure (those are read from the records afterwards)."""
    from pipeline.data import prepare_data
    from pipeline.runner import is_current

    for exp in experiments:  # built here, once, before two workers could build it at once
        if not is_current(exp, args.results):
            prepare_data(exp.config, args.cache)  # a cache hit after the first: a second
    threads = threads_per_job(jobs)
    print(f"matrix: {jobs} experiments at a time, {threads} thread(s) each", flush=True)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "TQDM_DISABLE": "1",  # interleaved progress bars are noise; the loss lines remain
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        JOBS_VARIABLE: str(jobs),
        "PYTHONUNBUFFERED": "1",
    }
    procs, relays = [], []
    for i in range(jobs):
        proc = subprocess.Popen(
            worker_command(args, profile, i), env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1, preexec_fn=_die_with_parent,
        )  # fmt: skip
        relay = threading.Thread(target=_relay, args=(proc.stdout, f"[{i + 1}] "), daemon=True)
        relay.start()
        procs.append(proc)
        relays.append(relay)
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        for p in procs:  # each worker prints its own line and keeps its checkpoints
            p.wait()
        raise
    for relay in relays:
        relay.join()
    # 1 is "an experiment failed": the records say which; anything else is a worker's error.
    return next((c for c in codes if c not in (0, 1)), 0)


def read_rows(experiments: list[Experiment], results: Path) -> list[dict[str, Any]]:
    """The summary rows of the records the workers wrote."""
    from pipeline.record import RECORD_FILE, RecordError, read_record
    from pipeline.runner import summary_row

    rows = []
    for exp in experiments:
        try:
            rows.append(summary_row(read_record(results / exp.name / RECORD_FILE)))
        except RecordError as e:
            rows.append({"name": exp.name, "status": "failed", "step0_eval_loss": None,
                         "eval_loss": None, "perplexity": None, "bits_per_byte": None,
                         "error": f"no record: {e}"})  # fmt: skip
    return rows
