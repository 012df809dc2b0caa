"""The record's training section: the curve, timings, throughput and MFU of a train() call.

Torch-free arithmetic over the Trainer's state, so the accounting (resume, DDP) is testable
with a stand-in trainer."""

from __future__ import annotations

from typing import Any

from pipeline.environment import peak_flops
from pipeline.evaluate import mfu


def train_only_seconds(metrics: dict[str, Any], log_history: list[dict]) -> float:
    """Trainer's train_runtime includes the evaluations run during training; take them out.
    log_history: this train() call's entries only (a resumed run inherits the earlier ones)."""
    evals = sum(e.get("eval_runtime", 0.0) for e in log_history if "eval_loss" in e)
    return max(float(metrics.get("train_runtime", 0.0)) - evals, 1e-9)


def training_section(
    trainer,
    metrics: dict[str, Any],
    cfg: dict[str, Any],
    values: dict,
    n_params: int,
    device: str,
    clock: Any = None,  # a pipeline.train.StepClock (that module imports torch)
) -> dict[str, Any]:
    """The record's training part: the curve, timings and throughput of a finished train().

    tokens_per_second is the steady rate (StepClock: warm-up steps, evaluations and checkpoints
    left out) when there is one; tokens_per_second_overall counts every second of training.
    After a resume both count only this call's steps (from clock.start_step): the runtime
    covers only them, while tokens_seen stays what the model has seen in all."""
    history, args = trainer.state.log_history, trainer.args
    tokens_per_step = (
        args.per_device_train_batch_size * args.gradient_accumulation_steps
        * args.world_size * cfg["chunking"]["context_length"]
    )  # fmt: skip
    start_step = clock.start_step if clock else 0
    seconds = train_only_seconds(metrics, history[clock.history_start if clock else 0 :])
    tokens_seen = trainer.state.global_step * tokens_per_step
    overall = (trainer.state.global_step - start_step) * tokens_per_step / seconds
    steady = clock.steady() if clock else None
    rate = steady[1] * tokens_per_step / steady[0] if steady and steady[0] > 0 else overall
    return {
        "args": dict(cfg["training"]),
        "log_history": history,
        "train_runtime_s": float(metrics.get("train_runtime", 0.0)),
        "train_only_s": seconds,
        "train_loss": next((e["loss"] for e in reversed(history) if "loss" in e), None),
        "steps": trainer.state.global_step,
        "tokens_per_step": tokens_per_step,
        "tokens_seen": tokens_seen,
        "resumed_from_step": start_step,
        "tokens_per_second": rate,
        "tokens_per_second_overall": overall,
        "steady_steps": steady[1] if steady else None,
        "mfu": mfu(rate, values, n_params, peak_flops(device), args.world_size),
        "world_size": args.world_size,
        "train_blocks": len(trainer.train_dataset),  # after whole_batches() under compile
    }
