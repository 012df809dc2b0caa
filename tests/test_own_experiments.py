"""Issue 23: your own code in one step (--set / DATA=), sweeps, folders per matrix, the
[training] keys the project manages, and a model card that names the corpus actually used."""

import os
import re
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_matrix, parse_sets, select
from pipeline.corpus import build_corpus
from pipeline.model_card import corpus_phrase
from pipeline.run_folders import folder_tag, output_folders, report_folder, results_folder
from tests.conftest import ROOT


def code_file(i: int) -> str:
    return f"import os\n\n\ndef helper_{i}(path):\n    return os.path.join(path, '{i}')\n"


def own_folder(tmp_path: Path, n: int = 6, duplicate: bool = True) -> Path:
    """n distinct .py files (none with the codeparrot keywords) and one copy of the first."""
    root = tmp_path / "mycode"  # a fixed name: the split hashes "<folder name>/<file path>"
    (root / "pkg").mkdir(parents=True)
    for i in range(n):
        (root / "pkg" / f"mod_{i}.py").write_text(code_file(i))
    if duplicate:
        (root / "copy_of_0.py").write_text(code_file(0))
    return root


def matrix(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "my.toml"
    path.write_text(text)
    return path


def data_sets(root: Path, *more: str) -> dict:
    return parse_sets(["data.source=path", f"data.path={root}", *more])


# ---- --set ----


def test_set_reads_toml_values_and_bare_paths():
    sets = parse_sets(
        ["training.learning_rate=1e-3", "seed=3", "data.path=~/my code/src", "x.flag=true",
         'data.keywords=["numpy"]', "training.optim=adafactor"]
    )  # fmt: skip
    assert sets == {
        "training": {"learning_rate": 1e-3, "optim": "adafactor"},
        "seed": 3,
        "data": {"path": "~/my code/src", "keywords": ["numpy"]},
        "x": {"flag": True},
    }
    for bad in ("no-equals", "=1", "a..b=1"):
        with pytest.raises(ConfigError, match="KEY=VALUE"):
            parse_sets([bad])


def test_set_applies_to_every_experiment_but_is_no_override(tmp_path):
    exps = load_matrix("cpu", check_training_args=False, sets=parse_sets(["training.max_steps=7"]))
    assert {e.config["training"]["max_steps"] for e in exps} == {7}
    assert exps[0].overrides == {}  # the baseline stays the baseline
    assert select(exps, "lr-x4").overrides == {"training.learning_rate": 1.2e-2}
    with pytest.raises(ConfigError, match=r"--set: unknown key 'training\.nope\.x'"):
        load_matrix("cpu", check_training_args=False, sets=parse_sets(["training.nope.x=1"]))


# ---- the keyword filter and the folder's problems, before any work ----


def test_keyword_filter_is_off_for_a_path_source_unless_named(tmp_path):
    root = own_folder(tmp_path)
    cfg = load_matrix("cpu", check_training_args=False, sets=data_sets(root))[0].config
    assert cfg["data"]["keywords"] == []
    installed = load_matrix("cpu", check_training_args=False)[0].config
    assert installed["data"]["keywords"] == ["pandas", "sklearn", "matplotlib", "seaborn"]
    named = data_sets(root, 'data.keywords=["helper_1"]')
    cfg = load_matrix("cpu", check_training_args=False, sets=named)[0].config
    assert cfg["data"]["keywords"] == ["helper_1"]


def test_every_problem_of_a_small_folder_is_reported_at_once(tmp_path):
    # 7 files, one a copy: 6 after dedup. A tiny valid_fraction hashes none of them to valid,
    # so the split moves the one nearest the cut: 1 valid, 5 train.
    root = own_folder(tmp_path)
    sets = data_sets(
        root, "data.valid_fraction=0.0001", "data.valid_subset=3", "data.train_subset=10"
    )
    with pytest.raises(ConfigError) as e:
        load_matrix("cpu", matrix_file=matrix(tmp_path, "[baseline]\n"), sets=sets)
    lines = str(e.value).splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("experiment 'baseline': data.valid_subset = 3 but data.path")
    assert "gives 1 valid files (7 of 7 files pass the filters, 1 duplicates removed" in lines[0]
    assert "lower it to 1 or raise data.valid_fraction, or set 0" in lines[0]
    assert "data.train_subset = 10 but" in lines[1] and "gives 5 train files" in lines[1]
    # the corpus stage itself agrees with those counts
    data = select(
        load_matrix("cpu", check_training_args=False, sets=data_sets(root, "data.valid_fraction=0.0001")),
        "baseline",
    ).config["data"]  # fmt: skip
    _, stats = build_corpus(data, tmp_path / "cache", seed=data["subset_seed"])
    assert (stats["train_files"], stats["valid_files"]) == (5, 1)


def test_a_folder_the_filters_empty_says_which_filter(tmp_path):
    root = own_folder(tmp_path, n=4, duplicate=False)
    sets = data_sets(root, 'data.keywords=["pandas"]')
    with pytest.raises(ConfigError) as e:
        load_matrix("cpu", matrix_file=matrix(tmp_path, "[a]\n[b]\nseed = 2\n"), sets=sets)
    lines = str(e.value).splitlines()
    assert len(lines) == 2  # one line per experiment, the folder screened once
    assert "all 4 files are dropped by the filters (keywords 4): set data.keywords = []" in lines[0]


def test_a_jsonl_is_screened_the_same_way(tmp_path):
    import json

    path = tmp_path / "code.jsonl"
    path.write_text("".join(json.dumps({"content": code_file(i)}) + "\n" for i in range(5)))
    sets = parse_sets(["data.source=path", f"data.path={path}", "data.valid_fraction=0.0001",
                       "data.valid_subset=2"])  # fmt: skip
    with pytest.raises(ConfigError) as e:
        load_matrix("cpu", matrix_file=matrix(tmp_path, "[a]\n"), sets=sets)
    assert "gives 1 valid files (5 of 5 files pass the filters, 0 duplicates removed" in str(
        e.value
    )
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(ConfigError, match=r"code\.jsonl:6: not valid JSON"):
        load_matrix("cpu", matrix_file=matrix(tmp_path, "[a]\n"), sets=sets)


def test_validate_exits_2_before_any_work(tmp_path):
    root = own_folder(tmp_path)
    cache = tmp_path / "cache"
    cmd = [sys.executable, "-m", "pipeline", "--profile", "micro", "--cache", str(cache),
           "--results", str(tmp_path / "results"), "--set", "data.source=path",
           "--set", f"data.path={root}", "run"]  # fmt: skip
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-2000:]
    errors = [line for line in out.stderr.splitlines() if line.strip()]
    # micro's subsets (150 / 10) do not fit 6 files; every experiment names both, nothing ran
    assert sum("data.valid_subset = 10" in line for line in errors) == 7
    assert sum("data.train_subset = 150" in line for line in errors) == 7
    assert "Traceback" not in out.stderr and not cache.exists()


