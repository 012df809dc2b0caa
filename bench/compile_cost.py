"""Does torch.compile pay for itself over a `make all` experiment? Eager and compiled side by side.

    python bench/compile_cost.py [--profile cpu] [--experiments 2] [--bf16 auto]

Two matrices of the same experiments (the profile's baseline, then copies with other seeds)
run at once, one process each at one thread, as `make all`'s two workers do: one eager, one
with [speed] torch_compile = true and an empty inductor cache, as on a fresh clone. Whatever
load the machine carries falls on both alike. Each experiment's wall time (data, training with
its compilation and evaluations, prompts, saving) is read from its record and compared: the
first compiled experiment pays the compilation, the later ones find the on-disk cache.
Takes about (experiments x one experiment's time).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODES = {"eager": "false", "compiled": "true"}


def matrix(experiments: int, compiled: str, bf16: str) -> str:
    speed = f"speed = {{torch_compile = {compiled}, bf16 = {bf16}}}\n"
    return "".join(f'[run-{i}]\ndescription = "baseline, seed {i}"\nseed = {i}\n{speed}\n'
                   for i in range(experiments))  # fmt: skip


def seconds(record: dict) -> float:
    env = record["environment"]
    start, end = (datetime.fromisoformat(env[k]) for k in ("started_at", "ended_at"))
    return (end - start).total_seconds()


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--profile", default="cpu")
    p.add_argument("--experiments", type=int, default=2)
    p.add_argument("--bf16", choices=["auto", "true", "false"], default="auto")
    args = p.parse_args()
    bf16 = '"auto"' if args.bf16 == "auto" else args.bf16
    with tempfile.TemporaryDirectory(prefix="bench-compile-") as tmp:
        procs = {}
        for mode, compiled in MODES.items():
            folder = Path(tmp) / mode
            folder.mkdir()
            (folder / "matrix.toml").write_text(matrix(args.experiments, compiled, bf16))
            env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1",
                   "TORCHINDUCTOR_CACHE_DIR": str(folder / "inductor")}  # fmt: skip
            cmd = [sys.executable, "-m", "pipeline", "--profile", args.profile, "--matrix",
                   str(folder / "matrix.toml"), "--results", str(folder / "results"),
                   "run", "--jobs", "1"]  # fmt: skip
            log = open(folder / "log.txt", "w")  # noqa: SIM115 (closed when the process ends)
            procs[mode] = (subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log), log)
        for mode, (proc, log) in procs.items():
            proc.wait()
            log.close()
            if proc.returncode not in (0, 1):
                sys.exit(f"{mode} failed:\n{(Path(tmp) / mode / 'log.txt').read_text()[-3000:]}")
        rows = {}
        for mode in MODES:
            results = Path(tmp) / mode / "results"
            rows[mode] = [json.loads((results / f"run-{i}" / "record.json").read_text())
                          for i in range(args.experiments)]  # fmt: skip
    print(f"profile {args.profile}, bf16 {args.bf16}, one thread each, side by side:")
    print(f"{'experiment':<8} {'eager s':>8} {'compiled s':>11} {'eager tok/s':>12} "
          f"{'compiled tok/s':>15} {'eager bpb':>10} {'compiled bpb':>13}")  # fmt: skip
    for i in range(args.experiments):
        e, c = rows["eager"][i], rows["compiled"][i]
        print(f"run-{i:<4} {seconds(e):>8.0f} {seconds(c):>11.0f} "
              f"{e['training']['tokens_per_second']:>12,.0f} "
              f"{c['training']['tokens_per_second']:>15,.0f} "
              f"{e['evaluation']['bits_per_byte']:>10.4f} {c['evaluation']['bits_per_byte']:>13.4f}")  # fmt: skip
    total = {m: sum(seconds(r) for r in rows[m]) for m in MODES}
    print(
        f"total: eager {total['eager']:.0f} s, compiled {total['compiled']:.0f} s "
        f"(compiled / eager {total['compiled'] / total['eager']:.2f})"
    )


if __name__ == "__main__":
    main()
