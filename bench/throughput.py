"""Training throughput: the course recipe vs this project's path, same model, same process.

    python bench/throughput.py [--profile gpu] [--steps 30] [--repeat 3]
                               [--also speed.bf16=false speed.torch_compile=true] [--json out.json]

The project's recipe is the profile's baseline experiment as `make all` runs it (its batch,
optimizer and [speed] table; bf16 = "auto" on a CPU timed by pipeline/precision.py, whose two
rates are printed); the course recipe is fp32/fp16 eager attention, AdamW, batch 32 x
accumulation 8. Each --also adds one more run: the project's recipe with the KEY=VALUE after it
changed (several in one --also change them together), to measure an idea. --repeat N runs every
recipe N times, round after round (A B C A B C ...: a load that comes and goes on a shared
machine falls on all of them), and reports the median. Random tokens, so it measures speed
only. Goals: on an H100 with the gpu profile >= 600k tokens/s; on CPU with the cpu profile
>= 1.7x the course recipe.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import torch
from datasets import Dataset
from transformers import TrainerCallback, set_seed
from transformers.trainer_callback import ProgressCallback

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.config import load_matrix  # noqa: E402
from pipeline.environment import device_name  # noqa: E402
from pipeline.model import build_model, gpt2_config_values  # noqa: E402
from pipeline.precision import choose_precision  # noqa: E402
from pipeline.throughput import mfu, peak_flops  # noqa: E402
from pipeline.train import make_trainer, resolve_speed  # noqa: E402

CONTEXT = 128


# --clock cpu: this process's CPU seconds instead of wall seconds. At one thread
# (OMP_NUM_THREADS=1) that is the step's own work, whatever else the machine runs: on a shared
# machine it gives the rate an idle core would, where wall time gives the rate of the moment.
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


class StepTimer(TrainerCallback):
    """Time of the optimizer steps after the warm-up ones (compilation, allocator)."""

    def __init__(self, warmup: int, clock=time.perf_counter) -> None:
        self.warmup, self.start, self.end, self.clock = warmup, None, None, clock
        self.warm_at = None  # wall clock at the end of the warm-up (compilation's cost)

    def on_step_end(self, args, state, control, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        if state.global_step == self.warmup:
            self.start, self.warm_at = self.clock(), time.perf_counter()
        self.end = self.clock()


def project_recipe(cfg: dict) -> dict[str, dict]:
    """The recipe ({training, speed, model}) of a profile's baseline experiment config."""
    keep = ("per_device_train_batch_size", "gradient_accumulation_steps", "optim",
            "learning_rate", "weight_decay", "max_grad_norm")  # fmt: skip
    return {"training": {k: cfg["training"][k] for k in keep}, "speed": dict(cfg["speed"]),
            "model": dict(cfg["model"])}  # fmt: skip


def course_recipe(cuda: bool, model: dict) -> dict[str, dict]:
    """The course: fp16 on a GPU (fp32 on CPU), eager attention, plain AdamW, 32 x 8, on the
    same model as the project's recipe."""
    training = {"per_device_train_batch_size": 32, "gradient_accumulation_steps": 8,
                "optim": "adamw_torch", "learning_rate": 5e-4}  # fmt: skip
    speed = {"bf16": False, "fp16_fallback": cuda, "attn_implementation": "eager",
             "torch_compile": False, "fused_optimizer": False, "tf32": False}  # fmt: skip
    return {"training": training, "speed": speed, "model": dict(model)}


def with_change(recipe: dict[str, dict], change: str) -> dict[str, dict]:
    """A copy of the recipe with one 'training.key=value', 'speed.key=value' or
    'model.key=value' (a GPT2Config field, such as model.resid_pdrop=0.0); value as TOML."""
    key, _, raw = change.partition("=")
    section, _, name = key.strip().partition(".")
    if section not in recipe or not name or not raw:
        raise SystemExit(
            f"--also {change!r}: write training.KEY=VALUE, speed.KEY=VALUE or model.KEY=VALUE"
        )
    value = tomllib.loads(f"v = {raw.strip()}")["v"]
    return {**recipe, section: {**recipe[section], name: value}}


