"""Where a run happened: versions, device, commit, time. Goes into every record."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from pipeline.config import ROOT

# Peak dense bf16 FLOP/s by device name, for MFU (nanoGPT's estimate); unknown devices get none.
# A key matches whole words of the name (see peak_flops), and the longest matching key wins.
PEAK_BF16_FLOPS = {
    "H100": 989e12,  # SXM; torch names it "NVIDIA H100 80GB HBM3"
    "H100 PCIe": 756e12,
    "H100 NVL": 835e12,
    "H200": 989e12,  # the H100 SXM's compute with more memory
    "H200 NVL": 835e12,
    "A100": 312e12,  # SXM and PCIe alike
    "L4": 121e12,
    "L40": 181e12,
    "L40S": 362e12,
    "A10G": 70e12,
    "T4": 65e12,  # no bf16: its fp16 tensor-core peak (Colab's free GPU, fp16 there)
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


def name_words(name: str) -> list[str]:
    """A device name as upper-case words: "NVIDIA A100-SXM4-80GB" -> [NVIDIA, A100, SXM4, 80GB]."""
    return re.split(r"[\s\-_/]+", name.strip().upper())


def peak_flops(device: str) -> float | None:
    """The peak of the longest key whose words appear, in order and whole, in the device name.

    Whole words, not substrings: "L4" must not match "L40S", nor "A100" the "RTX A1000"; and
    the longest key, so an "H100 NVL" gets its own peak rather than the SXM's."""
    words = name_words(device)
    best: tuple[int, float] | None = None
    for key, flops in PEAK_BF16_FLOPS.items():
        k = name_words(key)
        found = any(words[i : i + len(k)] == k for i in range(len(words) - len(k) + 1))
        if found and (best is None or len(k) > best[0]):
            best = (len(k), flops)
    return best[1] if best else None


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
