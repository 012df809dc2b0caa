"""bench/same_records.py: run-to-run fields aside, records and weights compared exactly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, with_values


def experiment(results: Path, name: str, record: dict, weights: bytes = b"w") -> None:
    folder = results / name
    (folder / "model").mkdir(parents=True)
    (folder / "record.json").write_text(json.dumps(record))
    (folder / "model" / "model.safetensors").write_bytes(weights)


def record(results: Path, **changes) -> dict:
    base = {
        "name": "baseline",
        "environment": {"git_commit": "aaaa", "started_at": "2026-12-06T01:00:00"},
        "data": {"build_seconds": 11.2, "train_tokens": 5210407,
                 "tokenizer": {"path": f"{results.resolve().parent}/cache/tokenizer-1"}},
        "training": {"train_runtime_s": 37.8, "tokens_per_second": 21912.7,
                     "precision": {"how": "measured", "chosen": "bf16"},
                     "log_history": [{"loss": 5.06, "train_runtime": 41.7}]},
        "evaluation": {"eval_results": {"eval_loss": 5.53, "eval_samples_per_second": 106.1}},
    }  # fmt: skip
    return with_values(base, **changes)


def run(first: Path, second: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "bench/same_records.py", str(first), str(second)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_only_run_to_run_fields_differ_is_the_same(tmp_path):
    a, b = tmp_path / "a" / "results", tmp_path / "b" / "results"
    experiment(a, "baseline", record(a))
    later = record(
        b, environment__git_commit="bbbb", data__build_seconds=12.3,
        training__train_runtime_s=40.1, training__tokens_per_second=20000.0,
    )  # fmt: skip
    later["training"]["precision"]["how"] = "cached"
    later["training"]["log_history"][0]["train_runtime"] = 44.0
    later["evaluation"]["eval_results"]["eval_samples_per_second"] = 99.0
    experiment(b, "baseline", later)
    done = run(a, b)
    assert done.returncode == 0, done.stdout
    assert done.stdout.splitlines() == [
        "baseline: records equal, weights equal",
        "same experiments",
    ]


def test_a_metric_weights_or_a_missing_experiment_differ(tmp_path):
    a, b = tmp_path / "a" / "results", tmp_path / "b" / "results"
    experiment(a, "baseline", record(a))
    changed = record(b, data__train_tokens=5210408)
    changed["training"]["log_history"][0]["loss"] = 5.07
    experiment(b, "baseline", changed, weights=b"x")
    experiment(a, "lr-x4", record(a))
    done = run(a, b)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "baseline: records DIFFER, weights DIFFER",
        "  .data.train_tokens: '5210407' != '5210408'",
        "  .training.log_history[0].loss: '5.06' != '5.07'",
        "lr-x4: only in the first",
        "NOT the same",
    ]
