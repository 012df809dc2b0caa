"""Evaluation measures derived from trainer.evaluate() and the evaluation set: the record's
`evaluation` section. (Not evaluate.py: Hugging Face's `evaluate` package has that name.)"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pipeline.record import LOSS_NORMALIZATION, perplexity


def token_byte_lengths(tokenizer) -> np.ndarray:
    """Bytes of text behind each token id (special tokens: 0).

    Byte-level BPE writes each byte as one printable character, so a token's byte length is
    its length in those characters; other tokenizers fall back to decoding."""
    from tokenizers.pre_tokenizers import ByteLevel

    byte_chars = set(ByteLevel.alphabet())  # the 256 characters that stand for the 256 bytes
    special = set(tokenizer.all_special_ids)
    lengths = np.zeros(len(tokenizer), dtype=np.int64)
    for token, idx in tokenizer.get_vocab().items():
        if idx in special or idx >= len(lengths):
            continue
        if all(c in byte_chars for c in token):
            lengths[idx] = len(token)
        else:
            lengths[idx] = len(tokenizer.decode([idx]).encode("utf-8"))
    return lengths


def bits_per_byte(eval_loss: float, eval_dataset, tokenizer) -> float | None:
    """Eval loss in nats per token -> bits per byte of the predicted text.

    Unlike perplexity it does not depend on the tokenizer, so runs with different
    vocabularies compare. Position 0 of each block is never predicted, so it is not counted."""
    if not math.isfinite(eval_loss):
        return None
    ids = np.asarray(eval_dataset["input_ids"])[:, 1:]
    n_bytes = int(token_byte_lengths(tokenizer)[ids].sum())
    return eval_loss * ids.size / (n_bytes * math.log(2)) if n_bytes else None


KEY_WORDS = ("plt", "pd", "sk", "fit", "predict")  # the course's key tokens for data science


def key_token_ids(tokenizer, words: tuple[str, ...] = KEY_WORDS) -> dict[str, int]:
    """The key words, with and without a leading space, that are single tokens."""
    ids = {}
    for word in words:
        for variant in (word, " " + word):
            encoded = tokenizer(variant, add_special_tokens=False)["input_ids"]
            if len(encoded) == 1:
                ids[variant] = encoded[0]
    return ids


def evaluation_section(
    eval_results: dict[str, Any], step0_eval_loss: float | None, eval_dataset, tokenizer
) -> dict[str, Any]:
    key_tokens = key_token_ids(tokenizer)
    loss = float(eval_results["eval_loss"])
    return {
        "eval_results": eval_results,  # verbatim from trainer.evaluate()
        "loss_normalization": LOSS_NORMALIZATION,
        "perplexity": perplexity(loss),
        "step0_eval_loss": step0_eval_loss,
        "step0_perplexity": perplexity(step0_eval_loss) if step0_eval_loss is not None else None,
        "token_accuracy": eval_results.get("eval_accuracy"),
        "key_token_loss": eval_results.get("eval_key_token_loss"),
        "key_tokens": key_tokens,
        "bits_per_byte": bits_per_byte(loss, eval_dataset, tokenizer),
        "eval_blocks": len(eval_dataset),
    }
