"""The rendered report: one fixture set with every kind of experiment, rendered once per module.

The set: complete runs, a diverged one (NaN losses), a complete run whose perplexity overflowed,
one never run, one with a corrupt record and one with an older schema; the baseline's first
completion tries to break out of its <pre>.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pypdf import PdfReader

from pipeline.record import RECORD_FILE
from report.fmt import num, pct, ppl
from report.outputs import make_report
from report.render import environment, module
from tests.conftest import ROOT
from tests.fixtures.records import add_to_matrix, update_record, write_fixture_set

MALICIOUS = "</pre><script>alert('pwned')</script>"
TEMPLATES = ROOT / "templates"


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def build_fixture(root: Path) -> SimpleNamespace:
    fixture = write_fixture_set(root, count=4)

    def malicious(record: dict[str, Any]) -> None:
        record["prompts"][0]["completion"] = MALICIOUS + "\n"

    def overflow(record: dict[str, Any]) -> None:
        record["evaluation"]["eval_results"]["eval_loss"] = 750.0
        record["evaluation"]["perplexity"] = "inf"

    update_record(fixture.results, "baseline", malicious)
    update_record(fixture.results, "grad-accum-4", overflow)
    add_to_matrix(fixture, "not-run", "Never run.")
    add_to_matrix(fixture, "corrupt", "Its record is cut off.")
    add_to_matrix(fixture, "old-schema", "Its record is from an older schema.")
    (fixture.results / "corrupt").mkdir()
    (fixture.results / "corrupt" / RECORD_FILE).write_text('{"schema": 1, "status": ')
    (fixture.results / "old-schema").mkdir()
    (fixture.results / "old-schema" / RECORD_FILE).write_text(json.dumps({"schema": 0}))
    return SimpleNamespace(fixture=fixture, root=root)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    mp = pytest.MonkeyPatch()
    mp.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 2023-11-14
    try:
        built = build_fixture(tmp_path_factory.mktemp("report"))
        out = built.root / "build"
        outputs, warnings = make_report(built.fixture.results, out, matrix=built.fixture.matrix)
    finally:
        mp.undo()
    records = {
        p.parent.name: json.loads(p.read_text())
        for p in built.fixture.results.glob(f"*/{RECORD_FILE}")
        if p.parent.name not in ("corrupt", "old-schema")
    }
    return SimpleNamespace(
        **vars(built),
        out=out,
        outputs=outputs,
        warnings=warnings,
        records=records,
        pdf=pdf_text(out / "report.pdf"),
        html=(out / "report.html").read_text(),
        md=(out / "report.md").read_text(),
    )


def words() -> Any:
    """The templates' own wording module (text.j2), so tests follow wording changes."""
    return module(environment(TEMPLATES), "text.j2", {"experiments": [], "best": None})


def test_every_output_is_written(rendered: SimpleNamespace) -> None:
    for name in ("report.md", "report.html", "report.pdf"):
        assert (rendered.out / name).stat().st_size > 0
        assert rendered.out / name in rendered.outputs
    figures = sorted(p.name for p in (rendered.out / "figures").glob("*.svg"))
    assert "eval-loss.svg" in figures and "bits-per-byte.svg" in figures
    assert "curves-baseline.svg" in figures and "architecture-1.svg" in figures
    assert rendered.warnings == []


def test_pdf_has_toc_with_page_numbers_and_every_section(rendered: SimpleNamespace) -> None:
    t = words()
    assert t.contents in rendered.pdf
    for number, title in enumerate(t.sections.values(), 1):
        # once in the table of contents (dot leaders, then the page number), once as a heading
        assert re.search(rf"{number} {re.escape(title)}\s*\.{{5,}}\s*\d+", rendered.pdf), title
        assert rendered.pdf.count(f"{number} {title}") >= 2, title


def test_pdf_names_every_experiment_with_its_perplexity(rendered: SimpleNamespace) -> None:
    for name in rendered.fixture.names:
        assert re.search(rf"4\.\d+ {re.escape(name)}", rendered.pdf), name
    for name, record in rendered.records.items():
        evaluation = record["evaluation"]
        if evaluation:
            assert ppl(evaluation["perplexity"]) in rendered.pdf, name
    assert ppl("inf") == "∞" and "∞" in rendered.pdf


