"""An estimated finish time for the whole matrix, printed once the first steps have run.

run_matrix plans the experiments it will run; each run's Trainer gets the callback, which
measures this machine's training tokens/s over the first steps and prints how long the rest
of the matrix should take: training tokens left at that rate, evaluations at about three times
that rate (forward only), and what follows training (final evaluation, weights, prompts) as
long as it took the experiment before.
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

    def estimate(self, tokens_per_second: float, done_tokens: int, jobs: int = 1) -> float:
        """Seconds left for the whole matrix at this rate, `jobs` experiments at a time."""
        train = sum(t for t, _ in self.left) - done_tokens
        evals = sum(e for _, e in self.left)
        return (
            train / tokens_per_second
            + evals / (EVAL_SPEEDUP * tokens_per_second)
            + self.after_s * len(self.left)
        ) / jobs

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
        print(
            f"\n    matrix: about {left / 60:.0f} min left for {len(self.eta.left)} "
            f"experiment(s), done around {finish} (at {rate:,.0f} training tokens/s)",
            flush=True,
        )
