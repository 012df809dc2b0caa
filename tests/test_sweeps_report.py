"""Issue 23: the report groups a sweep's experiments and plots the loss against the values
(main effects for a grid), with the seed interval drawn."""

from pathlib import Path

import pytest

from pipeline.record import write_record
from report.outputs import make_report
from report.sweeps import effects, seed_interval
from tests.fixtures.records import _load_light, build_record, write_weights

LR, OPT = "training.learning_rate", "training.optim"


def test_main_effects_average_over_the_other_key():
    runs = [
        ({LR: 1e-3, OPT: "adamw_torch"}, 2.0),
        ({LR: 1e-3, OPT: "adafactor"}, 2.2),
        ({LR: 1e-2, OPT: "adamw_torch"}, 1.8),
        ({LR: 1e-2, OPT: "adafactor"}, 2.4),
    ]
    lr, opt = effects(runs, [LR, OPT])
    assert [(t, m, n) for t, _, m, n in lr.points] == [
        ("0.001", pytest.approx(2.1), 2),
        ("0.01", pytest.approx(2.1), 2),
    ]
    assert lr.log  # 0.001 to 0.01: a decade, a log axis
    assert [(t, x, m) for t, x, m, _ in opt.points] == [
        ("adamw_torch", None, pytest.approx(1.9)),
        ("adafactor", None, pytest.approx(2.3)),
    ]


def test_a_failed_member_is_left_out_of_its_mean():
    (lr,) = effects([({LR: 1e-3}, 2.0), ({LR: 1e-3}, None), ({LR: 3e-3}, float("nan"))], [LR])
    assert [(t, m, n) for t, _, m, n in lr.points] == [("0.001", 2.0, 1)]


def test_seed_interval_pools_the_sweeps_own_seeds():
    # cells (lr 1e-3: 2.0, 2.2) and (lr 1e-2: 1.8, 1.8): variances 0.02 and 0, pooled 0.01 on
    # 2 degrees of freedom, s = 0.1; one more run of a cell of 2: t(0.975, 2) = 4.30265 times
    # s times sqrt(1 + 1/2)
    runs = [
        ({LR: 1e-3, "seed": 1}, 2.0),
        ({LR: 1e-3, "seed": 2}, 2.2),
        ({LR: 1e-2, "seed": 1}, 1.8),
        ({LR: 1e-2, "seed": 2}, 1.8),
    ]
    half, source, seeds = seed_interval(runs, [LR, "seed"], None)
    assert half == pytest.approx(4.30265 * 0.1 * 1.5**0.5, rel=1e-5)
    assert source == "sweep" and seeds == 2
    assert seed_interval(runs[:1], [LR], None) == (None, "", 0)


MATRIX = """
[baseline]
[baseline-seed1]
seed = 1
[grid]
training.learning_rate = [1e-3, 1e-2]
training.optim = ["adamw_torch", "adafactor"]
"""
LOSSES = {
    "grid-learning_rate-0.001-optim-adamw_torch": 2.0,
    "grid-learning_rate-0.001-optim-adafactor": 2.2,
    "grid-learning_rate-0.01-optim-adamw_torch": 1.8,
    "grid-learning_rate-0.01-optim-adafactor": 2.4,
}


BPB = {name: round(loss * 0.5, 4) for name, loss in LOSSES.items()}  # the sweep's unit


def test_report_has_a_sweep_section_with_its_figure_and_table(tmp_path: Path):
    matrix = tmp_path / "matrix.toml"
    matrix.write_text(MATRIX)
    results = tmp_path / "results"
    for exp in _load_light(matrix, "cpu"):
        record = build_record(exp, "complete")
        if exp.name in LOSSES:
            record["evaluation"]["eval_results"]["eval_loss"] = LOSSES[exp.name]
            record["evaluation"]["bits_per_byte"] = BPB[exp.name]
        write_record(results / exp.name, record)
        write_weights(results / record["weights"], exp.config_hash)
    out = tmp_path / "build"
    make_report(results, out, matrix=matrix, pdf=False, notebooks=False)
    md = (out / "report.md").read_text()
    section = md[md.index("## Sweeps") :]
    assert "### grid" in section and "![bits per byte against the swept values of grid]" in section
    assert '| grid-learning_rate-0.01-optim-adafactor | 0.01 | "adafactor" | 1.2000 |' in section
    assert "prediction interval of the baseline's\n2 seed runs" in section  # its two seeds
    svg = (out / "figures" / "sweep-grid.svg").read_text()
    assert "training.learning_rate" in svg and "training.optim" in svg and "adafactor" in svg
    html = (out / "report.html").read_text()
    assert '<section id="sweeps">' in html
