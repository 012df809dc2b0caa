"""Training throughput: the course recipe vs this project's path, same model, same process.

    python bench/throughput.py [--preset tiny] [--steps 12] [--warmup 3]

Prints tokens/s for each recipe and the ratio to the course recipe (goal on CPU: >= 1.7x on
the tiny preset; on an H100 with the gpt2-small preset: >= 600k tokens/s). Random tokens, so it
measures speed only; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from datasets import Dataset
from transformers import TrainerCallback, set_seed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.environment import device_name, peak_flops  # noqa: E402
from pipeline.evaluate import mfu  # noqa: E402
from pipeline.model import build_model, gpt2_config_values  # noqa: E402
from pipeline.train import make_trainer, resolve_speed  # noqa: E402


class StepTimer(TrainerCallback):
    """Wall time of the optimizer steps after the warm-up ones (compilation, allocator)."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end = warmup, None, None

    def on_step_end(self, args, state, control, **kwargs):
        if args.use_cpu is False and torch.cuda.is_available():
            torch.cuda.synchronize()
        if state.global_step == self.warmup:
            self.start = time.perf_counter()
        self.end = time.perf_counter()


def recipes(cuda: bool) -> dict[str, tuple[dict, dict]]:
    """name -> (training values, speed values)."""
    course = (
        {"per_device_train_batch_size": 32, "gradient_accumulation_steps": 8},
        {
            "bf16": False,
            "fp16_fallback": cuda,
            "attn_implementation": "eager",
            "torch_compile": False,
        },
    )
    project_cpu = (
        {"per_device_train_batch_size": 16, "gradient_accumulation_steps": 1},
        {"bf16": "auto", "attn_implementation": "sdpa", "torch_compile": False},
    )
    project_gpu = (
        {"per_device_train_batch_size": 256, "gradient_accumulation_steps": 1, "optim": "adamw_torch_fused"},
        {"bf16": "auto", "tf32": True, "attn_implementation": "sdpa", "torch_compile": True,
         "dataloader_num_workers": 4},
    )  # fmt: skip
    return {"course recipe": course, "project": project_gpu if cuda else project_cpu}


def measure(name, train_values, speed_cfg, preset, vocab, steps, warmup, tmp) -> float:
    context = 128
    values = gpt2_config_values(preset, vocab, context, 0)
    speed = resolve_speed(speed_cfg)
    set_seed(0)
    model = build_model(values, speed["attn_implementation"])
    per_step = (
        train_values["per_device_train_batch_size"] * train_values["gradient_accumulation_steps"]
    )
    n_rows = per_step * (steps + 1)
    ids = torch.randint(1, vocab, (n_rows, context), dtype=torch.int32).numpy()
    data = {
        "train": Dataset.from_dict({"input_ids": ids}),
        "valid": Dataset.from_dict({"input_ids": ids[:8]}),
    }
    train_cfg = {
        "learning_rate": 5e-4, "max_steps": steps, "logging_steps": 1000, "eval_steps": 10**6,
        "save_steps": 10**6, "optim": "adamw_torch", "warmup_steps": 0, **train_values,
    }  # fmt: skip
    timer = StepTimer(warmup)
    trainer = make_trainer(model, None, data, train_cfg, speed, Path(tmp) / name, 0, [timer])
    trainer.args.eval_strategy = "no"
    trainer.args.eval_on_start = False
    trainer.args.save_strategy = "no"
    trainer.args.disable_tqdm = True
    trainer.train()
    tokens = (steps - warmup) * per_step * context
    tps = tokens / (timer.end - timer.start)
    n_params = sum(p.numel() for p in model.parameters())
    utilisation = mfu(tps, values, n_params, peak_flops(device_name()))
    shown = f"{utilisation:.1%}" if utilisation is not None else "-"
    print(f"{name:<15} {tps:>12,.0f} tokens/s   MFU {shown:>6}   bf16={speed['bf16']}  "
          f"attn={speed['attn_implementation']}  batch={per_step}", flush=True)  # fmt: skip
    return tps


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    cuda = torch.cuda.is_available()
    p.add_argument("--preset", default="gpt2-small" if cuda else "tiny")
    p.add_argument("--vocab", type=int, default=32768 if cuda else 8192)
    p.add_argument("--steps", type=int, default=30 if cuda else 12)
    p.add_argument("--warmup", type=int, default=10 if cuda else 3)
    args = p.parse_args()
    print(f"device: {device_name()}; preset {args.preset}, vocab {args.vocab}, context 128")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (train_values, speed_cfg) in recipes(cuda).items():
            steps = args.steps if name == "project" else max(args.warmup + 2, args.steps // 4)
            results[name] = measure(name, train_values, speed_cfg, args.preset, args.vocab,
                                    steps, min(args.warmup, steps - 2), tmp)  # fmt: skip
    ratio = results["project"] / results["course recipe"]
    goal = "600k tokens/s" if cuda else "1.7x"
    print(f"ratio project / course recipe: {ratio:.2f}x (goal {goal})")


if __name__ == "__main__":
    main()
