"""Weights & Biases logs of training ([logging] wandb): the Trainer's own WandbCallback
(report_to=["wandb"]), offline by default, each run's folder under results/<name>/wandb:

    wandb sync results/<name>/wandb/offline-run-*    # upload later, when you choose to

wandb is an optional requirement (requirements-wandb.txt); nothing imports it unless a config
asks for it. Torch-free.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from typing import Any

WANDB_DIR = "wandb"
INSTALL = "pip install -r requirements-wandb.txt"


def check_config(config: dict[str, Any]) -> list[str]:
    """wandb importable when it is on (else the Trainer would fail at its start, after the data
    stage); the values themselves follow pipeline.rules."""
    if wandb_on(config) and importlib.util.find_spec("wandb") is None:
        return [
            f"logging.wandb is true but wandb is not installed: {INSTALL}, "
            "or set [logging] wandb = false"
        ]
    return []


def wandb_on(config: dict[str, Any]) -> bool:
    return (config.get("logging") or {}).get("wandb") is True


def setup(config: dict[str, Any], folder: Path, resumed: bool) -> bool:
    """Start this experiment's W&B run, in a folder inside the experiment's (a fresh run starts
    it empty, as TensorBoard's); the Trainer's WandbCallback then logs into it. Started here,
    not by the callback, because wandb reads WANDB_DIR once per process: the second experiment
    of a matrix would write into the first one's folder. False when [logging] wandb is off."""
    if not wandb_on(config):
        return False
    runs = folder / WANDB_DIR
    if not resumed:
        shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir(parents=True, exist_ok=True)
    import wandb

    finish()  # an earlier experiment's run, should one be open
    logging = config["logging"]
    wandb.init(
        dir=str(folder.resolve()),  # wandb adds the `wandb` folder itself
        project=logging["wandb_project"],
        name=folder.name,
        mode=logging["wandb_mode"],
        settings=wandb.Settings(silent=True),  # its banner would bury the pipeline's lines
    )
    return True


def finish() -> None:
    """End the run: the next experiment of this process starts its own (wandb.init reuses an
    open run, and the Trainer's callback does not close it)."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()
