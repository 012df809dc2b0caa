"""Cache folders that are complete or absent: built in a temp folder, then renamed into place.

Each stage (corpus, tokenizer, chunks) keys its folder by a hash of its inputs and writes a
marker file last; a folder whose marker exists is complete."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def publish(folder: Path, marker: str, write: Callable[[Path], None]) -> None:
    """Call write(tmp) to fill a temporary folder (marker file last), then rename it to folder.

    A killed build leaves only a temp folder, which the next build removes."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_builds(folder)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.{os.getpid()}."))
    try:
        write(tmp)
        try:
            os.rename(tmp, folder)
        except OSError:  # the folder exists: a concurrent build of the same key, or debris
            if (folder / marker).is_file():
                shutil.rmtree(tmp)
            else:
                shutil.rmtree(folder)
                os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale_builds(folder: Path) -> None:
    """Temporary folders of builds whose process is gone (killed, crashed)."""
    for tmp in folder.parent.glob(f".{folder.name}.*"):
        try:
            pid = int(tmp.name.split(".")[2])
            os.kill(pid, 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except (ValueError, IndexError, PermissionError):
            continue
