"""An estimated finish time for the whole matrix, printed once the first steps have run.

run_matrix plans the experiments it will run; each run's Trainer gets the callback, which
measures this machine's training tokens/s over the first steps and prints how long the rest
of the matrix should take: training tokens left at that rate, evaluations at about three times
that rate (forward only), and what follows training (final evaluation, weights, prompts) as
long as it took the experiment before. With several workers (pipeline.parallel) the rate is one
worker's, and the experiments left are scheduled over the workers: one experiment left takes
its own time, whatever the number of idle workers.
"""

from __future__ import annotations

import time
from typing import Any

from pipeline.environment import jobs_in_matrix

PROBE_STEPS = 10  # steps timed before the estimate (after the first one: warm-up)
EVAL_SPEEDUP = 3.0  # a forward pass costs about a third of forward + backward
AFTER_S = 30.0  # first guess for what follows training (prompts mostly), replaced once measured


def tokens_per_step(config: dict[str, Any]) -> int:
    """Training tokens per optimizer step on one process."""
    t = config["training"]
    batch = t["per_device_train_batch_size"] * t.get("gradient_accumulation_steps", 1)
    return batch * config["chunking"]["context_length"]


def plan(config: dict[str, Any]) -> tuple[int, int]:
    """(training tokens, evaluation tokens) one experiment will process."""
    t = config["training"]
    evaluations = t["max_steps"] // t["eval_steps"] + 1  # and at step 0
    evaluation = evaluations * t.get("max_eval_samples", 0) * config["chunking"]["context_length"]
    return t["max_steps"] * tokens_per_step(config), evaluation


class MatrixEta:
    """Tokens left in the matrix, updated as experiments finish."""

    def __init__(self) -> None:
        self.left: list[tuple[int, int]] = []
        self.after_s = AFTER_S

    def start(self, configs: list[dict[str, Any]]) -> None:
        self.left = [plan(c) for c in configs]

    def finished_one(self, after_s: float | None = None) -> None:
        if self.left:
            self.left.pop(0)
        if after_s and after_s > 0:
            self.after_s = after_s

    def durations(self, tokens_per_second: float, done_tokens: int) -> list[float]:
        """Seconds each experiment left takes at this rate (one worker's), the first one less
        the training tokens it has done."""
        out = []
        for i, (train, evals) in enumerate(self.left):
            train = max(0, train - done_tokens) if i == 0 else train
            seconds = train / tokens_per_second + evals / (EVAL_SPEEDUP * tokens_per_second)
            out.append(seconds + self.after_s)
        return out

    def estimate(self, tokens_per_second: float, done_tokens: int, jobs: int = 1) -> float:
        """Seconds left for the whole matrix, `jobs` workers each training at
        `tokens_per_second`: the experiments left, in matrix order, each to the worker that
        is free first; the matrix ends when the last worker does. Never less than the longest
        experiment left (one experiment runs on one worker, however many are idle)."""
        free = [0.0] * max(1, jobs)
        for seconds in self.durations(tokens_per_second, done_tokens):
            i = free.index(min(free))
            free[i] += seconds
        return max(free)

    def callback(self, tokens_per_step: int) -> Any:
        """A TrainerCallback. transformers is imported here, where a Trainer runs, not at the
        top: the runner holds a MatrixEta and must stay torch-free."""
        from transformers import TrainerCallback

        return type("EtaCallback", (_EtaCallback, TrainerCallback), {})(self, tokens_per_step)


class _EtaCallback:
    """The callback's own part; MatrixEta.callback mixes in TrainerCallback's other events."""

    def __init__(self, eta: MatrixEta, tokens_per_step: int) -> None:
        self.eta, self.tokens_per_step = eta, tokens_per_step
        self.start: float | None = None
        self.first_step: int | None = None

    def on_step_end(self, args, state, control, **kwargs):
        if self.first_step is None:  # the first step carries warm-up: time from its end
            self.first_step, self.start = state.global_step, time.perf_counter()
            return
        steps = state.global_step - self.first_step
        if steps != PROBE_STEPS or not self.eta.left:
            return
        rate = steps * self.tokens_per_step / (time.perf_counter() - self.start)
        left = self.eta.estimate(rate, state.global_step * self.tokens_per_step, jobs_in_matrix())
        finish = time.strftime("%H:%M", time.localtime(time.time() + left))
        jobs = jobs_in_matrix()
        per = f" per worker, {jobs} workers" if jobs > 1 else ""
        print(
            f"\n    matrix: about {left / 60:.0f} min left for {len(self.eta.left)} "
            f"experiment(s), done around {finish} (at {rate:,.0f} training tokens/s{per})",
            flush=True,
        )