def test_pdf_names_the_best_experiment(rendered: SimpleNamespace) -> None:
    complete = {
        n: r["evaluation"]["bits_per_byte"]
        for n, r in rendered.records.items()
        if r["status"] == "complete"
    }
    best = min(complete, key=complete.get)
    assert re.search(rf"The lowest bits per byte is\s+{re.escape(best)}", rendered.pdf)


def test_unusable_experiments_render_as_such(rendered: SimpleNamespace) -> None:
    t = words()
    text = " ".join(rendered.pdf.split())  # pypdf breaks lines where the PDF does
    assert f"4.5 not-run {t.states['missing']}" in text
    assert f"4.6 corrupt {t.states['invalid']}" in text
    assert "corrupt JSON at line 1" in text
    assert "schema version 0" in text
    assert f"lr-2e-3 {t.states['diverged']}" in text
    assert "loss became NaN/inf" in text
    assert "Traceback" not in text


def test_completion_is_escaped_in_html_and_printed_as_text(rendered: SimpleNamespace) -> None:
    assert "<script>" not in rendered.html
    assert "&lt;/pre&gt;&lt;script&gt;" in re.sub(r"</?span[^>]*>", "", rendered.html)
    assert "</pre><script>alert('pwned')</script>" in rendered.pdf
    # Markdown: inside a fenced block, so renderers show it as code
    assert re.search(r"```python\n" + re.escape(MALICIOUS) + r"\n```", rendered.md)


def test_html_stands_alone(rendered: SimpleNamespace) -> None:
    sources = re.findall(r'<(?:img|script|link)[^>]*(?:src|href)="([^"]*)"', rendered.html)
    assert sources and all(s.startswith("data:image/svg+xml;base64,") for s in sources)
    assert "<style>" in rendered.html


def test_markdown_report(rendered: SimpleNamespace) -> None:
    t = words()
    for number, title in enumerate(t.sections.values(), 1):
        assert f"## {number} {title}" in rendered.md
    assert rendered.md.count("![eval loss of every experiment](figures/eval-loss.svg)") == 1
    for name in rendered.fixture.names:
        assert re.search(rf"^### 4\.\d+ {re.escape(name)}\b", rendered.md, re.M), name


def test_date_comes_from_source_date_epoch(rendered: SimpleNamespace) -> None:
    assert "2023-11-14" in rendered.pdf


