"""Issue 13: a HumanEval program cannot report its own "passed". The child holds no verdict
pipe; its exit status, set by the driver after the program, is the verdict, and the program's
routes to that status (os._exit, a fresh posix, gc, ctypes) are closed. The stack walk stays
open (see pipeline/sandbox.py): this contains accidents, it is no security boundary."""

from __future__ import annotations

import pytest

from pipeline.humaneval import execute, load_problems

FORGERIES = {
    "writes passed to every fd": (
        "    import os\n"
        "    for fd in range(3, 256):\n"
        "        try:\n"
        "            os.write(fd, b'passed')\n"
        "        except OSError:\n"
        "            pass\n"
        "    return False\n"
    ),
    "exits 0 through posix": "    import posix\n    posix._exit(0)\n",
    "exits 0 through importlib's os": (
        "    import importlib._bootstrap_external as b\n    b._os._exit(0)\n"
    ),
    "exits 0 through a fresh posix": (
        "    import importlib.machinery as m, importlib.util as u\n"
        "    u.module_from_spec(m.BuiltinImporter.find_spec('posix'))._exit(0)\n"
    ),
    "exits 0 through gc": (
        "    import gc\n"
        "    for o in gc.get_objects():\n"
        "        if getattr(o, '__name__', '') == '_exit' and callable(o):\n"
        "            o(0)\n"
    ),
    "runs a second driver": ("    import sys\n    sys.modules['__main__']._sandbox_main()\n"),
    "exits 0 through ctypes": ("    import ctypes\n    ctypes.CDLL(None)._exit(0)\n"),
}


@pytest.mark.parametrize("name", list(FORGERIES))
def test_a_program_cannot_report_its_own_pass(name: str) -> None:
    problems = load_problems()[:1]
    samples = [{"task_id": problems[0]["task_id"], "completions": [FORGERIES[name]]}]
    [result] = execute(problems, samples, timeout=2.0, workers=1)
    assert result["passed"] == 0, result["results"]
    assert result["results"][0].startswith("failed"), result["results"]


def test_a_correct_program_still_passes() -> None:
    problems = load_problems()[:1]
    samples = [{"task_id": problems[0]["task_id"],
                "completions": [problems[0]["canonical_solution"]]}]  # fmt: skip
    assert execute(problems, samples, timeout=2.0)[0]["results"] == ["passed"]
