"""The project's shared error and paths: a leaf that imports nothing of the project.

Every module may import this one, so it must import none of them: a module here that reached
back into pipeline/ would make the cycle this file exists to break (config.py held these and
also called every checker; tokenizer.py needed ConfigError while validate.py needed tokenizer).
pipeline.config re-exports them, so `from pipeline.config import ConfigError, ROOT` still works.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS_DIR = ROOT / "experiments"
PROFILES = ("cpu", "gpu", "colab", "micro")  # the shipped profiles every command knows


class ConfigError(ValueError):
    """A configuration problem the user can fix; the message says how."""
