"""report/ must stay light: a full render (PDF and notebooks included) imports no torch,
transformers or datasets. Checked in a fresh interpreter, where nothing else imported them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.fixtures.records import write_fixture_set

PROBE = """
import json, sys
from report.__main__ import main
rc = main(sys.argv[1:])
heavy = sorted(m for m in ("torch", "transformers", "datasets") if m in sys.modules)
print("HEAVY=" + json.dumps(heavy))
sys.exit(rc)
"""


def test_rendering_imports_no_torch_or_transformers(tmp_path: Path) -> None:
    fixture = write_fixture_set(tmp_path / "fixture", count=1)
    out = tmp_path / "build"
    result = subprocess.run(
        [sys.executable, "-c", PROBE, "--results", str(fixture.results),
         "--matrix", str(fixture.matrix), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    heavy = json.loads(result.stdout.split("HEAVY=")[1])
    assert heavy == []
    assert (out / "report.pdf").exists() and (out / "notebooks" / "baseline.html").exists()
    # the CLI says what it wrote and how long it took
    assert str(out / "report.pdf") in result.stdout and "report: done in" in result.stdout
