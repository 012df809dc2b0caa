"""The shape of the code, read from the source with ast (nothing is imported, so it is fast):

- no import cycles in pipeline/ and report/, counting every import in a file, a function's
  lazy one included (a lazy import hides a cycle from Python, not from a reader);
- the modules in TORCH_FREE import no torch or transformers when they are imported: neither
  themselves at the top, nor any project module they import at the top, transitively;
- report/ imports only the standard library, report/, the torch-free pipeline modules and the
  packages of REPORT_PACKAGES, anywhere in its files.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("pipeline", "report")
# accelerate imports torch at its top; datasets stays out: pipeline's data stage uses it.
HEAVY = {"torch", "transformers", "accelerate"}
# The modules that say they are torch-free, and why (with every report/ module): each must
# import, and make Python import, no HEAVY package at its top.
TORCH_FREE = (
    "pipeline.__main__",  # the CLI: `list` and `validate` answer in a second
    "pipeline.cache",
    "pipeline.data_checks",  # validate's data checks; the corpus only inside the function
    "pipeline.config",  # the report resolves the matrix through it
    "pipeline.environment",
    "pipeline.errors",  # the leaf
    "pipeline.eta",  # held by the runner; transformers only where a Trainer runs
    "pipeline.hub",
    "pipeline.inputs",
    "pipeline.matrix_values",  # --set and sweeps
    "pipeline.model",  # PRESETS: validation and the report read them
    "pipeline.parallel",  # plans, prints and waits until the workers start
    "pipeline.passk",
    "pipeline.record",  # the record's schema: report/ reads records through it
    "pipeline.record_types",  # the checks of a record read from disk
    "pipeline.requirements",  # says what is missing before anything heavy is imported
    "pipeline.run_folders",  # where a matrix's results and report go
    "pipeline.runner",  # `list` uses is_current; one experiment's run is pipeline.experiment
    "pipeline.secrets",  # redaction of what a record holds
    "pipeline.tensorboard_logs",
    "pipeline.rules",  # every key's rule: validation and the docs read the table
    "pipeline.tokenizer",  # cache keys and PRE_TOKENIZERS; tokenizers is imported when used
    "pipeline.validate",
    "pipeline.weights",
)
# The third-party packages report/ may import (it renders; it never trains).
REPORT_PACKAGES = {
    "bleach",  # nbconvert's own sanitizer: the notebooks' markdown HTML, record text escaped
    "jinja2",
    "markupsafe",
    "matplotlib",
    "mistune",
    "nbconvert",
    "nbformat",
    "pygments",
    "weasyprint",
}

Graph = dict[str, set[str]]


def module_files(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file in the packages and their subpackages
    (a package is named by its __init__.py)."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _executed_at_import(tree: ast.Module) -> Iterator[ast.AST]:
    """The nodes Python runs when the module is imported: not function bodies and not an
    `if TYPE_CHECKING:` block."""
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def imported_names(path: Path, name: str, top_only: bool = False) -> set[str]:
    """The dotted names a module imports (`from a.b import c` gives both a.b and a.b.c: the
    caller keeps what is a module). top_only: only the imports that run at import time."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    nodes = _executed_at_import(tree) if top_only else ast.walk(tree)
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from its package, one level up per extra dot
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}
    return names