def measure(name, recipe, vocab, steps, warmup, tmp, clock=time.perf_counter) -> dict:
    """Time one recipe: tokens/s over the steps after `warmup`."""
    train_values, speed_cfg, model_cfg = recipe["training"], recipe["speed"], recipe["model"]
    values = gpt2_config_values(model_cfg["preset"], vocab, CONTEXT, 0, model_cfg)
    speed = resolve_speed(speed_cfg)
    torch.set_num_threads(speed["threads"])  # as the runner does
    torch._dynamo.reset()  # each recipe compiles its own graphs, as in a fresh process
    set_seed(0)
    model = build_model(values, speed["attn_implementation"])
    # bf16 = "auto" as an experiment settles it; the bench's own cache, so it times this run
    speed, precision = choose_precision(
        speed_cfg.get("bf16", "auto"), speed, values,
        train_values["per_device_train_batch_size"], Path(tmp) / "cache",
    )  # fmt: skip
    per_step = (
        train_values["per_device_train_batch_size"] * train_values["gradient_accumulation_steps"]
    )
    ids = torch.randint(1, vocab, (per_step * (steps + 1), CONTEXT), dtype=torch.int32).numpy()
    data = {
        "train": Dataset.from_dict({"input_ids": ids}),
        "valid": Dataset.from_dict({"input_ids": ids[:8]}),
    }
    train_cfg = {
        "max_steps": steps, "logging_steps": 1000, "eval_steps": 10**6, "save_steps": 10**6,
        "warmup_steps": 0, **train_values,
    }  # fmt: skip
    timer = StepTimer(warmup, clock)
    trainer = make_trainer(model, None, data, train_cfg, speed, Path(tmp) / name, 0, [timer])
    trainer.args.eval_strategy = "no"
    trainer.args.eval_on_start = False
    trainer.args.save_strategy = "no"
    trainer.remove_callback(ProgressCallback)  # the bench prints one line per recipe
    started = time.perf_counter()
    trainer.train()
    tokens = (steps - warmup) * per_step * CONTEXT
    tps = tokens / (timer.end - timer.start)
    n_params = sum(p.numel() for p in model.parameters())
    utilisation = mfu(tps, values, n_params, peak_flops(device_name()))
    shown = f"{utilisation:.1%}" if utilisation is not None else "-"
    warmup_s = timer.warm_at - started  # wall: trainer set-up, compilation, warm-up steps
    print(f"{name:<34} {tps:>11,.0f} tokens/s  MFU {shown:>6}  batch {per_step:>4}  "
          f"optim {getattr(trainer.args.optim, 'value', trainer.args.optim)}  bf16={speed['bf16']} fp16={speed['fp16']} "
          f"compile={speed['torch_compile']} attn={speed['attn_implementation']}  "
          f"(warm-up {warmup_s:.1f} s)", flush=True)  # fmt: skip
    del trainer, model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return {"name": name, "tokens_per_second": tps, "mfu": utilisation, "batch": per_step,
            "steps_timed": steps - warmup, "warmup_s": warmup_s, "speed": speed,
            "precision": precision, "training": train_values}  # fmt: skip


