"""The figures' shared look: matplotlib settings, the page width and the tick format. A leaf, so
that plots.py and sweep_plots.py both use it without importing each other."""

from __future__ import annotations

STYLE = {
    "svg.hashsalt": "codegen-report",  # stable ids inside the SVG
    "svg.fonttype": "none",  # text as <text>: small files, fast to draw, selectable
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e3e3e3",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "legend.fontsize": 7.5,
    "lines.linewidth": 1.4,
    "figure.dpi": 100,
}
WIDE = 6.7  # inches: the text width of an A4 page with 2 cm margins


def plain(x: float, _pos: int) -> str:
    """A tick label without matplotlib's offsets or scientific notation."""
    return f"{x:g}"
