"""What a config points at and what it needs: input files of the right kind, and a context
that fits the machine's memory. Checked with the values (pipeline/validate.py), before any work.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pipeline.errors import ConfigError
from pipeline.rules import get as _get

MAX_TEXT_BYTES = 64 << 20  # a config, a prompts file or a record: far larger is no such file


def read_regular(path: Path, limit: int = MAX_TEXT_BYTES) -> bytes:
    """A regular file's bytes, at most `limit` of them. A FIFO would block the reader for ever
    and a link to /dev/zero would read until memory runs out: both are refused (OSError with a
    message), without reading, as is a file over the limit."""
    # O_NONBLOCK: opening a FIFO does not wait for a writer (and a regular file ignores it)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder")
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, f"{special_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise OSError(
                errno.EFBIG, f"{info.st_size >> 20} MiB, over the {limit >> 20} MiB limit"
            )
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
        if len(data) > limit:  # grew while read
            raise OSError(errno.EFBIG, f"over the {limit >> 20} MiB limit")
        return data
    finally:
        os.close(fd)


def special_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a folder")):  # fmt: skip
        if test(mode):
            return name
    return "a special file"


def read_text(
    path: Path, error: type[Exception], missing: str, kind: str, advice: str,
    limit: int = MAX_TEXT_BYTES,
) -> str:  # fmt: skip
    """A regular file as UTF-8 text, else `error` with one line that names the file and says
    what is wrong in words (`missing`: what an absent file means; `kind`: what belongs there)."""
    try:
        return read_regular(Path(path), limit).decode("utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {missing}") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder; {kind} was expected") from None
    except NotADirectoryError:
        raise error(f"{path}: a file stands where a folder of its path belongs") from None
    except OSError as e:
        if e.errno in (errno.EINVAL, errno.EFBIG) and e.strerror:
            raise error(f"{path}: {e.strerror}; {kind} was expected") from None
        raise error(f"{path}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise error(f"{path}: not UTF-8 text (byte {e.start}); {advice}") from None


def memory_estimate(config: dict[str, Any]) -> int:
    """Bytes one training or evaluation step needs at least (a lower bound: a config over the
    machine's memory cannot run, one under it may still not). Activations after Korthikanti et
    al. 2022 with memory-efficient attention (34 bytes per token per width per layer), plus the
    float32 logits the evaluation keeps for a whole batch (and training, without chunked loss)."""
    from pipeline.model import PRESETS

    model = config.get("model") or {}
    values = {**PRESETS.get(model.get("preset"), {}), **model}
    context = int(_get(config, "chunking.context_length"))
    vocab, width, layers = (
        int(_get(config, "tokenizer.vocab_size")),
        values["n_embd"],
        values["n_layer"],
    )
    train_batch = int(_get(config, "training.per_device_train_batch_size"))
    eval_batch = int(_get(config, "training.per_device_eval_batch_size"))
    activations = train_batch * context * layers * 34 * width
    train_logits = (
        0 if _get(config, "speed.chunked_loss") else 2 * train_batch * context * vocab * 4
    )
    eval_logits = eval_batch * context * vocab * 4
    return max(activations + train_logits, eval_logits)


def machine_memory() -> int | None:
    """Bytes of memory of the device a run will use: the first GPU's, else the host's."""
    try:
        import torch

        if torch.cuda.is_available():
            return int(torch.cuda.get_device_properties(0).total_memory)
    except ImportError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(config: dict[str, Any], available: int | None) -> list[str]:
    try:
        need = memory_estimate(config)
    except (TypeError, ValueError, KeyError):
        return []  # the values themselves are wrong: reported by check_values
    if available is None or need <= available:
        return []
    return [
        f"chunking.context_length {_get(config, 'chunking.context_length')} needs at least "
        f"{need / 2**30:.0f} GiB per step at these batch sizes; this machine has "
        f"{available / 2**30:.0f} GiB: use a shorter context or smaller batches"
    ]


def check_files(config: dict[str, Any]) -> list[str]:
    """Input paths named by the config: there, of the right kind, and readable as text."""
    errors: list[str] = []
    data = config.get("data") or {}
    if data.get("source") == "path" and isinstance(data.get("path"), str) and data["path"]:
        problem = path_problem(data["path"])
        path = Path(data["path"]).expanduser()
        if problem:
            errors.append(problem)
        elif path.is_dir() and not _has_python(path):
            errors.append(f"data.path {data['path']!r} has no .py files (hidden folders skipped)")
        elif path.suffix.lower() == ".jsonl" and not _utf8_start(path):
            errors.append(f"data.path {data['path']!r}: not UTF-8 text")
    pretrained = (config.get("tokenizer") or {}).get("pretrained")
    if isinstance(pretrained, str) and pretrained:
        path = Path(pretrained).expanduser()
        if path.is_file():
            errors.append(f"tokenizer.pretrained {pretrained!r} is a file; name its folder")
        elif not path.exists() and pretrained.startswith(("/", ".", "~")):
            errors.append(f"tokenizer.pretrained {pretrained!r}: no such folder")
        elif not path.exists() and not _hub_tokenizer_available(pretrained):
            # a hub id, not cached, and no Hub: from_pretrained retried for ~47 s, then failed
            errors.append(
                f"tokenizer.pretrained {pretrained!r} is not a local folder, not in the "
                "Hugging Face cache, and the Hub cannot be reached: name a save_pretrained "
                "folder, or set it to '' to train one offline"
            )
    return errors


def path_problem(value: str) -> str | None:
    """What is wrong with data.path as a place to read: checked before any work, and again
    where the data stage opens it (it may have gone since)."""
    path = Path(value).expanduser()
    if not value or not path.exists():
        return f"data.path {value!r} not found: name a folder of .py files, a .jsonl or a .parquet file"
    if path.is_file() and path.suffix.lower() not in (".jsonl", ".parquet"):
        return f"data.path {value!r}: expected a folder, a .jsonl or a .parquet file"
    if not path.is_dir() and not stat.S_ISREG(path.stat().st_mode):
        # a FIFO would block the data stage for ever; a link to /dev/zero would never end
        return f"data.path {value!r} is {special_kind(path.stat().st_mode)}, not a regular file"
    return None


def _hub_tokenizer_available(repo_id: str) -> bool:
    """A hub tokenizer is cached already, or the Hub answers (a 3-second connect)."""
    try:
        from huggingface_hub import constants, try_to_load_from_cache
    except ImportError:
        return True  # cannot tell: from_pretrained says what is wrong
    try:
        if isinstance(try_to_load_from_cache(repo_id, "tokenizer_config.json"), str):
            return True
    except ValueError:  # not a valid repo id: from_pretrained names the problem
        return True
    if constants.HF_HUB_OFFLINE:
        return False
    return hub_reachable()


def _has_python(folder: Path) -> bool:
    """Whether the data stage will find a .py file there (as corpus.sources.folder_files)."""
    for _, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"]
        if any(f.endswith(".py") for f in filenames):
            return True
    return False


def _utf8_start(path: Any, size: int = 1 << 16) -> bool:
    """The first 64 kB decode as UTF-8 (a cut multi-byte character at the end is fine)."""
    try:
        with open(path, "rb") as f:
            head = f.read(size)
    except OSError:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start >= len(head) - 3
    return True


def load_toml(path: Path) -> dict[str, Any]:
    text = read_text(path, ConfigError, "file not found", "a TOML file", "save it as UTF-8")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None


HUB_TIMEOUT_S = 3.0


def hub_reachable() -> bool:
    """Fail in a few seconds rather than after load_dataset's ~25 s of retries."""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # behind a proxy a direct connect proves nothing; let load_dataset try
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=HUB_TIMEOUT_S).close()
        return True
    except OSError:
        return False
