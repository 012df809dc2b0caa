"""Stage 5: one Jupyter notebook per complete experiment, and its HTML rendering.

Built with nbformat only (no kernel, no torch): the cells come from templates/notebook.py.j2;
cells marked ": run" are run here, with the standard library only, to fill their outputs from
the record, so the notebook reads fully without running. The cells that reload the model keep
empty outputs until a reader runs them.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path
from typing import Any

import jinja2
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from .load import ReportError
from .render import render
from .view import Experiment

TEMPLATE = "notebook.py.j2"
NOTEBOOK_FILE = "experiment.ipynb"
CELL = re.compile(r"^#%% (markdown|code)(?:: *(.*))?$", re.MULTILINE)


def parse_cells(text: str) -> list[tuple[str, str, str]]:
    """(kind, option, source) for each cell of the rendered template."""
    marks = list(CELL.finditer(text))
    cells = []
    for mark, nxt in zip(marks, [*marks[1:], None], strict=True):
        source = text[mark.end() : nxt.start() if nxt else len(text)].strip("\n")
        cells.append((mark.group(1), (mark.group(2) or "").strip(), source))
    return cells


def weights_reference(weights: str, notebook_dir: Path, root: Path) -> str:
    """The weights folder as the notebook should name it: relative to the notebook when both
    live in the project (the folder can move), else absolute."""
    target = (root / weights).resolve()
    here = notebook_dir.resolve()
    if target.is_relative_to(root.resolve()) and here.is_relative_to(root.resolve()):
        return os.path.relpath(target, here)
    return str(target)


def build_notebook(
    exp: Experiment, cells: list[tuple[str, str, str]], folder: Path
) -> nbformat.NotebookNode:
    nb = new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        }
    )
    namespace: dict[str, Any] = {"__name__": "__main__"}
    count = 0
    for i, (kind, option, source) in enumerate(cells):
        cell_id = f"cell-{i:02d}"  # fixed ids: the same record gives the same file
        if kind == "markdown":
            nb.cells.append(new_markdown_cell(source, id=cell_id))
            continue
        cell = new_code_cell(source, id=cell_id)
        if option == "run":
            count += 1
            cell.execution_count = count
            text = _run(source, namespace, folder, exp.name, i)
            if text:
                cell.outputs = [new_output("stream", name="stdout", text=text)]
        elif option.startswith("figure"):
            figure = exp.figures.get(option.split(maxsplit=1)[-1])
            if figure is not None:
                count += 1
                cell.execution_count = count
                cell.outputs = [
                    new_output(
                        "display_data",
                        data={"image/svg+xml": figure.svg, "text/plain": f"<Figure {figure.stem}>"},
                    )
                ]
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def _run(source: str, namespace: dict[str, Any], folder: Path, name: str, index: int) -> str:
    buffer = io.StringIO()
    try:
        with contextlib.chdir(folder), contextlib.redirect_stdout(buffer):
            exec(compile(source, f"<{TEMPLATE} cell {index}>", "exec"), namespace)
    except Exception as e:
        raise ReportError(
            f"{TEMPLATE}: cell {index} failed for experiment {name!r}: {type(e).__name__}: {e}"
        ) from None
    return buffer.getvalue()


def write_notebooks(
    experiments: list[Experiment],
    env: jinja2.Environment,
    states: dict[str, str],
    root: Path,
) -> list[tuple[Path, str]]:
    """Write results/<name>/experiment.ipynb for each complete experiment.
    Returns (notebook path, experiment name) pairs for export_html."""
    written = []
    for exp in experiments:
        record = exp.entry.record
        folder = exp.path.parent
        if exp.state != "complete" or not record:
            # a notebook left from an earlier, complete run would describe another record
            (folder / NOTEBOOK_FILE).unlink(missing_ok=True)
            continue
        weights = weights_reference(str(record["weights"]), folder, root)
        text = render(env, TEMPLATE, {"exp": exp, "states": states, "weights": weights})
        nb = build_notebook(exp, parse_cells(text), folder)
        ipynb = folder / NOTEBOOK_FILE
        ipynb.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
        written.append((ipynb, exp.name))
    return written


def export_html(notebooks: list[tuple[Path, str]], html_dir: Path, templates: Path) -> list[Path]:
    """Render notebooks to stand-alone HTML with nbconvert (no execution), with the "offline"
    template of templates/nbconvert/. Runs in a worker process while the PDF renders."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="offline", extra_template_basedirs=[str(templates / "nbconvert")]
    )
    html_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for ipynb, name in notebooks:
        nb = nbformat.read(ipynb, as_version=4)
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": name}})
        html = html_dir / f"{name}.html"
        html.write_text(body, encoding="utf-8")
        written.append(html)
    return written
