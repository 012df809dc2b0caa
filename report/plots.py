"""The report's plots, drawn with matplotlib (Agg) and returned as SVG text.

Imported only where figures are drawn (the worker processes of report.figures), so the main
process never pays for matplotlib. Reproducible: fixed rcParams, a fixed svg.hashsalt and no
Date metadata, so the same inputs give byte-identical SVGs.
"""

from __future__ import annotations

import io
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, no GUI toolkit import

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from .plot_style import STYLE, WIDE  # noqa: E402  (shared with sweep_plots)
from .plot_style import plain as _plain


def svg(name: str, data: tuple[Any, ...], options: dict[str, Any] | None = None) -> str:
    """Draw the plot called `name` from `data` (and keyword `options`); returns its SVG text."""
    plt.rcParams.update(STYLE)
    fig = PLOTS[name](*data, **(options or {}))
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})  # no Date: reproducible bytes
    plt.close(fig)
    return buf.getvalue()


# --- per experiment --------------------------------------------------------------------------


def curves(
    name: str,
    colour: str,
    train: list[tuple[int, float]],
    evals: list[tuple[int, float]],
    lr: list[tuple[int, float]],
    tokens_per_step: float | None,
    diverged_at: int | None,
) -> plt.Figure:
    """Train and eval loss (log scale) and the learning-rate schedule, against steps."""
    fig, (ax, ax_lr) = plt.subplots(1, 2, figsize=(WIDE, 2.15), width_ratios=(1.6, 1))
    finite = [(s, v) for s, v in train if math.isfinite(v)]
    if finite:
        ax.plot(*zip(*finite, strict=True), color=colour, alpha=0.45, lw=1, label="train loss")
    finite = [(s, v) for s, v in evals if math.isfinite(v)]
    if finite:
        ax.plot(*zip(*finite, strict=True), color=colour, marker="o", ms=3, label="eval loss")
    if diverged_at is not None:
        ax.axvline(diverged_at, color="#c0392b", ls="--", lw=1)
        ax.annotate(
            f"not finite from step {diverged_at}",
            (diverged_at, 1),
            xycoords=("data", "axes fraction"),
            xytext=(-4, -4),
            textcoords="offset points",
            ha="right",
            va="top",
            color="#c0392b",
        )
    _log_y(ax)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy loss (nats/token)")
    ax.legend(loc="upper right" if diverged_at is None else "lower left")
    if tokens_per_step:
        top = ax.secondary_xaxis(
            "top",
            functions=(lambda s: s * tokens_per_step / 1e6, lambda t: t * 1e6 / tokens_per_step),
        )
        top.set_xlabel("tokens seen (millions)")
    if lr:
        ax_lr.plot(*zip(*lr, strict=True), color=colour)
    ax_lr.set_xlabel("optimizer step")
    ax_lr.set_ylabel("learning rate")
    ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    fig.tight_layout()
    return fig


def _log_y(ax: plt.Axes) -> None:
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 3, 5, 7)))
    ax.yaxis.set_major_formatter(FuncFormatter(_plain))
    ax.yaxis.set_minor_formatter(NullFormatter())


# --- across experiments ----------------------------------------------------------------------


def eval_overlay(
    series: list[tuple[str, str, list[tuple[int, float]], float | None]],
    band: tuple[str, str, list[tuple[int, float, float, float]], float | None] | None = None,
    ylabel: str = "eval loss (nats/token)",
) -> plt.Figure:
    """Every experiment's eval loss; against tokens seen when every run records tokens/step
    (runs with different batch sizes are then comparable), else against steps. `band`:
    (label, colour, [(step, mean, low, high)], tokens/step), the baseline seeds' band, shaded
    around their mean curve."""
    by_tokens = all(tps for *_, tps in series) and (band is None or bool(band[3]))
    fig, ax = plt.subplots(figsize=(WIDE, 2.7))
    if band is not None and band[2]:
        label, colour, points, tps = band
        x = [s * tps / 1e6 if by_tokens else s for s, *_ in points]
        ax.fill_between(x, [p[2] for p in points], [p[3] for p in points], color=colour,
                        alpha=0.25, lw=0, label=label)  # fmt: skip
        ax.plot(x, [p[1] for p in points], color=colour, ls="--", lw=1)
    for name, colour, points, tps in series:
        finite = [(s * tps / 1e6 if by_tokens else s, v) for s, v in points if math.isfinite(v)]
        if finite:
            ax.plot(*zip(*finite, strict=True), color=colour, marker="o", ms=2.5, label=name)
    _log_y(ax)
    ax.set_xlabel("tokens seen (millions)" if by_tokens else "optimizer step")
    ax.set_ylabel(ylabel)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return fig


