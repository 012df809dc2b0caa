"""How long a run will take on this device, printed before it starts; a long one needs a yes.

    confirm_run_time(configs, device, results)   # ConfigError above LAB_MAX_HOURS (default 2)

Seconds = (training tokens + evaluation tokens / 3) x FLOPs per token / FLOP/s, plus a minute
per experiment (compilation, weights, prompts). FLOPs per token are nanoGPT's 6N + 12·L·H·Q·T
(pipeline/throughput.py), tokens are the config's plan (pipeline/eta.py), and the rate is the
tokens/s an earlier complete record of the same model measured on this device where there is
one, else the device's table peak x an assumed MFU. The course profile is 2.1B tokens: about a
day on Colab's T4, which nobody should start by accident; LAB_MAX_HOURS=30 says "I mean it".
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError
from pipeline.eta import EVAL_SPEEDUP, plan
from pipeline.model import analytic_parameters, gpt2_config_values
from pipeline.parallel import cores
from pipeline.throughput import flops_per_token, name_words, peak_flops

MAX_HOURS_ENV = "LAB_MAX_HOURS"
DEFAULT_MAX_HOURS = 2.0  # above this a run waits for an explicit LAB_MAX_HOURS
# MFU assumed where no record measured this device: the gpu profile reached 34.3 % on an H100
# (bench/gpu-notes.md) with micro-batches of 256; the course's 32 keep a GPU less busy. A T4
# clocks down under load: 25 %, bench/t4_estimate.py's assumption.
ASSUMED_MFU = 0.30
MFU_BY_DEVICE = {"T4": 0.25}
# A CPU has no peak in the table: float32 FLOP/s per core as the cpu profile measured them on
# the slowest kind (an AVX2-only EPYC, ~47 GFLOP/s on 2 cores for the tiny model). Larger
# matrices run faster per FLOP, so a GPT-2 small estimate on a CPU errs long, not short.
CPU_FLOPS_PER_CORE = 23e9
UNKNOWN_GPU_FLOPS = 20e12  # a GPU not in the table: a T4-class guess, said as such
OVERHEAD_S = 60.0  # per experiment: compilation, final evaluation, weights, prompts (a guess)


def model_flops(config: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """(GPT2Config values, FLOPs per training token) of a config, before any tokenizer: the
    vocabulary is tokenizer.vocab_size (a pretrained tokenizer's profile states its size)."""
    values = gpt2_config_values(
        config["model"]["preset"], config["tokenizer"]["vocab_size"],
        config["chunking"]["context_length"], 0, config["model"],
    )  # fmt: skip
    return values, flops_per_token(values, analytic_parameters(values)["total"])


SHAPE = ("n_layer", "n_head", "n_embd", "vocab_size", "n_positions")


def measured_rate(values: dict[str, Any], device: str, results: Path | None) -> float | None:
    """The median training tokens/s of the complete records in results/ made on this device
    with this model shape; None when there are none."""
    from pipeline.record import RecordError, read_record

    if results is None or not results.is_dir():
        return None
    rates = []
    for path in sorted(results.glob("*/record.json")):
        try:
            rec = read_record(path)
        except RecordError:
            continue
        config = (rec.get("model") or {}).get("config") or {}
        rate = (rec.get("training") or {}).get("tokens_per_second")
        same = all(config.get(k) == values.get(k) for k in SHAPE)
        if rec["status"] == "complete" and rec["environment"]["device"] == device and same and rate:
            rates.append(float(rate))
    return statistics.median(rates) if rates else None


def device_flops(device: str) -> tuple[float, str]:
    """(FLOP/s, where the number comes from) for a device name from environment.device_name()."""
    if device.startswith("CPU"):
        n = cores()
        return n * CPU_FLOPS_PER_CORE, f"{n} CPU cores at {CPU_FLOPS_PER_CORE / 1e9:.0f} GFLOP/s"
    peak = peak_flops(device)
    if peak is None:
        return UNKNOWN_GPU_FLOPS, f"{UNKNOWN_GPU_FLOPS / 1e12:.0f} TFLOP/s guessed (no table peak)"
    words = name_words(device)
    mfu = next((m for k, m in MFU_BY_DEVICE.items() if k in words), ASSUMED_MFU)
    return peak * mfu, f"{mfu:.0%} of {peak / 1e12:.0f} TFLOP/s, assumed"


def estimate_seconds(
    configs: list[dict[str, Any]], device: str, results: Path | None = None
) -> tuple[float, int, str]:
    """(seconds, training tokens, basis of the rate) for these experiments run one by one."""
    total_s, total_tokens, basis = 0.0, 0, ""
    for config in configs:
        values, per_token = model_flops(config)
        train, evaluation = plan(config)
        rate = measured_rate(values, device, results)
        if rate:
            flops, basis = rate * per_token, f"{rate:,.0f} tokens/s measured by earlier records"
        else:
            flops, basis = device_flops(device)
        work = (train + evaluation / EVAL_SPEEDUP) * per_token
        total_s += work / flops + OVERHEAD_S
        total_tokens += train
    return total_s, total_tokens, basis


def max_hours() -> float:
    text = os.environ.get(MAX_HOURS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_HOURS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ConfigError(f"{MAX_HOURS_ENV}={text!r}: give the hours you accept, e.g. 30")
    return value


def hours_text(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def confirm_run_time(
    configs: list[dict[str, Any]], device: str, results: Path | None = None
) -> float:
    """Print the estimate; refuse (ConfigError, exit 2) above LAB_MAX_HOURS. Returns seconds."""
    if not configs:
        return 0.0
    seconds, tokens, basis = estimate_seconds(configs, device, results)
    _, per_token = model_flops(configs[0])
    print(
        f"estimate: {len(configs)} experiment(s), {tokens / 1e6:,.1f}M training tokens at "
        f"{per_token / 1e6:,.0f} MFLOP each: about {hours_text(seconds)} on {device} ({basis})",
        flush=True,
    )
    limit = max_hours()
    if seconds > limit * 3600:
        needed = int(seconds / 3600) + 1
        raise ConfigError(
            f"this run would take about {hours_text(seconds)} on {device}, more than "
            f"{MAX_HOURS_ENV}={limit:g} h: set {MAX_HOURS_ENV}={needed} to start it anyway, "
            "or pick a smaller profile (docs/data.md)"
        )
    return seconds