def project_module(dotted: str, modules: dict[str, Path]) -> str | None:
    """The project module a dotted import name lands in (its longest known prefix)."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules:
            return ".".join(parts[:end])
    return None


def import_graph(root: Path, packages: Iterable[str] = PACKAGES, top_only: bool = False) -> Graph:
    """Module -> the project modules it imports (anywhere in the file, or only at the top)."""
    modules = module_files(root, packages)
    graph: Graph = {}
    for name, path in modules.items():
        targets = {project_module(n, modules) for n in imported_names(path, name, top_only)}
        graph[name] = {t for t in targets if t is not None and t != name}
    # `from pipeline import hub_data` names the package as well as the module: an
    # __init__ that imports nothing is no stage of its own, so its node only counts if it does
    for name, path in modules.items():
        if path.stem == "__init__" and not graph[name]:
            for targets in graph.values():
                targets.discard(name)
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """Every group of modules that import each other in a ring (Tarjan's strongly connected
    components with more than one module, or a module that imports itself), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def heavy_at_import(root: Path, names: Iterable[str], packages: Iterable[str] = PACKAGES) -> dict:
    """For each named module that pulls a HEAVY package in when imported: the chain of
    top-level imports that does it, e.g. ["pipeline.runner", "pipeline.eta", "transformers"]."""
    modules = module_files(root, packages)
    top = import_graph(root, packages, top_only=True)
    heavy_here = {
        name: sorted({n.split(".")[0] for n in imported_names(path, name, True)} & HEAVY)
        for name, path in modules.items()
    }
    chains = {}
    for start in names:
        came_from: dict[str, str | None] = {start: None}
        queue = [start]
        while queue:  # breadth first: the shortest chain
            node = queue.pop(0)
            if heavy_here.get(node):
                chain = [heavy_here[node][0]]
                step: str | None = node
                while step is not None:
                    chain.insert(0, step)
                    step = came_from[step]
                chains[start] = chain
                break
            for target in sorted(top.get(node, ())):
                if target not in came_from:
                    came_from[target] = node
                    queue.append(target)
    return chains


def torch_free_modules(root: Path) -> list[str]:
    return [*TORCH_FREE, *(m for m in module_files(root, ("report",)))]


# --- the project as it is ------------------------------------------------------------------


def test_no_import_cycles_in_pipeline_and_report() -> None:
    assert cycles(import_graph(ROOT)) == []


def test_torch_free_modules_import_no_torch_or_transformers() -> None:
    names = torch_free_modules(ROOT)
    missing = [n for n in names if n not in module_files(ROOT)]
    assert missing == [], f"TORCH_FREE names modules that do not exist: {missing}"
    chains = heavy_at_import(ROOT, names)
    assert chains == {}, "imported at the top: " + "; ".join(
        " -> ".join(c) for c in chains.values()
    )


def report_imports_outside(root: Path) -> list[str]:
    """report/'s imports of anything but the standard library, report/, a torch-free
    pipeline module or a package of REPORT_PACKAGES."""
    modules = module_files(root)
    allowed_project = set(torch_free_modules(root))
    outside = set()
    for name, path in module_files(root, ("report",)).items():
        for dotted in sorted(imported_names(path, name)):
            module = project_module(dotted, modules)
            if module is not None:  # ours: report/ or a torch-free pipeline module
                if module not in allowed_project and module not in PACKAGES:
                    outside.add(f"{name} imports {module}")
                continue
            top = dotted.split(".")[0]
            if top not in sys.stdlib_module_names and top not in REPORT_PACKAGES:
                outside.add(f"{name} imports {top}")
    return sorted(outside)


def test_report_imports_only_what_it_may() -> None:
    assert report_imports_outside(ROOT) == []


# --- the checks themselves catch what they are for ---------------------------------------

# Today's two cycles before they were broken, as the import graph read them (issue 21).
CYCLE_A = {
    "pipeline.config": {"pipeline.hub", "pipeline.inputs", "pipeline.validate", "pipeline.cache"},
    "pipeline.hub": {"pipeline.record"},  # inside push_experiment
    "pipeline.record": {"pipeline.config", "pipeline.inputs", "pipeline.cache"},
    "pipeline.inputs": {"pipeline.validate", "pipeline.model"},
    "pipeline.validate": {"pipeline.tokenizer", "pipeline.model"},  # PRE_TOKENIZERS, lazily
    "pipeline.tokenizer": {"pipeline.config", "pipeline.cache"},  # ConfigError
    "pipeline.cache": set(),
    "pipeline.model": set(),
}
CYCLE_B = {
    "pipeline.eta": {"pipeline.parallel"},  # jobs_in_matrix
    "pipeline.parallel": {"pipeline.runner", "pipeline.config"},  # lazily
    "pipeline.runner": {"pipeline.eta", "pipeline.experiment", "pipeline.config"},  # ETA
    "pipeline.experiment": {"pipeline.eta", "pipeline.config"},
    "pipeline.config": set(),
}


