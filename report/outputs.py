"""The whole run: records -> figures -> notebooks -> report.md / .html / .pdf."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from markupsafe import Markup

from pipeline.cache import FILE_MODE, write_atomic
from pipeline.errors import ROOT

from .context import build_context
from .figures import Figures
from .load import ReportInputError, load_entries
from .notebooks import export_html, notebooks_problem, write_notebooks
from .render import environment, module, preload_pdf, render, write_pdf
from .safe import neutralize_markdown


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
        raise ReportInputError(f"templates folder {templates} not found (or not a folder)")
    if notebooks and not (templates / "nbconvert").is_dir():
        raise ReportInputError(
            f"templates folder {templates} has no nbconvert/ (the notebooks' HTML template): "
            "copy templates/nbconvert there, or pass --no-notebooks"
        )
    _check_out(results, out)
    entries = load_entries(results, profile, matrix)
    problem = notebooks_problem(entries) if notebooks else None
    if problem:
        raise ReportInputError(problem)
    env = environment(templates)
    text = module(env, "text.j2", {"experiments": [], "best": None, "band": None})
    states = text.states
    _make_folder(out)
    # Everything is written into a staging folder beside the outputs, then moved into place at
    # once: a template error or a Ctrl-C leaves the previous set whole.
    try:
        stage = Path(tempfile.mkdtemp(dir=out, prefix=".staging-"))
    except OSError as e:  # a read-only or full output folder: said before any work
        raise ReportInputError(f"output folder {out}: cannot write there ({e.strerror})") from None
    try:
        stage.chmod(0o755)
        written, warnings = _render(entries, env, states, text.band_legend, profile, templates,
                                    stage, root, pdf, notebooks, lap)  # fmt: skip
        moved = _publish(stage, out, pdf)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    if not pdf and moved:
        warnings.append("removed report.pdf: it described the previous records (--no-pdf)")
    outputs = [out / p.relative_to(stage) if p.is_relative_to(stage) else p for p in written]
    return outputs, warnings


def _render(
    entries: list,
    env: Any,
    states: dict[str, str],
    band_legend: Any,
    profile: str,
    templates: Path,
    out: Path,
    root: Path,
    pdf: bool,
    notebooks: bool,
    lap: _Laps,
) -> tuple[list[Path], list[str]]:
    """Figures, notebooks, report.md / .html / .pdf, all into `out` (the staging folder)."""
    figures = Figures(out)
    context = build_context(entries, figures, profile, states, band_legend)
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
            write_notebooks(context["experiments"], env, states, warnings) if notebooks else []
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
            text = render(env, f"{name}.j2", context)
            if name.endswith(".md"):  # Markdown has no autoescape: no live HTML from records
                text = neutralize_markdown(text)
            write_atomic(path, text.encode("utf-8"))
            written.append(path)
        lap("markdown+html")
        if pdf:
            path = out / "report.pdf"
            html = (out / "report.html").read_text(encoding="utf-8")
            refused = write_pdf(html, path, out, [root, templates, out])
            path.chmod(FILE_MODE)
            warnings += [f"refused to fetch {url} (local files only)" for url in refused]
            written.append(path)
            lap("pdf")
        if html_job is not None:
            written += html_job.result()
            lap("notebook html (waited)")
    warnings += [f"{e.name}: {e.weights_problem}" for e in entries if e.weights_problem]
    return written + figures.files(), warnings


def _check_out(results: Path, out: Path) -> None:
    """The report swaps out/figures and out/notebooks whole: were --out the results folder (or
    above it), an experiment named `figures` would be replaced, record and weights with it."""
    r, o = results.resolve(), out.resolve()
    if r == o or r.is_relative_to(o):
        raise ReportInputError(
            f"--out {out} is or contains the results folder {results}: the report replaces "
            "folders in its output folder; choose another one (default: build)"
        )


def _make_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ReportInputError(
            f"output folder {out}: a file stands where a folder belongs"
        ) from None
    except OSError as e:
        raise ReportInputError(f"output folder {out}: cannot create it ({e.strerror})") from None


OUTPUTS = ("report.md", "report.html", "report.pdf")


def _publish(stage: Path, out: Path, pdf: bool) -> bool:
    """Move the staged outputs into `out`, with Ctrl-C held off until all are in place; the
    figures/ and notebooks/ folders are swapped whole (no figure of a removed experiment stays).
    Returns whether an old report.pdf was removed (it would describe other records)."""
    with _interrupts_held():
        for name in ("figures", "notebooks"):
            if (stage / name).is_dir():
                old = out / f".old-{name}-{os.getpid()}"
                if (out / name).exists():
                    os.rename(out / name, old)
                os.rename(stage / name, out / name)
                shutil.rmtree(old, ignore_errors=True)
        for name in OUTPUTS:
            if (stage / name).exists():
                os.replace(stage / name, out / name)
        stale = not pdf and (out / "report.pdf").exists()
        if stale:
            (out / "report.pdf").unlink()
    return stale


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """SIGINT waits until the block is done, then raises KeyboardInterrupt as it would have."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


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
