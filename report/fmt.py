"""Number formatting for the templates (registered as Jinja filters).

A value that is missing prints as an em dash; non-finite values print as NaN / ∞ so a diverged
run reads as such rather than as a crash.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from pipeline.record import number

DASH = "—"


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value in ("inf", "-inf", "nan"):
        return number(value)
    return None


def special(x: float) -> str | None:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return None


def _finite(value: Any, write: Callable[[float], str]) -> str:
    """A dash when missing, NaN / ∞ when not finite, else write(x)."""
    x = _as_float(value)
    if x is None:
        return DASH
    return special(x) or write(x)


def num(value: Any, digits: int = 3) -> str:
    """Fixed decimals for floats, thousands separators for whole numbers."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return _finite(value, lambda x: f"{x:,.{digits}f}")


def ppl(value: Any) -> str:
    """Perplexity: two decimals while small, whole numbers once it is in the thousands."""
    return _finite(value, lambda x: f"{x:,.0f}" if x >= 1000 else f"{x:,.2f}")


def pct(value: Any, digits: int = 1) -> str:
    return _finite(value, lambda x: f"{100 * x:.{digits}f} %")


def duration(value: Any) -> str:
    x = _as_float(value)
    if x is None or not math.isfinite(x):
        return DASH
    if x < 60:
        return f"{x:.1f} s"
    minutes, seconds = divmod(round(x), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _scaled(value: Any, units: tuple[tuple[str, float], ...], suffix: str) -> str:
    x = _as_float(value)
    if x is None:
        return DASH
    for unit, scale in units:
        if abs(x) >= scale:
            return f"{x / scale:.1f} {unit}"
    return f"{x:.0f}{suffix}"


def size(value: Any) -> str:
    """Bytes in decimal units (the corpus is measured in MB, not MiB)."""
    return _scaled(value, (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)), " B")


def compact(value: Any) -> str:
    """Large counts short: 14.8 M, 310 k."""
    return _scaled(value, (("G", 1e9), ("M", 1e6), ("k", 1e3)), "")


def literal(value: Any) -> str:
    """A config or argument value as it reads in TOML/JSON: strings quoted, floats verbatim."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _longest_run(text: str, char: str) -> int:
    best = current = 0
    for c in text:
        current = current + 1 if c == char else 0
        best = max(best, current)
    return best


def code(value: Any) -> str:
    """Markdown inline code that survives backticks inside the value."""
    text = str(value).replace("\n", " ")
    ticks = "`" * (_longest_run(text, "`") + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fence(value: Any, lang: str = "") -> str:
    """A Markdown fenced block longer than any backtick run inside: model output cannot close it."""
    text = str(value).rstrip("\n")
    ticks = "`" * max(3, _longest_run(text, "`") + 1)
    return f"{ticks}{lang}\n{text}\n{ticks}"


def cell(value: Any) -> str:
    """Text for a Markdown table cell: pipes escaped, on one line."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def loss(value: Any) -> str:
    return num(value, 4)


def whole(value: Any) -> str:
    return num(value, 0)


def fmt(value: Any, style: str) -> str:
    """Format by the name of a filter: lets a table list (value, style) pairs."""
    return FILTERS[style](value)


def slug(value: Any) -> str:
    """The anchor GitHub-style Markdown renderers give a heading ("4.1 baseline" -> "41-baseline")."""
    text = re.sub(r"[^\w\- ]", "", str(value).strip().lower())
    return text.replace(" ", "-")


FILTERS = {
    "num": num,
    "ppl": ppl,
    "pct": pct,
    "duration": duration,
    "size": size,
    "compact": compact,
    "literal": literal,
    "code": code,
    "fence": fence,
    "cell": cell,
    "loss": loss,
    "whole": whole,
    "fmt": fmt,
    "slug": slug,
}
