"""Word boxes of a PDF, from poppler's `pdftotext -bbox`, and the pairs of words that overlap:
text drawn over text is what a reader sees as a garbled page."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

PDFTOTEXT = shutil.which("pdftotext")  # apt-get install poppler-utils

_PAGE = re.compile(r"<page [^>]*>(.*?)</page>", re.S)
_WORD = re.compile(
    r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>', re.S
)


@dataclass(frozen=True)
class Word:
    page: int  # 1-based
    x0: float
    y0: float
    x1: float
    y1: float
    text: str


def words(pdf: Path) -> list[Word]:
    """Every word of the PDF with its box, in points from the page's top left."""
    if PDFTOTEXT is None:
        raise RuntimeError("pdftotext not found: apt-get install poppler-utils")
    out = subprocess.run(
        [PDFTOTEXT, "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    found = []
    for number, page in enumerate(_PAGE.findall(out), 1):
        for x0, y0, x1, y1, text in _WORD.findall(page):
            box = (float(x0), float(y0), float(x1), float(y1))
            found.append(Word(number, *box, html.unescape(text)))
    return found


def overlaps(found: list[Word], slack: float = 0.5) -> list[tuple[Word, Word]]:
    """Pairs of words on one page whose boxes intersect by more than `slack` points both ways
    (touching neighbours and a line's descenders over the next line's ascenders do not count:
    a box's height is the font's, so lines closer than that overlap by a hair)."""
    pairs = []
    by_page: dict[int, list[Word]] = {}
    for w in found:
        by_page.setdefault(w.page, []).append(w)
    for page in by_page.values():
        page.sort(key=lambda w: w.x0)
        for i, a in enumerate(page):
            for b in page[i + 1 :]:
                if b.x0 >= a.x1 - slack:
                    break
                dx = min(a.x1, b.x1) - max(a.x0, b.x0)
                dy = min(a.y1, b.y1) - max(a.y0, b.y0)
                if dx > slack and dy > max(slack, 0.3 * min(a.y1 - a.y0, b.y1 - b.y0)):
                    pairs.append((a, b))
    return pairs


def header_words(html_text: str) -> set[str]:
    """The words of every table header (<th>) of the HTML the PDF was made from."""
    found = set()
    for cell in re.findall(r"<th[^>]*>(.*?)</th>", html_text, re.S):
        found.update(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split())
    return found


def broken_headers(html_text: str, found: list[Word]) -> set[str]:
    """Header words that the PDF breaks inside the word ("Perplexi" / "ty", "S" / "ha" / "re"):
    their column is too narrow for them. A break at the word's own hyphen ("Key-" / "token") is
    fine. Words come in the order the PDF draws them, so a cell's wrapped lines follow each
    other."""
    headers = header_words(html_text)
    broken = set()
    for i, first in enumerate(found):
        joined, last = first.text, first
        for nxt in found[i + 1 : i + 5]:
            if nxt.page != last.page or nxt.y0 <= last.y0 or last.text.endswith("-"):
                break
            joined, last = joined + nxt.text, nxt
            if joined in headers:
                broken.add(joined)
            if not any(h.startswith(joined) for h in headers):
                break
    return broken
