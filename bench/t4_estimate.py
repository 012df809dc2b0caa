"""Expected time per experiment on a Colab T4, from FLOPs per token: an estimate, not a
measurement (nothing here runs on a GPU).

    python bench/t4_estimate.py [--profile colab] [--peak 65e12] [--mfu 0.25]

FLOPs per token are nanoGPT's 6N + 12·L·H·Q·T (pipeline.throughput.flops_per_token) for the
profile's model; an evaluation token costs a third (forward only). The T4's rate is its fp16
tensor-core peak (65 TFLOP/s) times an assumed MFU: 25 % is what a 124M GPT-2 under the
Trainer with fp16 autocast, SDPA and torch.compile plausibly reaches on a 70 W card that clocks
down under load (the H200 runs of this project reach 37 % of a far larger peak). Replace it by
a measured tokens/s (a Colab run's record has it) with --rate.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.config import load_matrix  # noqa: E402
from pipeline.eta import plan  # noqa: E402
from pipeline.model import analytic_parameters, gpt2_config_values  # noqa: E402
from pipeline.throughput import flops_per_token  # noqa: E402

T4_FP16_PEAK = 65e12  # FLOP/s, dense fp16 on tensor cores (NVIDIA's T4 datasheet)
ASSUMED_MFU = 0.25
# Per experiment besides the training steps (a guess, as eta.AFTER_S): torch.compile's warm-up,
# saving the weights, the prompts' completions.
OVERHEAD_S = 60.0


def estimate(cfg: dict, rate_flops: float) -> dict[str, float]:
    values = gpt2_config_values(
        cfg["model"]["preset"], cfg["tokenizer"]["vocab_size"],
        cfg["chunking"]["context_length"], 0, cfg["model"],
    )  # fmt: skip
    n_params = analytic_parameters(values)["total"]
    per_token = flops_per_token(values, n_params)
    train_tokens, eval_tokens = plan(cfg)
    train_s = train_tokens * per_token / rate_flops
    eval_s = eval_tokens * per_token / 3 / rate_flops
    return {"params": n_params, "flops_per_token": per_token, "train_tokens": train_tokens,
            "train_s": train_s, "eval_s": eval_s, "total_s": train_s + eval_s + OVERHEAD_S}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--profile", default="colab")
    p.add_argument("--peak", type=float, default=T4_FP16_PEAK, help="FLOP/s")
    p.add_argument("--mfu", type=float, default=ASSUMED_MFU)
    p.add_argument("--rate", type=float, default=None, help="measured training tokens/s instead")
    args = p.parse_args()
    experiments = load_matrix(args.profile, check_training_args=False)
    first = estimate(experiments[0].config, 1.0)
    rate_flops = args.rate * first["flops_per_token"] if args.rate else args.peak * args.mfu
    basis = (
        f"measured {args.rate:,.0f} tokens/s" if args.rate
        else f"{args.mfu:.0%} of {args.peak / 1e12:.0f} TFLOP/s"
    )  # fmt: skip
    print(f"ESTIMATE (not measured), profile {args.profile}, {basis}: "
          f"{first['params'] / 1e6:.1f}M parameters, {first['flops_per_token'] / 1e6:.0f} MFLOP "
          f"per token, {rate_flops / first['flops_per_token']:,.0f} training tokens/s")  # fmt: skip
    total = 0.0
    for exp in experiments:
        e = estimate(exp.config, rate_flops)
        total += e["total_s"]
        print(f"  {exp.name:<16} {e['train_tokens'] / 1e6:5.2f}M tokens  training "
              f"{e['train_s'] / 60:4.1f} min  evaluations {e['eval_s'] / 60:3.1f} min  "
              f"with {OVERHEAD_S:.0f} s compile/prompts: {e['total_s'] / 60:4.1f} min")  # fmt: skip
    print(f"  matrix: {total / 60:.0f} min, besides install, data stage and report (~5-10 min)")


if __name__ == "__main__":
    main()
