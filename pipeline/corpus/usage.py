"""The usage parts of the installed corpus: code that *uses* pandas, sklearn, matplotlib and
seaborn, as codeparrot-ds does, rather than the libraries' own internals and tests.

- doctests: the `>>>` examples in the installed packages' docstrings, one script per source file;
- examples: example scripts and notebook code cells from the source distributions (sdists) that
  `make setup` downloads (python -m pipeline.fetch); the data stage itself stays offline.

Each part yields rows in codeparrot-ds's columns, like corpus.sources' installed files.
"""

from __future__ import annotations

import ast
import doctest
import re
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from pipeline.corpus.sources import SourceFile, read_files

# The sdists whose examples join the corpus (with their installed version) and the folders of
# each that hold usage code: galleries, examples, documentation notebooks.
EXAMPLE_PACKAGES = ("seaborn", "scikit-learn", "matplotlib", "statsmodels")
# Packages whose sdist is used even when they are not installed, at this version: statsmodels'
# 76 example notebooks are analyses in pandas + matplotlib, each step under a short heading,
# which is the shape of codeparrot-ds code and of the course prompts.
PINNED_EXAMPLE_VERSIONS = {"statsmodels": "0.14.6"}
EXAMPLE_DIRS = ("examples", "galleries", "doc", "docs")
DOCTEST_MARKER = ">>>"
_PARSER = doctest.DocTestParser()


# ---- doctests ----


def docstrings(tree: ast.AST) -> Iterator[str]:
    """The docstrings of a module, its classes and functions (breadth first)."""
    for node in ast.walk(tree):  # breadth first, from the module down
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        text = ast.get_docstring(node, clean=True)
        if text and DOCTEST_MARKER in text:
            yield text


def doctest_script(source: str, comments: bool = True) -> str:
    """The `>>>` examples of a file's docstrings as one script: each docstring's examples in
    order, a blank line between docstrings. Expected outputs are dropped: they are not code.
    With `comments`, the short sentence that introduces an example ("Compute the mean per
    group:") is kept as the comment above it (intro_comment). Empty when the file has none or
    does not parse."""
    if DOCTEST_MARKER not in source:
        return ""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return ""
    blocks = []
    for text in docstrings(tree):
        try:
            pieces = _PARSER.parse(text)
        except ValueError:  # inconsistent indentation inside the docstring
            continue
        lines, prose = [], ""
        for piece in pieces:
            if isinstance(piece, str):
                prose = piece
                continue
            lines.append((intro_comment(prose) if comments else "") + piece.source)
            prose = ""  # the next example of a run has no sentence of its own
        if "".join(lines).strip():
            blocks.append("".join(lines))
    return "\n".join(blocks)


def intro_comment(prose: str) -> str:
    """The comment a docstring's text gives the example right after it: its last paragraph,
    as markdown_comment makes it (short, headings and underlines dropped), unless that is a
    single word (a numpydoc section title such as "Examples")."""
    paragraph = prose.strip().split("\n\n")[-1] if prose.strip() else ""
    comment = markdown_comment(paragraph)
    return comment if len(comment.split()) > 2 else ""  # "# Examples" is a title, not a comment


DOCTEST_SUFFIX = "#doctests"  # a doctest script's path: its home file's, plus this


def split_path(path: str) -> str:
    """The path whose hash picks a row's split: a doctest script goes where its home file goes,
    so no validation script has its home file (and its examples' code) in train."""
    return path.removesuffix(DOCTEST_SUFFIX)


def doctest_rows(
    rows: Iterable[dict], keywords: tuple[str, ...] = (), comments: bool = True
) -> Iterator[dict]:
    """One row per source row (an installed file) with docstring examples; its path gets
    '#doctests'.

    A docstring example writes `pd.` without naming pandas, so the keyword filter looks at
    the file the docstring lives in: files that name no keyword give no row."""
    for row in rows:
        source = row["content"] or ""
        if DOCTEST_MARKER not in source or not has_keyword(source, keywords):
            continue
        script = doctest_script(source, comments)
        if script:
            yield {
                **row,
                "path": row["path"] + DOCTEST_SUFFIX,
                "size": str(len(script.encode())),
                "content": script,
            }


def has_keyword(text: str, keywords: tuple[str, ...]) -> bool:
    return not keywords or any(k in text for k in keywords)


# ---- examples from source distributions ----

PROSE_RUN = 3  # this many comment lines in a row are prose (sphinx-gallery text), not a comment
CELL_MARKER = re.compile(r"^\s*#\s*%%")