def median_run(rounds: list[dict]) -> dict:
    """One recipe's rounds as one result: the median rate, every round's rate kept."""
    rates = [r["tokens_per_second"] for r in rounds]
    tps = statistics.median(rates)
    mfu_median = statistics.median(r["mfu"] for r in rounds) if rounds[0]["mfu"] else None
    return {**rounds[0], "tokens_per_second": tps, "mfu": mfu_median, "rounds": rates,
            "warmup_s_rounds": [r["warmup_s"] for r in rounds]}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    cuda = torch.cuda.is_available()
    p.add_argument("--profile", default="gpu" if cuda else "cpu")
    p.add_argument("--vocab", type=int, default=None, help="default: the profile's vocab size")
    p.add_argument("--steps", type=int, default=30 if cuda else 12)
    p.add_argument("--warmup", type=int, default=10 if cuda else 3)
    p.add_argument("--course-steps", type=int, default=None,
                   help="steps of the (slow) course recipe; default: a quarter of --steps")  # fmt: skip
    p.add_argument("--also", action="append", nargs="+", default=[], metavar="SECTION.KEY=VALUE",
                   help="one more run: the project's recipe with these values changed "
                        "(--also a=1 b=2, or --also 'a=1; b=2')")  # fmt: skip
    p.add_argument("--repeat", type=int, default=1,
                   help="rounds of every recipe, interleaved; the median is reported")  # fmt: skip
    p.add_argument("--clock", choices=CLOCKS, default="wall",
                   help="cpu: CPU seconds of this process (at one thread: a loaded machine)")  # fmt: skip
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args()
    cfg = load_matrix(args.profile)[0].config
    project = project_recipe(cfg)
    vocab = args.vocab or cfg["tokenizer"]["vocab_size"]
    print(f"device: {device_name()}; profile {args.profile}: preset {cfg['model']['preset']}, "
          f"vocab {vocab}, context {CONTEXT}")  # fmt: skip
    runs = {"course recipe": (course_recipe(cuda, project["model"]),
                              args.course_steps or max(5, args.steps // 4))}  # fmt: skip
    runs[f"project ({args.profile} profile)"] = (project, args.steps)
    for words in args.also:  # '--also a=1 b=2' or '--also "a=1; b=2"': one run, both changed
        changes = [c.strip() for word in words for c in word.split(";") if c.strip()]
        recipe = project
        for change in changes:
            recipe = with_change(recipe, change)
        runs[f"project + {'; '.join(changes)}"] = (recipe, args.steps)
    rounds: dict[str, list[dict]] = {name: [] for name in runs}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):
            if args.repeat > 1:
                print(f"-- round {r + 1} of {args.repeat}", flush=True)
            for name, (recipe, steps) in runs.items():
                # The course recipe runs eager (nothing to compile) and each of its steps is 256
                # blocks: two warm-up steps are enough, and the rest are timed.
                warmup = min(2 if name == "course recipe" else args.warmup, steps - 2)
                rounds[name].append(
                    measure(name, recipe, vocab, steps, warmup, tmp, CLOCKS[args.clock])
                )
    results = [median_run(rs) for rs in rounds.values()]
    if args.repeat > 1:
        print(f"medians of {args.repeat} rounds:")
        for r in results:
            print(f"  {r['name']:<50} {r['tokens_per_second']:>11,.0f} tokens/s  "
                  f"(rounds: {', '.join(f'{x:,.0f}' for x in r['rounds'])})")  # fmt: skip
    timed = {r["precision"]["key"]: r for r in results if r["precision"]["key"]}
    for r in timed.values():  # once per distinct measurement
        pr = r["precision"]
        if pr["bf16_tokens_per_second"]:
            print(f"{r['name']}: bf16 = \"auto\" timed bf16 {pr['bf16_tokens_per_second']:,.0f} "
                  f"and float32 {pr['float32_tokens_per_second']:,.0f} tokens/s: chose {pr['chosen']}")  # fmt: skip
    course = results[0]["tokens_per_second"]
    for r in results[1:]:
        r["ratio_to_course"] = r["tokens_per_second"] / course
        print(f"ratio {r['name']} / course recipe: {r['ratio_to_course']:.2f}x")
    goal = ">= 600k tokens/s on an H100" if cuda else ">= 1.7x the course recipe"
    print(f"goal: {goal}")
    if args.json:
        args.json.write_text(json.dumps({"device": device_name(), "profile": args.profile,
                                         "model": project["model"], "vocab": vocab, "runs": results},
                                        indent=2, default=str))  # fmt: skip


if __name__ == "__main__":
    main()
