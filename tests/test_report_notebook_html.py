"""The notebooks' HTML renders their Markdown (headings as headings) while record text stays
escaped (issue 20)."""

from __future__ import annotations

import re
from pathlib import Path

from report.outputs import make_report
from tests.fixtures.records import update_record, write_fixture_set


def test_notebook_html_renders_headings_and_keeps_record_text_escaped(tmp_path: Path) -> None:
    fixture = write_fixture_set(tmp_path / "fixture", count=1)

    def hostile(record: dict) -> None:
        record["description"] = "<h2>not a heading</h2> <script>alert(1)</script>"

    update_record(fixture.results, "baseline", hostile)
    out = tmp_path / "build"
    make_report(fixture.results, out, matrix=fixture.matrix, pdf=False)
    html = (out / "notebooks" / "baseline.html").read_text(encoding="utf-8")
    assert re.search(r'<h1 id="Experiment-baseline">Experiment <code>baseline</code>', html)
    headings = re.findall(r"<h2 id=\"[^\"]+\">([^<]+)", html)
    assert headings == [
        "Configuration", "Training log", "Evaluation", "Prompts and completions",
        "Regenerate the completions",
    ]  # fmt: skip
    assert "&lt;h1" not in html and "&lt;h2 id=" not in html  # no heading shown as a tag
    # the record's own text: shown as text, never as a tag
    assert "<script>alert" not in html and "<h2>not a heading" not in html
    assert "&lt;h2&gt;not a heading" in html and "alert(1)" in html
