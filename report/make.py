"""The whole run: records -> figures -> notebooks -> report.md / .html / .pdf."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

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
) -> tuple[list[Path], list[str]]:
    """Render every output into `out`; returns (paths written, warnings)."""
    if not templates.is_dir():
        raise ReportError(f"templates folder {templates} not found")
    entries = load_entries(results, profile, matrix)
    env = environment(templates)
    states = module(env, "text.j2", {"experiments": [], "best": None}).states
    out.mkdir(parents=True, exist_ok=True)
    figures = Figures(out)
    context = build_context(entries, figures, profile, states)
    css = templates / "report.css"
    context["css"] = Markup(css.read_text(encoding="utf-8")) if css.exists() else ""
    written: list[Path] = []
    warnings: list[str] = []
    # Two workers: first the figures, drawn in parallel; then nbconvert renders the notebooks
    # while this process renders the PDF (the two slowest stages, independent of each other).
    with ProcessPoolExecutor(max_workers=2) as pool:
        figures.draw_all(pool, meanwhile=preload_pdf if pdf else None)
        notebook_files = (
            write_notebooks(context["experiments"], env, states, root) if notebooks else []
        )
        for exp in context["experiments"]:
            if any(name == exp.name for _, name in notebook_files):
                exp.notebook = f"notebooks/{exp.name}.html"
        written += [path for path, _ in notebook_files]
        html_job = (
            pool.submit(export_html, notebook_files, out / "notebooks", templates)
            if notebook_files
            else None
        )
        for name in ("report.md", "report.html"):
            path = out / name
            path.write_text(render(env, f"{name}.j2", context), encoding="utf-8")
            written.append(path)
        if pdf:
            path = out / "report.pdf"
            html = (out / "report.html").read_text(encoding="utf-8")
            refused = write_pdf(html, path, out, [root, templates, out])
            warnings += [f"refused to fetch {url} (local files only)" for url in refused]
            written.append(path)
        if html_job is not None:
            written += html_job.result()
    _prune(out / "figures", "*.svg", figures.files())
    _prune(out / "notebooks", "*.html", written)
    return written + figures.files(), warnings


def _prune(folder: Path, pattern: str, keep: list[Path]) -> None:
    """Drop outputs of experiments no longer in the report, so the folder matches it."""
    for path in folder.glob(pattern):
        if path not in keep:
            path.unlink()
