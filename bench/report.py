"""Report render benchmark: a 6-experiment fixture set, rendered end to end (PDF and notebooks).

    .venv/bin/python bench/report.py [--runs 3] [--experiments 6]

Goal: under 10 s per render on 2 cores. Each run is a fresh `python -m report` process, as
`make report` runs it, so imports count; the first run also warms the OS file cache.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from pypdf import PdfReader  # noqa: E402

from tests.fixtures.records import SPECS, write_fixture_set  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--experiments", type=int, default=6, choices=range(1, len(SPECS) + 1))
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        fixture = write_fixture_set(Path(tmp), count=args.experiments)
        command = [
            sys.executable, "-m", "report", "--results", str(fixture.results),
            "--matrix", str(fixture.matrix), "--out", str(Path(tmp) / "build"), "--timings",
        ]  # fmt: skip
        times = []
        for run in range(1, args.runs + 1):
            start = time.perf_counter()
            result = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
            times.append(time.perf_counter() - start)
            stages = [line.strip() for line in result.stdout.splitlines() if line.startswith("  ")]
            print(f"run {run}: {times[-1]:.2f} s  ({'; '.join(stages)})")
        pages = len(PdfReader(Path(tmp) / "build" / "report.pdf").pages)
    print(
        f"report render, {args.experiments} experiments ({pages} pages): "
        f"best {min(times):.2f} s, median {sorted(times)[len(times) // 2]:.2f} s"
    )


if __name__ == "__main__":
    main()
