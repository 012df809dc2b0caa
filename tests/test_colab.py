"""colab/lab.ipynb executed as a user runs it (nbclient), on CPU with the micro profile: it clones
this checkout (its committed HEAD, by path: no network), checks the installed packages against
requirements-colab.txt (pip --dry-run, offline), runs `make all PYTHON=python3` on a two-
experiment matrix, and its outputs hold the summary table, the eval-loss figure and the files
to download. Plus the fast checks of the Colab pieces: the profile and the requirements file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from pipeline.config import load_matrix, select
from tests.conftest import ROOT

NOTEBOOK = ROOT / "colab" / "lab.ipynb"
MATRIX = """
[baseline]
description = "micro baseline"

[lr-x4]
description = "micro, four times the learning rate"
profile.micro.training.learning_rate = 2e-3
"""


def outputs(nb, cell_id: str) -> tuple[str, dict]:
    """(stdout text, {mime type: data}) of one cell, found by its id."""
    (cell,) = [c for c in nb.cells if c.get("id") == cell_id]
    text, data = "", {}
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            text += out["text"]
        elif out["output_type"] in ("display_data", "execute_result"):
            data.update(out["data"])
    return text, data


@pytest.mark.slow
def test_notebook_runs_the_micro_matrix_from_a_local_clone(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    (tmp_path / "matrix.toml").write_text(MATRIX)
    lab = tmp_path / "lab"
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    for key, value in {
        "LAB_REPO_URL": str(ROOT),  # a path: git clones the local checkout
        "LAB_DIR": str(lab),
        "LAB_PROFILE": "micro",
        "LAB_MATRIX": str(tmp_path / "matrix.toml"),
        "LAB_PIP_ARGS": "--dry-run --no-index",  # checks the file against this venv, installs nothing
        # python3 of `make all PYTHON=python3` is this interpreter, as on Colab
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple/",  # make's sdist fetch fails at once, offline
        "HF_HUB_OFFLINE": "1",
    }.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, with the cell's output, if a cell fails

    clone_text, _ = outputs(nb, "clone")
    shown = [
        line.split()[0] for line in clone_text.splitlines() if re.match(r"[0-9a-f]{7,} ", line)
    ]
    assert shown and head.startswith(shown[-1]), clone_text[-2000:]  # this checkout's HEAD
    profile_text, _ = outputs(nb, "profile")
    assert "device: CPU only; profile micro" in profile_text
    run_text, _ = outputs(nb, "run")
    assert "make all:" in run_text and "not complete" not in run_text, run_text[-3000:]

    _, summary = outputs(nb, "summary")
    table = summary["text/html"]
    for name in ("baseline", "lr-x4"):
        assert f">{name}</th>" in table  # the experiment's row
    assert table.count(">complete</td>") == 2
    _, figure = outputs(nb, "figure")
    assert "<svg" in figure["image/svg+xml"]

    download_text, _ = outputs(nb, "download")
    # another matrix and profile than the default: the run's own folders (issue 23)
    (build,) = lab.glob("build-*")
    (results,) = lab.glob("results-*")
    assert f"report: {build / 'report.pdf'}" in download_text
    with zipfile.ZipFile(build / "records.zip") as z:
        names = sorted(z.namelist())
    assert [n.split("/", 1)[1] for n in names] == ["baseline/record.json", "lr-x4/record.json"]
    assert list((results / "baseline" / "runs").glob("events.out.tfevents.*"))


def test_colab_profile_fits_a_t4():
    """fp16 on a T4 (bf16 auto), the course's batch of 256 in micro-batches a T4's 15 GB hold,
    and each experiment of the matrix the same tokens as the baseline (steps-half: half)."""
    experiments = load_matrix("colab", check_training_args=False)
    base = experiments[0].config
    t = base["training"]
    assert base["model"]["preset"] == "gpt2-small" and base["chunking"]["context_length"] == 128
    assert t["per_device_train_batch_size"] * t["gradient_accumulation_steps"] == 256
    assert t["per_device_train_batch_size"] <= 64 and base["speed"]["bf16"] == "auto"

    def tokens(name: str) -> int:
        t = select(experiments, name).config["training"]
        return t["max_steps"] * t["per_device_train_batch_size"] * t["gradient_accumulation_steps"]

    assert tokens("grad-accum-x4") == tokens("baseline") == 2 * tokens("steps-half")
    assert (
        select(experiments, "grad-accum-x4").config["training"]["gradient_accumulation_steps"] == 16
    )


def requirement_names(path: Path) -> dict[str, str]:
    """{name: the line's version specifier} of a requirements file."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, spec = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)", line).groups()
            out[name.lower()] = spec
    return out


def test_colab_requirements_are_the_projects_but_torch_and_transformers():
    full = requirement_names(ROOT / "requirements.txt")
    colab = requirement_names(ROOT / "requirements-colab.txt")
    dev_only = {"pytest", "pypdf", "ruff"}  # tests and lint: not needed to run the lab
    assert set(colab) == set(full) - {"torch", "transformers"} - dev_only
    for name, spec in colab.items():
        assert not spec or spec == full[name] or spec.startswith(">="), name  # a pin is ours


def parameters(monkeypatch, **env: str) -> dict:
    """The notebook's parameters cell run as Colab runs it, under these LAB_* variables."""
    for key in ("LAB_DATA", "LAB_PROFILE", "LAB_MATRIX"):
        monkeypatch.setenv(key, env.get(key, ""))  # restored after the test, as set here
    (cell,) = [
        c for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.get("id") == "parameters"
    ]
    namespace: dict = {}
    exec(compile(cell.source, "lab.ipynb:parameters", "exec"), namespace)
    return namespace


def test_the_data_parameter_reaches_the_pipeline(monkeypatch, capsys):
    """LAB_DATA: codeparrot-ds by default, offline on request; the pipeline that `make all`
    starts reads it from the environment (pipeline/hub_data.py)."""
    from pipeline.hub_data import DATA_CHOICES, DATA_ENV

    intro = nbformat.read(NOTEBOOK, as_version=4).cells[0]
    assert intro.cell_type == "markdown"
    assert "**Data** (`LAB_DATA` below): `codeparrot-ds` trains on" in intro.source
    assert "`offline` trains on the offline corpus" in intro.source

    assert parameters(monkeypatch)["LAB_DATA"] == "codeparrot-ds"
    assert (
        os.environ[DATA_ENV] == "codeparrot-ds" and "data codeparrot-ds" in capsys.readouterr().out
    )
    assert parameters(monkeypatch, LAB_DATA="offline")["LAB_DATA"] == "offline"
    assert os.environ[DATA_ENV] == "offline" and set(DATA_CHOICES) == {"codeparrot-ds", "offline"}
    with pytest.raises(ValueError, match="LAB_DATA = 'codeparot'"):
        parameters(monkeypatch, LAB_DATA="codeparot")


def test_the_course_profile_runs_one_experiment_from_the_notebook(monkeypatch):
    assert parameters(monkeypatch, LAB_PROFILE="course")["MATRIX"] == "experiments/course.toml"
    assert parameters(monkeypatch, LAB_PROFILE="colab")["MATRIX"] == ""
    matrix = ROOT / "experiments" / "course.toml"
    assert [
        e.name for e in load_matrix("course", matrix_file=matrix, check_training_args=False)
    ] == ["baseline"]


def test_colab_and_gpu_profiles_stream_codeparrot_ds_with_the_offline_fallback():
    for profile, files in (("colab", 6000), ("gpu", 15000)):
        data = load_matrix(profile, check_training_args=False)[0].config["data"]
        assert data["source"] == "hub" and data["fallback"] == "installed"
        assert data["hub_train"] == "huggingface-course/codeparrot-ds-train"
        assert (data["hub_train_files"], data["hub_valid_files"]) == (files, 500)
