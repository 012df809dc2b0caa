"""The report judges every experiment against the baseline's 95 % seed interval on bits per byte
(issues 12 and 20)."""

from __future__ import annotations

import math
import random
import re
import statistics
from pathlib import Path

import pytest

from pipeline.config import load_matrix
from pipeline.record import write_record
from report.band import prediction_interval, t_quantile
from report.outputs import make_report
from tests.fixtures.records import build_record, update_record, write_fixture_set

# Bits per byte of the baseline and its two seed replicas: mean 1.000, sample standard deviation
# 0.010; t(0.975, 2) = 4.3027 (a table's value), so the interval is
# 1.000 ± 4.3027 · 0.010 · √(4/3) = 1.000 ± 0.0497: 0.9503 to 1.0497.
BPB = {"baseline": 1.000, "baseline-seed1": 1.010, "baseline-seed2": 0.990,
       "adafactor": 0.900, "grad-accum-4": 1.100, "steps-half": 1.030}  # fmt: skip
BYTES_PER_TOKEN = 3.1


def set_bpb(bpb: float):
    def change(record: dict) -> None:
        loss = bpb * math.log(2) * BYTES_PER_TOKEN
        record["evaluation"]["eval_results"]["eval_loss"] = loss
        record["evaluation"]["perplexity"] = math.exp(loss)
        record["evaluation"]["bits_per_byte"] = bpb
        last_eval = [e for e in record["training"]["log_history"] if "eval_loss" in e][-1]
        last_eval["eval_loss"] = loss

    return change


def build(root: Path, other_text: str | None = None) -> tuple[str, Path]:
    fixture = write_fixture_set(root, count=5)
    with fixture.matrix.open("a", encoding="utf-8") as f:
        for seed in (1, 2):
            f.write(f'[baseline-seed{seed}]\ndescription = "seed {seed}"\nseed = {seed}\n\n')
    experiments = load_matrix("cpu", matrix_file=fixture.matrix, check_training_args=False)
    for exp in experiments:
        if exp.name.startswith("baseline-seed"):
            write_record(fixture.results / exp.name, build_record(exp, "complete"))
    for name, bpb in BPB.items():
        update_record(fixture.results, name, set_bpb(bpb))
    if other_text:  # evaluated on fewer blocks than the baseline: other text
        update_record(fixture.results, other_text, lambda r: r["evaluation"].update(eval_blocks=7))
    out = root / "out"
    make_report(fixture.results, out, matrix=fixture.matrix, pdf=False, notebooks=False)
    return (out / "report.md").read_text(encoding="utf-8"), out


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[str, Path]:
    return build(tmp_path_factory.mktemp("band"))


def row(md: str, name: str) -> str:
    return next(line for line in md.splitlines() if line.startswith(f"| {name} |"))


def test_t_quantiles_match_the_tables() -> None:
    for df, t in ((1, 12.7062), (2, 4.3027), (4, 2.7764), (10, 2.2281), (29, 2.0452)):
        assert t_quantile(0.975, df) == pytest.approx(t, abs=1e-4)


def test_the_interval_holds_95_percent_of_seed_noise_by_simulation() -> None:
    """n seed runs, then one more run of the same recipe: it falls outside the interval 5 % of
    the time (the false-positive rate of a verdict). Mean ± 2 standard deviations, the old band,
    misses about 22 % at n = 3."""
    rng = random.Random(20)
    trials = 20_000
    for n in (3, 5):
        outside = outside_2sd = 0
        for _ in range(trials):
            seeds = [rng.gauss(0, 1) for _ in range(n)]
            new = rng.gauss(0, 1)
            mean, half = prediction_interval(seeds)
            outside += abs(new - mean) > half
            outside_2sd += abs(new - mean) > 2 * statistics.stdev(seeds)
        assert outside / trials == pytest.approx(0.05, abs=0.008), n
        if n == 3:
            assert outside_2sd / trials == pytest.approx(0.225, abs=0.015)


def test_summary_shows_the_interval_and_each_experiment_against_it(report) -> None:
    md, _ = report
    assert "1.0000 ± 0.0497" in md and "0.9503 to 1.0497" in md
    assert "t = 4.30 for n − 1 = 2 degrees of freedom" in md
    assert "rests on 3 seeds" in md and "more seed runs narrow it" in md
    assert "(42, 1, 2)" in md  # the seeds, from the records
    assert "-0.100: better, beyond seed noise" in row(md, "adafactor")
    assert "+0.100: worse, beyond seed noise" in row(md, "grad-accum-4")
    # outside mean ± 2 s (0.980-1.020) but inside the 95 % interval: seed noise
    assert "+0.030: inside: seed noise" in row(md, "steps-half")
    for name in ("baseline", "baseline-seed1", "baseline-seed2"):
        assert "a seed of the interval" in row(md, name)
    assert "better than the baseline beyond seed noise:\nadafactor" in md


def test_the_best_run_counts_the_seed_runs(report) -> None:
    md, _ = report
    assert "The lowest bits per byte is **adafactor**'s: 0.900" in md


def test_each_experiment_gets_a_conclusion(report) -> None:
    md, _ = report
    sections = re.split(r"\n### 4\.\d+ ", md)
    by_name = {s.split("\n", 1)[0].strip(): s for s in sections[1:]}
    assert "outside their 95 %" in by_name["adafactor"] and "better" in by_name["adafactor"]
    assert "worse than the baseline beyond seed noise" in by_name["grad-accum-4"]
    assert "not told apart from a change of\nseed" in by_name["steps-half"]
    assert "one of the baseline's 3 seed runs" in by_name["baseline-seed1"]


def test_a_run_on_other_text_gets_no_verdict(tmp_path) -> None:
    md, _ = build(tmp_path, other_text="adafactor")
    assert "no verdict: evaluated on other text" in row(md, "adafactor")
    assert "better than the baseline beyond seed noise" not in md


def test_comparison_plots_shade_the_interval(report) -> None:
    _, out = report
    overlay = (out / "figures" / "eval-loss.svg").read_text()
    assert "baseline seeds: 95 % interval" in overlay  # the band's legend entry
    assert "eval bits per byte" in overlay
    assert "baseline-seed1" not in overlay  # members are drawn as the band, not one line each
    bars = (out / "figures" / "bits-per-byte.svg").read_text()
    assert bars.count("<path") > 0 and "baseline-seed2" in bars
