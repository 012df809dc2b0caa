"""Tokenizer stage: train a byte-level BPE on the train split, or load a pretrained one.

Cached by a key of the corpus and the tokenizer settings, so it is not retrained when its
inputs are unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.cache import cached, key_hash
from pipeline.errors import ConfigError

EOS = "<|endoftext|>"
INFO_FILE = "tokenizer_info.json"
SAMPLE_LINE = "df = pd.read_csv('data.csv'); plt.scatter(df.x, df.y)"  # shown split in the report

# How text is cut into words before BPE merges ([tokenizer] pre_tokenizer). "gpt2" is GPT-2's
# own regex. It splits a blank line before top-level code into two lone newlines ("x\n\ny" ->
# "x", "\n", "\n", "y"), so a lone newline is the most frequent token in Python and an
# undertrained model's greedy completion is runs of blank lines. "grouped-newlines" is the
# same regex with one alternative added first for whitespace that ends in a newline before
# non-space ("\n\n" becomes one word), as newer tokenizers (cl100k, Llama 3) group newlines;
# everything else splits as GPT-2 does.
PRE_TOKENIZERS = {
    "gpt2": r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
    "grouped-newlines": (
        r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s*\n(?!\s)|\s+(?!\S)|\s+"""
    ),
}


def tokenizer_key(corpus_key: str, tok_cfg: dict[str, Any], context_length: int) -> str:
    return key_hash({"corpus": corpus_key, "tok": tok_cfg, "ctx": context_length}, compact=False)


def train_bpe(
    texts_batches, vocab_size: int, length: int | None = None, pre_tokenizer: str = "gpt2"
):
    """A GPT-2 style byte-level BPE: every byte is in the alphabet, so nothing is ever unknown.
    `pre_tokenizer` names the word-splitting regex (PRE_TOKENIZERS)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRE_TOKENIZERS[pre_tokenizer]), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])  # fmt: skip
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=True,
    )
    tok.train_from_iterator(texts_batches, trainer=trainer, length=length)
    return wrap(tok)


def wrap(tok):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=EOS, eos_token=EOS, pad_token=EOS, unk_token=EOS
    )


def load_pretrained(name_or_path: str):
    """A tokenizer folder or hub id; one-line errors for the usual mistakes."""
    from transformers import AutoTokenizer

    path = Path(name_or_path)
    if (name_or_path.startswith((".", "/")) or path.exists()) and not path.is_dir():
        raise ConfigError(f"tokenizer.pretrained {name_or_path!r}: no such folder")
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(
            f"tokenizer.pretrained {name_or_path!r} is not a loadable tokenizer ({first[:200]}); "
            "set it to a save_pretrained folder, or to '' to train one offline"
        ) from None
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(f"tokenizer.pretrained {name_or_path!r}: a fast tokenizer is required")
    if tokenizer.eos_token is None:
        tokenizer.add_special_tokens({"eos_token": EOS})
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # GPT-2 has no pad token; the course does this
    return tokenizer


def split_tokens(tokenizer, text: str) -> list[str]:
    """How text splits: each token decoded on its own (a space shows as a leading space)."""
    return [tokenizer.decode([i]) for i in tokenizer(text, add_special_tokens=False)["input_ids"]]


def chars_per_token(tokenizer, texts: list[str]) -> float:
    encoded = tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=False)
    tokens = sum(len(e.ids) for e in encoded)
    return sum(len(t) for t in texts) / max(tokens, 1)


def build_tokenizer(
    tok_cfg: dict[str, Any], corpus, corpus_key: str, context_length: int, cache_dir: Path
) -> tuple[Any, dict[str, Any]]:
    """Return (tokenizer, info); info goes into the record's data.tokenizer."""
    from transformers import AutoTokenizer

    key = tokenizer_key(corpus_key, tok_cfg, context_length)
    folder = cache_dir / f"tokenizer-{key}"
    return cached(
        folder, INFO_FILE, AutoTokenizer.from_pretrained,
        lambda: make_tokenizer(tok_cfg, corpus, context_length, folder, key),
    )  # fmt: skip


