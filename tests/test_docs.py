"""The README and docs/ say what the files say: a config value they quote is checked against
the experiments' TOML files here, and so are the paths, links and make targets they name.

How to quote a config value so that it stays true: the dotted key as in the file and the file
after it, `training.learning_rate = 3e-3` (profiles/cpu.toml). A `key = value` span without its
file is refused (write `[section] key = value` for an instruction, or use a code block). A
```toml block's tables that name an experiment of experiments/matrix.toml must match it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import flatten
from tests.conftest import ROOT

EXPERIMENTS = ROOT / "experiments"
DOCS = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SPAN = re.compile(r"`([^`\n]+)`")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
QUOTE = re.compile(r"`([A-Za-z_][\w.-]*) = ([^`]+)`(\s*\(([\w/.-]+\.toml)\))?")
LINK = re.compile(r"\]\(([^)\s]+)\)")
REPO_PATH = re.compile(
    r"^(?:pipeline|report|templates|experiments|bench|docs|examples|tests|colab)/"
)
MAKE = re.compile(r"(?:^|[\s`;(])make ([a-z][\w-]*)")


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def prose(markdown: str) -> str:
    """The text outside fenced code blocks."""
    return FENCE.sub("", markdown)


def config_files() -> dict[str, dict[str, Any]]:
    """Every experiments TOML file, flattened to dotted keys, by its name under experiments/."""
    files = [EXPERIMENTS / "defaults.toml", EXPERIMENTS / "matrix.toml"]
    files += sorted((EXPERIMENTS / "profiles").glob("*.toml"))
    return {p.relative_to(EXPERIMENTS).as_posix(): flatten(tomllib.loads(text(p))) for p in files}


def config_keys(files: dict[str, dict[str, Any]]) -> set[str]:
    """Every key a quote may name: the files' dotted keys and each of their dotted tails."""
    keys = set()
    for flat in files.values():
        for key in flat:
            parts = key.split(".")
            keys |= {".".join(parts[i:]) for i in range(len(parts))}
    return keys


def value(literal: str) -> Any:
    return tomllib.loads(f"v = {literal}")["v"]


def test_readme_is_short_and_starts_with_the_two_commands() -> None:
    lines = text(ROOT / "README.md").splitlines()
    assert len(lines) <= 150
    head = "\n".join(lines[:25])
    assert "make all" in head and "make test" in head


def quote_problems(markdown: str, files: dict[str, dict[str, Any]]) -> list[str]:
    """One line per quoted config value that is not the file's, or that names no file."""
    keys = config_keys(files)
    wrong = []
    for key, literal, ref, name in QUOTE.findall(prose(markdown)):
        if not ref:
            if key in keys:  # a config value without its file: it cannot be checked
                wrong.append(f"`{key} = {literal}` names no file: add (profiles/<x>.toml)")
            continue
        flat = files.get(name)
        if flat is None:
            wrong.append(f"`{key} = {literal}`: no experiments/{name}")
        elif key not in flat:
            wrong.append(f"`{key} = {literal}`: {name} has no {key}")
        elif value(literal) != flat[key]:
            wrong.append(f"`{key} = {literal}`: {name} says {flat[key]!r}")
    return wrong


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_quoted_config_values_are_those_of_the_files(doc: Path) -> None:
    assert quote_problems(text(doc), config_files()) == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_matrix_examples_are_the_matrix(doc: Path) -> None:
    matrix = tomllib.loads(text(EXPERIMENTS / "matrix.toml"))
    for lang, block in FENCE.findall(text(doc)):
        if lang != "toml":
            continue
        for name, table in tomllib.loads(block).items():
            if name not in matrix:
                continue  # an example of another section ([hub]) or a new experiment
            shown = {k: v for k, v in flatten(table).items() if k != "description"}
            actual = flatten(matrix[name])
            assert {k: actual.get(k) for k in shown} == shown, f"[{name}] in {doc.name}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_links_and_paths_exist(doc: Path) -> None:
    missing = []
    for target in LINK.findall(text(doc)):
        local = not re.match(r"^[a-z]+:", target) and not target.startswith("#")
        if local and not (doc.parent / target.split("#")[0]).exists():
            missing.append(target)
    for span in SPAN.findall(prose(text(doc))):
        path = span.split()[0].rstrip(".,:;")
        placeholder = re.search(r"[<*{]", path)
        if REPO_PATH.match(path) and not placeholder and not (ROOT / path).exists():
            missing.append(path)
    assert missing == []


def make_targets() -> set[str]:
    makefile = text(ROOT / "Makefile")
    targets = set()
    for line in makefile.splitlines():
        rule = re.match(r"^([a-z][\w -]*?):(?!=)", line)
        if rule:
            targets |= set(rule.group(1).split())
    phony = re.search(r"^\.PHONY:(.*)$", makefile, re.M)
    return targets | set(phony.group(1).split() if phony else ())


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_make_targets_named_exist(doc: Path) -> None:
    code = "\n".join(
        [block for _, block in FENCE.findall(text(doc))] + SPAN.findall(prose(text(doc)))
    )
    named = set(MAKE.findall(code))
    assert named - make_targets() == set()
    if doc.name == "README.md" and doc.parent == ROOT:
        assert {"all", "test", "report", "experiment"} <= named


def test_the_report_picture_is_a_small_png() -> None:
    picture = ROOT / "docs" / "report-page.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert picture.stat().st_size < 150_000
    assert "](docs/report-page.png)" in text(ROOT / "README.md")


def test_quote_check_catches_the_values_issue_21_found_stale() -> None:
    # the old README's lr-x4 rate and part weights, and its profile's seconds, quoted the
    # checked way: each is refused with what the file says
    files = {"profiles/cpu.toml": {"training.learning_rate": 3e-3, "data.parts.library": 0.1}}
    markdown = (
        "lr-x4: `training.learning_rate = 4e-3` (profiles/cpu.toml), the library part\n"
        "`data.parts.library = 0.25` (profiles/cpu.toml), `data.parts.library = 0.1`\n"
        "(profiles/cpu.toml) is right; `learning_rate = 3e-3` names no file;\n"
        "`training.max_steps = 320` (profiles/cpu.toml) is not in it; `x = np.zeros(3)` is code\n"
        "```toml\n[training]\nlearning_rate = 1.0\n```\n"
    )
    assert quote_problems(markdown, files) == [
        "`training.learning_rate = 4e-3`: profiles/cpu.toml says 0.003",
        "`data.parts.library = 0.25`: profiles/cpu.toml says 0.1",
        "`learning_rate = 3e-3` names no file: add (profiles/<x>.toml)",
        "`training.max_steps = 320`: profiles/cpu.toml has no training.max_steps",
    ]


def test_readme_states_the_python_the_project_requires() -> None:
    pyproject = tomllib.loads(text(ROOT / "pyproject.toml"))
    least = pyproject["project"]["requires-python"].removeprefix(">=")
    assert f"Python {least} or newer" in text(ROOT / "README.md")
