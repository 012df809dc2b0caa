"""Wall-time printing for the stages a user waits on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def stage(name: str) -> Iterator[None]:
    print(f"==> {name}", flush=True)
    start = time.perf_counter()
    try:
        yield
    finally:
        print(f"<== {name}: {time.perf_counter() - start:.1f} s", flush=True)
