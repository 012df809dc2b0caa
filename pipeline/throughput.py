"""Throughput in one place: the step clock, tokens/s, FLOPs per token, the device peak table,
MFU, and the record's training section built from them.

The accounting is plain arithmetic over the Trainer's state, so resume and DDP are testable
with a stand-in trainer."""

from __future__ import annotations

import re
import time
from typing import Any

from transformers import TrainerCallback

# Peak dense bf16 FLOP/s by device name, for MFU (nanoGPT's estimate); unknown devices get none.
# A key matches whole words of the name (see peak_flops), and the longest matching key wins.
PEAK_BF16_FLOPS = {
    "H100": 989e12,  # SXM; torch names it "NVIDIA H100 80GB HBM3"
    "H100 PCIe": 756e12,
    "H100 NVL": 835e12,
    "H200": 989e12,  # the H100 SXM's compute with more memory
    "H200 NVL": 835e12,
    "A100": 312e12,  # SXM and PCIe alike
    "L4": 121e12,
    "L40": 181e12,
    "L40S": 362e12,
    "A10G": 70e12,
    "T4": 65e12,  # no bf16: its fp16 tensor-core peak (Colab's free GPU, fp16 there)
}


class StepClock(TrainerCallback):
    """Wall time of each optimizer step, for a steady-state throughput: the first steps (graph
    compilation, allocator and kernel warm-up) and the steps that ran an evaluation or a
    checkpoint are left out. On a one-minute GPU run compilation alone is a third of the time.

    It also notes where this train() call began (a resumed run starts at its checkpoint's step,
    with the earlier runs' log_history), so throughput covers this call's steps only."""

    def __init__(self) -> None:
        self.last: float | None = None
        self.durations: list[tuple[int, float]] = []  # (step, seconds) of clean steps
        self.dirty = False
        self.start_step = 0  # global_step when this train() call began
        self.history_start = 0  # log_history entries written before this call

    def on_train_begin(self, args, state, control, **kwargs):
        self.start_step, self.history_start = state.global_step, len(state.log_history)

    def on_step_begin(self, args, state, control, **kwargs):
        if self.last is None:
            self.last = time.perf_counter()

    def on_evaluate(self, args, state, control, **kwargs):
        self.dirty = True

    def on_save(self, args, state, control, **kwargs):
        self.dirty = True

    def on_step_end(self, args, state, control, **kwargs):
        now = time.perf_counter()
        if self.last is not None and not self.dirty:
            self.durations.append((state.global_step, now - self.last))
        self.last, self.dirty = now, False

    def steady(self, skip_fraction: float = 0.1, min_skip: int = 5) -> tuple[float, int] | None:
        """(seconds, steps) over the clean steps after this call's warm-up ones; None if too
        few. The warm-up is counted from start_step: a resumed run compiles and warms up too."""
        if not self.durations:
            return None
        run_steps = self.durations[-1][0] - self.start_step
        skip = min(max(min_skip, int(run_steps * skip_fraction)), run_steps // 2)
        kept = [d for step, d in self.durations if step - self.start_step > skip]
        return (sum(kept), len(kept)) if kept else None


def name_words(name: str) -> list[str]:
    """A device name as upper-case words: "NVIDIA A100-SXM4-80GB" -> [NVIDIA, A100, SXM4, 80GB]."""
    return re.split(r"[\s\-_/]+", name.strip().upper())


def peak_flops(device: str) -> float | None:
    """The peak of the longest key whose words appear, in order and whole, in the device name.

    Whole words, not substrings: "L4" must not match "L40S", nor "A100" the "RTX A1000"; and
    the longest key, so an "H100 NVL" gets its own peak rather than the SXM's."""
    words = name_words(device)
    best: tuple[int, float] | None = None
    for key, flops in PEAK_BF16_FLOPS.items():
        k = name_words(key)
        found = any(words[i : i + len(k)] == k for i in range(len(words) - len(k) + 1))
        if found and (best is None or len(k) > best[0]):
            best = (len(k), flops)
    return best[1] if best else None


def flops_per_token(model_config: dict[str, Any], n_params: int) -> float:
    """nanoGPT's estimate (model.py, estimate_mfu): 6N for the weights plus 12·L·H·Q·T for
    attention, per token. N is n_params (the model's total) less the position embeddings: they
    are looked up, not multiplied. The token embedding stays: it is also the LM head's matrix."""
    L, H = model_config["n_layer"], model_config["n_head"]
    Q, T = model_config["n_embd"] // H, model_config["n_positions"]
    n_matmul = n_params - T * model_config["n_embd"]
    return 6 * n_matmul + 12 * L * H * Q * T


def mfu(
    tokens_per_second: float,
    model_config: dict[str, Any],
    n_params: int,
    peak: float | None,
    devices: int = 1,
) -> float | None:
    """Model FLOPs utilisation. tokens_per_second counts every process of a DDP run, so the
    peak it is measured against is that of all `devices` (world_size), not of one."""
    if not peak or not tokens_per_second:
        return None
    return tokens_per_second * flops_per_token(model_config, n_params) / (peak * devices)


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
    clock: StepClock | None = None,
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
