"""[hub] push and [logging] tensorboard: refused up front when wrong, and a push that cannot
reach the Hub is one line that leaves the local folder and the record as they were."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import config_hash, load_matrix, merge
from pipeline.hub import check_config, push_experiment, repo_for
from pipeline.record import read_record, write_record
from pipeline.rules import check_rules
from tests.conftest import ROOT
from tests.test_record import minimal

CLOSED_PORT = "http://127.0.0.1:9"  # the discard port: nothing listens, refused at once


def hub(**values) -> dict:
    return {"hub": {"push": False, "repo_id": "", "private": True, **values}}


def hub_problems(name: str = "name", **values) -> list[str]:
    cfg = merge(load_matrix("micro", check_training_args=False)[0].config, hub(**values))
    return check_rules(cfg) + check_config(cfg, name)


def test_hub_values_are_checked(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    assert hub_problems() == []  # off: nothing else is asked
    assert hub_problems(push=True, repo_id="user/model") == []
    assert hub_problems("lr-x4", push=True, repo_id="user/codegen-{name}") == []
    assert repo_for({"repo_id": "user/codegen-{name}"}, "lr-x4") == "user/codegen-lr-x4"
    (bad_bool,) = hub_problems(push="false")
    assert bad_bool.startswith("hub.push must be true or false")
    for repo in ("", "model", "user/", "a/b/c", "user/na me", "user/a..b"):
        (problem,) = hub_problems(push=True, repo_id=repo)  # once, not again per experiment
        assert "is not a Hub repo id like" in problem, repo
    (problem,) = hub_problems("na me", push=True, repo_id="user/{name}")  # only with the name
    assert "is not a Hub repo id like" in problem
    (problem,) = hub_problems(repo_id=5)
    assert problem == "hub.repo_id must be a string, got 5"
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr("pipeline.hub.token", lambda: None)
    (problem,) = hub_problems(push=True, repo_id="user/model")
    assert "no Hugging Face token is set" in problem


def test_hub_and_logging_are_not_part_of_the_identity():
    cfg = load_matrix("micro", check_training_args=False)[0].config
    assert {"hub", "logging"} <= set(cfg)
    pushed = merge(cfg, hub(push=True, repo_id="user/x") | {"logging": {"tensorboard": False}})
    assert config_hash(pushed) == config_hash(cfg)
    # a config from before these sections existed hashes as it did
    older = {k: v for k, v in cfg.items() if k not in ("hub", "logging")}
    assert config_hash(older) == config_hash(cfg)


def test_bad_hub_and_logging_values_stop_before_any_work(tmp_path):
    """Every problem at once, one line each, exit code 2 (as any config error)."""
    (tmp_path / "matrix.toml").write_text(
        "[a]\nhub.push = true\n"  # no repo id
        '[b]\nhub = {push = true, repo_id = "user/b"}\n'  # no token in this environment
        '[c]\nhub.push = "yes"\n'
        '[d]\nlogging.tensorboard = "false"\n'
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "HF_HOME": str(tmp_path / "hf")}
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "--profile", "micro", "--results", str(tmp_path / "r"),
         "--matrix", str(tmp_path / "matrix.toml"), "run"],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert "experiment 'a': hub.push is true but hub.repo_id '' is not a Hub repo id" in lines[0]
    assert "experiment 'b': hub.push is true but no Hugging Face token is set" in lines[1]
    assert "experiment 'c': hub.push must be true or false" in lines[2]
    assert "experiment 'd': logging.tensorboard must be true or false" in lines[3]
    assert not (tmp_path / "r" / "a").exists()  # nothing ran


def folder_digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_push_without_network_is_one_line_and_keeps_the_folder(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "gpt2"}\n')
    (model / "README.md").write_text("---\nlicense: other\n---\n# card\n")
    before = folder_digest(model)
    env = {**os.environ, "HF_ENDPOINT": CLOSED_PORT, "HF_TOKEN": "hf_test", "HOME": str(tmp_path)}
    env.pop("HF_HUB_OFFLINE", None)
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.hub", str(model), "user/model"],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr  # one line, no traceback
    assert done.stderr.startswith(
        f"error: push to user/model failed: cannot reach the Hub at {CLOSED_PORT} (ConnectError"
    )
    assert folder_digest(model) == before


def test_a_failed_push_is_noted_in_the_record_and_the_experiment_stays_complete(
    tmp_path, monkeypatch, capsys
):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", CLOSED_PORT)  # HfApi's default endpoint
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    (tmp_path / "x" / "model").mkdir(parents=True)
    (tmp_path / "x" / "model" / "config.json").write_text("{}\n")
    record = minimal(weights="x/model", config=hub(push=True, repo_id="user/codegen-{name}"))
    write_record(tmp_path / "x", record)
    out = push_experiment(record, tmp_path, write_record)
    assert out["status"] == "complete"
    assert out["hub"]["repo_id"] == "user/codegen-x" and out["hub"]["pushed"] is False
    assert out["hub"]["error"].startswith(f"cannot reach the Hub at {CLOSED_PORT}")
    assert read_record(tmp_path / "x" / "record.json")["hub"] == out["hub"]  # written again
    (line,) = [x for x in capsys.readouterr().out.splitlines() if "hub: push to" in x]
    assert "python -m pipeline.hub" in line  # how to push it later
    # off, or not complete: nothing is pushed and the record is left alone
    assert "hub" not in push_experiment(minimal(config=hub()), tmp_path, write_record)
    failed = minimal("failed", config=hub(push=True, repo_id="user/x"))
    assert "hub" not in push_experiment(failed, tmp_path, write_record)


@pytest.mark.parametrize("value", [True, False])
def test_tensorboard_switch_sets_report_to(value, tmp_path):
    from pipeline.tensorboard_logs import runs_folder
    from pipeline.train import training_arguments

    cfg = {"logging": {"tensorboard": value}}
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "events.out.tfevents.old").write_text("")
    runs = runs_folder(cfg, tmp_path, resumed=False)
    assert not (tmp_path / "runs").exists()  # a fresh run does not draw over the old curve
    assert runs == (tmp_path / "runs" if value else None)
    speed = {"device": "cpu", "bf16": False, "fp16": False, "tf32": False, "torch_compile": False,
             "dataloader_num_workers": 0}  # fmt: skip
    args = training_arguments({"max_steps": 1}, speed, tmp_path / "ckpt", 0, runs is not None)
    assert args.report_to == (["tensorboard"] if value else [])


class _StubApi:
    """HfApi as the Hub answers a push that went through: upload_folder returns a CommitInfo
    (an object with `oid`). Records every call; touches no network."""

    calls: list[tuple[str, str]] = []

    def create_repo(self, repo_id, private=True, exist_ok=False):
        self.calls.append(("create_repo", repo_id))

    def upload_folder(self, repo_id, folder_path, commit_message=""):
        self.calls.append(("upload_folder", repo_id))
        return type("CommitInfo", (), {"oid": "0123abcd" * 5})()


def test_a_successful_push_is_recorded_and_the_matrix_goes_on(tmp_path, monkeypatch):
    """Issue 24: the pushed entry carried `commit`, the schema lacked it, write_record raised
    outside the experiment's try and the next experiment never ran."""
    import huggingface_hub

    import pipeline.experiment
    from pipeline.runner import run_matrix
    from tests.fixtures.records import write_weights

    monkeypatch.setenv("HF_TOKEN", "hf_test")
    monkeypatch.setattr(huggingface_hub, "HfApi", _StubApi)
    monkeypatch.setattr(_StubApi, "calls", [])
    (tmp_path / "m.toml").write_text(
        '[a]\nhub = {push = true, repo_id = "user/codegen-{name}"}\n'
        '[b]\nhub = {push = true, repo_id = "user/codegen-{name}"}\n'
    )
    experiments = load_matrix("micro", matrix_file=tmp_path / "m.toml", check_training_args=False)
    results = tmp_path / "results"

    def trained(exp, record, results, cache, eta=None):  # the stages' outcome, without training
        done = minimal(name=exp.name, config_hash=exp.config_hash, weights=f"{exp.name}/model")
        record.update({k: v for k, v in done.items() if k not in ("config", "environment")})
        write_weights(results / exp.name / "model", exp.config_hash)
        return True

    monkeypatch.setattr(pipeline.experiment, "_run", trained)
    rows = run_matrix(experiments, results, tmp_path / "cache")
    assert [(r["name"], r["status"]) for r in rows] == [("a", "complete"), ("b", "complete")]
    assert _StubApi.calls == [
        ("create_repo", "user/codegen-a"), ("upload_folder", "user/codegen-a"),
        ("create_repo", "user/codegen-b"), ("upload_folder", "user/codegen-b"),
    ]  # fmt: skip
    for name in ("a", "b"):
        entry = read_record(results / name / "record.json")["hub"]
        assert entry == {
            "repo_id": f"user/codegen-{name}", "pushed": True, "error": None,
            "url": f"https://huggingface.co/user/codegen-{name}", "commit": "0123abcd" * 5,
        }  # fmt: skip
