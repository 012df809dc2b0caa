"""Experiments side by side (pipeline/parallel.py): each runs once, in its own worker."""

import json
import subprocess
import sys

import pytest

from pipeline import parallel
from pipeline.runner import experiment_lock
from tests.conftest import ROOT


def test_auto_is_two_on_a_multicore_cpu_with_work_for_two(monkeypatch):
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda _: {0, 1}, raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert parallel.resolve_jobs("auto", 7, cuda=False) == 2
    assert parallel.resolve_jobs("auto", 1, cuda=False) == 1  # one experiment: all cores to it
    assert parallel.resolve_jobs("auto", 7, cuda=True) == 1  # a GPU runs one at a time
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert parallel.resolve_jobs("auto", 7, cuda=False) == 1  # torchrun spreads one experiment
    assert parallel.resolve_jobs(3, 2, cuda=False) == 2  # never more workers than experiments
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda _: {0}, raising=False)
    monkeypatch.delenv("WORLD_SIZE")
    assert parallel.resolve_jobs("auto", 7, cuda=False) == 1
    assert parallel.threads_per_job(2) == 1


def test_a_held_lock_is_skipped_without_waiting(tmp_path):
    with experiment_lock(tmp_path / "a") as held:
        assert held is True
        out = subprocess.run(
            [sys.executable, "-c",
             "import sys; sys.path.insert(0, sys.argv[1]); from pathlib import Path\n"
             "from pipeline.runner import experiment_lock\n"
             "with experiment_lock(Path(sys.argv[2]), wait=False) as held: print(held)",
             str(ROOT), str(tmp_path / "a")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.stdout.strip() == "False"


def test_bad_jobs_is_one_line_exit_2(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "pipeline", "--profile", "micro", "--results", str(tmp_path / "r"),
         "run", "--jobs", "two"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2
    assert (
        out.stderr.strip()
        == "error: --jobs (or $JOBS) must be a whole number >= 1 or auto, got 'two'"
    )


@pytest.mark.slow
def test_two_workers_run_each_experiment_once(tmp_path):
    (tmp_path / "matrix.toml").write_text(
        "[a]\ndescription = 'one'\n[b]\ndescription = 'two'\nseed = 1\n"
        "[c]\ndescription = 'three'\ntraining.learning_rate = 1e-3\n"
    )
    cmd = [sys.executable, "-m", "pipeline", "--profile", "micro", "--matrix",
           str(tmp_path / "matrix.toml"), "--results", str(tmp_path / "r"), "--cache",
           str(tmp_path / "cache"), "run", "--jobs", "2"]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)}
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:]
    assert "matrix: 2 experiments at a time, 1 thread(s) each" in out.stdout
    for name in "abc":
        runs = [ln for ln in out.stdout.splitlines() if f"=== experiment {name} " in ln]
        assert len(runs) == 1, runs  # each once, by one worker ("[1] " or "[2] ")
        assert runs[0][:4] in ("[1] ", "[2] ")
        record = json.loads((tmp_path / "r" / name / "record.json").read_text())
        assert record["status"] == "complete" and record["training"]["speed"]["threads"] == 1
    assert {ln[:4] for ln in out.stdout.splitlines() if "=== experiment" in ln} == {"[1] ", "[2] "}
    # The summary is the parent's, from the records; a second run retrains nothing.
    assert out.stdout.count("complete ") >= 3
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "=== experiment" not in again.stdout