def bars(
    rows: list[tuple[str, str, float | None, str]],
    xlabel: str,
    *,
    log: bool,
    digits: int,
    span: tuple[float, float, str] | None = None,
    zoom: bool = False,
) -> plt.Figure:
    """One horizontal bar per experiment (matrix order, top down); rows without a value show
    their note (diverged, not run...) instead of a bar. `span`: (low, high, colour), the
    baseline's seed interval, shaded across every row. `zoom`: a linear axis that starts just
    below the smallest value or span, so differences of a few percent show."""
    fig, ax = plt.subplots(figsize=(WIDE, 0.26 * len(rows) + 0.65))
    if span is not None:
        ax.axvspan(span[0], span[1], color=span[2], alpha=0.18, lw=0, zorder=0)
    names = [r[0] for r in rows][::-1]
    ypos = range(len(rows))
    values = [r[2] for r in rows][::-1]
    present = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    low = min(present) / 2 if (log and present) else 0
    if zoom and present:
        ends = present + (list(span[:2]) if span else [])
        low = min(ends) - 0.25 * (max(ends) - min(ends) or min(ends) * 0.1)
    for y, (_, colour, value, note) in zip(ypos, rows[::-1], strict=True):
        if value is not None and math.isfinite(value) and value > 0:
            ax.barh(y, value - low, left=low, color=colour, height=0.6)
            ax.annotate(
                f"{value:,.{digits}f}", (value, y), xytext=(3, 0), textcoords="offset points",
                va="center",
            )  # fmt: skip
        else:
            ax.annotate(
                note, (0, y), xycoords=("axes fraction", "data"), xytext=(3, 0),
                textcoords="offset points", va="center", color="#555555", style="italic",
            )  # fmt: skip
    ax.set_yticks(list(ypos), names)
    ax.set_ylim(-0.7, len(rows) - 0.3)  # room for the notes of the bottom row
    ax.grid(axis="y", visible=False)
    if not log:
        tick = 2 if zoom else 0
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:,.{tick}f}"))
    if log and present:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.xaxis.set_major_formatter(FuncFormatter(_plain))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlim(low, max(present) * 2)
    elif present:
        top = max(present + ([span[1]] if span else []))
        ax.set_xlim(low, top + 0.18 * (top - low))
    ax.set_xlabel(xlabel)
    fig.tight_layout()
    return fig


def libraries(rows: list[tuple[str, float]]) -> plt.Figure:
    """The corpus' largest libraries by bytes kept."""
    fig, ax = plt.subplots(figsize=(WIDE * 0.8, 0.27 * len(rows) + 0.7))
    names = [n for n, _ in rows]
    mb = [b / 1e6 for _, b in rows]
    _labelled_bars(ax, names, mb, "#4c72b0", [f"{v:.1f}" for v in mb], headroom=1.15)
    ax.set_xlabel("bytes of Python kept (MB)")
    fig.tight_layout()
    return fig


def _labelled_bars(ax, labels: list[str], values: list[float], colour: str, texts: list[str],
                   headroom: float) -> None:  # fmt: skip
    """Horizontal bars, first label on top, each value written at the end of its bar."""
    labels, values, texts = labels[::-1], values[::-1], texts[::-1]
    ax.barh(range(len(values)), values, color=colour, height=0.6)
    for y, (v, text) in enumerate(zip(values, texts, strict=True)):
        ax.annotate(text, (v, y), xytext=(3, 0), textcoords="offset points", va="center")
    ax.set_yticks(range(len(values)), labels)
    ax.grid(axis="y", visible=False)
    ax.set_xlim(0, max(values, default=1) * headroom)


# --- architecture ----------------------------------------------------------------------------


def parameters(parts: list[tuple[str, int]]) -> plt.Figure:
    """Parameters per part of the model (the tied head adds none)."""
    fig, ax = plt.subplots(figsize=(WIDE * 0.48, 1.55))
    labels = [p for p, _ in parts]
    counts = [n / 1e6 for _, n in parts]
    texts = [
        f"{v:.3f} M" if v else ("0 (tied)" if p == "head" else "0")
        for p, v in zip(labels, counts, strict=True)
    ]
    _labelled_bars(ax, labels, counts, "#55a868", texts, headroom=1.45)
    ax.set_xlabel("parameters (millions)")
    fig.tight_layout()
    return fig


