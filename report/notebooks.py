"""Stage 5: one Jupyter notebook per complete experiment, and its HTML rendering.

Built with nbformat's API and NOTHING IS EXECUTED: the code cells are fixed here and read
record.json beside the notebook at run time (record text is data, never code), and their
outputs are filled in from the record by the same functions the cells define, so the notebook
reads fully without running. Markdown cells come from templates/notebook.md.j2, where record
text passes through `| mdtext` (HTML and Markdown escaped). The HTML export sanitizes on top.
"""

from __future__ import annotations

import inspect
import json
import math
import os
from pathlib import Path
from typing import Any

import jinja2
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from pipeline.cache import write_atomic

from .render import module
from .safe import clean_notebook_html
from .view import ExperimentView

TEMPLATE = "notebook.md.j2"
NOTEBOOK_FILE = "experiment.ipynb"


# The functions below run twice: here, to fill the outputs, and in the notebook, where their
# source is the cell's code. They use only the standard library.
def header_line(record: dict) -> str:
    name, status, config, seed = (record[k] for k in ("name", "status", "config_hash", "seed"))
    return f"{name} {status} config {config} seed {seed}\n"


def log_table(record: dict) -> str:
    def show(value, spec):
        return (
            format(value, spec)
            if isinstance(value, int | float)
            else str("" if value is None else value)
        )

    rows = {}
    for entry in record["training"]["log_history"]:
        if "step" in entry and ("loss" in entry or "eval_loss" in entry):
            rows.setdefault(entry["step"], {}).update(entry)
    lines = [f"{'step':>6} {'loss':>8} {'eval_loss':>10} {'learning_rate':>14} {'grad_norm':>10}"]
    for step, row in sorted(rows.items()):
        lines.append(
            f"{step:>6} {show(row.get('loss'), '.4f'):>8} {show(row.get('eval_loss'), '.4f'):>10} "
            f"{show(row.get('learning_rate'), '.3e'):>14} {show(row.get('grad_norm'), '.3f'):>10}"
        )
    return "\n".join(lines) + "\n"


def perplexity_line(record: dict) -> str:
    try:
        perplexity = math.exp(float(record["evaluation"]["eval_results"]["eval_loss"]))
    except OverflowError:
        perplexity = math.inf
    return f"perplexity: {perplexity:.2f} (recorded: {record['evaluation']['perplexity']})\n"


def prompt_listing(record: dict) -> str:
    parts = []
    for p in record["prompts"]:
        parts.append(f"=== {p['name']} ===\n{p['prompt']}")
        parts.append(f"--- completion ({json.dumps(p['decoding'])}) ---\n{p['completion']}\n")
    return "".join(parts)


def _source(fn: Any) -> str:
    return inspect.getsource(fn).strip() + f'\n\n\nprint({fn.__name__}(record), end="")'


LOAD = """import json
import math
import os
from pathlib import Path

record = json.loads(Path("record.json").read_text())"""

CURVES = """import matplotlib.pyplot as plt

history = record["training"]["log_history"]
train = [(e["step"], float(e["loss"])) for e in history if "loss" in e]
evals = [(e["step"], float(e["eval_loss"])) for e in history if "eval_loss" in e]
lrs = [(e["step"], float(e["learning_rate"])) for e in history if "learning_rate" in e]
fig, (ax, ax_lr) = plt.subplots(1, 2, figsize=(10, 3.5))
ax.plot(*zip(*train), alpha=0.5, label="train loss")
ax.plot(*zip(*evals), "o-", label="eval loss")
ax.set(xlabel="optimizer step", ylabel="loss (nats/token)", yscale="log")
ax.legend()
ax_lr.plot(*zip(*lrs))
ax_lr.set(xlabel="optimizer step", ylabel="learning rate")
plt.show()"""

RELOAD = """from transformers import pipeline, set_seed

# record["weights"]: relative to the results folder (an absolute path as it is); older records
# named it from the project root, and the folder is then the one beside this notebook.
stored = Path(record["weights"])
WEIGHTS = stored if stored.is_absolute() else Path("..", stored)
if not WEIGHTS.exists():
    WEIGHTS = Path("model")
pipe = pipeline("text-generation", model=str(WEIGHTS))"""

REGENERATE = """for p in record["prompts"]:
    decoding = {k: v for k, v in p["decoding"].items() if k != "seed"}
    completion = ""
    if decoding.get("max_new_tokens", 1) > 0:  # 0: the prompt already filled the context
        set_seed(p["decoding"].get("seed", 42))
        result = pipe(p["prompt"], return_full_text=False, pad_token_id=pipe.tokenizer.eos_token_id, **decoding)
        completion = result[0]["generated_text"]
    same = "same as recorded" if completion == p["completion"] else "differs from the record"
    print(f"=== {p['name']} ({same}) ===")
    print(p["prompt"], end="")
    print("--- completion ---")
    print(completion)"""


