"""Issue 24: the corpus readers open regular files only, read at most a stated size, and
parse with a depth limit: a FIFO, a link to /dev/zero, a huge file or a .jsonl line nested
100,000 deep is left out or one line, never a hang, a memory blow-up or a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import pipeline.corpus.sources as sources
from pipeline.config import ConfigError
from tests.conftest import ROOT


def within(seconds: float, fn):
    """fn() in a thread; its result, or a failure when it has not returned in time (a FIFO
    blocks a reader for ever: the test must fail, not hang)."""
    out: list = []
    thread = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert out, f"still running after {seconds} s"
    return out[0]


def test_special_and_huge_files_in_a_path_folder_are_left_out(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sources, "MAX_FILE_BYTES", 1000)
    code = tmp_path / "code"
    code.mkdir()
    (code / "a.py").write_text("import pandas as pd\n")
    os.mkfifo(code / "b_fifo.py")  # blocked the data stage for ever
    (code / "c_zero.py").symlink_to("/dev/zero")  # read until memory ran out
    (code / "d_big.py").write_text("x = 1\n" * 1000)  # 6,000 bytes, over the (patched) cap
    files = sources.path_files(code)
    unreadable: list[str] = []
    rows = within(20, lambda: list(sources.read_files(files, unreadable)))
    assert [r["path"] for r in rows] == ["a.py"]
    assert sorted(Path(u).name for u in unreadable) == ["b_fifo.py", "c_zero.py", "d_big.py"]
    assert len(sources.path_fingerprint(code)) == 2  # stat only: no read, no hang


def test_a_jsonl_line_nested_too_deep_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "code.jsonl"
    data.write_text(
        '{"content": "x = 1\\n"}\n' + '{"content": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
    )
    with pytest.raises(ConfigError, match=r"code.jsonl:2: JSON nested too deep"):
        list(sources.table_rows(data))


def test_a_jsonl_line_over_the_cap_is_one_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sources, "MAX_LINE_BYTES", 100)
    data = tmp_path / "code.jsonl"
    data.write_text('{"content": "' + "x" * 200 + '"}\n')
    with pytest.raises(ConfigError, match=r"code.jsonl:1: a line over"):
        list(sources.table_rows(data))


def cli(tmp: Path, body: str, timeout: float = 60) -> subprocess.CompletedProcess:
    (tmp / "matrix.toml").write_text(f'[x]\ndata.source = "path"\n{body}\n')
    cmd = [sys.executable, "-m", "pipeline", "--profile", "micro", "--matrix",
           str(tmp / "matrix.toml"), "--results", str(tmp / "results"), "validate"]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(tmp)}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "empty folder"])
def test_a_special_or_empty_data_path_is_refused_by_validate(tmp_path: Path, kind: str) -> None:
    if kind == "fifo":
        target = tmp_path / "code.jsonl"
        os.mkfifo(target)
        message = "is a FIFO, not a regular file"
    elif kind == "dev-zero":
        target = tmp_path / "code.jsonl"
        target.symlink_to("/dev/zero")
        message = "is a character device, not a regular file"
    else:
        target = tmp_path / "code"
        (target / ".git").mkdir(parents=True)
        (target / ".git" / "hook.py").write_text("x = 1\n")  # hidden: not read
        message = "has no .py files"
    done = cli(tmp_path, f"data.path = {str(target)!r}")
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr


def test_a_parquet_binary_column_of_utf8_text_is_kept(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "code.parquet"
    table = pa.table({"content": pa.array([b"import pandas as pd\n", b"\xff\xfe"], pa.binary())})
    pq.write_table(table, path)
    rows = list(sources.table_rows(path))
    assert [r["content"] for r in rows] == ["import pandas as pd\n", None]  # the second: not UTF-8