# ---- sweeps ----


def test_a_list_sweeps_and_two_lists_make_a_grid(tmp_path):
    m = matrix(
        tmp_path,
        """
[lr]
description = "learning rate sweep"
training.learning_rate = [1e-3, 3e-3, 1e-2]

[grid]
training.learning_rate = [1e-3, 3e-3]
training.optim = ["adamw_torch", "adafactor"]

[plain]
data.keywords = ["pandas"]  # a list where the default is one: a value, not a sweep
""",
    )
    exps = load_matrix("cpu", matrix_file=m, check_training_args=False)
    names = [e.name for e in exps]
    assert names == [
        "lr-learning_rate-0.001", "lr-learning_rate-0.003", "lr-learning_rate-0.01",
        "grid-learning_rate-0.001-optim-adamw_torch", "grid-learning_rate-0.001-optim-adafactor",
        "grid-learning_rate-0.003-optim-adamw_torch", "grid-learning_rate-0.003-optim-adafactor",
        "plain",
    ]  # fmt: skip
    lr = exps[1]
    assert lr.sweep_of == "lr" and lr.sweep == {"training.learning_rate": 3e-3}
    assert lr.config["training"]["learning_rate"] == 3e-3
    assert lr.overrides == {"training.learning_rate": 3e-3}
    assert lr.description == "learning rate sweep (training.learning_rate = 0.003)"
    grid = exps[4]
    assert grid.sweep == {"training.learning_rate": 1e-3, "training.optim": "adafactor"}
    assert exps[-1].sweep_of == "" and exps[-1].config["data"]["keywords"] == ["pandas"]


