"""The whole run: records -> figures -> notebooks -> report.md / .html / .pdf."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from markupsafe import Markup

from pipeline.config import ROOT

from .build import build_context
from .figures import Figures
from .load import ReportError, load_entries
from .notebooks import export_html, write_notebooks
from .render import environment, module, preload_pdf, render, write_pdf


def make_report(
    results: Path,
    out: Path,
    profile: str = "cpu",
    matrix: Path | None = None,
    templates: Path = ROOT / "templates",
    pdf: bool = True,
    notebooks: bool = True,
    root: Path = ROOT,
    timings: dict[str, float] | None = None,
) -> tuple[list[Path], list[str]]:
    """Render every output into `out`; returns (paths written, warnings). Stage durations in
    seconds go into `timings` when given."""
    lap = _Laps(timings if timings is not None else {})
    if not templates.is_dir():
        raise ReportError(f"templates folder {templates} not found")
    entries = load_entries(results, profile, matrix)
    env = environment(templates)
    text = module(env, "text.j2", {"experiments": [], "best": None, "band": None})
    states = text.states
    out.mkdir(parents=True, exist_ok=True)
    figures = Figures(out)
    context = build_context(entries, figures, profile, states, text.band_legend)
    css = templates / "report.css"
    context["css"] = Markup(css.read_text(encoding="utf-8")) if css.exists() else ""
    lap("records")
    written: list[Path] = []
    warnings: list[str] = []
    # Two workers: first the figures, drawn in parallel; then nbconvert renders the notebooks
    # while this process renders the PDF (the two slowest stages, independent of each other).
    with _workers(2) as pool:
        figures.draw_all(pool, meanwhile=preload_pdf if pdf else None)
        lap("figures")
        notebook_files = (
            write_notebooks(context["experiments"], env, states, root) if notebooks else []
        )
        for exp in context["experiments"]:
            if any(name == exp.name for _, name in notebook_files):
                exp.notebook = f"notebooks/{exp.name}.html"
        written += [path for path, _ in notebook_files]
        lap("notebooks")
        html_job = (
            (pool or _Serial()).submit(export_html, notebook_files, out / "notebooks", templates)
            if notebook_files
            else None
        )
        for name in ("report.md", "report.html"):
            path = out / name
            path.write_text(render(env, f"{name}.j2", context), encoding="utf-8")
            written.append(path)
        lap("markdown+html")
        if pdf:
            path = out / "report.pdf"
            html = (out / "report.html").read_text(encoding="utf-8")
            refused = write_pdf(html, path, out, [root, templates, out])
            warnings += [f"refused to fetch {url} (local files only)" for url in refused]
            written.append(path)
            lap("pdf")
        if html_job is not None:
            written += html_job.result()
            lap("notebook html (waited)")
    _prune(out / "figures", "*.svg", figures.files())
    _prune(out / "notebooks", "*.html", written)
    return written + figures.files(), warnings


@contextmanager
def _workers(n: int) -> Iterator[ProcessPoolExecutor | None]:
    """A process pool, or None where the platform cannot make one (no semaphores in some
    sandboxes): the report then renders everything in this process, only slower."""
    try:
        pool = ProcessPoolExecutor(max_workers=n)
    except (OSError, NotImplementedError):
        yield None
        return
    with pool:
        yield pool


class _Serial:
    """submit() that runs at once: stands in for the pool when there is none."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        future.set_result(fn(*args))
        return future


class _Laps:
    """Records the time since the previous lap under a stage name."""

    def __init__(self, into: dict[str, float]) -> None:
        self.into, self.last = into, time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self.into[stage] = now - self.last
        self.last = now


def _prune(folder: Path, pattern: str, keep: list[Path]) -> None:
    """Drop outputs of experiments no longer in the report, so the folder matches it."""
    for path in folder.glob(pattern):
        if path not in keep:
            path.unlink()
