"""The sweep figure (report.sweeps): final bits per byte against each swept key's values, one panel
per key (a grid's main effects), the seed interval as error bars, the baseline's seed band as
a shaded reference. Drawn in report.figures' worker processes, registered in report.plots."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, NullFormatter

from .plot_style import WIDE
from .plot_style import plain as _plain


def sweep_effects(
    panels: list[tuple[str, list[tuple[str, float | None, float, int]], bool]],
    half_width: float | None,
    reference: tuple[float, float, float, str] | None,
    colour: str,
) -> plt.Figure:
    """panels: (dotted key, [(value text, value number or None, mean bits per byte, runs)], log x)."""
    width = WIDE if len(panels) > 1 else WIDE * 0.6
    fig, axes = plt.subplots(1, len(panels), figsize=(width, 2.4), squeeze=False, sharey=True)
    for ax, (key, points, log) in zip(axes[0], panels, strict=True):
        numeric = all(x is not None for _, x, _, _ in points)
        xs: list[Any] = [x for _, x, _, _ in points] if numeric else list(range(len(points)))
        if numeric:  # the sweep's order may not be the axis' order
            order = sorted(range(len(points)), key=lambda i: xs[i])
            points, xs = [points[i] for i in order], [xs[i] for i in order]
        ys = [y for _, _, y, _ in points]
        if reference is not None:
            mean, low, high, label = reference
            ax.axhspan(low, high, color=colour, alpha=0.12, lw=0, label=label)
            ax.axhline(mean, color=colour, lw=0.8, ls="--")
        errors = None if half_width is None else [half_width] * len(ys)
        ax.errorbar(xs, ys, yerr=errors, color="#222222", marker="o", ms=4, capsize=3, lw=1.2,
                    ls="-" if numeric else "none",  # categories have no order to join
                    label="bits per byte ± seed interval" if errors else "bits per byte")  # fmt: skip
        if log:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(_plain))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xticks(xs)
        elif not numeric:
            ax.set_xticks(xs, [text for text, _, _, _ in points])
            ax.set_xlim(-0.5, len(xs) - 0.5)
        else:
            ax.set_xticks(xs)
            ax.xaxis.set_major_formatter(FuncFormatter(_plain))
        ax.set_xlabel(key)
    axes[0][0].set_ylabel("bits per byte (evaluation text)")
    axes[0][0].legend(loc="best")
    fig.tight_layout()
    return fig
