"""bench/throughput.py end to end on the micro profile: every recipe runs and is reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_throughput_bench_runs_each_recipe_and_writes_ratios(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    cmd = [sys.executable, "bench/throughput.py", "--profile", "micro", "--steps", "4",
           "--warmup", "1", "--course-steps", "3", "--repeat", "2", "--also", "speed.bf16=false",
           "--also", "model.resid_pdrop=0.0", "training.per_device_train_batch_size=4",
           "--json", str(out)]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    names = [r["name"] for r in result["runs"]]
    assert names == [
        "course recipe",
        "project (micro profile)",
        "project + speed.bf16=false",
        "project + model.resid_pdrop=0.0; training.per_device_train_batch_size=4",
    ]
    course, *others = result["runs"]
    assert course["batch"] == 256 and course["speed"]["attn_implementation"] == "eager"
    assert others[0]["batch"] == 8 and others[1]["speed"]["bf16"] is False
    assert others[2]["batch"] == 4
    for run in others:
        assert run["tokens_per_second"] > 0
        assert run["ratio_to_course"] == run["tokens_per_second"] / course["tokens_per_second"]
    assert "ratio project (micro profile) / course recipe" in done.stdout
    # two interleaved rounds of each, the median reported
    assert all(len(run["rounds"]) == 2 for run in result["runs"])
    if result["device"].startswith("CPU"):  # bf16 = "auto": both timed, the faster trained
        precision = others[0]["precision"]
        assert precision["how"] in ("measured", "cached") and precision["setting"] == "auto"
        faster = precision["bf16_tokens_per_second"] > precision["float32_tokens_per_second"]
        assert others[0]["speed"]["bf16"] is faster
        assert 'bf16 = "auto" timed bf16' in done.stdout


def test_bad_change_is_one_clear_line() -> None:
    done = subprocess.run(
        [sys.executable, "bench/throughput.py", "--profile", "micro", "--also", "steps=3"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "write training.KEY=VALUE" in done.stderr.strip().splitlines()[-1]