def _box(ax: plt.Axes, x: float, y: float, w: float, h: float, text: str, colour: str) -> None:
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            fc=colour,
            ec="#555555",
            lw=0.8,
        )  # fmt: skip
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=7.2, linespacing=1.25)


def _arrow(ax: plt.Axes, x: float, y0: float, y1: float) -> None:
    ax.annotate(
        "", (x, y1), (x, y0), arrowprops={"arrowstyle": "-|>", "color": "#555555", "lw": 0.8}
    )


def diagram(config: dict[str, Any], head_dim: int, inner: int) -> plt.Figure:
    """GPT-2 as a block diagram, bottom (token ids) to top (next-token probabilities)."""
    d, L, h = config["n_embd"], config["n_layer"], config["n_head"]
    V, T = config["vocab_size"], config["n_positions"]
    fig, ax = plt.subplots(figsize=(3.0, 4.9))
    fig.subplots_adjust(0, 0, 1, 1)
    ax.set_xlim(0, 4)
    ax.set_ylim(0.05, 9.85)
    ax.axis("off")
    emb, blk, norm, head = "#dbe9f6", "#fdebd3", "#e8e8e8", "#dff0d8"
    x = 1.85  # the main path
    _box(ax, x, 0.4, 2.4, 0.45, f"token ids (up to {T})", "white")
    _arrow(ax, x, 0.63, 1.07)
    _box(ax, 0.95, 1.45, 1.7, 0.72, f"token embedding\n{V:,} × {d}", emb)
    _box(ax, 3.0, 1.45, 1.65, 0.72, f"position emb.\n{T} × {d}", emb)
    ax.text(1.95, 1.45, "+", ha="center", va="center", fontsize=10)
    _arrow(ax, x, 1.82, 2.5)
    # The repeated block: pre-LayerNorm attention and MLP, each inside a residual connection.
    ax.add_patch(
        FancyBboxPatch(
            (0.25, 2.45),
            3.5,
            4.6,
            boxstyle="round,pad=0.02,rounding_size=0.15",
            fc="#fff8ee",
            ec="#c98a2b",
            lw=1,
            ls="--",
        )  # fmt: skip
    )
    ax.text(3.65, 6.95, f"× {L}", ha="right", va="top", fontsize=9, color="#9a6212", weight="bold")
    layers = [  # (centre, height, text, colour)
        (2.95, 0.42, "LayerNorm", norm),
        (3.9, 0.95, f"masked multi-head\nself-attention\n{h} heads × {head_dim}", blk),
        (5.0, 0.42, "LayerNorm", norm),
        (5.95, 0.8, f"MLP  {d} → {inner} → {d}\nGELU", blk),
    ]
    for (y, hgt, text, colour), nxt in zip(layers, [*layers[1:], None], strict=True):
        _box(ax, x, y, 2.5, hgt, text, colour)
        if nxt is not None:
            _arrow(ax, x, y + hgt / 2 + 0.03, nxt[0] - nxt[1] / 2 - 0.03)
    for y_from, y_to in ((2.62, 4.55), (4.62, 6.5)):  # residual connections around each half
        ax.annotate(
            "", (3.1, y_to), (3.1, y_from),
            arrowprops={"arrowstyle": "-|>", "color": "#c98a2b", "lw": 0.9,
                        "connectionstyle": "bar,fraction=0.2"},
        )  # fmt: skip
        ax.text(
            3.52, (y_from + y_to) / 2, "+", ha="center", va="center", color="#9a6212", fontsize=10
        )
    _arrow(ax, x, 6.38, 7.45)
    _box(ax, x, 7.7, 2.4, 0.42, "final LayerNorm", norm)
    _arrow(ax, x, 7.93, 8.3)
    _box(ax, x, 8.68, 3.1, 0.7, f"LM head {d} × {V:,}\n(tied to token embedding)", head)
    _arrow(ax, x, 9.05, 9.38)
    ax.text(x, 9.6, "next-token probabilities (softmax)", ha="center", va="center", fontsize=7.2)
    return fig


PLOTS = {
    "curves": curves,
    "eval_overlay": eval_overlay,
    "bars": bars,
    "libraries": libraries,
    "parameters": parameters,
    "diagram": diagram,
}

# Issue 23: the sweep figure lives in its own module, drawn like the others.
from .sweep_plots import sweep_effects  # noqa: E402

PLOTS["sweep"] = sweep_effects