def test_cycle_detector_finds_both_of_the_cycles_issue_21_broke() -> None:
    assert cycles({**CYCLE_A}) == [
        ["pipeline.config", "pipeline.hub", "pipeline.inputs", "pipeline.record",
         "pipeline.tokenizer", "pipeline.validate"],
    ]  # fmt: skip
    assert cycles(CYCLE_B) == [
        ["pipeline.eta", "pipeline.experiment", "pipeline.parallel", "pipeline.runner"]
    ]
    # the fix: ConfigError from a leaf, and the writer passed to hub.push_experiment
    fixed = {**CYCLE_A, "pipeline.tokenizer": {"pipeline.errors"}, "pipeline.hub": set()}
    assert cycles({**fixed, "pipeline.errors": set()}) == []


def test_cycle_detector_on_small_graphs() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert cycles({"a": {"a"}}) == [["a"]]  # a module that imports itself
    two = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c", "a"}, "e": {"a"}}
    assert cycles(two) == [["a", "b"], ["c", "d"]]


def write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / "pkg").mkdir(parents=True, exist_ok=True)
        (root / "pkg" / f"{name}.py").write_text(text)
    return root


def test_a_lazy_import_counts_for_cycles_but_not_at_import_time(tmp_path: Path) -> None:
    # cycle (b)'s shape, written as source: the ring closes through a function's import
    root = write_package(tmp_path, {
        "__init__": "",
        "eta": "from transformers import TrainerCallback\nfrom pkg.parallel import jobs\n",
        "parallel": "def jobs():\n    from pkg.runner import is_current\n    return 1\n",
        "runner": "import os\n\nfrom pkg import eta\n\n\ndef run():\n    import torch\n",
        "light": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n",
    })  # fmt: skip
    graph = import_graph(root, ("pkg",))
    assert graph["pkg.runner"] == {"pkg.eta"} and graph["pkg.parallel"] == {"pkg.runner"}
    assert cycles(graph) == [["pkg.eta", "pkg.parallel", "pkg.runner"]]
    # runner's own torch import is lazy; the one it gets through eta is not
    chains = heavy_at_import(root, ["pkg.runner", "pkg.parallel", "pkg.light"], ("pkg",))
    assert chains == {"pkg.runner": ["pkg.runner", "pkg.eta", "transformers"]}


def test_report_may_not_import_a_heavy_module_even_lazily(tmp_path: Path) -> None:
    for package, files in {
        "pipeline": {"__init__": "", "config": "", "experiment": "import torch\n"},
        "report": {
            "__init__": "",
            "load": "import json\n\nfrom pipeline.config import x\nfrom report import view\n",
            "view": "import jinja2\n\n\ndef f():\n    import pandas\n",
            "run": "def f():\n    from pipeline.experiment import run_experiment\n",
        },
    }.items():
        (tmp_path / package).mkdir()
        for name, text in files.items():
            (tmp_path / package / f"{name}.py").write_text(text)
    assert report_imports_outside(tmp_path) == [
        "report.run imports pipeline.experiment",
        "report.view imports pandas",
    ]


def test_a_subpackage_is_read_too(tmp_path: Path) -> None:
    # the corpus stage is a package, pipeline/corpus/: its cycles must still show
    root = write_package(tmp_path, {"__init__": "", "data": "from pkg.corpus import build\n"})
    (root / "pkg" / "corpus").mkdir()
    (root / "pkg" / "corpus" / "__init__.py").write_text("from pkg.corpus.build import build\n")
    (root / "pkg" / "corpus" / "build.py").write_text("def build():\n    from pkg import data\n")
    graph = import_graph(root, ("pkg",))
    assert graph["pkg.corpus"] == {"pkg.corpus.build"} and "pkg.corpus" in graph["pkg.data"]
    assert cycles(graph) == [["pkg.corpus", "pkg.corpus.build", "pkg.data"]]


def test_relative_imports_resolve_to_the_module(tmp_path: Path) -> None:
    root = write_package(tmp_path, {
        "__init__": "", "a": "from . import b\n", "b": "from .a import x\n", "c": "from .b import y\n"
    })  # fmt: skip
    graph = import_graph(root, ("pkg",))
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.c"] == {"pkg.b"}
    assert cycles(graph) == [["pkg.a", "pkg.b"]]
