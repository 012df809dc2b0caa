"""Issue 13, report side: record text never runs and never becomes live HTML; the outputs are
a set that a failure or Ctrl-C leaves whole; bad inputs are one line, exit 2."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from report.load import ReportError
from report.outputs import make_report
from tests.conftest import ROOT
from tests.fixtures.records import FixtureSet, update_record

HOSTILE = (
    "A recipe.\n#%% code: run\nimport pathlib\npathlib.Path({marker!r}).write_text('ran')\n"
    '<script>alert(1)</script> <img src="http://evil.example/x.png"> '
    "![pixel](http://evil.example/p.png)"
)


def test_description_code_never_runs_and_never_becomes_live_html(
    one_run: FixtureSet, tmp_path: Path
) -> None:
    import nbformat

    marker = tmp_path / "PWNED"

    def hostile(record: dict[str, Any]) -> None:
        record["description"] = HOSTILE.format(marker=str(marker))
        record["prompts"][0]["name"] = "<script>alert(2)</script>"
        record["prompts"][0]["completion"] = '<img src="http://evil.example/c.png">'

    update_record(one_run.results, "baseline", hostile)
    out = tmp_path / "build"
    make_report(one_run.results, out, matrix=one_run.matrix, pdf=False)
    assert not marker.exists()  # the description's "code" did not run
    ipynb = one_run.results / "baseline" / "experiment.ipynb"
    nb = nbformat.read(ipynb, as_version=4)
    nbformat.validate(nb)  # still opens in Jupyter
    assert "#%% code: run" not in "".join(c.source for c in nb.cells if c.cell_type == "code")
    for name in ("notebooks/baseline.html", "report.md"):
        # Markdown code fences show their content as text: only the rest could be live.
        text = re.sub(r"(?ms)^```.*?^```", "", (out / name).read_text(encoding="utf-8"))
        assert "<script>alert" not in text, name
        assert '<img src="http://evil' not in text, name
        assert "](http://evil.example/p.png)" not in text or "\\!" in text, name
    assert "alert(1)" in (out / "notebooks/baseline.html").read_text()  # shown, as text
    md = (out / "report.md").read_text()
    assert "&lt;script&gt;alert\\(1\\)&lt;/script&gt;" in md  # reads as written, rendered


def render(results: Path, matrix: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "report", "--results", str(results), "--matrix", str(matrix),
         "--out", str(out), "--no-notebooks", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_a_failed_render_leaves_the_previous_set_whole(
    one_run: FixtureSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import report.outputs

    out = tmp_path / "build"
    make_report(one_run.results, out, matrix=one_run.matrix, notebooks=False)
    before = {p.name: p.read_bytes() for p in out.glob("report.*")}
    assert set(before) == {"report.md", "report.html", "report.pdf"}
    for mode, error in (("template", ReportError), ("ctrl-c", KeyboardInterrupt)):

        def broken(*args: Any, _error=error, **kwargs: Any) -> list[str]:
            raise _error("boom")

        monkeypatch.setattr(report.outputs, "write_pdf", broken)  # after md and html are rendered
        with pytest.raises(error):
            make_report(one_run.results, out, matrix=one_run.matrix, notebooks=False)
        after = {p.name: p.read_bytes() for p in out.glob("report.*")}
        assert after == before, mode
        assert not list(out.glob(".staging-*")), mode
    for path in [*out.glob("report.*"), *out.glob("figures/*.svg")]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_no_records_is_an_error(one_run: FixtureSet, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = render(empty, one_run.matrix, tmp_path / "b")
    assert out.returncode == 2 and "no records in" in out.stderr and "Traceback" not in out.stderr
    (tmp_path / "file").write_text("")
    out = render(tmp_path / "file", one_run.matrix, tmp_path / "b")
    assert out.returncode == 2 and "is a file, not a folder" in out.stderr
    out = render(one_run.results, one_run.matrix, tmp_path / "file", "--no-pdf")
    assert out.returncode == 2 and "a file stands where a folder belongs" in out.stderr
    out = render(one_run.results, tmp_path, tmp_path / "b")  # a folder as the matrix
    assert out.returncode == 2 and "is a folder" in out.stderr and "Traceback" not in out.stderr
    out = render(
        one_run.results, one_run.matrix, tmp_path / "b", "--templates", str(tmp_path / "file")
    )
    assert out.returncode == 2 and "templates folder" in out.stderr


def test_a_record_that_is_not_utf8_shows_as_unusable(one_run: FixtureSet, tmp_path: Path) -> None:
    (one_run.results / "baseline" / "record.json").write_bytes(b'{"schema": 1, "x": "\xff"}')
    out = render(one_run.results, one_run.matrix, tmp_path / "b", "--no-pdf")
    assert out.returncode == 0 and "Traceback" not in out.stderr
    assert "not UTF-8" in (tmp_path / "b" / "report.md").read_text()


def test_missing_weights_are_reported(one_run: FixtureSet, tmp_path: Path) -> None:
    shutil.rmtree(one_run.results / "baseline" / "model")
    outputs, warnings = make_report(
        one_run.results, tmp_path / "b", matrix=one_run.matrix, pdf=False, notebooks=False
    )
    assert any("baseline: weights folder" in w and "not found" in w for w in warnings)
    assert "Its weights cannot be loaded" in (tmp_path / "b" / "report.md").read_text()