def strip_prose(source: str) -> str:
    """An example script without its prose: the module docstring, the comment header above the
    first code line, `# %%` cell markers and every run of PROSE_RUN or more comment-only lines
    go; short comments stay. About half of the gallery examples' bytes
    are reStructuredText written as comments; codeparrot-ds scripts, like the course prompts,
    put a short comment before the code it describes."""
    lines = source.splitlines()
    try:
        body = ast.parse(source).body
    except (SyntaxError, ValueError):
        body = []
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(getattr(first.value, "value", None), str):
        lines[first.lineno - 1 : first.end_lineno] = []
    out: list[str] = []
    run: list[str] = []
    for line in [*lines, ""]:
        if CELL_MARKER.match(line):  # "# %%" cell separators: notebook structure, not comments
            continue
        if line.lstrip().startswith("#"):
            run.append(line)
            continue
        # The header above the first code line (authors, license) is not a code comment either.
        if 0 < len(run) < PROSE_RUN and any(ln.strip() for ln in out):
            out += run
        run = []
        if line.strip() or (out and out[-1].strip()):  # one blank line at most
            out.append(line)
    return "\n".join(out).strip("\n") + "\n" if any(ln.strip() for ln in out) else ""


MARKDOWN_HEADING = re.compile(r"^\s*#+\s*")


def markdown_comment(source: str, prose: bool = False) -> str:
    """A markdown cell as the comment a script would have in its place (jupytext writes
    markdown as comments too): a short cell (under PROSE_RUN lines, headings' '#' marks and
    reST/markdown underlines dropped) becomes '# ...' lines; a longer one is prose and goes,
    unless `prose`, as strip_prose treats a script's comment runs."""
    lines = [MARKDOWN_HEADING.sub("", ln).strip() for ln in source.strip().splitlines()]
    lines = [ln for ln in lines if ln and not set(ln) <= set("-=~*_")]
    if not lines or (len(lines) >= PROSE_RUN and not prose):
        return ""
    return "".join(f"# {ln}\n" for ln in lines)