def build_notebook(exp: ExperimentView, prose: Any, state: str) -> nbformat.NotebookNode:
    """The notebook of one complete experiment; `prose` is notebook.md.j2 as a module."""
    record = exp.entry.record or {}
    evaluation = record.get("evaluation") or {}
    figure = exp.figures.get("curves")
    cells: list[tuple[str, str, list]] = [
        ("markdown", str(prose.intro(exp, state)), []),
        ("code", LOAD + "\n\n\n" + _source(header_line), [header_line(record)]),
        ("markdown", str(prose.configuration()), []),
        ("code", 'print(json.dumps(record["overrides"], indent=2))', [_dumps(record["overrides"])]),
        ("code", 'print(json.dumps(record["config"], indent=2))', [_dumps(record["config"])]),
        ("markdown", str(prose.training_log()), []),
        ("code", _source(log_table), [log_table(record)]),
        ("code", CURVES, [figure] if figure is not None and figure.svg else []),
        ("markdown", str(prose.evaluation()), []),
        (
            "code",
            'eval_results = record["evaluation"]["eval_results"]\n'
            "print(json.dumps(eval_results, indent=2))",
            [_dumps(evaluation.get("eval_results"))],
        ),
        ("code", _source(perplexity_line), [perplexity_line(record)]),
        ("markdown", str(prose.prompts()), []),
        ("code", _source(prompt_listing), [prompt_listing(record)]),
        ("markdown", str(prose.regenerate()), []),
        ("code", RELOAD, []),  # run by the reader: they load torch and the weights
        ("code", REGENERATE, []),
    ]
    nb = new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        }
    )
    count = 0
    for i, (kind, source, outputs) in enumerate(cells):
        cell_id = f"cell-{i:02d}"  # fixed ids: the same record gives the same file
        if kind == "markdown":
            nb.cells.append(new_markdown_cell(source, id=cell_id))
            continue
        cell = new_code_cell(source, id=cell_id)
        if outputs:
            count += 1
            cell.execution_count = count
            cell.outputs = [_output(o) for o in outputs]
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=2) + "\n"


def _output(value: Any) -> nbformat.NotebookNode:
    """A printed text as a stdout stream (what print() shows), a figure as SVG display data."""
    if isinstance(value, str):
        return new_output("stream", name="stdout", text=value)
    return new_output(
        "display_data",
        data={"image/svg+xml": value.svg, "text/plain": f"<Figure {value.stem}>"},
    )


def owned_folder(folder: Path) -> str | None:
    """Why the report may not write or delete a notebook in this experiment folder (None when
    it may): only a real folder directly inside the results folder is the experiment's own. A
    symlink could lead anywhere (the notebook, or its removal, would land there)."""
    if folder.is_symlink():
        return f"{folder} is a symbolic link; no notebook is written or removed through it"
    if not folder.is_dir():
        return None if not folder.exists() else f"{folder} is a file, not an experiment folder"
    if folder.resolve().parent != folder.parent.resolve():
        return f"{folder} leads outside its results folder"
    return None


def notebooks_problem(entries: list[Any]) -> str | None:
    """Before any work: the experiment folders the notebooks go into must be writable
    (entries: report.load's, or views of them)."""
    for exp in entries:
        folder = exp.path.parent
        owned = exp.state == "complete" and owned_folder(folder) is None and folder.is_dir()
        if owned and not os.access(folder, os.W_OK):
            return (
                f"cannot write the notebooks: {folder} is not writable; make the results "
                "folder writable or pass --no-notebooks"
            )
    return None


def write_notebooks(
    experiments: list[ExperimentView],
    env: jinja2.Environment,
    states: dict[str, str],
    warnings: list[str] | None = None,
) -> list[tuple[Path, str]]:
    """Write results/<name>/experiment.ipynb for each complete experiment whose folder is its
    own (owned_folder; the others go into `warnings`). Returns (notebook path, experiment
    name) pairs for export_html."""
    written = []
    prose = module(env, TEMPLATE, {})
    for exp in experiments:
        record = exp.entry.record
        folder = exp.path.parent
        problem = owned_folder(folder)
        if problem is not None:
            if warnings is not None:
                warnings.append(f"{exp.name}: {problem}")
            continue
        if exp.state != "complete" or not record:
            # a notebook left from an earlier, complete run would describe another record
            if folder.is_dir():
                (folder / NOTEBOOK_FILE).unlink(missing_ok=True)
            continue
        nb = build_notebook(exp, prose, states[exp.state])
        ipynb = folder / NOTEBOOK_FILE
        write_atomic(ipynb, (nbformat.writes(nb) + "\n").encode("utf-8"))
        written.append((ipynb, exp.name))
    return written


def export_html(notebooks: list[tuple[Path, str]], html_dir: Path, templates: Path) -> list[Path]:
    """Render notebooks to stand-alone HTML with nbconvert (no execution), with the "offline"
    template of templates/nbconvert/, sanitized: no script, no remote image survives."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="offline",
        extra_template_basedirs=[str(templates / "nbconvert")],
        sanitize_html=True,
        filters={"clean_html": clean_notebook_html},  # headings render (see report.safe)
    )
    html_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for ipynb, name in notebooks:
        nb = nbformat.read(ipynb, as_version=4)
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": name}})
        html = html_dir / f"{name}.html"
        write_atomic(html, body.encode("utf-8"))
        written.append(html)
    return written
