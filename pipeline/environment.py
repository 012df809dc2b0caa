"""Where a run happened: versions, device, commit, time (into every record), and which process
of a distributed run this is."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from pipeline.errors import ROOT

# Set by pipeline.parallel for its workers: how many experiments run side by side.
JOBS_VARIABLE = "PIPELINE_JOBS"


def jobs_in_matrix() -> int:
    """How many workers share this matrix (1 outside a worker): the ETA divides by it."""
    return int(os.environ.get(JOBS_VARIABLE, "1"))


def rank() -> int:
    """This process's rank under torchrun / accelerate launch (0 when not distributed)."""
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


@contextmanager
def main_process_first() -> Iterator[None]:
    """Under DDP the main process builds the data caches; the others then read them."""
    if "WORLD_SIZE" not in os.environ:
        yield
        return
    import torch
    from accelerate import PartialState

    # cpu=True on a machine without CUDA: a plain PartialState() there sees no distributed run
    # (DistributedType.NO), its barrier does nothing, and every rank built the data and
    # cleared the checkpoints at once. The Trainer asks for the same state later.
    with PartialState(cpu=not torch.cuda.is_available()).main_process_first():
        yield


def end_distributed() -> None:
    """Under DDP, every rank waits for the others before the process group goes: a rank that
    left while rank 0 still wrote its record took gloo down under it (SIGABRT at exit)."""
    if "WORLD_SIZE" not in os.environ:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU: {cpu_name()}"


def environment() -> dict:
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": version("transformers"),
        "datasets": version("datasets"),
        "tokenizers": version("tokenizers"),
        "platform": platform.platform(),
        "device": device_name(),
        "cpu_count": os.cpu_count(),
        "gpu_count": torch.cuda.device_count(),
        "torch_threads": torch.get_num_threads(),
        "git_commit": git_commit(),
        "started_at": now(),
        "ended_at": None,
    }


def running_beside(folder: Path) -> int:
    """How many other experiments of this results folder are running now: their lock
    (runner.experiment_lock) is held. The record keeps it, so a tokens/s measured beside
    another run is read as such."""
    import fcntl

    count = 0
    for lock in folder.parent.glob("*/.lock"):
        if lock.parent == folder:
            continue
        try:
            with open(lock) as f:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
                fcntl.flock(f, fcntl.LOCK_UN)
        except BlockingIOError:
            count += 1
        except OSError:
            continue
    return count
