"""Issue 24: the report writes and deletes only inside its output folder and the experiment
folders it owns: no notebook through a symlink out of results/, no --out that is or contains
--results, a read-only results folder or a file in an experiment's place said at once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from report.load import ReportInputError
from report.notebooks import NOTEBOOK_FILE
from report.outputs import make_report
from tests.conftest import ROOT
from tests.fixtures.records import FixtureSet, write_fixture_set


@pytest.fixture
def fixture(tmp_path: Path) -> FixtureSet:
    return write_fixture_set(tmp_path / "fixture", count=3)  # baseline, lr-2e-3, adafactor


def linked_out(fixture: FixtureSet, name: str, elsewhere: Path) -> Path:
    """results/<name> becomes a symlink to a folder outside results/."""
    target = elsewhere / name
    shutil.move(fixture.results / name, target)
    (fixture.results / name).symlink_to(target, target_is_directory=True)
    return target


def test_no_notebook_is_written_through_a_symlink(fixture: FixtureSet, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = linked_out(fixture, "adafactor", elsewhere)
    _, warnings = make_report(fixture.results, tmp_path / "build", matrix=fixture.matrix, pdf=False)
    assert not (target / NOTEBOOK_FILE).exists()
    assert (fixture.results / "baseline" / NOTEBOOK_FILE).exists()  # its own folder: written
    assert any(w.startswith("adafactor: ") and "symbolic link" in w for w in warnings)


def test_no_file_is_deleted_through_a_symlink(fixture: FixtureSet, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = linked_out(fixture, "adafactor", elsewhere)
    (target / "record.json").unlink()  # no record there: the report used to delete the notebook
    (target / NOTEBOOK_FILE).write_text("someone's own notebook")
    make_report(fixture.results, tmp_path / "build", matrix=fixture.matrix, pdf=False)
    assert (target / NOTEBOOK_FILE).read_text() == "someone's own notebook"


@pytest.mark.parametrize("where", ["results", "its parent"])
def test_out_may_not_be_or_contain_the_results(fixture: FixtureSet, where: str) -> None:
    """An experiment named `figures` in results/: --out results would swap that folder (its
    record and weights) for the report's figures."""
    from report.__main__ import main

    figures = fixture.results / "figures"
    shutil.copytree(fixture.results / "baseline", figures)
    before = sorted(p.relative_to(figures) for p in figures.rglob("*"))
    out = fixture.results if where == "results" else fixture.results.parent
    with pytest.raises(ReportInputError, match="is or contains the results folder"):
        make_report(fixture.results, out, matrix=fixture.matrix, pdf=False)
    argv = ["--results", str(fixture.results), "--out", str(out), "--matrix", str(fixture.matrix)]
    assert main([*argv, "--no-pdf"]) == 2
    assert sorted(p.relative_to(figures) for p in figures.rglob("*")) == before
    assert json.loads((figures / "record.json").read_text())["name"] == "baseline"


def test_a_read_only_results_folder_is_one_line_before_any_work(
    fixture: FixtureSet, tmp_path: Path, monkeypatch
) -> None:
    """As root, chmod does not stop a write; os.access is what says read-only (EROFS too)."""
    import report.notebooks

    real = report.notebooks.os.access
    read_only = fixture.results / "baseline"
    monkeypatch.setattr(
        report.notebooks.os,
        "access",
        lambda p, mode: False if Path(p) == read_only else real(p, mode),
    )
    out = tmp_path / "build"
    with pytest.raises(ReportInputError, match="not writable; .* --no-notebooks"):
        make_report(fixture.results, out, matrix=fixture.matrix, pdf=False)
    assert not out.exists()  # before any work
    make_report(fixture.results, out, matrix=fixture.matrix, pdf=False, notebooks=False)
    assert (out / "report.md").exists()


def test_a_file_in_place_of_an_experiment_folder(fixture: FixtureSet, tmp_path: Path) -> None:
    shutil.rmtree(fixture.results / "adafactor")
    (fixture.results / "adafactor").write_text("not a folder")
    _, warnings = make_report(fixture.results, tmp_path / "build", matrix=fixture.matrix, pdf=False)
    assert (fixture.results / "adafactor").read_text() == "not a folder"
    assert any("adafactor" in w and "is a file" in w for w in warnings)
    html = (tmp_path / "build" / "report.html").read_text()
    assert "adafactor is a file, not an experiment folder" in html


def test_templates_without_nbconvert_is_one_line(fixture: FixtureSet, tmp_path: Path) -> None:
    from report.__main__ import main

    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    shutil.rmtree(templates / "nbconvert")
    argv = ["--results", str(fixture.results), "--out", str(tmp_path / "build"),
            "--matrix", str(fixture.matrix), "--templates", str(templates), "--no-pdf"]  # fmt: skip
    assert main(argv) == 2
    assert not (tmp_path / "build").exists()  # before any work
    assert main([*argv, "--no-notebooks"]) == 0


def test_sigterm_leaves_no_staging_folder(fixture: FixtureSet, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "build"
    cmd = [sys.executable, "-m", "report", "--results", str(fixture.results), "--out", str(out),
           "--matrix", str(fixture.matrix)]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not list(out.glob(".staging-*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the report ended before it could be stopped"
    time.sleep(0.5)  # into the figures or the PDF
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted; the previous report is left whole" in err and "Traceback" not in err
    assert not list(out.glob(".staging-*"))


def test_a_full_disk_or_read_only_output_is_one_line(
    fixture: FixtureSet, tmp_path: Path, monkeypatch, capsys
) -> None:
    import errno
    import tempfile

    import report.outputs
    from report.__main__ import main

    argv = ["--results", str(fixture.results), "--out", str(tmp_path / "build"),
            "--matrix", str(fixture.matrix), "--no-pdf", "--no-notebooks"]  # fmt: skip

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    assert main(argv) == 2
    assert "cannot write there (Read-only file system)" in capsys.readouterr().err
    monkeypatch.undo()

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(report.outputs, "write_atomic", full)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device; the previous report" in err
    assert not list((tmp_path / "build").glob(".staging-*"))


def test_a_huge_received_prompt_is_shown_without_highlighting() -> None:
    """A 10 MB prompt in a received record: the lexer took minutes and wrote 173 MB of spans."""
    from report.highlight import highlight

    prompt = "# <b>plot</b>\nimport pandas as pd\n" * 300_000  # about 10 MB
    html = highlight(prompt, "df.plot()\n")
    # escaped text, not a span per token (17 times the text before)
    assert len(html) < 2 * len(prompt) and "<b>" not in html and "&lt;b&gt;" in html
