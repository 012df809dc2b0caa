"""Where a run happened: versions, device, commit, time. Goes into every record."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from pipeline.config import ROOT

# Peak dense bf16 FLOP/s by device name, for MFU (nanoGPT's estimate); unknown devices get none.
# The first key found in the name wins, so the PCIe card comes before its SXM sibling.
PEAK_BF16_FLOPS = {
    "H100 PCIe": 756e12,
    "H100": 989e12,
    "H200": 989e12,
    "A100": 312e12,
    "L4": 121e12,
    "A10G": 70e12,
}


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


def peak_flops(device: str) -> float | None:
    for key, flops in PEAK_BF16_FLOPS.items():
        if key in device:
            return flops
    return None


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
