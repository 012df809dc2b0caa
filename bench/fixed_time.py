"""Quality for the time spent: the course recipe vs this project's baseline, same wall clock.

    python bench/fixed_time.py [--minutes 10] [--profile cpu]

Both train on the profile's data for the same budget (training.time_budget_s, evaluations
included) through the real pipeline, then the eval loss of each is printed with the ratio.
Goal on CPU: project / course <= 0.8 after 10 minutes each. Takes 2 x minutes; run it on an
otherwise idle machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.config import ROOT, load_matrix  # noqa: E402
from pipeline.runner import run_matrix  # noqa: E402

# The course's recipe as it would run here: fp32 (no fp16 on CPU), eager attention, lr 5e-4,
# batch 32 x accumulation 8. Same data, tokenizer and model preset as the project's baseline.
COURSE = """
[course-recipe]
description = "the course recipe"
training = {{learning_rate = 5e-4, per_device_train_batch_size = 32, gradient_accumulation_steps = 8, max_steps = 100000, warmup_steps = 10, eval_steps = 100000, time_budget_s = {budget}}}
speed = {{bf16 = false, attn_implementation = "eager"}}

[project-baseline]
description = "this project's baseline recipe"
training = {{max_steps = 100000, eval_steps = 100000, time_budget_s = {budget}}}
"""


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--profile", default="cpu")
    args = p.parse_args()
    budget = args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="bench-fixed-time-") as tmp:
        matrix = Path(tmp) / "matrix.toml"
        matrix.write_text(COURSE.format(budget=budget))
        experiments = load_matrix(args.profile, matrix_file=matrix)
        rows = run_matrix(experiments, Path(tmp) / "results", ROOT / "cache")
    loss = {r["name"]: r["eval_loss"] for r in rows}
    print(f"\nafter {args.minutes:g} min each on profile {args.profile}:")
    for name, value in loss.items():
        print(f"  {name:<16} eval loss {value:.4f}")
    ratio = loss["project-baseline"] / loss["course-recipe"]
    print(f"ratio project / course recipe: {ratio:.3f} (goal <= 0.8)")


if __name__ == "__main__":
    main()
