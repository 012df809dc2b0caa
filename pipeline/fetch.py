"""Download, at setup time, the source distributions whose example scripts and notebooks make
up the corpus's `examples` part (pipeline/corpus/usage.py). The data stage never downloads.

    python -m pipeline.fetch [--dest cache/downloads]

Each sdist is the installed version's, found through pip's configured package index (the
same index `make setup` installs from), checked against the index's sha256 and written
atomically. A download that fails is reported in one line; the rest of the corpus still builds.
"""

from __future__ import annotations

import argparse
import hashlib
import html.parser
import os
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

from pipeline.cache import write_atomic
from pipeline.corpus.usage import EXAMPLE_PACKAGES, example_versions, find_sdist, sdist_names
from pipeline.errors import ROOT

DEFAULT_DEST = ROOT / "cache" / "downloads"
TIMEOUT_S = 60


def index_url() -> str:
    """pip's index: PIP_INDEX_URL, else pip's config, else pip's own default."""
    url = os.environ.get("PIP_INDEX_URL")
    if not url:
        out = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
            capture_output=True,
            text=True,
        )
        url = out.stdout.strip() if out.returncode == 0 else ""
    if not url:
        from pip._internal.models.index import PyPI  # pip's default index, as pip itself uses

        url = PyPI.simple_url
    return url.rstrip("/") + "/"


class Links(html.parser.HTMLParser):
    """The href of every anchor of a PEP 503 simple-index page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href" and v]


def sdist_link(index: str, package: str, version: str) -> tuple[str, str | None]:
    """(url, sha256 or None) of package==version's sdist on the index."""
    project = re.sub(r"[-_.]+", "-", package).lower()
    page_url = urllib.parse.urljoin(index, project + "/")
    # A local index (file://, as pip's --index-url takes) keeps each page as index.html.
    opened = page_url + "index.html" if page_url.startswith("file:") else page_url
    with urllib.request.urlopen(opened, timeout=TIMEOUT_S) as response:
        page = response.read().decode("utf-8", "replace")
    links = Links()
    links.feed(page)
    wanted = set(sdist_names(package, version))
    for href in links.hrefs:
        url, _, fragment = href.partition("#")
        if Path(urllib.parse.urlparse(url).path).name in wanted:
            sha = fragment[len("sha256=") :] if fragment.startswith("sha256=") else None
            return urllib.parse.urljoin(page_url, url), sha
    raise LookupError(f"no sdist {sorted(wanted)[0]} on the index")


def download(url: str, sha256: str | None, dest: Path) -> None:
    """The file, checked against the index's sha256, written whole or not at all."""
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
        data = response.read()  # tens of MB at most
    if sha256 and hashlib.sha256(data).hexdigest() != sha256:
        raise ValueError("sha256 does not match the index")
    write_atomic(dest, data)


def fetch(dest: Path = DEFAULT_DEST, packages: tuple[str, ...] = EXAMPLE_PACKAGES) -> list[str]:
    """Download what is missing; returns the packages that could not be had."""
    failed = []
    index = None
    versions = example_versions()
    for package in packages:
        version = versions.get(package)
        if version is None:
            print(f"fetch: {package} is not installed; its examples are not needed")
            continue
        if find_sdist(dest, package, version, exact=True):
            print(f"fetch: {package}=={version} already in {dest}")
            continue
        try:
            index = index or index_url()
            url, sha = sdist_link(index, package, version)
            target = Path(dest) / Path(urllib.parse.urlparse(url).path).name
            download(url, sha, target)
            print(f"fetch: {package}=={version} -> {target} ({target.stat().st_size // 1024} kB)")
        except Exception as e:  # offline, not on the index, a broken transfer
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            print(
                f"fetch: could not download the {package}=={version} sdist ({reason}); "
                "the corpus will build without its examples (rerun: make fetch)"
            )
            failed.append(package)
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    args = parser.parse_args(argv)
    fetch(args.dest)
    return 0  # a missing part is not an error: the data stage says what it skipped


if __name__ == "__main__":
    sys.exit(main())
