"""Issue 23 end to end on the micro profile: a learning-rate sweep trained on a folder of the
user's own code in one command, an interrupted member resumed, the loggers' runs (TensorBoard,
W&B offline when wandb is installed) and the report's sweep and resume lines."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow
try:
    import wandb  # noqa: F401  (optional: requirements-wandb.txt)

    HAS_WANDB = True
except ImportError:
    HAS_WANDB = False

MATRIX = """
[lr]
description = "learning-rate sweep on my code"
training.learning_rate = [1e-3, 3e-3]
"""
FIRST = "lr-learning_rate-0.001"
# Stop the first member after step 4: its step-3 checkpoint is where it resumes from.
INTERRUPT = """
import sys
from transformers import TrainerCallback
import pipeline.experiment as experiment

class Interrupt(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 4:
            raise KeyboardInterrupt

make = experiment.make_trainer
def interrupted(*args, **kwargs):
    trainer = make(*args, **kwargs)
    trainer.add_callback(Interrupt())
    return trainer

experiment.make_trainer = interrupted
from pipeline.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def own_code(root: Path, n: int = 40) -> Path:
    for i in range(n):
        body = "".join(
            f"    total_{j} = sum(v * {j} for v in values if v > {i})\n" for j in range(12)
        )
        (root / f"tool_{i}.py").write_text(
            f'"""Helpers number {i}."""\n\n\ndef tool_{i}(values):\n{body}    return total_0\n'
        )
    return root


def cli(tmp: Path, *args: str, script: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PROFILE": "micro", "HF_HUB_OFFLINE": "1", "HOME": str(tmp)}
    head = [sys.executable, "-c", script] if script else [sys.executable, "-m", "pipeline"]
    cmd = [*head, "--results", str(tmp / "results"), "--cache", str(tmp / "cache"),
           "--matrix", str(tmp / "my.toml"), "--set", "data.source=path",
           "--set", f"data.path={tmp / 'mycode'}", "--set", "data.train_subset=0",
           "--set", "data.valid_subset=0", "--set", f"logging.wandb={str(HAS_WANDB).lower()}",
           *args]  # fmt: skip
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("own")
    (tmp / "my.toml").write_text(MATRIX)
    (tmp / "mycode").mkdir()
    own_code(tmp / "mycode")
    stopped = cli(tmp, "experiment", FIRST, script=INTERRUPT)
    assert stopped.returncode == 130, stopped.stdout[-2000:] + stopped.stderr[-3000:]
    assert (tmp / "results" / FIRST / "checkpoints" / "checkpoint-3").is_dir()
    done = cli(tmp, "run", "--jobs", "1")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return tmp, done


def record(tmp: Path, name: str) -> dict:
    return json.loads((tmp / "results" / name / "record.json").read_text())


def test_the_sweep_trains_on_the_folder_in_one_command(run):
    tmp, _ = run
    for name, lr in ((FIRST, 1e-3), ("lr-learning_rate-0.003", 3e-3)):
        rec = record(tmp, name)
        assert rec["status"] == "complete", rec["error"]
        assert rec["config"]["data"]["keywords"] == []  # off for a path source
        assert rec["data"]["train_files"] + rec["data"]["valid_files"] == 40
        assert rec["config"]["training"]["learning_rate"] == lr
        assert rec["sweep"] == {"of": "lr", "values": {"training.learning_rate": lr}}
        card = (tmp / "results" / rec["weights"] / "README.md").read_text()
        assert "user's own code (`mycode`)" in card and "pandas" not in card


def test_resume_is_recorded_and_quiet(run):
    tmp, done = run
    training = record(tmp, FIRST)["training"]
    assert training["resumed_from_step"] == 3 and training["steps"] == 6
    assert training["time_spent_before_resume_s"] > 0
    assert "resuming from the last checkpoint (step 3)" in done.stdout
    assert "missing keys" not in done.stderr + done.stdout  # the tied head, said in a comment


def test_tensorboard_logs_no_step_twice(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tmp, _ = run
    for name in (FIRST, "lr-learning_rate-0.003"):
        events = EventAccumulator(str(tmp / "results" / name / "runs"))
        events.Reload()
        evals = [e.step for e in events.Scalars("eval/loss")]
        assert evals == [0, 3, 6], (name, evals)
        train = [e.step for e in events.Scalars("train/loss")]
        assert train == [1, 2, 3, 4, 5, 6], (name, train)


@pytest.mark.skipif(
    not HAS_WANDB, reason="wandb is optional: pip install -r requirements-wandb.txt"
)
def test_wandb_offline_writes_a_run_folder_per_experiment(run):
    tmp, _ = run
    # the interrupted attempt and the resumed one of the first; one run of the second, in its
    # own folder (wandb reads WANDB_DIR once per process: each run is started with its dir)
    for name, attempts in ((FIRST, 2), ("lr-learning_rate-0.003", 1)):
        runs = sorted((tmp / "results" / name / "wandb").glob("offline-run-*"))
        assert len(runs) == attempts, (name, runs)
        for run_dir in runs:
            assert any(f.suffix == ".wandb" for f in run_dir.iterdir()), run_dir


def test_report_plots_the_sweep_and_says_it_resumed(run):
    tmp, _ = run
    out = tmp / "build"
    cmd = [sys.executable, "-m", "report", "--results", str(tmp / "results"), "--matrix",
           str(tmp / "my.toml"), "--out", str(out), "--no-pdf", "--no-notebooks",
           "--profile", "micro", "--set", "data.source=path", "--set",
           f"data.path={tmp / 'mycode'}", "--set", "data.train_subset=0", "--set",
           "data.valid_subset=0", "--set", f"logging.wandb={str(HAS_WANDB).lower()}"]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    md = (out / "report.md").read_text()
    assert "### lr" in md and (out / "figures" / "sweep-lr.svg").exists()
    assert "Resumed at step" in md and "| 3 |" in md[md.index("Resumed at step") - 200 :]
    assert "The matrix has changed since this run" not in md  # the same --set: current
