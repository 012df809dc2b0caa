"""Parallel runs said as they are (issue 20): the record counts the experiments running
beside one, the report labels each tokens/s as one run's and gives the matrix's total."""

from __future__ import annotations

from pathlib import Path

from pipeline.environment import running_beside
from pipeline.runner import experiment_lock
from report.outputs import make_report
from tests.fixtures.records import write_fixture_set


def test_running_beside_counts_the_other_held_locks(tmp_path: Path) -> None:
    results = tmp_path / "results"
    for name in ("a", "b", "c"):
        (results / name).mkdir(parents=True)
        (results / name / ".lock").touch()  # a finished experiment leaves its lock file
    assert running_beside(results / "a") == 0
    with experiment_lock(results / "b"), experiment_lock(results / "a"):
        assert running_beside(results / "a") == 1  # b, not itself; c is not held
    assert running_beside(results / "a") == 0


def test_report_labels_per_run_rates_and_gives_the_matrix_total(tmp_path: Path) -> None:
    fixture = write_fixture_set(tmp_path / "fixture", count=5)
    out = tmp_path / "build"
    make_report(fixture.results, out, matrix=fixture.matrix, pdf=False, notebooks=False)
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| Throughput of this run (tokens/s), beside 1 other run(s) |" in md
    assert "| Throughput of this run (tokens/s), trained alone |" in md  # steps-half
    # baseline and adafactor 655,360 tokens each, grad-accum-4 819,200, the diverged lr-2e-3
    # 348,160, steps-half 409,600: 2,887,680 in the fixture's 2 min (15:40 to 15:42), 24,064/s
    assert "The whole matrix trained 2,887,680 tokens in\n2 min 00 s" in md
    assert "24,064 tokens per second for the matrix" in md
    assert "their rate is one share of it" in md
