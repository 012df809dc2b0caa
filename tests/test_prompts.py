"""Prompts file and the checks on completions."""

import pytest

from pipeline.config import ConfigError
from pipeline.prompts import checks, complete_lines, load_prompts, syntax_valid


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
    c = checks(prompt, "plt.scatter(x, y)\nplt.show(")  # stops mid-line
    assert c == {"syntax_valid": True, "patterns": {r"scatter\(": True, "plt": True}}
    assert not checks(prompt, "def f(:\n")["syntax_valid"]
    assert complete_lines("a\nb") == "a\n" and complete_lines("ab") == ""
    assert syntax_valid("") and not syntax_valid("x = (\n")


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
