"""Never lose work: divergence, failure, kill-and-resume, locking, bad input at the CLI."""

import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline.runner import experiment_lock
from tests.conftest import ROOT, record


def cli(*args: str, tmp: Path, wait: bool = True):
    cmd = [sys.executable, "-m", "pipeline", "--profile", "micro", *args]
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(tmp)}
    if not wait:
        return subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def matrix(tmp: Path, text: str, cache: Path | None = None) -> list[str]:
    (tmp / "matrix.toml").write_text(text)
    cache = cache or tmp / "cache"
    return [
        "--matrix",
        str(tmp / "matrix.toml"),
        "--results",
        str(tmp / "results"),
        "--cache",
        str(cache),
    ]


@pytest.mark.slow
def test_divergence_is_recorded_and_the_matrix_goes_on(tmp_path):
    args = matrix(
        tmp_path,
        """
[huge-lr]
description = "a learning rate no model survives"
training.learning_rate = 1e6
training.max_steps = 30
[fine]
description = "still runs after the one before diverged"
""",
    )
    out = cli(*args, "run", tmp=tmp_path)
    assert out.returncode == 1, out.stdout[-2000:]
    assert "not complete: huge-lr" in out.stderr
    bad = record(tmp_path, "huge-lr")
    assert bad["status"] == "diverged" and "learning rate" in bad["error"]
    losses = [e["loss"] for e in bad["training"]["log_history"] if "loss" in e]
    assert losses and losses[-1] in ("nan", "inf", "-inf")  # the curve up to the divergence is kept
    assert len(losses) < 30  # stopped early
    assert bad["weights"] is None
    assert record(tmp_path, "fine")["status"] == "complete"


@pytest.mark.slow
def test_kill_then_same_command_resumes_and_matches(tmp_path):
    text = """
[resumable]
description = "long enough to be killed in the middle"
training.max_steps = 40
training.save_steps = 10
training.eval_steps = 20
"""
    # Reference: the same config, uninterrupted.
    ref = tmp_path / "ref"
    ref.mkdir()
    out = cli(*matrix(ref, text, tmp_path / "cache"), "run", tmp=ref)
    assert out.returncode == 0, out.stdout[-2000:]

    run = tmp_path / "run"
    run.mkdir()
    args = matrix(run, text, tmp_path / "cache")  # the data stage is shared, as in real use
    proc = cli(*args, "run", tmp=run, wait=False)
    ckpt = run / "results" / "resumable" / "checkpoints"
    deadline = time.time() + 300
    while not list(ckpt.glob("checkpoint-*/trainer_state.json")) and time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                "training ended before a checkpoint was written:\n" + proc.stdout.read()[-2000:]
            )
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "results" / "resumable" / "record.json").exists()  # nothing marked complete

    again = cli(*args, "run", tmp=run)
    assert again.returncode == 0, again.stdout[-2000:]
    assert "resuming from the last checkpoint" in again.stdout
    resumed, reference = record(run, "resumable"), record(ref, "resumable")
    assert resumed["training"]["resumed"] is True
    # throughput covers the resumed call's steps only: the runtime covers nothing else
    t = resumed["training"]
    assert 0 < t["resumed_from_step"] < 40 and t["tokens_seen"] == 40 * t["tokens_per_step"]
    this_run = (40 - t["resumed_from_step"]) * t["tokens_per_step"]
    assert math.isclose(t["tokens_per_second_overall"], this_run / t["train_only_s"], rel_tol=1e-9)
    a = resumed["evaluation"]["eval_results"]["eval_loss"]
    b = reference["evaluation"]["eval_results"]["eval_loss"]
    assert math.isclose(a, b, abs_tol=1e-4), (a, b)
    assert not ckpt.exists()  # cleaned once the weights are saved


def test_second_holder_waits_and_says_who_holds_the_lock(tmp_path, capsys):
    folder = tmp_path / "exp"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; sys.path.insert(0, sys.argv[1]);"
         "from pipeline.runner import experiment_lock; from pathlib import Path\n"
         "with experiment_lock(Path(sys.argv[2])):\n print('held', flush=True); time.sleep(1.5)",
         str(ROOT), str(folder)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    got = threading.Event()

    def take():
        with experiment_lock(folder):
            got.set()

    t = threading.Thread(target=take)
    start = time.time()
    t.start()
    t.join(10)
    assert got.is_set() and time.time() - start > 0.5  # it waited for the other process
    assert f"held by pid {holder.pid}" in capsys.readouterr().out
    holder.wait()


@pytest.mark.parametrize(
    "text, message",
    [
        ("[a]\ntraining.learning_rate = -1\n", "training.learning_rate must be a positive number"),
        ("[a]\ntraining.optim = 'adam'\n", "is not a TrainingArguments optimizer"),
        ("[a]\ntraining.gradient_accumulation_steps = 0\n", "gradient_accumulation_steps must be"),
        ("[a]\ntraining.per_device_train_batch_size = 0\n", "per_device_train_batch_size must be"),
        ("[a]\nmodel.preset = 'gpt5'\n", "model.preset 'gpt5' is unknown"),
        ("[a]\ngeneration.prompts_file = 'nope.toml'\n", "nope.toml: file not found"),
        ("[a]\ntraining.warmup_step = 3\n", "did you mean 'training.warmup_steps'"),
        ("['a b']\n", "becomes a folder name"),
        ("[a]\ntraining.max_steps = 1.5\n", "max_steps must be a positive whole number"),
        ("[a]\n[a]\n", "not valid TOML (Cannot declare ('a',) twice"),  # duplicate experiment names
    ],
)
def test_bad_config_exits_2_with_one_line_and_runs_nothing(tmp_path, text, message):
    out = cli(*matrix(tmp_path, text), "run", tmp=tmp_path)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").iterdir())


def test_unwritable_results_folder(tmp_path):
    if os.geteuid() == 0:
        target = "/proc/results"  # root can write anywhere else
    else:
        (tmp_path / "ro").mkdir(mode=0o500)
        target = str(tmp_path / "ro" / "results")
    (tmp_path / "matrix.toml").write_text("[a]\n")
    out = cli("--matrix", str(tmp_path / "matrix.toml"), "--results", target, "run", tmp=tmp_path)
    assert out.returncode == 2 and "is not writable" in out.stderr


def test_failed_rerun_keeps_the_last_complete_record(tmp_path):
    from pipeline.experiment import finish
    from pipeline.record import read_record, write_record
    from tests.test_record import minimal

    folder = tmp_path / "exp"
    write_record(folder, minimal())
    failed = minimal("failed", error="RuntimeError: out of memory")
    failed["environment"]["ended_at"] = None
    finish(failed, folder)
    assert read_record(folder / "record.json")["status"] == "failed"
    assert read_record(folder / "record.previous.json")["status"] == "complete"
