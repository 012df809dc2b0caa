"""Templates: wording changes reach the PDF, and a broken template is one clear line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

from report.load import ReportError
from report.outputs import make_report
from tests.conftest import ROOT
from tests.fixtures.records import FixtureSet

TEMPLATES = ROOT / "templates"
SENTENCE = "every other run\nchanges one thing from it"


def copy_templates(tmp_path: Path) -> Path:
    return Path(shutil.copytree(TEMPLATES, tmp_path / "templates"))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path.name} any more: update this test"
    path.write_text(text.replace(old, new, 1))


def test_a_changed_sentence_changes_the_pdf(one_run: FixtureSet, tmp_path: Path) -> None:
    templates = copy_templates(tmp_path)
    edit(templates / "text.j2", SENTENCE, "every other run\nchanges exactly one setting of it")
    out = tmp_path / "build"
    make_report(one_run.results, out, matrix=one_run.matrix, templates=templates, notebooks=False)
    text = " ".join(
        "\n".join(p.extract_text() for p in PdfReader(out / "report.pdf").pages).split()
    )
    assert "every other run changes exactly one setting of it" in text
    assert "changes one thing from it" not in text
    assert "changes exactly one setting of it" in (out / "report.md").read_text().replace("\n", " ")


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_an_undefined_name_is_reported_with_file_and_line(
    one_run: FixtureSet, tmp_path: Path
) -> None:
    templates = copy_templates(tmp_path)
    edit(templates / "_summary.html.j2", "{{ t.best_line() | markdown }}", "{{ no_such_value }}")
    line = line_of(templates / "_summary.html.j2", "no_such_value")
    with pytest.raises(ReportError) as caught:
        make_report(
            one_run.results,
            tmp_path / "b",
            matrix=one_run.matrix,
            templates=templates,
            pdf=False,
            notebooks=False,
        )
    message = str(caught.value)
    assert f"_summary.html.j2:{line}:" in message and "no_such_value" in message
    assert "\n" not in message


def test_a_syntax_error_is_reported_with_file_and_line(one_run: FixtureSet, tmp_path: Path) -> None:
    templates = copy_templates(tmp_path)
    edit(templates / "text.j2", "{% macro objective() -%}", "{% macro objective( -%}")
    line = line_of(templates / "text.j2", "{% macro objective(")
    result = subprocess.run(
        [sys.executable, "-m", "report", "--results", str(one_run.results),
         "--matrix", str(one_run.matrix), "--out", str(tmp_path / "b"),
         "--templates", str(templates), "--no-pdf", "--no-notebooks"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("report: error: ")
    assert f"text.j2:{line}:" in lines[0]


def test_a_missing_matrix_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "report", "--results", str(tmp_path),
         "--matrix", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "b")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr  # an input: exit 2
    assert "nope.toml" in result.stderr and len(result.stderr.strip().splitlines()) == 1
