"""python -m pipeline {data,run,experiment,validate,list,where}: the command line of the pipeline.

Exit codes: 0 all complete, 1 an experiment failed or diverged, 2 a usage or config error.
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import sys
import time
from pathlib import Path

from pipeline.config import ROOT, ConfigError, load_matrix, parse_sets, select, use_sets
from pipeline.run_folders import report_folder, results_folder


def default_profile() -> str:
    """PROFILE from the environment, else gpu when CUDA is there, else cpu."""
    profile = os.environ.get("PROFILE", "").strip()
    if profile and profile != "auto":
        return profile
    try:
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    p.add_argument("--profile", default=None, help="cpu, gpu or micro (default: $PROFILE or auto)")
    p.add_argument("--matrix", type=Path, default=None, help="experiment matrix (TOML)")
    p.add_argument(
        "--results",
        type=Path,
        default=None,
        help="results folder (default: results/, or results-<tag>/ for another matrix, profile "
        "or --set; `where` prints it)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config value for every experiment, over the matrix (repeatable): "
        "--set data.source=path --set data.path=src/",
    )
    p.add_argument("--cache", type=Path, default=ROOT / "cache", help="data cache folder")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("validate", help="check the configuration and prompts; run nothing")
    sub.add_parser("list", help="list the experiments and whether each is up to date")
    sub.add_parser("where", help="print the results and report folders of this matrix and profile")
    sub.add_parser("data", help="build corpus, tokenizer and chunks (cached)")
    run = sub.add_parser("run", help="run every experiment that is not up to date")
    run.add_argument("--force", action="store_true", help="rerun even up-to-date experiments")
    run.add_argument(
        "--jobs",
        default=os.environ.get("JOBS") or "auto",
        help="experiments at a time (default $JOBS or auto: 2 on a CPU with 2+ cores, else 1)",
    )
    run.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    one = sub.add_parser("experiment", help="rerun one experiment (always), then `make report`")
    one.add_argument("name")
    return p


def matrix_jobs(jobs: str, experiments: list, results: Path) -> int:
    """--jobs as a number of workers (pipeline.parallel.resolve_jobs); a bad value is exit 2."""
    from pipeline.parallel import AUTO, resolve_jobs
    from pipeline.runner import is_current

    if jobs != AUTO and not (jobs.isascii() and jobs.isdigit() and int(jobs) >= 1):  # "²".isdigit()
        raise ConfigError(f"--jobs (or $JOBS) must be a whole number >= 1 or auto, got {jobs!r}")
    to_run = sum(not is_current(e, results) for e in experiments)
    import torch

    return resolve_jobs(jobs if jobs == AUTO else int(jobs), to_run, torch.cuda.is_available())


def fmt(x) -> str:
    if x is None:
        return "-"
    x = float(x)
    return f"{x:.4f}" if math.isfinite(x) else str(x)


def print_summary(rows: list[dict]) -> None:
    print(
        f"\n{'experiment':<16} {'status':<9} {'step-0 loss':>11} {'eval loss':>10} {'ppl':>10} "
        f"{'bits/byte':>9}"
    )
    for r in rows:
        print(
            f"{r['name']:<16} {r['status']:<9} {fmt(r['step0_eval_loss']):>11} "
            f"{fmt(r['eval_loss']):>10} {fmt(r['perplexity']):>10} {fmt(r['bits_per_byte']):>9}"
        )
        if r["error"]:
            print(f"    {r['error']}")


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        # The checkpoints and the lock are in order (the lock is released on the way out):
        # one line, not a traceback through the Trainer.
        print(
            "\ninterrupted: finished experiments are kept; the same command resumes the "
            "interrupted one from its last checkpoint",
            file=sys.stderr,
        )
        return 130
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EROFS, errno.EDQUOT):
            raise
        # a full disk or a folder made read-only meanwhile: what is finished is kept
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror}; free space (or make it writable) and run the "
              "same command again: finished work is kept", file=sys.stderr)  # fmt: skip
        return 1


def _main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    profile = args.profile or default_profile()
    try:
        sets = parse_sets(args.set)
        use_sets(sets)
        if args.results is None:
            args.results = results_folder(args.matrix, profile, sets, ROOT)
        if args.command == "where":  # names folders only: no matrix check (make where, tensorboard)
            print(
                f"results {args.results}\nreport {report_folder(args.matrix, profile, sets, ROOT)}"
            )
            return 0
        experiments = load_matrix(profile, matrix_file=args.matrix)
        from pipeline.prompts import evaluation_prompts

        for gen in {json.dumps(exp.config["generation"], sort_keys=True) for exp in experiments}:
            evaluation_prompts(json.loads(gen))  # a broken prompts file stops before training
        if args.command == "validate":
            print(
                f"ok: {len(experiments)} experiments on profile {profile}; results in {args.results}"
            )
            return 0
        from pipeline.runner import is_current, run_matrix

        if args.command == "list":
            for exp in experiments:
                state = "up to date" if is_current(exp, args.results) else "to run"
                print(f"{exp.name:<16} {exp.config_hash}  {state:<10}  {exp.description}")
            return 0
        check_writable(args.results)
        check_writable(args.cache, "cache")  # a read-only cache failed after the corpus was built
        for exp in experiments:  # results/<name> a file: mkdir failed with a traceback
            check_folder(args.results / exp.name, f"experiment {exp.name!r}")
        from pipeline.environment import device_name

        print(f"profile {profile} on {device_name()}; results in {args.results}")
        if args.command in ("run", "experiment") and getattr(args, "worker", None) is None:
            # a course-size run on a T4 stops here, before any download (pipeline/run_estimate.py)
            from pipeline.run_estimate import confirm_run_time

            todo = [select(experiments, args.name)] if args.command == "experiment" else [
                e for e in experiments if args.force or not is_current(e, args.results)
            ]  # fmt: skip
            confirm_run_time([e.config for e in todo], device_name(), args.results)
        start = time.perf_counter()
        if args.command == "data":
            from pipeline.data import prepare_data

            prepare_data(experiments[0].config, args.cache)
            return 0
        if args.command == "experiment":
            experiments = [select(experiments, args.name)]
            rows = run_matrix(experiments, args.results, args.cache, force=(args.name,))
        elif args.worker is not None:  # one of run_parallel's workers: it prints no summary
            run_matrix(experiments, args.results, args.cache, claim=True)
            return 0
        else:
            rows = run_rows(args, experiments, profile)
            if isinstance(rows, int):  # a worker's error
                return rows
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from pipeline.environment import is_main

    if not is_main():  # under torchrun, rank 0 speaks for all
        return 0
    print_summary(rows)
    print(f"\nexperiments: {time.perf_counter() - start:.1f} s")
    failed = [r["name"] for r in rows if r["status"] != "complete"]
    if failed:
        print(f"not complete: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def run_rows(args: argparse.Namespace, experiments: list, profile: str) -> list[dict] | int:
    """`run`: the matrix, several experiments at a time where that pays (pipeline.parallel).
    The summary rows, or the exit code of a worker that failed outside an experiment."""
    from pipeline.runner import run_matrix

    force = tuple(e.name for e in experiments) if args.force else ()
    jobs = 1 if force else matrix_jobs(args.jobs, experiments, args.results)
    if jobs == 1:
        return run_matrix(experiments, args.results, args.cache, force=force)
    from pipeline.parallel import read_rows, run_parallel

    return run_parallel(args, experiments, jobs, profile) or read_rows(experiments, args.results)


def check_folder(folder: Path, what: str) -> None:
    """A file where a folder belongs fails late and obscurely (mkdir inside it): say so now."""
    for part in [folder, *folder.parents]:
        if part.exists() and not part.is_dir():
            raise ConfigError(f"{what} folder {folder}: {part} is a file, not a folder")


def check_writable(folder: Path, what: str = "results") -> None:
    check_folder(folder, what)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test.{os.getpid()}"  # DDP ranks probe at once
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"{what} folder {folder} is not writable ({e.strerror})") from None


if __name__ == "__main__":
    sys.exit(main())
