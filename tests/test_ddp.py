"""torchrun with 2 processes (gloo on CPU): one experiment under DDP, one record from rank 0."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_torchrun_two_processes_write_one_record(tmp_path):
    torchrun = Path(sys.executable).parent / "torchrun"
    if not torchrun.exists():
        torchrun = shutil.which("torchrun")
    (tmp_path / "matrix.toml").write_text('[ddp]\ndescription = "two CPU processes"\n')
    cmd = [
        str(torchrun), "--nproc_per_node", "2", "--master_port", "29533", "-m", "pipeline",
        "--profile", "micro", "--matrix", str(tmp_path / "matrix.toml"),
        "--results", str(tmp_path / "results"), "--cache", str(tmp_path / "cache"), "run",
    ]  # fmt: skip
    env = {
        "PATH": "/usr/bin:/bin",
        "HF_HUB_OFFLINE": "1",
        "HOME": str(tmp_path),
        "OMP_NUM_THREADS": "1",
    }
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    rec = json.loads((tmp_path / "results" / "ddp" / "record.json").read_text())
    assert rec["status"] == "complete"
    training = rec["training"]
    assert training["world_size"] == 2
    cfg = rec["config"]["training"]
    # Each optimizer step sees a micro-batch from each of the two processes.
    assert training["tokens_per_step"] == 2 * cfg["per_device_train_batch_size"] * 128
    assert out.stdout.count("step-0 loss") == 1  # one summary, from rank 0
    assert len(list((tmp_path / "results" / "ddp").glob("record.json"))) == 1
    assert (tmp_path / "results" / "ddp" / "model" / "model.safetensors").exists()