def test_sweep_values_are_validated_each(tmp_path):
    m = matrix(tmp_path, "[lr]\ntraining.learning_rate = [1e-3, -1.0]\n[e]\nseed = []\n")
    with pytest.raises(ConfigError) as e:
        load_matrix("cpu", matrix_file=m, check_training_args=False)
    text = str(e.value)
    assert "experiment 'e': seed lists no values" in text
    assert "experiment 'lr-learning_rate--1': training.learning_rate must be" in text
    assert "lr-learning_rate-0.001" not in text


# ---- folders per matrix ----


def test_default_matrix_keeps_results_and_build(tmp_path):
    for profile in ("cpu", "gpu", "colab"):
        assert results_folder(None, profile, {}, tmp_path) == tmp_path / "results"
        assert report_folder(ROOT / "experiments/matrix.toml", profile, {}, tmp_path) == (
            tmp_path / "build"
        )


def test_another_matrix_profile_or_data_gets_its_own_folders(tmp_path):
    assert folder_tag(Path("my.toml"), "cpu", {}) == "my"
    assert folder_tag(None, "micro", {}) == "micro"
    assert results_folder(Path("x/my.toml"), "micro", {}, tmp_path) == tmp_path / "results-my-micro"
    a, b = tmp_path / "one" / "src", tmp_path / "two" / "src"
    tag_a = folder_tag(None, "cpu", parse_sets(["data.source=path", f"data.path={a}"]))
    tag_b = folder_tag(None, "cpu", parse_sets(["data.source=path", f"data.path={b}"]))
    assert tag_a.startswith("src-") and tag_b.startswith("src-") and tag_a != tag_b
    assert folder_tag(None, "cpu", parse_sets(["seed=1"])).startswith("set-")


def test_a_failed_run_does_not_replace_a_good_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROFILE", raising=False)
    args = Namespace(set=[], profile=None, results=None, out=None, matrix=Path("my.toml"))
    assert output_folders(Namespace(**vars(args), failed_run=True)) == (
        Path("results-my"),
        Path("build-my"),
    )  # no report yet: the failed one is the only one
    (tmp_path / "build-my").mkdir()
    (tmp_path / "build-my" / "report.pdf").write_bytes(b"%PDF good")
    assert output_folders(Namespace(**vars(args), failed_run=True))[1] == Path(
        "build-my/failed-run"
    )
    assert output_folders(Namespace(**vars(args), failed_run=False))[1] == Path("build-my")


# ---- what the project manages, and the model card ----


@pytest.mark.parametrize(
    ("key", "value", "where"),
    [("push_to_hub", "true", "[hub] push"), ("resume_from_checkpoint", "true", "resumes"),
     ("report_to", '["wandb"]', "[logging] wandb"), ("hub_model_id", '"a/b"', "[hub] repo_id")],
)  # fmt: skip
def test_training_keys_the_project_manages_are_refused_with_where(tmp_path, key, value, where):
    m = matrix(tmp_path, f"[a]\ntraining.{key} = {value}\n")
    with pytest.raises(
        ConfigError, match=rf"training\.{key} is set by the project.*{re.escape(where)}"
    ):
        load_matrix("cpu", matrix_file=m, check_training_args=False)


