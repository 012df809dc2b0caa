"""Record text in Markdown: a description or any record value must not become live HTML (a
<script>, a remote <img>) in report.md or a notebook, which viewers render as they please.

report.html escapes through Jinja's autoescape; Markdown has no such mode, so prose fields go
through `mdtext` and the rendered report.md through `neutralize_markdown`, a last net for
every other value.
"""

from __future__ import annotations

import html
import re
from typing import Any

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ALLOWED_TAG = re.compile(r"<br>")  # the only tag the Markdown template writes itself
_REMOTE_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*<?(?![\w./-]*\))")


def mdtext(value: Any) -> str:
    """Plain text for Markdown: HTML escaped, Markdown's punctuation backslash-escaped, so it
    reads as it was written and can open no tag, link, image or code span."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(str(value), quote=False))


def neutralize_markdown(text: str) -> str:
    """Escape every '<' outside code (fenced blocks, inline code spans) except the template's
    own <br>, and disarm images whose target is not a plain relative path (remote URLs, data:
    URIs, protocol-relative): they would load when the file is viewed."""
    out, fence = [], None
    for line in text.splitlines(keepends=True):
        opening = _FENCE.match(line)
        if fence is not None:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = None
            out.append(line)
        elif opening:
            fence = opening.group(1)
            out.append(line)
        else:
            out.append(_outside_code(line))
    return "".join(out)


def _outside_code(line: str) -> str:
    """Neutralize the parts of one line that are not inside an inline code span."""
    parts = re.split(r"(`+)", line)
    result, i = [], 0
    while i < len(parts):
        ticks = parts[i]
        if ticks.startswith("`"):
            close = next((j for j in range(i + 2, len(parts), 2) if parts[j] == ticks), None)
            if close is not None:  # a code span: left as it is
                result.append("".join(parts[i : close + 1]))
                i = close + 1
                continue
            result.append(ticks)
        else:
            result.append(_neutralize(ticks))
        i += 1
    return "".join(result)


def _neutralize(text: str) -> str:
    pieces = _ALLOWED_TAG.split(text)
    text = "<br>".join(p.replace("<", "&lt;") for p in pieces)
    return _REMOTE_IMAGE.sub(lambda m: "\\" + m.group(0), text)


# What the notebooks' Markdown cells render to (headings, paragraphs, lists, tables, code):
# nbconvert's own clean_html allows none of h1-h6, p, th, so it escapes the headings of every
# notebook into visible text. Nothing here can run or load: no script, style, img or iframe;
# links keep only their href (http, https, mailto or in-page).
NOTEBOOK_TAGS = (
    "a", "abbr", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "li", "ol", "p", "pre", "span", "strong", "table", "tbody", "td", "th", "thead",
    "tr", "ul",
)  # fmt: skip
NOTEBOOK_ATTRIBUTES = {"*": ["class", "id"], "a": ["href", "title", "class"]}


def clean_notebook_html(element: Any) -> str:
    """nbconvert's `clean_html` filter with the tags rendered Markdown needs: record text,
    escaped before it reached the Markdown, stays escaped; any other tag is escaped too."""
    import bleach

    text = element.decode() if isinstance(element, bytes) else str(element)
    return bleach.clean(text, tags=NOTEBOOK_TAGS, attributes=NOTEBOOK_ATTRIBUTES)
