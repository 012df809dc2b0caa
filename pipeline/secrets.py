"""Secret-looking values kept out of what the pipeline writes (records, model cards).

A HumanEval program, an exception text or a config may carry a token: every string written to
a record passes through redact(), which replaces the values of secret-named environment
variables and token-shaped strings by "[redacted]". Torch-free and dependency-free.
"""

from __future__ import annotations

import os
import re
from typing import Any

REDACTED = "[redacted]"
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_?KEY|CREDENTIAL|AUTH",
                         re.IGNORECASE)  # fmt: skip
# Hugging Face, GitHub, OpenAI-style and AWS access keys, by their published shapes
TOKEN_SHAPES = re.compile(
    r"\b(?:hf_[A-Za-z0-9]{30,}|gh[pousr]_[A-Za-z0-9]{30,}|sk-[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16})\b"
)
MIN_SECRET_CHARS = 8  # shorter values ("1", "true") would redact ordinary text


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    """Values of the environment's secret-named variables, longest first."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if SECRET_NAME.search(k) and len(v) >= MIN_SECRET_CHARS}
    return sorted(values, key=len, reverse=True)


def redact(text: str, values: list[str] | None = None) -> str:
    for value in secret_values() if values is None else values:
        text = text.replace(value, REDACTED)
    return TOKEN_SHAPES.sub(REDACTED, text)


def redact_all(value: Any, values: list[str] | None = None) -> Any:
    """Every string in a JSON-like value (keys too), redacted; a new value, the input as it was."""
    values = secret_values() if values is None else values
    if isinstance(value, str):
        return redact(value, values)
    if isinstance(value, dict):
        return {redact_all(k, values): redact_all(v, values) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_all(v, values) for v in value]
    return value
