#!/usr/bin/env bash
# Prepares, on this (CPU) machine, what run.sh carries to a GPU box that reaches no package index:
#
#   bash examples/gpu-h200/prepare.sh      # then: device run with carry [".whl", ".gpu"]
#
# - .gpu/downloads/: each example sdist of cache/downloads (make fetch) cut to its example
#   folders (pipeline.corpus.usage.is_example_path), so the four fit the 64 MiB a device call
#   carries (the whole sdists are ~60 MB; matplotlib's alone is 32 MB). Same file names, so
#   corpus.usage.find_sdist finds them; the corpus built from them is the same.
# - .whl/: wheels of the pipeline's packages a GPU image tends to lack, for its Python (3.12 on
#   the H200 seen so far; PYVER=3.11 for another). run.sh installs them with --no-index, and
#   `python -m pipeline.requirements pipeline` there names anything still missing.
# Both folders are git-ignored (.whl/ in .gitignore, .gpu/ through .git/info/exclude).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
PYVER=${PYVER:-3.12}
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
mkdir -p .gpu/downloads .whl
$PY - <<'EOF'
import tarfile
from pathlib import Path

from pipeline.corpus.usage import is_example_path

for sdist in sorted(Path("cache/downloads").glob("*.tar.gz")):
    out = Path(".gpu/downloads") / sdist.name
    with tarfile.open(sdist) as src, tarfile.open(out, "w:gz") as dst:
        for member in src:
            if member.isfile() and is_example_path(member.name):
                dst.addfile(member, src.extractfile(member))
    print(f"{out}: {out.stat().st_size // 1024} kB (from {sdist.stat().st_size // 1024} kB)")
EOF
$PY -m pip download --quiet --dest .whl --only-binary=:all: --no-deps \
  --python-version "$PYVER" --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
  datasets==5.2.0 dill multiprocess xxhash nbformat==5.11.1 fastjsonschema jsonschema \
  jsonschema-specifications referencing rpds-py attrs traitlets jupyter-core
du -sh .gpu .whl
