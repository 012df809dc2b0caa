"""`[speed] bf16 = "auto"` on a CPU: the faster precision, by timing the experiment's own model.

No CPU flag says which is faster. A 128-wide model trained 1.37x faster in float32 than in bf16
on an Intel Xeon with AVX512-BF16 but no AMX, and 1.4x faster in bf16 on an AMD Zen 4 (issue 22).
So a few training steps of the experiment's model, at its micro-batch and thread count, run in
both precisions, interleaved (bf16 float32 float32 bf16 ...: a load that comes and goes on a
shared machine falls on both), and the median step of each decides. The result is cached under
cache/precision/, keyed by what decides it (CPU model and flags, torch version and threads, the
model's shape, the micro-batch and the [speed] settings that change a step), so a matrix of
experiments of one shape measures once per machine. It costs a few seconds.

On a GPU "auto" stays what the device reports (bf16 where it is native); true and false are
taken as they are. Either way the record's training.precision says what was chosen and how.
"""

from __future__ import annotations

import copy
import fcntl
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.cache import key_hash, write_json_atomic
from pipeline.environment import cpu_name, now

FOLDER = "precision"  # under the cache folder
# The CPU flags that change bf16's speed: the model name alone is "Intel Xeon Processor" in
# most VMs, whatever the generation under it.
BF16_FLAGS = ("avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16", "avx512f", "avx2")
# [speed] values that change what one training step computes (and so the two rates)
STEP_SETTINGS = ("attn_implementation", "chunked_loss", "torch_compile", "threads")
ROUNDS, MIN_ROUNDS, BUDGET_S = 5, 3, 6.0

Rates = dict[str, float]  # {"bf16": tokens/s, "float32": tokens/s}
Measure = Callable[[dict[str, Any], int, dict[str, Any]], Rates]


def cpu_flags() -> list[str]:
    """The BF16_FLAGS this CPU reports (Linux /proc/cpuinfo; none elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines()
                  if ln.startswith("flags")), [])  # fmt: skip
    return [f for f in BF16_FLAGS if f in flags]


def probe_identity(values: dict[str, Any], batch: int, speed: dict[str, Any]) -> dict[str, Any]:
    """What a measurement depends on; its hash names the cache file."""
    import torch

    shape = {k: values.get(k) for k in ("n_layer", "n_head", "n_embd", "n_inner",
                                         "vocab_size", "n_positions")}  # fmt: skip
    return {
        "cpu": cpu_name(),
        "cpu_flags": cpu_flags(),
        "torch": torch.__version__,
        "model": shape,
        "batch": batch,
        "speed": {k: speed.get(k) for k in STEP_SETTINGS},
    }


def interleaved_seconds(
    step: Callable[[bool], None],
    rounds: int = ROUNDS,
    clock: Callable[[], float] = time.perf_counter,
    budget_s: float = BUDGET_S,
) -> dict[bool, float]:
    """Median seconds of one step(bf16) per precision, in rounds of one step each. The order
    alternates (True False, False True, ...) so a slow spell of the machine hits both alike,
    and the median ignores the round it hit hardest. Past budget_s it stops after MIN_ROUNDS
    (a large model on a CPU)."""
    times: dict[bool, list[float]] = {True: [], False: []}
    start = clock()
    for r in range(rounds):
        for bf16 in (True, False) if r % 2 == 0 else (False, True):
            t0 = clock()
            step(bf16)
            times[bf16].append(clock() - t0)
        if r + 1 >= MIN_ROUNDS and clock() - start > budget_s:
            break
    return {bf16: statistics.median(t) for bf16, t in times.items()}


def measure_rates(values: dict[str, Any], batch: int, speed: dict[str, Any]) -> Rates:
    """Tokens/s of the experiment's model in bf16 autocast and in float32: the Trainer's step
    (forward, the loss the experiment uses, backward, gradient clipping, AdamW) on random
    tokens, one copy of the model and optimizer per precision. Eager even when the experiment
    compiles: compiling twice would cost more than the training it could save."""
    import torch

    from pipeline.model import build_model
    from pipeline.train import training_loss

    torch.manual_seed(0)
    base = build_model(values, speed["attn_implementation"])
    models = {bf16: copy.deepcopy(base).train() for bf16 in (True, False)}
    optims = {bf16: torch.optim.AdamW(m.parameters(), lr=1e-4) for bf16, m in models.items()}
    ids = torch.randint(1, values["vocab_size"], (batch, values["n_positions"]))

    def step(bf16: bool) -> None:
        model = models[bf16]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = training_loss(model, ids, bool(speed.get("chunked_loss")))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optims[bf16].step()
        optims[bf16].zero_grad(set_to_none=True)

    for bf16 in (True, False):  # first steps allocate and pick kernels: not timed
        step(bf16)
    seconds = interleaved_seconds(step)
    tokens = batch * values["n_positions"]
    return {"bf16": tokens / seconds[True], "float32": tokens / seconds[False]}


def measured_choice(
    values: dict[str, Any],
    batch: int,
    speed: dict[str, Any],
    cache: Path,
    measure: Measure = measure_rates,
) -> dict[str, Any]:
    """The cached measurement for this machine and model, or a new one (written atomically;
    a second worker of the same matrix waits on the lock and reads the first one's)."""
    identity = probe_identity(values, batch, speed)
    key = key_hash(identity)
    folder = cache / FOLDER
    path = folder / f"{key}.json"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if path.exists():
            try:
                return {**json.loads(path.read_text()), "how": "cached", "measure_s": 0.0}
            except (json.JSONDecodeError, OSError):
                pass  # unreadable: measure again and replace it
        started = time.perf_counter()
        rates = measure(values, batch, speed)
        found = {
            "key": key,
            "identity": identity,
            "bf16_tokens_per_second": rates["bf16"],
            "float32_tokens_per_second": rates["float32"],
            "bf16": rates["bf16"] > rates["float32"],
            "measured_at": now(),
            "measure_s": time.perf_counter() - started,
        }
        write_json_atomic(path, found)
    return {**found, "how": "measured"}


def choose_precision(
    setting: Any,
    speed: dict[str, Any],
    values: dict[str, Any],
    batch: int,
    cache: Path,
    measure: Measure = measure_rates,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(speed with bf16 settled, the record's training.precision). `setting` is the [speed]
    bf16 value as configured; `speed` is resolve_speed()'s table."""
    section = {"setting": setting, "how": "set", "bf16_tokens_per_second": None,
               "float32_tokens_per_second": None, "key": None, "measure_s": None}  # fmt: skip
    if setting == "auto" and speed["device"] == "cpu":
        found = measured_choice(values, batch, speed, cache, measure)
        section.update({k: found[k] for k in section if k in found and k != "setting"})
        speed = {**speed, "bf16": found["bf16"]}
    elif setting == "auto":
        section["how"] = "device"
    section["chosen"] = "bf16" if speed["bf16"] else ("fp16" if speed["fp16"] else "float32")
    if section["how"] != "set":
        rates = section["bf16_tokens_per_second"], section["float32_tokens_per_second"]
        shown = " (bf16 {:,.0f}, float32 {:,.0f} tokens/s)".format(*rates) if rates[0] else ""
        print(f"    precision: {section['chosen']}, {section['how']}{shown}", flush=True)
    return speed, section
