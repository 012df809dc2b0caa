"""TensorBoard logs of training ([logging] tensorboard): the Trainer's own TensorBoardCallback
(report_to=["tensorboard"]) writing into results/<name>/runs, so that

    tensorboard --logdir results

shows every experiment side by side, named by its folder. Torch-free apart from attach().
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

RUNS_DIR = "runs"
PREVIOUS_RUNS_DIR = "runs.previous"  # the curve of record.previous.json (a failed rerun's)


def _complete(folder: Path) -> bool:
    from pipeline.record import RecordError, read_record

    try:
        return read_record(folder / "record.json")["status"] == "complete"
    except RecordError:
        return False


def settle_runs(folder: Path, complete: bool) -> None:
    """After a run: a complete one's curve replaces the kept one; a failed one leaves the kept
    curve in runs.previous, beside record.previous.json."""
    if complete:
        shutil.rmtree(folder / PREVIOUS_RUNS_DIR, ignore_errors=True)


def restore_runs(folder: Path) -> None:
    """record.previous.json is restored: its curve comes back as runs/."""
    previous = folder / PREVIOUS_RUNS_DIR
    if previous.is_dir():
        shutil.rmtree(folder / RUNS_DIR, ignore_errors=True)
        previous.rename(folder / RUNS_DIR)


def check_config(config: dict[str, Any]) -> list[str]:
    """tensorboard importable when it is on (else the Trainer would fail at its start, after
    the data stage); the value itself follows pipeline.rules."""
    if (config.get("logging") or {}).get("tensorboard") is not True:
        return []
    if importlib.util.find_spec("tensorboard") is None:
        return [
            "logging.tensorboard is true but tensorboard is not installed: pip install "
            "tensorboard (requirements.txt pins it), or set [logging] tensorboard = false"
        ]
    return []


def runs_folder(config: dict[str, Any], folder: Path, resumed: bool) -> Path | None:
    """Where this run's events go, or None when TensorBoard is off. A fresh (not resumed) run
    starts an empty folder: a rerun's curve must not be drawn over the old one's."""
    runs = folder / RUNS_DIR
    if not resumed and runs.exists():
        if _complete(folder):  # kept until this run completes: a failed rerun keeps the record
            shutil.rmtree(folder / PREVIOUS_RUNS_DIR, ignore_errors=True)  # (record.previous)
            runs.rename(folder / PREVIOUS_RUNS_DIR)
        else:
            shutil.rmtree(runs, ignore_errors=True)
    return runs if (config.get("logging") or {}).get("tensorboard") is True else None


def attach(trainer, runs: Path | None, resume_step: int = 0):
    """Point the Trainer's TensorBoardCallback at runs (TrainingArguments has no logging_dir
    since transformers 5; the callback's default is inside output_dir, i.e. the checkpoints
    folder, which is removed once the weights are saved).

    A run resumed from the checkpoint of step N had logged past N before it stopped: its writer
    purges the events after step N (SummaryWriter's purge_step, honoured by TensorBoard's
    reader), so no step is drawn twice. Steps up to N stay: the checkpoint was saved after
    they were logged, and the resumed run starts at N + 1 (without a start evaluation)."""
    if runs is None:
        return trainer
    from transformers.integrations import TensorBoardCallback

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback):
            callback.logging_dir = str(runs)
            if resume_step and callback._SummaryWriter is not None:
                callback.tb_writer = callback._SummaryWriter(
                    log_dir=str(runs), purge_step=resume_step + 1
                )
    return trainer


def no_repeated_final_eval(trainer) -> None:
    """The final trainer.evaluate() measures the weights the last step's evaluation measured
    when training ended on an eval step: the loggers (TensorBoard, W&B) would draw that step
    twice. They are detached for it then; the record still holds both."""
    from transformers.integrations import TensorBoardCallback, WandbCallback

    state = trainer.state
    evaluated = [e["step"] for e in state.log_history if "eval_loss" in e]
    if evaluated and evaluated[-1] == state.global_step:
        for kind in (TensorBoardCallback, WandbCallback):
            trainer.remove_callback(kind)


def checkpoint_step(checkpoints: Path) -> int:
    """The step of the newest checkpoint under checkpoints (what the Trainer resumes from)."""
    steps = [
        int(f.name.split("-", 1)[1])
        for f in checkpoints.glob("checkpoint-*")
        if f.name.split("-", 1)[1].isdigit()
    ]
    return max(steps, default=0)
