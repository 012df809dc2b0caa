"""python -m report: render report.md, report.html and report.pdf from the result records.

Reads only the records (results/<name>/record.json) and the matrix; never trains, never imports
torch or transformers, so `make report` takes seconds.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from pipeline.errors import EXPERIMENTS_DIR, ROOT, ConfigError

from .load import ReportError, ReportInputError, default_profile


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m report", description=__doc__.splitlines()[0])
    p.add_argument(
        "--results",
        type=Path,
        default=None,
        help="folder of <name>/record.json (default: results, or results-<tag> for another "
        "matrix, profile or --set: pipeline.run_folders)",
    )
    p.add_argument(
        "--out", type=Path, default=None, help="output folder (default: build, or build-<tag>)"
    )
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="the --set values the pipeline ran with (repeatable)")  # fmt: skip
    p.add_argument("--failed-run", action="store_true",
                   help="the run failed: a report already in --out stays, this one goes to "
                   "<out>/failed-run/")  # fmt: skip
    p.add_argument(
        "--profile",
        default=None,
        help="profile the matrix is resolved with (default: $PROFILE, else the records' profile, else cpu)",
    )
    p.add_argument(
        "--matrix",
        type=Path,
        default=EXPERIMENTS_DIR / "matrix.toml",
        help="experiment matrix (default: experiments/matrix.toml)",
    )
    p.add_argument(
        "--templates",
        type=Path,
        default=ROOT / "templates",
        help="templates folder (default: templates/)",
    )
    p.add_argument("--no-pdf", action="store_true", help="skip report.pdf (the slowest output)")
    p.add_argument("--no-notebooks", action="store_true", help="skip the per-experiment notebooks")
    p.add_argument("--timings", action="store_true", help="print how long each stage took")
    return p.parse_args(argv)


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C: the staging folder is removed and the workers are shut down on the
    way out (killed outright, they left a .staging-* folder and orphaned workers)."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminated)
    start = time.perf_counter()
    timings: dict[str, float] = {}
    try:
        from pipeline.run_folders import output_folders

        args.results, args.out = output_folders(args)  # issue 23: folders named for the run
        from .outputs import make_report

        outputs, warnings = make_report(
            results=args.results,
            out=args.out,
            profile=args.profile or default_profile(args.results),
            matrix=args.matrix,
            templates=args.templates,
            pdf=not args.no_pdf,
            notebooks=not args.no_notebooks,
            timings=timings,
        )
    except ConfigError as e:  # a bad --set
        print(f"report: error: {e}", file=sys.stderr)
        return 2
    except ReportInputError as e:
        print(f"report: error: {e}", file=sys.stderr)
        return 2
    except ReportError as e:
        print(f"report: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nreport: interrupted; the previous report is left whole", file=sys.stderr)
        return 130
    except OSError as e:  # a full disk, a folder made read-only meanwhile
        where = f"{e.filename}: " if e.filename else ""
        print(
            f"report: error: {where}{e.strerror or e}; the previous report is left whole",
            file=sys.stderr,
        )
        return 1
    for warning in warnings:
        print(f"report: warning: {warning}", file=sys.stderr)
    for path in outputs:
        print(path)
    if args.timings:
        for stage, seconds in timings.items():
            print(f"  {stage:<24} {seconds:5.2f} s")
    print(f"report: done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
