"""The matrix's estimated finish time: token counts and the arithmetic, by hand."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pipeline import eta


def config(max_steps: int, accumulation: int = 1) -> dict:
    return {
        "training": {
            "max_steps": max_steps,
            "per_device_train_batch_size": 16,
            "gradient_accumulation_steps": accumulation,
            "eval_steps": 50,
            "max_eval_samples": 160,
        },
        "chunking": {"context_length": 128},
    }


def test_plan_counts_training_and_evaluation_tokens():
    # 400 steps x 16 blocks x 128 tokens; evaluations at steps 0, 50, ..., 400: 9 x 160 blocks
    assert eta.plan(config(400)) == (400 * 16 * 128, 9 * 160 * 128)
    assert eta.plan(config(100, accumulation=4))[0] == 100 * 4 * 16 * 128


def test_estimate_is_the_rest_of_the_matrix_at_the_measured_rate():
    m = eta.MatrixEta()
    m.start([config(400), config(200)])
    train = (400 + 200) * 16 * 128
    evals = (9 + 5) * 160 * 128
    done = 10 * 16 * 128
    rate = 4096.0
    expected = (train - done) / rate + evals / (eta.EVAL_SPEEDUP * rate) + 2 * eta.AFTER_S
    assert abs(m.estimate(rate, done) - expected) < 1e-9
    m.finished_one(after_s=12.0)
    assert m.left == [eta.plan(config(200))] and m.after_s == 12.0


def test_callback_prints_once_after_the_probe_steps(capsys, monkeypatch):
    m = eta.MatrixEta()
    m.start([config(400)])
    clock = iter([100.0, 102.0])
    monkeypatch.setattr(eta.time, "perf_counter", lambda: next(clock))
    cb = m.callback(tokens_per_step=2048)
    from transformers import TrainerCallback  # imported by callback(), not by the runner

    assert isinstance(cb, TrainerCallback) and cb.on_train_begin(None, None, None) is None
    for step in range(1, eta.PROBE_STEPS + 3):
        cb.on_step_end(None, SimpleNamespace(global_step=step), None)
    out = capsys.readouterr().out
    # 10 steps x 2048 tokens in 2 s: 10,240 tokens/s
    assert out.count("matrix: about") == 1 and "10,240 training tokens/s" in out


def test_two_workers_schedule_the_experiments_left_never_below_the_longest():
    """One rate is one worker's. One experiment left with two workers takes its own time (the
    old estimate halved it: 67 s predicted, 135 s taken); three equal ones take two rounds;
    a long and two short ones end with the long one."""
    rate = 4096.0
    one = eta.MatrixEta()
    one.start([config(400)])
    alone = one.estimate(rate, 0, jobs=1)
    assert one.estimate(rate, 0, jobs=2) == alone  # not alone / 2
    three = eta.MatrixEta()
    three.start([config(400)] * 3)
    assert three.estimate(rate, 0, jobs=2) == pytest.approx(2 * alone)  # not 1.5 x
    mixed = eta.MatrixEta()
    mixed.start([config(800), config(100), config(100)])
    long = mixed.durations(rate, 0)[0]
    assert mixed.estimate(rate, 0, jobs=2) == pytest.approx(long)
    assert mixed.estimate(rate, 0, jobs=1) == pytest.approx(sum(mixed.durations(rate, 0)))


def test_the_printed_rate_says_it_is_per_worker(capsys, monkeypatch):
    monkeypatch.setenv("PIPELINE_JOBS", "2")
    m = eta.MatrixEta()
    m.start([config(400), config(400)])
    clock = iter([100.0, 102.0])
    monkeypatch.setattr(eta.time, "perf_counter", lambda: next(clock))
    cb = m.callback(tokens_per_step=2048)
    for step in range(1, eta.PROBE_STEPS + 3):
        cb.on_step_end(None, SimpleNamespace(global_step=step), None)
    assert "10,240 training tokens/s per worker, 2 workers" in capsys.readouterr().out
