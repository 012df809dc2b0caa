"""Prompt + completion as Pygments-highlighted HTML, the prompt part marked.

Highlighting the two together gives the completion the lexer state the prompt left (inside a
string, a comment...). Every token value is HTML-escaped: completions are model output, data.
"""

from __future__ import annotations

from functools import cache

from markupsafe import Markup, escape
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer
from pygments.token import STANDARD_TYPES, _TokenType

CSS_SCOPE = ".code"


@cache
def _lexer() -> PythonLexer:
    return PythonLexer(stripnl=False, ensurenl=False)


def _css_class(ttype: _TokenType) -> str:
    while ttype not in STANDARD_TYPES:
        ttype = ttype.parent
    return STANDARD_TYPES[ttype]


def highlight(prompt: str, completion: str) -> Markup:
    """<span class="prompt">…</span><span class="completion">…</span> with token spans."""
    text = prompt + completion
    boundary = len(prompt)
    parts: dict[str, list[str]] = {"prompt": [], "completion": []}
    for start, ttype, value in _lexer().get_tokens_unprocessed(text):
        cls = _css_class(ttype)
        # A token may straddle the boundary (a comment the completion continues): split it.
        for part, lo, hi in (("prompt", start, boundary), ("completion", boundary, None)):
            lo, hi = max(lo, start), min(hi if hi is not None else len(text), start + len(value))
            if lo >= hi:
                continue
            chunk = escape(value[lo - start : hi - start])
            parts[part].append(f'<span class="{cls}">{chunk}</span>' if cls else str(chunk))
    return Markup(
        f'<span class="prompt">{"".join(parts["prompt"])}</span>'
        f'<span class="completion">{"".join(parts["completion"])}</span>'
    )


@cache
def stylesheet(style: str = "friendly") -> str:
    """CSS for the token classes, scoped to .code blocks."""
    return HtmlFormatter(style=style).get_style_defs(CSS_SCOPE)
