"""The report judges every experiment against the baseline's seed band (issue 12)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from pipeline.config import load_matrix
from pipeline.record import write_record
from report.outputs import make_report
from tests.fixtures.records import build_record, update_record, write_fixture_set

# baseline and its two seed replicas: mean 3.000, standard deviation 0.010, band 2.980-3.020
LOSSES = {"baseline": 3.00, "baseline-seed1": 3.01, "baseline-seed2": 2.99,
          "adafactor": 2.90, "grad-accum-4": 3.20, "steps-half": 3.015}  # fmt: skip


def set_loss(loss: float):
    def change(record: dict) -> None:
        record["evaluation"]["eval_results"]["eval_loss"] = loss
        record["evaluation"]["perplexity"] = math.exp(loss)
        last_eval = [e for e in record["training"]["log_history"] if "eval_loss" in e][-1]
        last_eval["eval_loss"] = loss

    return change


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[str, Path]:
    root = tmp_path_factory.mktemp("band")
    fixture = write_fixture_set(root, count=5)
    with fixture.matrix.open("a", encoding="utf-8") as f:
        for seed in (1, 2):
            f.write(f'[baseline-seed{seed}]\ndescription = "seed {seed}"\nseed = {seed}\n\n')
    experiments = load_matrix("cpu", matrix_file=fixture.matrix, check_training_args=False)
    for exp in experiments:
        if exp.name.startswith("baseline-seed"):
            write_record(fixture.results / exp.name, build_record(exp, "complete"))
    for name, loss in LOSSES.items():
        update_record(fixture.results, name, set_loss(loss))
    out = root / "out"
    make_report(fixture.results, out, matrix=fixture.matrix, pdf=False, notebooks=False)
    return (out / "report.md").read_text(encoding="utf-8"), out


def row(md: str, name: str) -> str:
    return next(line for line in md.splitlines() if line.startswith(f"| {name} |"))


def test_summary_shows_the_band_and_each_experiment_against_it(report) -> None:
    md, _ = report
    assert "3.000 ± 0.0100" in md and "2.980 to 3.020" in md
    assert "(42, 1, 2)" in md  # the seeds, from the records
    assert "-0.100, below the band" in row(md, "adafactor")
    assert "+0.200, above the band" in row(md, "grad-accum-4")
    assert "+0.015, within the band" in row(md, "steps-half")
    for name in ("baseline", "baseline-seed1", "baseline-seed2"):
        assert "a seed of the band" in row(md, name)
    assert "better than the baseline beyond seed noise:\nadafactor" in md


def test_each_experiment_gets_a_conclusion(report) -> None:
    md, _ = report
    sections = re.split(r"\n### 4\.\d+ ", md)
    by_name = {s.split("\n", 1)[0].strip(): s for s in sections[1:]}
    assert "outside their noise band" in by_name["adafactor"] and "better" in by_name["adafactor"]
    assert "worse than the baseline beyond seed noise" in by_name["grad-accum-4"]
    assert "not told apart from a change of seed" in by_name["steps-half"]
    assert "one of the baseline's 3 seed runs" in by_name["baseline-seed1"]


def test_comparison_plots_shade_the_band(report) -> None:
    _, out = report
    overlay = (out / "figures" / "eval-loss.svg").read_text()
    assert "baseline seeds: mean ± 2 std" in overlay  # the band's legend entry
    assert "baseline-seed1" not in overlay  # members are drawn as the band, not one line each
    bars = (out / "figures" / "perplexity.svg").read_text()
    assert bars.count("<path") > 0 and "baseline-seed2" in bars
