"""Issue 24: a record received from someone else that does not match the schema (types,
depth, size, a special file) is named in one line and left out; the other experiments still
list, run and render."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest

from pipeline.record import RECORD_FILE, RecordError, read_record
from report.outputs import make_report
from tests.fixtures.records import FixtureSet, write_fixture_set


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# Each damage rewrites results/baseline/record.json (given the parsed record and the path).
def _set(key: str, value: Any):
    def damage(record: dict, path: Path) -> None:
        record[key] = value
        path.write_text(json.dumps(record))

    return damage


def _text(make):
    def damage(record: dict, path: Path) -> None:
        path.write_text(make(record))

    return damage


def _log_entry(record: dict, path: Path) -> None:
    record["training"]["log_history"].append(5)
    path.write_text(json.dumps(record))


def _fifo(record: dict, path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _dev_zero(record: dict, path: Path) -> None:
    path.unlink()
    path.symlink_to("/dev/zero")


DAMAGES = {
    "nested 200,000 deep": _text(lambda r: json.dumps(r)[:-1] + f', "x": {nested(200_000)}}}'),
    "5,000-digit integer": _text(lambda r: json.dumps(r)[:-1] + f', "x": {"9" * 5000}}}'),
    "evaluation a list": _set("evaluation", ["eval_results"]),
    "training a string": _set("training", "abc"),
    "overrides a list": _set("overrides", ["a"]),
    "data a list": _set("data", [1, 2]),
    "log entry a number": _log_entry,
    "a FIFO": _fifo,
    "a link to /dev/zero": _dev_zero,
}


@pytest.fixture
def fixture(tmp_path: Path) -> FixtureSet:
    return write_fixture_set(tmp_path / "fixture", count=3)


def damaged(fixture: FixtureSet, name: str) -> Path:
    path = fixture.results / "baseline" / RECORD_FILE
    DAMAGES[name](json.loads(path.read_text()), path)
    return path


@pytest.mark.parametrize("name", list(DAMAGES))
def test_a_bad_received_record_is_one_line_and_the_others_still_list(
    fixture: FixtureSet, name: str, capsys
) -> None:
    from pipeline.__main__ import main

    argv = ["--profile", "cpu", "--results", str(fixture.results), "--matrix", str(fixture.matrix)]

    def states() -> dict[str, bool]:
        assert main([*argv, "list"]) == 0
        return {x.split()[0]: "up to date" in x for x in capsys.readouterr().out.splitlines()}

    before = states()
    assert before["baseline"] is True
    path = damaged(fixture, name)
    with pytest.raises(RecordError) as refused:
        read_record(path)
    assert "\n" not in str(refused.value) and str(path) in str(refused.value)
    assert states() == {**before, "baseline": False}  # to run again; the others as they were


# read_record refuses every damage above (the test before); the report needs only one of each
# kind: a parse, a type and a special file
@pytest.mark.parametrize("name", ["nested 200,000 deep", "evaluation a list", "a FIFO"])
def test_a_bad_received_record_is_left_out_of_the_report(
    fixture: FixtureSet, name: str, tmp_path: Path
) -> None:
    from report.load import default_profile

    damaged(fixture, name)
    assert default_profile(fixture.results) == "cpu"  # read past the bad one, without hanging
    out = tmp_path / "build"
    outputs, _ = make_report(
        fixture.results, out, matrix=fixture.matrix, pdf=False, notebooks=False
    )
    html = (out / "report.html").read_text()
    assert "record.json" in html  # the bad record is named (its state: invalid)
    assert fixture.names[1] in html and out / "report.md" in outputs


def test_a_huge_eval_loss_and_a_bad_weights_header_still_render(
    fixture: FixtureSet, tmp_path: Path
) -> None:
    """Values of the right type that are still out of the ordinary: exp(1e308) overflows,
    data_offsets [0, "x"] is no number."""
    from pipeline.config import load_matrix
    from pipeline.record import write_record
    from pipeline.weights import weights_problem
    from tests.fixtures.records import build_record, update_record

    with fixture.matrix.open("a", encoding="utf-8") as f:  # a seed band of huge losses
        f.write("".join(f"[baseline-seed{s}]\nseed = {s}\n\n" for s in (1, 2)))
    for exp in load_matrix("cpu", matrix_file=fixture.matrix, check_training_args=False):
        if exp.name.startswith("baseline-seed"):
            write_record(fixture.results / exp.name, build_record(exp, "complete"))

    def huge(record: dict) -> None:
        record["evaluation"]["eval_results"]["eval_loss"] = 1e308
        for entry in record["training"]["log_history"]:
            if "eval_loss" in entry:
                entry["eval_loss"] = 1e308

    for name in ("baseline", "baseline-seed1", "baseline-seed2"):
        update_record(fixture.results, name, huge)
    other = next(n for n in fixture.names[1:] if (fixture.results / n / "model").is_dir())
    weights = fixture.results / other / "model" / "model.safetensors"
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, "x"]}}).encode()
    weights.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
    assert "corrupt header" in weights_problem(weights.parent)
    out = tmp_path / "build"
    _, warnings = make_report(fixture.results, out, matrix=fixture.matrix, pdf=False)
    assert any("corrupt header" in w for w in warnings)
    assert (out / "report.html").exists()
    assert (fixture.results / "baseline" / "experiment.ipynb").exists()


def test_a_failed_forced_rerun_keeps_the_kept_runs_curve(tmp_path: Path) -> None:
    """The complete record is kept as record.previous.json when a rerun fails: its TensorBoard
    runs/ is kept with it (the rerun used to delete it), and comes back when it is restored."""
    from pipeline.experiment import finish
    from pipeline.runner import run_matrix
    from pipeline.tensorboard_logs import runs_folder
    from tests.test_keep_work import complete_run, experiment

    results = tmp_path / "results"
    good = experiment(tmp_path)
    complete_run(results, good)
    folder = results / "x"
    (folder / "runs").mkdir()
    (folder / "runs" / "events.out.tfevents.1").write_text("the kept curve")
    runs = runs_folder({"logging": {"tensorboard": True}}, folder, resumed=False)  # --force
    runs.mkdir()
    (runs / "events.out.tfevents.2").write_text("the failed rerun's curve")
    failed = read_record(folder / RECORD_FILE) | {"status": "failed", "error": "RuntimeError: x"}
    failed["environment"]["ended_at"] = None
    finish(failed, folder)
    assert (folder / "record.previous.json").exists()
    assert (folder / "runs.previous" / "events.out.tfevents.1").read_text() == "the kept curve"
    run_matrix([good], results, tmp_path / "cache")  # the config is the kept one's: restored
    assert read_record(folder / RECORD_FILE)["status"] == "complete"
    assert [p.name for p in (folder / "runs").iterdir()] == ["events.out.tfevents.1"]
