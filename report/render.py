"""Stage 4: templates -> report.md / report.html, and report.html -> report.pdf (WeasyPrint).

Jinja2 runs with StrictUndefined and autoescapes HTML templates; a template error becomes one
ReportError line naming the template file and line. WeasyPrint may only read local files inside
the allowed folders (and data: URIs): anything else is refused, never fetched.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

import jinja2
import mistune
from markupsafe import Markup

from .fmt import FILTERS
from .load import ReportError
from .safe import mdtext

_markdown = mistune.create_markdown(escape=True, plugins=["table"])  # raw HTML in prose: escaped


def markdown(text: str) -> Markup:
    """Prose from text.j2 (Markdown) as HTML. Data interpolated into it cannot inject tags."""
    return Markup(_markdown(str(text)))


def _autoescape(name: str | None) -> bool:
    return bool(name) and (name.endswith(".html.j2") or name.endswith(".html"))


def environment(templates: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        undefined=jinja2.StrictUndefined,
        autoescape=_autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    env.filters["markdown"] = markdown
    env.filters["mdtext"] = mdtext
    return env


def _shown(path: str | None) -> str:
    if not path:
        return "<template>"
    try:
        return os.path.relpath(path)
    except ValueError:
        return path


def _template_frame(tb: TracebackType | None) -> str | None:
    """Jinja rewrites tracebacks so template frames carry the template's file and line."""
    where = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2") or "/templates/" in filename:
            where = f"{_shown(filename)}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


@contextmanager
def template_errors(env: jinja2.Environment) -> Iterator[None]:
    """Turn an error raised in a template into a ReportError naming its file and line."""
    try:
        yield
    except jinja2.TemplateSyntaxError as e:
        raise ReportError(f"{_shown(e.filename) or e.name}:{e.lineno}: {e.message}") from None
    except jinja2.TemplateNotFound as e:
        folder = _shown(str(env.loader.searchpath[0]))  # type: ignore[union-attr]
        raise ReportError(f"template {e.name!r} not found in {folder}") from None
    except ReportError:
        raise
    except Exception as e:
        where = _template_frame(e.__traceback__)
        if where is None:
            raise  # a bug in report/, not in a template: keep the traceback
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ReportError(f"{where}: {message}") from None


def render(env: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
    with template_errors(env):
        return env.get_template(name).render(context)


def module(env: jinja2.Environment, name: str, context: dict[str, Any]) -> Any:
    """A template's top-level variables and macros (text.j2's word lists, for instance)."""
    with template_errors(env):
        return env.get_template(name).make_module(context)


def url_fetcher(allowed: list[Path], refused: list[str]):
    """A WeasyPrint URL fetcher that serves data: URIs and files under `allowed` only."""
    from weasyprint.urls import URLFetcher

    roots = [p.resolve() for p in allowed]

    class LocalOnly(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            parts = urlsplit(url)
            if parts.scheme == "data":
                return super().fetch(url, headers)
            if parts.scheme == "file":
                path = Path(unquote(parts.path)).resolve()
                if any(path.is_relative_to(root) for root in roots):
                    return super().fetch(url, headers)
            refused.append(url)
            raise ValueError(f"refused {url}: the report reads local project files only")

    return LocalOnly(allowed_protocols={"data", "file"}, timeout=1)


def preload_pdf() -> None:
    """Import WeasyPrint (most of a second) ahead of time, e.g. while figures are drawn."""
    import weasyprint  # noqa: F401


def write_pdf(html: str, pdf: Path, base: Path, allowed: list[Path]) -> list[str]:
    """Render the HTML to PDF; returns the URLs that were refused."""
    from weasyprint import HTML  # heavy import: only when a PDF is wanted

    refused: list[str] = []
    document = HTML(string=html, base_url=str(base), url_fetcher=url_fetcher(allowed, refused))
    document.write_pdf(pdf)
    return refused
