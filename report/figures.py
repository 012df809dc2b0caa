"""Stage 3: the figures the report asks for, drawn as SVG into <out>/figures/.

Figures are requested while the template context is built and drawn together afterwards, in
worker processes when a pool is given (report.plots and matplotlib load there, not here). A
figure whose inputs equal an earlier one's is drawn once and shared.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from .view import Figure


def _draw(name: str, data: tuple[tuple[Any, ...], dict[str, Any]]) -> str:
    from .plots import svg  # matplotlib: imported in the process that draws

    return svg(name, data[0], data[1])


class Figures:
    """Collects figure requests; draw_all() draws them (in parallel when given a pool)."""

    def __init__(self, out_dir: Path) -> None:
        self.dir = out_dir / "figures"
        self._by_key: dict[str, Figure] = {}
        self._jobs: dict[str, tuple[str, tuple[tuple[Any, ...], dict[str, Any]]]] = {}

    def get(self, stem: str, plot: str, *data: Any, **options: Any) -> Figure:
        """The Figure of plot `plot` (a name in report.plots.PLOTS) for these inputs; its SVG
        is filled in by draw_all()."""
        key = hashlib.sha256(
            json.dumps([plot, data, options], sort_keys=True, default=str).encode()
        ).hexdigest()
        if key not in self._by_key:
            self._by_key[key] = Figure(stem)
            self._jobs[key] = (plot, (data, options))
        return self._by_key[key]

    def draw_all(
        self, pool: Executor | None = None, meanwhile: Callable[[], object] | None = None
    ) -> int:
        """Draw every figure not drawn yet and write it to figures/; returns how many.
        With a pool, `meanwhile` runs here while the workers draw."""
        keys = list(self._jobs)
        names, datas = [self._jobs[k][0] for k in keys], [self._jobs[k][1] for k in keys]
        svgs = pool.map(_draw, names, datas) if pool else map(_draw, names, datas)
        if meanwhile is not None:
            meanwhile()
        self.dir.mkdir(parents=True, exist_ok=True)
        for key, svg in zip(keys, svgs, strict=True):
            figure = self._by_key[key]
            figure.svg = svg
            figure.data_uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
            (self.dir / f"{figure.stem}.svg").write_text(svg, encoding="utf-8")
        self._jobs.clear()
        return len(keys)

    def files(self) -> list[Path]:
        return sorted(self.dir / f"{f.stem}.svg" for f in self._by_key.values())
