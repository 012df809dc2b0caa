"""Prompt + completion as Pygments-highlighted HTML, the prompt part marked.

Highlighting the two together gives the completion the lexer state the prompt left (inside a
string, a comment...). Every token value is HTML-escaped: completions are model output, data.
"""

from __future__ import annotations

import re
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


ELIDED = "\ue000"  # private-use character standing in for a long run of blank lines
ELIDED_HTML = re.compile(f'(?:<span class="[^"]*">)?{ELIDED}(?:</span>)?')
BLANK_RUN = re.compile(r"\n(?:[ \t]*\n){3,}")


def _elide_blank_runs(completion: str) -> tuple[str, list[int]]:
    """A model that emits 48 newlines would draw an empty box a page tall: keep one line that
    says how many there were instead."""
    counts: list[int] = []

    def mark(m: re.Match[str]) -> str:
        counts.append(m.group().count("\n"))
        return f"\n{ELIDED}\n"

    return BLANK_RUN.sub(mark, completion), counts


# The pipeline refuses prompts past 100,000 characters; a received record may still hold a 10 MB
# one, which the lexer took minutes to turn into a 173 MB HTML.
MAX_HIGHLIGHT_CHARS = 200_000


def highlight(prompt: str, completion: str) -> Markup:
    """<span class="prompt">…</span><span class="completion">…</span> with token spans."""
    completion, elided = _elide_blank_runs(completion)
    text = prompt + completion
    boundary = len(prompt)
    if len(text) > MAX_HIGHLIGHT_CHARS:  # a record from elsewhere: shown as escaped text
        return Markup(
            f'<span class="prompt">{escape(prompt)}</span>'
            f'<span class="completion">{escape(completion)}</span>'
        )
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
    html = (
        f'<span class="prompt">{"".join(parts["prompt"])}</span>'
        f'<span class="completion">{"".join(parts["completion"])}</span>'
    )
    for count in elided:  # the lexer may have wrapped the stand-in in an error span
        html = ELIDED_HTML.sub(f'<span class="elided">↵ × {count}</span>', html, count=1)
    return Markup(html)


@cache
def stylesheet(style: str = "friendly") -> str:
    """CSS for the token classes, scoped to .code blocks."""
    return HtmlFormatter(style=style).get_style_defs(CSS_SCOPE)