def make_tokenizer(
    tok_cfg: dict[str, Any], corpus, context_length: int, folder: Path, key: str
) -> tuple[Any, dict[str, Any]]:
    """(save, info) of a new tokenizer: trained on the train split, or a pretrained one."""
    sample = None
    if tok_cfg.get("pretrained"):
        tokenizer = load_pretrained(tok_cfg["pretrained"])
        kind = "pretrained"
    else:
        train = corpus["train"]
        rows, sample = training_sample(train, tok_cfg.get("train_sample_mb", 0))
        print(f"tokenizer: training byte-level BPE, vocab {tok_cfg['vocab_size']}, on "
              f"{sample['files']} of {sample['of_files']} train files "
              f"({sample['bytes'] / 1e6:.1f} of {sample['of_bytes'] / 1e6:.1f} MB)")  # fmt: skip
        tokenizer = train_bpe(
            text_batches(train, rows=rows),
            tok_cfg["vocab_size"],
            length=len(train) if rows is None else len(rows),
            pre_tokenizer=tok_cfg.get("pre_tokenizer", "gpt2"),
        )
        kind = "trained-bpe"
    tokenizer.model_max_length = context_length

    valid = corpus["valid"]
    texts = valid.select(range(min(200, len(valid))))["content"]  # not the whole column
    info = {
        "kind": kind,
        "name": tok_cfg.get("pretrained") or "byte-level BPE trained on the train split",
        "pre_tokenizer": None
        if tok_cfg.get("pretrained")
        else tok_cfg.get("pre_tokenizer", "gpt2"),
        "path": str(folder),
        "vocab_size": len(tokenizer),
        "eos_token": tokenizer.eos_token,
        "eos_token_id": tokenizer.eos_token_id,
        "chars_per_token": round(chars_per_token(tokenizer, texts), 4) if texts else None,
        "special_tokens": tokenizer.all_special_tokens,
        "sample_line": SAMPLE_LINE,
        "sample_tokens": split_tokens(tokenizer, SAMPLE_LINE),
        "training_sample": sample,
        "key": key,
    }
    return tokenizer.save_pretrained, info


def text_batches(split, batch: int = 1000, rows: list[int] | None = None):
    """The content column (or its `rows`, ascending), a batch of rows at a time: never the
    whole column in memory, and read without a memory map (pipeline/arrow_batches.py)."""
    from pipeline.arrow_batches import column_batches

    yield from column_batches(split, "content", batch, rows)


def training_sample(train, cap_mb: float, seed: int = 0) -> tuple[list[int] | None, dict]:
    """(rows to train the BPE on, or None for all; what they are, for the record).

    Merges are learnt from word counts, which settle long before a multi-GB split is read;
    training on all of codeparrot-ds would cost minutes and memory that grows with the text.
    With cap_mb > 0 and a larger split, each file is kept with probability cap / split size
    (seeded), about cap_mb of text in the split's order."""
    import numpy as np
    import pyarrow.compute as pc

    from pipeline.arrow_batches import arrow_batches

    sizes = np.concatenate([
        pc.binary_length(t["content"]).to_numpy(zero_copy_only=False)  # UTF-8 bytes
        for t in arrow_batches(train, ["content"], 1000)
    ] or [np.zeros(0, np.int64)]).astype(np.int64)  # fmt: skip
    total = int(sizes.sum())
    rows = None
    if cap_mb and total > cap_mb * 1e6:
        keep = np.random.default_rng(seed).random(len(sizes)) < cap_mb * 1e6 / total
        rows = np.flatnonzero(keep).tolist()
    chosen = sizes if rows is None else sizes[rows]
    return rows, {
        "files": len(chosen),
        "bytes": int(chosen.sum()),
        "of_files": len(sizes),
        "of_bytes": total,
        "cap_mb": cap_mb,
    }
