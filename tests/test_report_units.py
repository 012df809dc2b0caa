"""The report's small parts: number formatting, highlighting, the URL fetcher, the views."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from report import fmt
from report.context import data_view
from report.highlight import highlight
from report.load import INVALID, MISSING, Entry, default_profile
from report.render import url_fetcher
from report.view import best, experiment_view


def test_numbers_print_missing_and_non_finite_values_readably() -> None:
    assert fmt.num(None) == "—"
    assert fmt.num("nan") == "NaN"
    assert fmt.num(1234567) == "1,234,567"
    assert fmt.num(2.34567) == "2.346"
    assert fmt.ppl("inf") == "∞"
    assert fmt.ppl(11.024) == "11.02"
    assert fmt.ppl(8357.2) == "8,357"
    assert fmt.pct(0.4951) == "49.5 %"
    assert fmt.duration(22.31) == "22.3 s"
    assert fmt.duration(125) == "2 min 05 s"
    assert fmt.duration(7300) == "2 h 01 min"
    assert fmt.size(56_900_000) == "56.9 MB"
    assert fmt.literal("adafactor") == '"adafactor"'
    assert fmt.literal(2e-3) == "0.002"
    assert fmt.fmt(0.5, "pct") == "50.0 %"


def test_markdown_code_survives_backticks() -> None:
    assert fmt.code("a`b") == "``a`b``"
    block = fmt.fence("x = 1\n```\nbreak out\n", "python")
    assert block.startswith("````python\n") and block.endswith("\n````")
    assert fmt.cell("a|b\nc") == "a\\|b c"


def test_highlight_escapes_and_marks_the_prompt() -> None:
    html = str(highlight("# plot\nx = '", "a'</pre><script>alert(1)</script>"))
    assert "<script>" not in html and "</pre>" not in html
    assert "&lt;/pre&gt;&lt;script&gt;" in re.sub(r"<[^>]+>", "", html)  # text once tags go
    prompt, completion = html.split('<span class="completion">')
    assert prompt.startswith('<span class="prompt">') and "# plot" in prompt
    # the string opened in the prompt is split at the boundary, both halves still strings
    assert '<span class="s1">&#39;</span></span>' in prompt
    assert completion.startswith('<span class="s1">a</span>')


def test_long_blank_runs_are_shown_as_a_count() -> None:
    html = str(highlight("x = 1\n", "\n" * 48))
    assert html.count("\n") < 5 and "↵ × 48" in html
    assert "\ue000" not in html and 'class="err"' not in html


def test_fetcher_reads_local_project_files_only(tmp_path: Path) -> None:
    inside = tmp_path / "project" / "logo.svg"
    inside.parent.mkdir()
    inside.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    outside = tmp_path / "secret.txt"
    outside.write_text("no")
    refused: list[str] = []
    fetch = url_fetcher([inside.parent], refused)
    assert fetch(inside.as_uri()).read().startswith(b"<svg")
    assert fetch("data:text/plain;base64,aGk=").read() == b"hi"
    for url in (
        "http://example.com/font.woff",
        "https://example.com/x.png",
        outside.as_uri(),
        (inside.parent / ".." / "secret.txt").as_uri(),
        "ftp://example.com/x",
    ):
        with pytest.raises(ValueError, match="refused"):
            fetch(url)
    assert len(refused) == 5


def entry(record: dict | None, state: str = "complete", index: int = 0) -> Entry:
    return Entry(
        index=index,
        name=f"exp{index}",
        description="",
        overrides={"training.learning_rate": 0.002} if index else {},
        state=state,
        problem=None,
        record=record,
        stale=False,
        path=Path(f"results/exp{index}/record.json"),
    )


def test_views_survive_missing_and_partial_records() -> None:
    missing = experiment_view(entry(None, MISSING), is_baseline=True)
    assert missing.final_train_loss is None and missing.prompts == [] and not missing.has_curves
    failed = {"training": None, "evaluation": None, "data": None, "model": None, "prompts": []}
    view = experiment_view(entry(failed, "failed"), is_baseline=False)
    assert view.eval_loss_final is None and view.args == []
    assert [r[0] for r in view.result_rows][:2] == ["eval_loss", "perplexity"]
    assert experiment_view(entry({"data": "oops"}, INVALID), False).tokens_per_step is None
    assert data_view([missing, view]) == (None, None)


def test_diverged_curves_keep_the_step_where_the_loss_broke() -> None:
    record = {
        "training": {
            "log_history": [
                {"loss": 5.0, "learning_rate": 1e-3, "step": 10},
                {"eval_loss": 5.5, "step": 10},
                {"loss": "nan", "learning_rate": 1e-3, "step": 20},
            ]
        },
        "evaluation": {"step0_eval_loss": 9.0, "perplexity": "inf"},
    }
    view = experiment_view(entry(record, "diverged"), False)
    assert view.diverged_at == 20
    assert view.eval_loss == [(0, 9.0), (10, 5.5)]  # step 0 from the record's step-0 eval
    assert math.isinf(view.perplexity)


def test_best_is_the_lowest_finite_bits_per_byte_among_complete_runs() -> None:
    def run(bpb: object, state: str, index: int):
        record = {"evaluation": {"eval_results": {"eval_loss": 1.0}, "bits_per_byte": bpb}}
        return experiment_view(entry(record, state, index), index == 0)

    runs = [run(2.5, "complete", 0), run(2.1, "diverged", 1), run("nan", "complete", 2)]
    assert best(runs).name == "exp0"
    assert best([run(2.1, "diverged", 1)]) is None


def test_profile_defaults_to_the_records_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROFILE", raising=False)
    assert default_profile(tmp_path) == "cpu"
    for name, profile, ended in (("a", "gpu", "2025-01-02"), ("b", "micro", "2025-01-01")):
        (tmp_path / name).mkdir()
        record = {"profile": profile, "environment": {"ended_at": ended}}
        (tmp_path / name / "record.json").write_text(json.dumps(record))
    assert default_profile(tmp_path) == "gpu"  # the newest record's
    monkeypatch.setenv("PROFILE", "micro")
    assert default_profile(tmp_path) == "micro"


def test_report_date_is_reproducible(monkeypatch: pytest.MonkeyPatch) -> None:
    from report.context import report_date

    runs = [
        entry({"environment": {"ended_at": "2025-03-02T10:00:00+00:00"}}),
        entry({"environment": {"ended_at": "2025-03-04T09:00:00+00:00"}}, index=1),
        entry(None, MISSING, index=2),
    ]
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert report_date(runs) == "2025-03-04"  # the newest run, not today
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    assert report_date(runs) == "1970-01-01"


def test_markdown_safety_helpers() -> None:
    from report.safe import mdtext, neutralize_markdown

    assert mdtext("<b>*x*</b>") == "&lt;b&gt;\\*x\\*&lt;/b&gt;"
    text = "a <script> <br> `<b>` ![f](figures/a.svg) ![r](http://x/y.png)\n```\n<i>\n```\n"
    assert neutralize_markdown(text) == (
        "a &lt;script> <br> `<b>` ![f](figures/a.svg) \\![r](http://x/y.png)\n```\n<i>\n```\n"
    )
