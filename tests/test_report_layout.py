"""report.pdf reads cleanly: no word drawn over another (poppler's word boxes), long unbroken
completions cut with a visible mark, no figure twice (issue 20).

Needs poppler-utils (pdftotext): apt-get install poppler-utils."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_matrix
from pipeline.record import write_record
from report.outputs import make_report
from report.view import CUT_MARK
from tests.fixtures.records import build_record, update_record, write_fixture_set
from tests.pdf_words import PDFTOTEXT, Word, broken_headers, overlaps, words

pytestmark = pytest.mark.skipif(PDFTOTEXT is None, reason="needs pdftotext (poppler-utils)")

ZEROS = "0." * 150  # what a tiny model writes: one token, repeated, no space to break at
HASHES = "#" * 300


THE = "# the" + " the" * 40


def long_completions(record: dict) -> None:
    for p in record["prompts"]:
        p["completion"] = ZEROS if p["group"] == "heldout" else HASHES + "\n" + ZEROS
        if p["name"] == "scatter":
            p["completion"] = THE  # one token repeated: the report adds a sample that parses


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("layout")
    fixture = write_fixture_set(root, count=6)
    with fixture.matrix.open("a", encoding="utf-8") as f:
        for seed in (1, 2):
            f.write(f'[baseline-seed{seed}]\ndescription = "seed {seed}"\nseed = {seed}\n\n')
        f.write('[a-rather-long-experiment-name-x]\ndescription = "long"\nseed = 3\n')
        f.write("training.learning_rate = 0.00123456789\n\n")
    for exp in load_matrix("cpu", matrix_file=fixture.matrix, check_training_args=False):
        if exp.name.startswith(("baseline-seed", "a-rather")):
            write_record(fixture.results / exp.name, build_record(exp, "complete"))
    for name in ("baseline", "adafactor"):
        update_record(fixture.results, name, long_completions)
    out = root / "out"
    make_report(fixture.results, out, matrix=fixture.matrix, notebooks=False)
    return out, (out / "report.md").read_text(encoding="utf-8")


def test_the_checker_finds_text_drawn_over_text() -> None:
    a, b = Word(1, 100, 100, 160, 110, "Perplexity"), Word(1, 150, 101, 170, 111, "byte")
    assert overlaps([a, b]) == [(a, b)]
    assert overlaps([a, Word(1, 160.2, 100, 180, 110, "next")]) == []  # touching is fine
    assert overlaps([a, Word(1, 120, 109.8, 150, 119.8, "below")]) == []  # the next line
    assert overlaps([a, Word(2, 100, 100, 160, 110, "other page")]) == []


def test_no_two_words_overlap_anywhere_in_the_pdf(rendered) -> None:
    out, _ = rendered
    found = words(out / "report.pdf")
    assert len(found) > 1000
    bad = [(a.page, a.text, b.text) for a, b in overlaps(found)]
    assert bad == []


def test_every_table_header_fits_its_column(rendered) -> None:
    """Headers break between words only: no column so narrow that a word of its header is cut."""
    out, _ = rendered
    html = (out / "report.html").read_text(encoding="utf-8")
    assert broken_headers(html, words(out / "report.pdf")) == set()


def test_long_completions_are_cut_with_a_visible_mark(rendered) -> None:
    _, md = rendered
    heldout = md.split("#### Held-out prompts", 1)[1].split("####", 1)[0]
    assert CUT_MARK.strip() in heldout and ZEROS not in heldout
    assert "`# plot a histogram of x`" in heldout  # the prompt's text, not its name


def test_no_figure_appears_twice(rendered) -> None:
    out, md = rendered
    figures = [line for line in md.splitlines() if line.startswith("![")]
    assert len(figures) == len(set(figures))
    html = (out / "report.html").read_text(encoding="utf-8")
    sources = html.split('src="')[1:]
    assert len(sources) == len(set(sources))


def test_a_degenerate_greedy_completion_gets_a_sample_that_parses(rendered) -> None:
    """Goal 9: beside `# the the the …`, the first sampled completion that parses, labelled as
    a sample with its seed; the counts stay the greedy completion's."""
    _, md = rendered
    baseline = md.split("### 4.1 baseline", 1)[1].split("### 4.2 ", 1)[0]
    scatter = baseline.split("**scatter**", 1)[1].split("**dataframe**", 1)[0]
    assert "The greedy completion repeats one token" in scatter
    assert "sample 1 of 2;\nseed 42, max_new_tokens 48, n 2, temperature 1.0" in scatter
    assert "```python\nplt.scatter(x, y)\nplt.show()\n```" in scatter
    dataframe = baseline.split("**dataframe**", 1)[1].split("**groupby**", 1)[0]
    assert "The greedy completion repeats one token" not in dataframe  # two different runs


def test_the_closing_section_reads_its_numbers_from_the_records(rendered) -> None:
    _, md = rendered
    closing = md.split("## 6 Discussion and conclusions", 1)[1]
    # the fixture's baseline: 937,472 parameters (micro preset), 320 steps x 16 x 128 tokens
    assert (
        "GPT-2 of 937,472\nparameters that saw 655,360 training tokens, 0.70 per parameter"
        in closing
    )
    assert "each entry\n160 times on average" in closing  # 655,360 / 4,096
    assert "better beyond seed noise: adafactor" in closing
    assert "reads 1,024 of the\n2,421 validation blocks" in closing
    assert "Not measured on this machine" in closing
    assert "Language Models are Unsupervised Multitask Learners" in closing
