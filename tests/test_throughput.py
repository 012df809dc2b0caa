"""Throughput, MFU and the time budget stay honest under DDP and after a resume (issue 12)."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest

from pipeline.throughput import StepClock, flops_per_token, training_section
from pipeline.train import TimeBudget

MODEL = {"n_layer": 12, "n_head": 12, "n_embd": 768, "n_positions": 128}
N_PARAMS = 124_000_000
CFG = {"chunking": {"context_length": 128}, "training": {"max_steps": 400}}


def stand_in_trainer(global_step: int, history: list[dict], world_size: int = 1):
    args = SimpleNamespace(
        per_device_train_batch_size=8, gradient_accumulation_steps=1, world_size=world_size
    )
    state = SimpleNamespace(global_step=global_step, log_history=history)
    return SimpleNamespace(args=args, state=state, train_dataset=[0] * 1000)


def control():
    return SimpleNamespace(should_training_stop=False)


def test_mfu_of_a_ddp_run_is_per_device() -> None:
    """Two processes of 8 blocks each: tokens/s sums both, so does the peak."""
    trainer = stand_in_trainer(100, [], world_size=2)
    section = training_section(
        trainer, {"train_runtime": 10.0}, CFG, MODEL, N_PARAMS, "NVIDIA H100 80GB HBM3"
    )
    rate = 100 * 2 * 8 * 128 / 10.0
    assert section["tokens_per_second"] == pytest.approx(rate)
    per_device = rate / 2 * flops_per_token(MODEL, N_PARAMS) / 989e12
    assert section["mfu"] == pytest.approx(per_device)


def test_a_resumed_run_counts_only_its_own_steps_and_evaluations() -> None:
    """Resumed at step 300 of 400: the earlier run's 300 steps and its evaluations (in the
    inherited log_history) are not part of this call's 100 s."""
    earlier = [{"step": s, "eval_loss": 5.0, "eval_runtime": 20.0} for s in (0, 100, 200, 300)]
    this_run = [{"step": 300, "eval_loss": 4.0, "eval_runtime": 5.0}, {"step": 350, "loss": 4.1}]
    clock = StepClock()
    clock.on_train_begin(None, SimpleNamespace(global_step=300, log_history=earlier), control())
    trainer = stand_in_trainer(400, earlier + this_run)
    section = training_section(
        trainer, {"train_runtime": 100.0}, CFG, MODEL, N_PARAMS, "cpu", clock
    )
    assert section["train_only_s"] == pytest.approx(95.0)
    assert section["tokens_per_second_overall"] == pytest.approx(100 * 8 * 128 / 95.0)
    assert section["tokens_seen"] == 400 * 8 * 128  # what the model has seen, in all
    assert section["resumed_from_step"] == 300


def test_step_clock_skips_the_warm_up_of_a_resumed_run(monkeypatch) -> None:
    """Resumed at step 300: steps 301-302 recompile (30 s each); the rest take 1 s."""
    clock, now = StepClock(), [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])
    clock.on_train_begin(None, SimpleNamespace(global_step=300, log_history=[]), control())
    for step in range(301, 401):
        state = SimpleNamespace(global_step=step)
        clock.on_step_begin(None, state, control())
        now[0] += 30.0 if step <= 302 else 1.0
        clock.on_step_end(None, state, control())
    seconds, steps = clock.steady(skip_fraction=0.1, min_skip=5)
    assert steps == 90 and seconds == pytest.approx(90.0)  # steps 311..400


def test_time_budget_counts_the_time_before_a_resume(tmp_path, monkeypatch) -> None:
    """6 s spent up to the checkpoint at step 100; resumed with a 10 s budget, the run stops
    5 s later instead of getting 10 s more."""
    now = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])
    args = SimpleNamespace(output_dir=str(tmp_path))
    first = TimeBudget(10.0)
    first.on_train_begin(args, SimpleNamespace(global_step=0), control())
    now[0] = 6.0
    (tmp_path / "checkpoint-100").mkdir()
    first.on_save(args, SimpleNamespace(global_step=100, is_world_process_zero=True), control())
    assert json.loads((tmp_path / "checkpoint-100" / TimeBudget.FILE).read_text())["seconds"] == 6.0
    now[0] = 1000.0  # a later process
    resumed = TimeBudget(10.0)
    resumed.on_train_begin(args, SimpleNamespace(global_step=100), control())
    now[0] = 1003.0
    assert not resumed.on_step_end(
        args, SimpleNamespace(global_step=101), control()
    ).should_training_stop
    now[0] = 1005.0
    assert resumed.on_step_end(
        args, SimpleNamespace(global_step=102), control()
    ).should_training_stop
    assert resumed.stopped_at == 102 and resumed.spent_before == 6.0