def test_model_card_names_the_corpus_that_was_used(tmp_path):
    root = own_folder(tmp_path)
    own = load_matrix("cpu", check_training_args=False, sets=data_sets(root))[0].config["data"]
    assert corpus_phrase(own) == (
        "Python code from the user's own code (`mycode`), every file kept by the quality filters"
    )
    default = load_matrix("cpu", check_training_args=False)[0].config["data"]
    assert corpus_phrase(default).startswith(
        "Python code that mentions pandas, sklearn, matplotlib, seaborn, from the installed"
    )
    hub = {**default, "source": "hub"}
    assert "`huggingface-course/codeparrot-ds-train` dataset" in corpus_phrase(hub)


# ---- [logging] wandb ----


def wandb_config(**logging) -> dict:
    cfg = load_matrix("cpu", check_training_args=False)[0].config
    cfg["logging"].update(logging)
    return cfg


def test_wandb_is_off_by_default_and_checked_up_front(monkeypatch):
    from pipeline import wandb_logs
    from pipeline.rules import check_rules

    assert wandb_logs.check_config(wandb_config()) == []  # off: wandb need not be installed
    errors = check_rules(wandb_config(wandb="yes", wandb_mode="cloud", wandb_project=""))
    assert [e.split(" ", 1)[0] for e in errors] == [
        "logging.wandb", "logging.wandb_mode", "logging.wandb_project"
    ]  # fmt: skip
    monkeypatch.setattr(wandb_logs.importlib.util, "find_spec", lambda name: None)
    (missing,) = wandb_logs.check_config(wandb_config(wandb=True))
    assert "wandb is not installed: pip install -r requirements-wandb.txt" in missing
    pin = (ROOT / "requirements-wandb.txt").read_text().split()[0]
    assert pin.startswith("wandb==") and "wandb" not in (ROOT / "requirements.txt").read_text()


def test_wandb_setup_starts_nothing_when_off(tmp_path):
    from pipeline import wandb_logs

    folder = tmp_path / "results" / "baseline"
    assert not wandb_logs.setup(wandb_config(), folder, resumed=False)
    assert not folder.exists()  # the real run (offline) is in test_own_experiments_run.py


def test_report_to_names_each_logger_that_is_on(tmp_path):
    from pipeline.train import training_arguments

    speed = {"device": "cpu", "bf16": False, "fp16": False, "tf32": False, "torch_compile": False,
             "dataloader_num_workers": 0}  # fmt: skip
    out = tmp_path / "baseline" / "checkpoints"
    args = training_arguments({"max_steps": 1}, speed, out, 0, tensorboard=True, wandb=True)
    assert args.report_to == ["tensorboard", "wandb"] and args.run_name == "baseline"
    assert args.eval_on_start  # a fresh run measures the untrained model
    resumed = training_arguments({"max_steps": 1}, speed, out, 0, resume_step=3)
    assert resumed.report_to == [] and not resumed.eval_on_start  # restored with the state


def test_make_passes_data_and_set_and_names_the_folders(tmp_path):
    code = tmp_path / "proj"
    code.mkdir()
    env = {"PATH": os.environ["PATH"], "PROFILE": "micro"}
    cmd = [
        "make",
        "-s",
        "where",
        "MATRIX=my.toml",
        f"DATA={code}",
        "SET=seed=3 training.max_steps=9",
    ]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    sets = parse_sets(["data.source=path", f"data.path={code}", "seed=3", "training.max_steps=9"])
    tag = folder_tag(Path("my.toml"), "micro", sets)
    assert tag.startswith("my-micro-proj-") and "-set-" in tag
    assert out.stdout.split() == [
        "results",
        str(ROOT / f"results-{tag}"),
        "report",
        str(ROOT / f"build-{tag}"),
    ]
    default = subprocess.run(["make", "-s", "where"], cwd=ROOT, capture_output=True, text=True,
                             env={**env, "PROFILE": "cpu"}, timeout=120)  # fmt: skip
    assert default.stdout.split() == [
        "results",
        str(ROOT / "results"),
        "report",
        str(ROOT / "build"),
    ]
