"""Issue 13: never lose finished work. A fixed config finds its record again, half-written
checkpoints and weights never look complete, records are readable by others, Ctrl-C is one
line. No training here: records and weights folders are written by hand."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from pipeline.config import load_matrix
from pipeline.experiment import finish
from pipeline.record import RECORD_FILE, read_record, write_record
from pipeline.runner import is_current, run_matrix
from pipeline.weights import last_checkpoint, weights_folder, weights_problem
from tests.fixtures.records import write_weights
from tests.test_record import minimal


def experiment(tmp: Path, body: str = ""):
    (tmp / "m.toml").write_text(f"[x]\n{body}\n")
    return load_matrix("micro", matrix_file=tmp / "m.toml", check_training_args=False)[0]


def complete_run(results: Path, exp) -> dict:
    record = minimal(name=exp.name, config_hash=exp.config_hash, weights=f"{exp.name}/model")
    write_record(results / exp.name, record)
    write_weights(results / exp.name / "model", exp.config_hash)
    return record


def test_fixed_config_finds_its_complete_record_again(tmp_path: Path) -> None:
    results = tmp_path / "results"
    good = experiment(tmp_path)
    complete_run(results, good)
    typo = experiment(tmp_path, "training.learning_rate = 1e9")
    failed = minimal("failed", name="x", config_hash=typo.config_hash, error="RuntimeError: x")
    failed["environment"]["ended_at"] = None
    finish(failed, results / "x")  # the complete record moves to record.previous.json
    assert not is_current(typo, results)
    assert is_current(good, results)  # `list` says up to date, not "to run"
    rows = run_matrix([good], results, tmp_path / "cache")  # restores, trains nothing
    assert rows[0]["status"] == "complete"
    assert read_record(results / "x" / RECORD_FILE)["config_hash"] == good.config_hash


def test_previous_record_is_not_restored_when_its_weights_were_replaced(tmp_path: Path) -> None:
    results = tmp_path / "results"
    good = experiment(tmp_path)
    complete_run(results, good)
    shutil.move(results / "x" / RECORD_FILE, results / "x" / "record.previous.json")
    write_weights(results / "x" / "model", "another-config")
    assert not is_current(good, results)


@pytest.mark.parametrize("damage", ["truncate", "delete", "garbage", "no-config"])
def test_missing_or_corrupt_weights_are_not_current(tmp_path: Path, damage: str) -> None:
    results = tmp_path / "results"
    exp = experiment(tmp_path)
    complete_run(results, exp)
    assert is_current(exp, results)
    weights = results / "x" / "model" / "model.safetensors"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:-3])
    elif damage == "delete":
        weights.unlink()
    elif damage == "garbage":
        weights.write_bytes(b"\xff" * 64)
    else:
        (weights.parent / "config.json").unlink()
    assert not is_current(exp, results)
    assert weights_problem(weights.parent) is not None


def test_weights_path_is_relative_to_the_results_folder(tmp_path: Path) -> None:
    exp = experiment(tmp_path)
    complete_run(tmp_path / "results", exp)
    moved = tmp_path / "elsewhere" / "results"
    shutil.copytree(tmp_path / "results", moved)
    shutil.rmtree(tmp_path / "results")
    assert is_current(exp, moved)
    # an older record names the folder relative to the project root: still found
    assert weights_folder({"weights": "results/x/model"}, moved) == moved / "x" / "model"


def checkpoint(folder: Path, step: int, whole: bool) -> Path:
    ckpt = write_weights(folder / f"checkpoint-{step}")
    if whole:
        (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    else:  # killed during the save: the weights cut short, no trainer state yet
        data = (ckpt / "model.safetensors").read_bytes()
        (ckpt / "model.safetensors").write_bytes(data[:-4])
    return ckpt


def test_half_written_checkpoint_is_removed_and_the_whole_one_resumes(tmp_path: Path) -> None:
    ckpt = tmp_path / "checkpoints"
    ckpt.mkdir()
    (ckpt / "identity.json").write_text(json.dumps({"config_hash": "h"}))
    whole = checkpoint(ckpt, 3, whole=True)
    partial = checkpoint(ckpt, 6, whole=False)
    assert last_checkpoint(ckpt, "h")
    assert whole.exists() and not partial.exists()  # the Trainer resumes from the newest
    shutil.rmtree(whole)
    checkpoint(ckpt, 9, whole=False)
    assert not last_checkpoint(ckpt, "h")  # nothing whole: start over, not fail


def test_records_are_readable_by_others(tmp_path: Path) -> None:
    path = write_record(tmp_path, minimal())
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_ctrl_c_is_one_line_saying_the_run_can_resume(tmp_path: Path, monkeypatch, capsys) -> None:
    import pipeline.runner
    from pipeline.__main__ import main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline.runner, "run_matrix", interrupted)
    (tmp_path / "m.toml").write_text("[x]\n")
    code = main(["--profile", "micro", "--matrix", str(tmp_path / "m.toml"),
                 "--results", str(tmp_path / "r"), "run"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 130 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "resumes" in err
