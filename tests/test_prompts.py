"""Prompts file and the checks on completions."""

import pytest

from pipeline.config import ConfigError
from pipeline.prompts import (
    checks,
    complete_lines,
    early_hit,
    evaluation_prompts,
    load_prompts,
    sample_summary,
    syntax_valid,
)


def test_course_prompts_verbatim():
    prompts = load_prompts("experiments/prompts.toml")
    assert [p["name"] for p in prompts] == ["scatter", "dataframe", "groupby", "random-forest"]
    assert prompts[0]["text"] == (
        "# create some data\nx = np.random.randn(100)\ny = np.random.randn(100)\n\n"
        "# create scatter plot with x, y\n"
    )
    assert prompts[3]["text"].startswith("\n# import random forest")
    assert all(p["text"].endswith("\n") for p in prompts)


def test_checks_cut_at_last_complete_line():
    prompt = {"text": "x = 1\n", "expect": [r"scatter\(", r"plt"]}
    c = checks(prompt, "plt.scatter(x, y)\nplt.show(")  # stops mid-line after a statement
    assert c["syntax_valid"] and c["patterns"] == {r"scatter\(": True, "plt": True}
    assert c["checked"] == "plt.scatter(x, y)\n"
    assert not checks(prompt, "def f(:\n")["syntax_valid"]
    assert complete_lines("a\nb") == "a\n" and complete_lines("ab") == ""
    assert syntax_valid("") and not syntax_valid("x = (\n")


@pytest.mark.parametrize("completion", ["", "plt.scatter(x, y", "plt.scatter(x, y)", "\n\n"])
def test_a_completion_without_a_complete_line_is_no_code(completion):
    """Nothing is checked but the prompt: both checks fail (they passed on the old code)."""
    c = checks({"text": "x = 1\n", "expect": [r"scatter\("]}, completion)
    assert c == {"checked": completion if completion == "\n\n" else "", "syntax_valid": False,
                 "patterns": {r"scatter\(": False}, "early_hit": False}  # fmt: skip


def test_patterns_are_searched_in_the_text_that_parses():
    """`plt.scatter(x, y` on the cut-off last line neither parses nor counts as a hit."""
    c = checks({"text": "x = 1\n", "expect": [r"scatter\("]}, "y = 2\nplt.scatter(x, y")
    assert c["syntax_valid"] and c["patterns"] == {r"scatter\(": False}


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "no prompts"),
        ("[[prompt]]\nname = 'a'\n", "needs a string 'name' and a non-empty 'text'"),
        ("[[prompt]]\nname='a'\ntext='x'\n[[prompt]]\nname='a'\ntext='y'\n", "appears twice"),
        ("[[prompt]]\nname='a'\ntext='x'\nexpect=['(']\n", "bad regex"),
        ("[[prompt]\n", "not valid TOML"),
    ],
)
def test_bad_prompts_file(tmp_path, text, message):
    p = tmp_path / "prompts.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_prompts(p)


def test_missing_prompts_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_prompts(tmp_path / "none.toml")


def test_early_hit_reads_the_first_three_complete_lines():
    prompt = {"text": "x = 1\n", "expect": [r"scatter\("]}
    assert checks(prompt, "# a plot\nplt.scatter(x, y)\nplt.show()\n")["early_hit"]
    assert not checks(prompt, "a = 1\nb = 2\nc = 3\nplt.scatter(x, y)\n")["early_hit"]
    assert not checks(prompt, "plt.scatter(x, y")["early_hit"]  # no complete line
    assert not early_hit([], "plt.scatter(x, y)\n")  # nothing expected: nothing to hit


def test_heldout_prompts_are_their_own_group():
    gen = {"prompts_file": "experiments/prompts.toml",
           "heldout_prompts_file": "experiments/prompts-heldout.toml"}  # fmt: skip
    prompts = evaluation_prompts(gen)
    groups = [p["group"] for p in prompts]
    assert groups == ["course"] * 4 + ["heldout"] * (len(prompts) - 4) and len(prompts) >= 12
    course = {p["text"] for p in prompts[:4]}
    assert not course & {p["text"] for p in prompts[4:]}  # held out means not the course's
    assert evaluation_prompts({**gen, "heldout_prompts_file": ""}) == prompts[:4]


def test_sample_summary_per_group_with_the_early_rate():
    def sample(hit: bool, early: bool) -> dict:
        return {"checks": {"syntax_valid": True, "patterns": {"a": hit}, "early_hit": early}}

    completions = [
        {"name": "c", "group": "course", "samples": [sample(True, True), sample(True, False)]},
        {"name": "h", "group": "heldout", "samples": [sample(False, False)] * 4},
    ]
    course = sample_summary(completions)
    assert course["samples"] == 2 and course["early_hit_rate"] == 0.5
    assert course["pattern_hit_rate"] == 1.0
    heldout = sample_summary(completions, "heldout")
    assert heldout["samples"] == 4 and heldout["early_hit_rate"] == 0.0


def test_the_checks_read_the_completion_not_the_prompt():
    """A prompt that names the expected call does not make a completion pass: the checks read
    the completion's complete lines only (they passed when searching prompt + completion)."""
    prompt = {"text": "# call plt.scatter(x, y)\n", "expect": [r"scatter\("]}
    c = checks(prompt, "y = 2\n")
    assert c["syntax_valid"] and c["patterns"] == {r"scatter\(": False} and not c["early_hit"]
    # the prompt alone parses: a completion with no complete line still fails
    assert not checks(prompt, "plt.scatter(x")["syntax_valid"]


def test_the_cut_last_line_counts_for_no_check():
    """The uncut completion holds the pattern and is garbage; the checks must not see it."""
    prompt = {"text": "x = 1\n", "expect": [r"scatter\("]}
    c = checks(prompt, "y = 2\nplt.scatter(x, y")
    assert c == {"checked": "y = 2\n", "syntax_valid": True,
                 "patterns": {r"scatter\(": False}, "early_hit": False}  # fmt: skip
    assert not checks(prompt, "y = 2\nplt.scatter(x, y) +")["early_hit"]
