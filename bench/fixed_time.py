"""Quality for the time spent: the course recipe vs this project's baseline, same wall clock.

    python bench/fixed_time.py [--minutes 5] [--profile cpu] [--precision both] [--jobs 1]

Each recipe trains on the profile's data for the same budget (training.time_budget_s,
evaluations included) through the real pipeline; then the eval bits per byte of each is
printed with its ratio to the course recipe's. The project's baseline runs in bf16, in float32
or both (--precision both: two experiments); the course recipe is float32, as it runs on a CPU.
Tokens per second mislead here, since the recipes differ in batch: this is the figure that
counts. Goal on CPU: project / course <= 0.85 at 5 minutes each.

Takes (number of recipes x minutes) one after another, or about minutes with --jobs 3 (side by
side, as `make all`'s workers: on a shared machine a load that comes and goes then falls on
every recipe alike, at one thread each).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.config import ROOT, load_matrix  # noqa: E402
from pipeline.parallel import read_rows, run_parallel  # noqa: E402
from pipeline.runner import run_matrix  # noqa: E402

GOAL = 0.85
# The course's recipe as it would run here: fp32 (no fp16 on CPU), eager attention, the stock
# loss, lr 5e-4, batch 32 x accumulation 8 (bench/throughput.py's course_recipe). Same data,
# tokenizer and model (the profile's, without dropout) as the project's baseline.
COURSE = """
[course-recipe]
description = "the course recipe"
training = {{learning_rate = 5e-4, per_device_train_batch_size = 32, gradient_accumulation_steps = 8, max_steps = 100000, warmup_steps = 10, eval_steps = 100000, time_budget_s = {budget}}}
speed = {{bf16 = false, attn_implementation = "eager", chunked_loss = false}}
"""
PROJECT = """
[project-{name}]
description = "this project's baseline recipe, {name}"
training = {{max_steps = 100000, eval_steps = 100000, time_budget_s = {budget}}}
speed = {{bf16 = {bf16}}}
"""
PRECISIONS = {"auto": '"auto"', "bf16": "true", "float32": "false"}


def matrix_text(budget: float, precision: str) -> str:
    names = ["bf16", "float32"] if precision == "both" else [precision]
    projects = [PROJECT.format(name=n, budget=budget, bf16=PRECISIONS[n]) for n in names]
    return COURSE.format(budget=budget) + "".join(projects)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--profile", default="cpu")
    p.add_argument("--precision", choices=[*PRECISIONS, "both"], default="both",
                   help="the project baseline's [speed] bf16")  # fmt: skip
    p.add_argument("--jobs", type=int, default=1, help="recipes trained side by side")
    args = p.parse_args()
    if args.minutes <= 0 or args.jobs < 1:
        p.error("--minutes must be > 0 and --jobs >= 1")
    budget = args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="bench-fixed-time-") as tmp:
        matrix = Path(tmp) / "matrix.toml"
        matrix.write_text(matrix_text(budget, args.precision))
        experiments = load_matrix(args.profile, matrix_file=matrix)
        results, cache = Path(tmp) / "results", ROOT / "cache"
        if args.jobs == 1:
            rows = run_matrix(experiments, results, cache)
        else:
            cli = SimpleNamespace(results=results, cache=cache, matrix=matrix)
            jobs = min(args.jobs, len(experiments))
            if run_parallel(cli, experiments, jobs, args.profile):
                sys.exit("a worker failed; its output is above")
            rows = read_rows(experiments, results)
    bpb = {r["name"]: r["bits_per_byte"] for r in rows}
    print(f"\nafter {args.minutes:g} min each on profile {args.profile} ({args.jobs} at a time):")
    for row in rows:
        shown = f"{row['bits_per_byte']:.4f}" if row["bits_per_byte"] else row["error"]
        print(f"  {row['name']:<18} eval bits per byte {shown}")
    course = bpb.get("course-recipe")
    for name, value in bpb.items():
        if name != "course-recipe" and value and course:
            print(f"ratio {name} / course recipe: {value / course:.3f} (goal <= {GOAL})")


if __name__ == "__main__":
    main()