def test_same_records_give_the_same_outputs(
    rendered: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    again = tmp_path / "build"
    make_report(rendered.fixture.results, again, matrix=rendered.fixture.matrix)
    assert pdf_text(again / "report.pdf") == rendered.pdf
    assert (again / "report.md").read_text() == rendered.md
    for svg in (rendered.out / "figures").glob("*.svg"):
        assert (again / "figures" / svg.name).read_bytes() == svg.read_bytes(), svg.name


def test_a_notebook_per_complete_experiment(rendered: SimpleNamespace) -> None:
    import nbformat

    for name, record in rendered.records.items():
        ipynb = rendered.fixture.results / name / "experiment.ipynb"
        if record["status"] != "complete":
            assert not ipynb.exists(), name
            continue
        nb = nbformat.read(ipynb, as_version=4)
        nbformat.validate(nb)
        outputs = {
            "".join(o.get("text", "")) for c in nb.cells if c.cell_type == "code" for o in c.outputs
        }
        results = record["evaluation"]["eval_results"]
        assert json.dumps(results, indent=2) + "\n" in outputs
        assert json.dumps(record["config"], indent=2) + "\n" in outputs
        assert any(f"(recorded: {record['evaluation']['perplexity']})" in o for o in outputs)
        assert any(record["prompts"][1]["completion"] in o for o in outputs)
        svgs = [
            o.data["image/svg+xml"]
            for c in nb.cells
            if c.cell_type == "code"
            for o in c.outputs
            if o.output_type == "display_data"
        ]
        assert svgs and svgs[0].startswith("<?xml")
        model_cells = [c for c in nb.cells if 'pipeline("text-generation"' in c.source]
        assert model_cells and all(not c.outputs for c in model_cells)  # run by the reader
        html = (rendered.out / "notebooks" / f"{name}.html").read_text()
        assert name in html and "data:image/svg+xml" in html  # its figure, inline
        assert not re.search(r'<script[^>]+src="https?:', html)  # reads offline
        assert f'href="notebooks/{name}.html"' in rendered.html


def test_notebook_code_is_fixed_and_reads_the_record(rendered: SimpleNamespace) -> None:
    import nbformat

    nb = nbformat.read(rendered.fixture.results / "baseline" / "experiment.ipynb", as_version=4)
    code = "".join(c.source for c in nb.cells if c.cell_type == "code")
    assert 'json.loads(Path("record.json").read_text())' in code
    record = rendered.records["baseline"]
    assert record["description"] not in code and record["config_hash"] not in code


def test_sampled_pass_at_k_and_humaneval_are_shown(rendered: SimpleNamespace) -> None:
    evaluation = rendered.records["baseline"]["evaluation"]
    text = " ".join(rendered.pdf.split())
    for k, v in evaluation["prompt_samples"]["pass_at_k"].items():
        assert f"{k} {pct(v)}" in text
    assert "HumanEval" in text
    for k, v in evaluation["humaneval"]["pass_at_k"].items():
        assert f"{k} {pct(v)}" in text


def test_summary_shows_bits_per_byte_beside_perplexity(rendered: SimpleNamespace) -> None:
    summary = rendered.md.split("### Code generation", 1)[0]
    for name, record in rendered.records.items():
        evaluation = record["evaluation"]
        if evaluation and evaluation.get("bits_per_byte") is not None:
            row = next(r for r in summary.splitlines() if r.startswith(f"| {name} |"))
            cells = [c.strip() for c in row.split("|")[1:-1]]
            assert cells[3:5] == [
                ppl(evaluation["perplexity"]),
                num(evaluation["bits_per_byte"]),
            ], name


def test_corpus_parts_and_held_out_prompts_are_reported(rendered: SimpleNamespace) -> None:
    """The data section's parts table (with what was not downloaded), the prompt check, and the
    held-out prompts beside the course's: in the summary and in each experiment."""
    md = rendered.md
    assert "| library: the packages' own source (internals, tests) | 0.25 | 16,254 | 1,408 |" in md
    assert "| examples: " in md and "without matplotlib==3.11.2" in md
    assert "No training or validation file contains an evaluation prompt" in md
    assert (
        "#### Held-out prompts" in md
        and "| `# load data.csv into a dataframe` | `df = load('data.csv')` | no |" in md
    )
    assert "| 1 of 2 |" in md  # held-out greedy hits in the code-generation table
    assert md.count("#### Held-out prompts") == md.count("#### Prompts and completions")


def test_the_data_table_adds_up_and_tells_files_from_rows(rendered: SimpleNamespace) -> None:
    """Seen − every drop − duplicates − left out = files kept, read off the report's own table;
    rows after the mix and the real number of libraries are labelled as such (issue 20)."""
    md = rendered.md.split("## 3 ", 1)[1].split("| Tokenizer and chunks |", 1)[0]
    values = {}
    for line in md.splitlines():
        cells = [c.strip().strip("*") for c in line.split("|")[1:-1]]
        if len(cells) == 2 and cells[1]:
            values[cells[0]] = cells[1]
    seen = int(values.pop("files seen").replace(",", ""))
    kept = int(values["files kept (distinct)"].replace(",", ""))
    drops = [int(v[1:].replace(",", "")) for v in values.values() if v.startswith("−")]
    assert seen - sum(drops) == kept == 1809
    assert values["train rows / bytes"] == "3,227 / 19.0 MB"
    assert values["train files / bytes"] == "1,766 / 14.0 MB"
    assert "| doctests: " in rendered.md and "| 465 / 1.2 MB | 930 / 2.4 MB |" in rendered.md
    assert "largest of the 23 libraries" in rendered.md
