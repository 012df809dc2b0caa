"""No evaluation prompt leaks into training (issue 20): a copied prompt is found whatever its
spacing or trailing comments, and a doctest script goes to the split of its home file."""

from __future__ import annotations

import pytest

from pipeline.corpus import filter_file, usage
from pipeline.corpus.filters import Screen, normalized_lines
from pipeline.prompts import load_prompts

SCATTER = load_prompts("experiments/prompts.toml")[0]["text"]  # the course's first prompt
SCREEN = Screen.from_config({"keywords": []}, 42, exclude=(SCATTER,))


@pytest.mark.parametrize(
    "copy",
    [
        SCATTER,
        "def f():\n" + "".join(f"    {line}\n" for line in SCATTER.splitlines()),  # indented
        SCATTER.replace(" = ", "="),  # x=np.random.randn(100)
        SCATTER.replace("# ", "#  "),  # two spaces after '#'
        SCATTER.replace("randn(100)\n", "randn(100)  # my data\n"),  # trailing comments
        SCATTER.replace("\n\n", "\n\n\n\n").replace(", ", " , "),
    ],
    ids=["verbatim", "indented", "no-spaces", "two-spaces", "trailing-comment", "spread"],
)
def test_a_copied_prompt_is_dropped_however_it_is_spaced(copy: str) -> None:
    content = "import numpy as np\n\n" + copy + "plt.scatter(x, y)\n"
    assert SCREEN.drop_reason(content, "lib", "a.py") == "contains_prompt"


def test_other_code_is_kept() -> None:
    near = SCATTER.replace("randn(100)", "randn(200)")
    assert SCREEN.drop_reason(near, "lib", "a.py") is None
    assert SCREEN.drop_reason("s = 'a # b'\n", "lib", "a.py") is None


def test_a_hash_inside_quotes_is_not_a_comment() -> None:
    assert normalized_lines("s = '#' + x  # why\n#  note\n") == "s='#'+x\n#note"


def test_a_doctest_script_goes_to_the_split_of_its_home_file() -> None:
    home = {
        "repo_name": "pandas",
        "path": "pandas/core/frame.py",
        "content": 'import pandas as pd\n\ndef f():\n    """\n    >>> pd.DataFrame({"a": [1]})\n    """\n',
        "license": "BSD",
        "size": "0",
        "copies": "1",
    }
    script = next(usage.doctest_rows([home], ("pandas",)))
    assert script["path"].endswith("#doctests")
    _, home_file = filter_file(home, Screen())
    _, doctests = filter_file(script, Screen())
    assert home_file is not None and doctests is not None
    assert doctests.rank == home_file.rank  # same hash, same side of valid_fraction
    assert doctests.digest != home_file.digest
