"""The usage parts of the corpus on small hand-made inputs, with exact counts: docstring
examples, sdist examples and notebooks, the mixing weights, a missing download, the prompt
filter, and the fetch step against a local package index."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections import Counter
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from pipeline import corpus, fetch
from pipeline.config import ConfigError, load_matrix
from pipeline.corpus import Candidate, build_corpus, usage, weigh
from pipeline.corpus.filters import Screen, unit_hash
from tests.test_corpus import data_cfg, write_tree

MODULE = '''"""Tools.

>>> import pandas as pd
>>> df = pd.DataFrame({"a": [1, 2]})
>>> df.groupby("a").size()
a
1    1
2    1
dtype: int64
"""


def plot(ax):
    """Draw.

    Examples
    --------
    >>> fig, ax = plt.subplots()
    >>> for i in range(3):
    ...     ax.plot([i])
    """


def nothing():
    """No examples here."""
'''


def test_doctest_script_keeps_sources_in_order_and_drops_outputs():
    assert usage.doctest_script(MODULE) == (
        "import pandas as pd\n"
        'df = pd.DataFrame({"a": [1, 2]})\n'
        'df.groupby("a").size()\n'
        "\n"
        "fig, ax = plt.subplots()\n"
        "for i in range(3):\n"
        "    ax.plot([i])\n"
    )
    assert usage.doctest_script("def f(:\n  '>>> 1'") == ""  # does not parse
    assert usage.doctest_script("x = 1\n") == ""


def test_the_sentence_introducing_an_example_becomes_its_comment():
    doc = '''"""Group.

    Examples
    --------
    >>> df = pd.DataFrame({"a": [1, 1], "b": [2, 3]})
    >>> df
       a  b
    0  1  2

    Compute the mean
    per group:

    >>> df.groupby("a").mean()
       b
    >>> df.groupby("a").sum()

    A long explanation
    in three
    lines.

    >>> df.count()
    """
    '''
    assert usage.doctest_script(doc) == (
        'df = pd.DataFrame({"a": [1, 1], "b": [2, 3]})\n'  # "Examples" is a title: no comment
        "df\n"
        "# Compute the mean\n# per group:\n"
        'df.groupby("a").mean()\n'
        'df.groupby("a").sum()\n'  # the second of a run has no sentence of its own
        "df.count()\n"  # three lines are prose, as in a script
    )
    assert "#" not in usage.doctest_script(doc, comments=False)


def test_doctest_rows_take_keywords_from_the_home_file(tmp_path):
    write_tree(
        tmp_path,
        {
            "a.py": MODULE,  # names pandas in a docstring: kept
            "b.py": '"""\n>>> np.zeros(3)\n"""\n',  # names no keyword: no row
            "c.py": "import pandas\n",  # no examples: no row
        },
    )
    files = [
        usage.SourceFile("pkg", name, tmp_path / name, "mit") for name in ("a.py", "b.py", "c.py")
    ]
    rows = list(usage.doctest_rows(usage.read_files(files, []), ("pandas",)))
    assert [r["path"] for r in rows] == ["a.py#doctests"]
    assert rows[0]["content"] == usage.doctest_script(MODULE)
    assert rows[0]["size"] == str(len(rows[0]["content"].encode()))
    # With the library part in the mix the files are read once: the same doctest rows.
    shared: dict = {}
    library, _ = usage.installed_part_rows("library", files, ("pandas",), tmp_path, shared=shared)
    assert len(list(library)) == 3 and [r["path"] for r in shared["doctest_sources"]] == ["a.py"]
    again, _ = usage.installed_part_rows("doctests", files, ("pandas",), tmp_path, shared=shared)
    assert list(again) == rows


def notebook() -> str:
    nb = new_notebook()
    nb.cells = [
        new_markdown_cell("# A title"),
        new_code_cell("%matplotlib inline\nimport seaborn as sns"),
        new_code_cell("!pip install x"),  # only a shell line: no cell
        new_code_cell("tips = sns.load_dataset('tips')\nsns.histplot(tips)"),
    ]
    return nbformat.writes(nb)


def test_notebook_code_cells_without_magics():
    # The heading becomes the comment above the code cell after it (and only that one).
    assert usage.notebook_code(notebook()) == (
        "# A title\nimport seaborn as sns\n\ntips = sns.load_dataset('tips')\nsns.histplot(tips)\n"
    )


def test_markdown_cells_become_short_comments_and_prose_goes():
    md = usage.markdown_comment
    assert md("## Plot the data\n") == "# Plot the data\n"
    assert md("Fit and summary:\n\n") == "# Fit and summary:\n"
    assert md("Title\n=====\nLine two") == "# Title\n# Line two\n"  # underline dropped
    prose = "One.\nTwo.\nThree."
    assert md(prose) == "" and md(prose, prose=True) == "# One.\n# Two.\n# Three.\n"
    assert md("") == "" and md("----\n") == ""
    nb = new_notebook()
    nb.cells = [
        new_markdown_cell("Fit the model:"),
        new_markdown_cell("A long\nexplanation\nin three lines"),  # replaces the one above
        new_code_cell("model.fit(X, y)"),
        new_code_cell("model.predict(X)"),
        new_markdown_cell("A last word with no code after it"),
    ]
    assert usage.notebook_code(nbformat.writes(nb)) == ("model.fit(X, y)\n\nmodel.predict(X)\n")
    nb.cells[1].source = "Short."
    assert usage.notebook_code(nbformat.writes(nb)).startswith("# Short.\nmodel.fit")
    # data.usage_comments = false: code cells only
    assert usage.notebook_code(nbformat.writes(nb), markdown=False) == (
        "model.fit(X, y)\n\nmodel.predict(X)\n"
    )


def test_a_script_exported_from_a_notebook_beside_it_is_left_out(tmp_path):
    files = {
        "statsmodels-0.14.6/examples/notebooks/ols.ipynb": notebook(),
        "statsmodels-0.14.6/examples/python/ols.py": "# exported\nimport seaborn as sns\n",
        "statsmodels-0.14.6/examples/python/other.py": "import pandas as pd\n",
    }
    tarball = make_sdist(tmp_path, "statsmodels-0.14.6.tar.gz", files)
    rows = list(usage.sdist_rows(tarball, "statsmodels"))
    assert [r["path"] for r in rows] == ["examples/notebooks/ols.ipynb", "examples/python/other.py"]


def test_a_pinned_example_package_is_used_without_being_installed(monkeypatch):
    from importlib import metadata

    real = metadata.version

    def version(name):
        if name == "statsmodels":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "version", version)
    versions = usage.example_versions()
    assert versions["statsmodels"] == usage.PINNED_EXAMPLE_VERSIONS["statsmodels"]
    monkeypatch.setattr(usage, "PINNED_EXAMPLE_VERSIONS", {})
    assert "statsmodels" not in usage.example_versions()


def make_sdist(folder: Path, name: str, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with tarfile.open(path, "w:gz") as tar:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


SDIST_FILES = {
    "seaborn-0.13.2/examples/scatter.py": "import seaborn as sns\nsns.scatterplot()\n",
    "seaborn-0.13.2/doc/tutorial/intro.ipynb": notebook(),
    "seaborn-0.13.2/doc/conf.py.txt": "not code",
    "seaborn-0.13.2/seaborn/core.py": "import seaborn\n",  # the library: not an example
    "seaborn-0.13.2/examples/.hidden/x.py": "import seaborn\n",
    "seaborn-0.13.2/examples/latin1.py": "x = 'caf\xe9'\n",
}


def test_sdist_rows_are_the_examples_and_notebooks(tmp_path):
    tarball = make_sdist(tmp_path, "seaborn-0.13.2.tar.gz", SDIST_FILES)
    rows = list(usage.sdist_rows(tarball, "seaborn", "BSD"))
    assert [r["path"] for r in rows] == [
        "examples/scatter.py",
        "doc/tutorial/intro.ipynb",
        "examples/latin1.py",
    ]
    assert rows[0]["content"] == SDIST_FILES["seaborn-0.13.2/examples/scatter.py"]
    assert rows[1]["content"] == usage.notebook_code(notebook())
    assert rows[0]["repo_name"] == "seaborn" and rows[0]["license"] == "BSD"


def test_examples_part_names_what_is_missing(tmp_path):
    make_sdist(tmp_path, "seaborn-0.13.2.tar.gz", SDIST_FILES)
    versions = {"seaborn": "0.13.2", "scikit-learn": "1.9.1"}
    found, missing = usage.example_sources(tmp_path, versions)
    assert [p for p, _ in found] == ["seaborn"] and missing == ["scikit-learn==1.9.1"]
    # PEP 625 names (scikit_learn-...) are found as well as the old dashed ones.
    make_sdist(tmp_path, "scikit_learn-1.9.1.tar.gz", {"scikit_learn-1.9.1/examples/a.py": ""})
    assert usage.example_sources(tmp_path, versions)[1] == []


def cand(i: int, part: str) -> Candidate:
    return Candidate(
        i, hashlib.blake2b(str(i).encode(), digest_size=16).digest(), 10, "r", 0.5, part
    )


def test_weights_repeat_and_thin_each_part():
    kept = [cand(i, "library") for i in range(200)] + [cand(i, "examples") for i in range(200, 230)]
    weights = {"library": 0.25, "doctests": 0.0, "examples": 3.0}
    train = weigh(kept, "train", weights, seed=7)
    counts = Counter(c.part for c in train)
    expected_library = sum(
        unit_hash(7, "weight", "r", c.digest.hex()) < 0.25 for c in kept[:200]
    )  # by hand: a file is kept when its seeded draw is below its weight's fraction
    assert counts == {"library": expected_library, "examples": 90}
    assert 30 <= expected_library <= 70
    valid = weigh(kept, "valid", weights, seed=7)  # at most once each
    assert Counter(c.part for c in valid) == {"library": expected_library, "examples": 30}
    assert weigh(kept, "train", weights, seed=7) == train  # the same mix on every build


@pytest.mark.parametrize(
    "parts, match",
    [
        ({"library": -1, "doctests": 1, "examples": 1}, "data.parts.library"),
        ({"library": "1", "doctests": 1, "examples": 1}, "data.parts.library"),
        ({"library": 0, "doctests": 0, "examples": 0}, "every weight is 0"),
        ({"library": 1, "doctest": 1}, "unknown key 'data.parts.doctest'"),
    ],
)
def test_bad_weights(parts, match, tmp_path):
    table = ", ".join(f"{k} = {json.dumps(v)}" for k, v in parts.items())
    (tmp_path / "m.toml").write_text(f'[x]\ndata.source = "installed"\ndata.parts = {{{table}}}\n')
    with pytest.raises(ConfigError, match=match):  # before any work
        load_matrix("micro", matrix_file=tmp_path / "m.toml", check_training_args=False)


def test_prompt_text_in_a_file_drops_it(tmp_path):
    prompt = "# create some data\nx = np.random.randn(100)\n\n# create scatter plot with x, y\n"
    body = "import pandas as pd\n\n\ndef f():\n    return pd\n"
    write_tree(
        tmp_path / "src",
        {
            "copied.py": body + "    # create some data\n    x = np.random.randn(100)\n"
            "    # create scatter plot with x, y\n",  # indented, blank line gone: still the prompt
            "partial.py": body + "# create some data\n",
            **{f"ok{i}.py": body + f"# {i}\n" for i in range(6)},
        },
    )
    cfg = data_cfg(source="path", path=str(tmp_path / "src"), valid_fraction=0.3)
    dsd, stats = build_corpus(cfg, tmp_path / "cache", exclude=(prompt,))
    paths = set(dsd["train"]["path"]) | set(dsd["valid"]["path"])
    assert stats["filtered"]["contains_prompt"] == 1 and "copied.py" not in paths
    assert "partial.py" in paths and len(paths) == 7


def test_installed_parts_with_a_missing_download(tmp_path, capsys):
    """The installed source builds without its examples when nothing was downloaded, says so,
    and counts each part."""
    cfg = data_cfg(
        examples_dir=str(tmp_path / "empty"),
        parts={"library": 0.0, "doctests": 1.0, "examples": 1.0},
    )
    dsd, stats = build_corpus(cfg, tmp_path / "cache")
    parts = stats["parts"]
    assert parts["examples"]["missing"] and parts["examples"]["files_seen"] == 0
    assert "make fetch" in capsys.readouterr().out
    assert parts["library"]["train_files"] == 0 and parts["doctests"]["train_files"] > 10
    assert stats["train_files"] == parts["doctests"]["train_files"] == len(dsd["train"])
    assert all(p.endswith("#doctests") for p in dsd["train"]["path"])


def test_fetch_from_a_local_index(tmp_path, monkeypatch):
    """The simple-index page is read, the sha256 checked, the file written whole."""
    payload = make_sdist(tmp_path / "files", "seaborn-0.13.2.tar.gz", SDIST_FILES).read_bytes()
    sha = hashlib.sha256(payload).hexdigest()
    page = tmp_path / "simple" / "seaborn" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text(
        '<a href="../../files/seaborn-0.12.0.tar.gz#sha256=00">old</a>\n'
        f'<a href="../../files/seaborn-0.13.2.tar.gz#sha256={sha}">seaborn-0.13.2.tar.gz</a>\n'
    )
    index = (tmp_path / "simple").as_uri() + "/"
    url, got = fetch.sdist_link(index, "seaborn", "0.13.2")
    assert got == sha and url.endswith("files/seaborn-0.13.2.tar.gz")
    monkeypatch.setenv("PIP_INDEX_URL", index)
    dest = tmp_path / "downloads"
    assert fetch.fetch(dest, ("seaborn",)) == []
    assert (dest / "seaborn-0.13.2.tar.gz").read_bytes() == payload
    # A corrupt transfer leaves nothing behind that looks like a download.
    page.write_text(f'<a href="../../files/seaborn-0.13.2.tar.gz#sha256={"0" * 64}">x</a>')
    (dest / "seaborn-0.13.2.tar.gz").unlink()
    assert fetch.fetch(dest, ("seaborn",)) == ["seaborn"]
    assert list(dest.iterdir()) == []


def test_offline_fetch_is_one_line_and_not_an_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PIP_INDEX_URL", (tmp_path / "nowhere").as_uri() + "/")
    assert fetch.fetch(tmp_path / "d", ("seaborn",)) == ["seaborn"]
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "could not download" in out[0] and "make fetch" in out[0]


def test_screen_for_usage_keeps_plain_scripts():
    screen = Screen(keywords=("pandas",), tests_and_configs=1.0, no_code_structure=1.0)
    script = "import pandas as pd\nX_train, X_test = train_test_split(pd.DataFrame())\n"
    assert screen.drop_reason(script, "r", "a.py") is not None
    assert screen.for_usage().drop_reason(script, "r", "a.py") is None
    assert corpus.CORPUS_VERSION >= 2  # old caches hold no parts


def test_another_version_of_an_sdist_is_used_when_the_exact_one_is_missing(tmp_path):
    for version in ("1.8.0", "1.10.2"):
        make_sdist(tmp_path, f"scikit_learn-{version}.tar.gz", {})
    found = usage.find_sdist(tmp_path, "scikit-learn", "1.9.1")
    assert found == tmp_path / "scikit_learn-1.10.2.tar.gz"  # the newest, by version number
    assert usage.find_sdist(tmp_path, "scikit-learn", "1.9.1", exact=True) is None
    assert usage.find_sdist(tmp_path, "seaborn", "0.13.2") is None


def test_strip_prose_keeps_code_and_short_comments():
    source = (
        '"""\nScatter\n=======\n\nA long reST introduction.\n"""\n'
        "# Authors: The developers\n# SPDX-License-Identifier: BSD-3-Clause\n\n"
        "import matplotlib.pyplot as plt\n# %%\n"
        "# %%\n# Prose, line one\n# line two\n# line three\n\n"
        "# make data\nx = [1, 2]\n\n\n"
        "plt.scatter(x, x)  # an inline comment stays\n"
    )
    assert usage.strip_prose(source) == (
        "import matplotlib.pyplot as plt\n\n# make data\nx = [1, 2]\n\n"
        "plt.scatter(x, x)  # an inline comment stays\n"
    )
    assert usage.strip_prose('"""Only a docstring."""\n# a\n# b\n# c\n') == ""
    assert usage.strip_prose("x = (\n") == "x = (\n"  # does not parse: comments only


def test_sdist_scripts_lose_their_prose_unless_asked(tmp_path):
    files = {"pkg-1.0/examples/a.py": '"""Title."""\nimport seaborn\n'}
    tarball = make_sdist(tmp_path, "pkg-1.0.tar.gz", files)
    assert [r["content"] for r in usage.sdist_rows(tarball, "pkg")] == ["import seaborn\n"]
    kept = usage.sdist_rows(tarball, "pkg", prose=True)
    assert [r["content"] for r in kept] == [files["pkg-1.0/examples/a.py"]]