def notebook_code(text: str, prose: bool = False, markdown: bool = True) -> str:
    """A notebook as a script: code cells, each after the comment its markdown cell makes
    (markdown_comment; none with markdown=False). IPython magics and shell lines are left out."""
    import nbformat

    nb = nbformat.reads(text, as_version=4)
    cells, comment = [], ""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            comment = markdown_comment(cell.source, prose) if markdown else ""
            continue
        if cell.cell_type != "code":
            continue
        lines = [ln for ln in cell.source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        code = "\n".join(lines).strip()
        if code:
            cells.append(comment + code + "\n")
        comment = ""  # a comment describes the code right after it only
    return "\n".join(cells)  # one blank line between cells


def is_example_path(member: str) -> bool:
    """package-1.0/examples/..., galleries/..., doc/... or docs/..., as .py or .ipynb."""
    parts = PurePosixPath(member).parts
    return (
        len(parts) > 2
        and parts[1] in EXAMPLE_DIRS
        and PurePosixPath(member).suffix in (".py", ".ipynb")
        and not any(p.startswith(".") for p in parts)
    )


def sdist_rows(
    tarball: Path,
    repo_name: str,
    license_: str = "unknown",
    prose: bool = False,
    markdown: bool = True,
) -> Iterator[dict]:
    """Rows of an sdist's example scripts and notebooks (notebook_code), in archive order;
    scripts lose their prose (strip_prose) unless `prose`."""
    with tarfile.open(tarball, "r:*") as tar:
        members = [m for m in tar if m.isfile() and is_example_path(m.name)]
        # A script exported from a notebook beside it (statsmodels ships both) is the same
        # code twice, in other words: the notebook stays.
        notebooks = {m.name.rsplit("/", 1)[1][: -len(".ipynb")] for m in members
                     if m.name.endswith(".ipynb")}  # fmt: skip
        for member in members:
            stem = member.name.rsplit("/", 1)[1].removesuffix(".py")
            if member.name.endswith(".py") and stem in notebooks:
                continue
            data = tar.extractfile(member).read()
            path = PurePosixPath(*PurePosixPath(member.name).parts[1:]).as_posix()
            try:
                text = data.decode("utf-8")
                if path.endswith(".ipynb"):
                    content = notebook_code(text, prose, markdown)
                else:
                    content = text if prose else strip_prose(text)
            except Exception:  # not UTF-8, or a notebook nbformat cannot read
                content = None
            yield {
                "repo_name": repo_name,
                "path": path,
                "copies": "1",
                "size": str(len(data)),
                "content": content,
                "license": license_,
            }


def sdist_names(package: str, version: str) -> tuple[str, str]:
    """The file name PEP 625 gives an sdist, and the older dashed one: both are looked for."""
    return f"{package.replace('-', '_').lower()}-{version}.tar.gz", f"{package}-{version}.tar.gz"


def find_sdist(folder: Path, package: str, version: str, exact: bool = False) -> Path | None:
    """The sdist of this exact version, else (unless exact) the newest other version of the
    package in the folder: its examples still show how the library is used, and a GPU box may
    have other versions installed than the ones `make fetch` saw. None when there is none."""
    folder = Path(folder)
    for name in sdist_names(package, version):
        if (folder / name).is_file():
            return folder / name
    if exact:
        return None
    stems = {package.replace("-", "_").lower(), package}
    others = [p for p in folder.glob("*.tar.gz") if p.name.rsplit("-", 1)[0] in stems]
    return max(others, key=lambda p: _version_key(p.name), default=None)


def _version_key(filename: str) -> tuple:
    version = filename.rsplit("-", 1)[1].removesuffix(".tar.gz")
    return tuple(int(x) if x.isdigit() else -1 for x in version.split("."))


def example_sources(folder: Path, versions: dict[str, str]) -> tuple[list[tuple], list[str]]:
    """([(package, tarball)], [missing "package==version"]) for EXAMPLE_PACKAGES with a
    version (example_versions); a package without one is neither used nor missing."""
    found, missing = [], []
    for package in EXAMPLE_PACKAGES:
        version = versions.get(package)
        if version is None:
            continue
        tarball = find_sdist(folder, package, version)
        if tarball is None:
            missing.append(f"{package}=={version}")
        else:
            found.append((package, tarball))
    return found, missing


def example_versions() -> dict[str, str]:
    """The version of each EXAMPLE_PACKAGES entry: the installed one, else its pin in
    PINNED_EXAMPLE_VERSIONS (a package neither installed nor pinned is left out)."""
    from importlib import metadata

    versions = {}
    for package in EXAMPLE_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            if package in PINNED_EXAMPLE_VERSIONS:
                versions[package] = PINNED_EXAMPLE_VERSIONS[package]
    return versions


def examples_fingerprint(folder: Path) -> list[str]:
    found, missing = example_sources(folder, example_versions())
    out = []
    for package, tarball in found:
        st = tarball.stat()
        out.append(f"{package}:{tarball.name}:{st.st_size}")
    return out + [f"missing:{m}" for m in missing]


# ---- the installed source's parts ----

PARTS = ("library", "doctests", "examples")
# The random heuristics (tests_and_configs, no_code_structure) aim at library internals and
# test suites; on usage code they drop plain scripts (no def/class/loop) and every example
# that calls train_test_split. Usage parts meet the deterministic filters only
# (corpus.filters.Screen.for_usage).


def part_weights(data_cfg: dict[str, Any]) -> dict[str, float]:
    """The [data.parts] mixing weights (a missing part weighs 0; pipeline.rules checks them)."""
    parts = data_cfg.get("parts") or {}
    return {part: float(parts.get(part, 0)) for part in PARTS}


def installed_part_rows(
    part: str,
    files: list[SourceFile],
    keywords: tuple[str, ...],
    examples_dir: Path,
    prose: bool = False,
    shared: dict[str, list] | None = None,
    comments: bool = True,
) -> tuple[Iterator[dict[str, Any]], list[str]]:
    """(rows, sdists missing from examples_dir as "name==version") of one installed part.

    `shared` carries the files with docstring examples from the library part to the doctests
    part, so the installed files are read once when both are in the mix (parts run in order)."""
    shared = {} if shared is None else shared
    if part == "library":
        return _remember_examples(read_files(files, []), keywords, shared), []
    if part == "doctests":
        sources = shared.get("doctest_sources")
        sources = read_files(files, []) if sources is None else sources
        return doctest_rows(sources, keywords, comments), []
    found, missing = example_sources(examples_dir, example_versions())

    def rows() -> Iterator[dict[str, Any]]:
        for package, tarball in found:
            yield from sdist_rows(tarball, package, prose=prose, markdown=comments)

    return rows(), missing


def _remember_examples(
    rows: Iterator[dict], keywords: tuple[str, ...], shared: dict[str, list]
) -> Iterator[dict]:
    kept = shared.setdefault("doctest_sources", [])
    for row in rows:
        source = row["content"] or ""
        if DOCTEST_MARKER in source and has_keyword(source, keywords):
            kept.append(row)
        yield row
