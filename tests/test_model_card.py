"""The Hub model card (pipeline/model_card.py, its prose in templates/model_card.md.j2): the
text below the YAML metadata, byte for byte, for a record written out by hand; record text
stays text (no template syntax in a value runs)."""

from __future__ import annotations

import copy
from typing import Any

from pipeline.model_card import card_text

RECORD: dict[str, Any] = {
    "name": "baseline",
    "profile": "cpu",
    "config_hash": "0123456789abcdef",
    "seed": 42,
    "config": {
        "data": {"source": "installed", "keywords": ["pandas", "sklearn"]},
        "training": {
            "optim": "adamw_torch",
            "learning_rate": 0.003,
            "lr_scheduler_type": "cosine",
            "warmup_steps": 25,
            "weight_decay": 0.1,
            "per_device_train_batch_size": 16,
            "gradient_accumulation_steps": 1,
        },
        "chunking": {"context_length": 128},
    },
    "environment": {
        "python": "3.11.9",
        "torch": "2.13.0+cpu",
        "transformers": "5.24.0",
        "datasets": "5.2.0",
        "device": "cpu: Intel(R) Xeon(R) Platinum 8480+ (2 threads, bf16)",
    },
    "data": {
        "train_files": 1766,
        "valid_files": 43,
        "train_tokens": 14_800_000,
        "vocab_size": 4096,
        "parts": {
            "library": {"weight": 0.25, "train_files": 305, "train_bytes": 9_123_456},
            "doctests": {"weight": 2.0, "train_files": 465, "train_bytes": 1_234_567},
        },
    },
    "training": {"steps": 320, "tokens_seen": 655_360},
    "model": {"config": {"n_layer": 2, "n_embd": 128}, "parameters": {"total": 937_472}},
    "evaluation": {
        "eval_results": {"eval_loss": 2.3831},
        "perplexity": 10.838450034057455,
        "bits_per_byte": 1.1091,
    },
}

EXPECTED = """
# baseline

A GPT-2 (2 layers, 128 wide,
937,472 parameters) trained from scratch on Python code that mentions pandas, sklearn, from the installed Python packages' sources, docstring examples and example scripts,
by codegen-report (profile `cpu`, config `0123456789abcdef`). A small research model: expect plausible-looking code, not
correct programs.

## Training

| setting | value |
|---|---|
| optimizer | adamw_torch, learning rate 0.003, cosine schedule, 25 warm-up steps, weight decay 0.1 |
| batch | 16 blocks x 1 accumulation x 128 tokens |
| steps | 320 (655,360 tokens) |
| seed | 42 |

## Corpus

Source `installed`: 1766 train and
43 validation files, 14,800,000 train tokens, tokenizer of
4096 entries. The files keep their own licenses.
- `library`: weight 0.25, 305 train files (9.1 MB)
- `doctests`: weight 2, 465 train files (1.2 MB)

## Evaluation

On the validation split: loss 2.383, perplexity 10.84, bits_per_byte 1.109
(loss in nats per predicted token).

## Use

```python
from transformers import pipeline

pipe = pipeline("text-generation", model="path/to/this/folder")
print(pipe("# create some data\\nx = np.random.randn(100)\\n", max_new_tokens=40)[0]["generated_text"])
```

## Framework versions

Python 3.11.9, torch 2.13.0+cpu, transformers 5.24.0,
datasets 5.2.0; trained on cpu: Intel(R) Xeon(R) Platinum 8480+ (2 threads, bf16).
"""


def body(card: str) -> str:
    """The card below its YAML metadata (huggingface_hub writes that part)."""
    assert card.startswith("---\n")
    return card.partition("\n---\n")[2]


def test_the_card_reads_as_written():
    from huggingface_hub import ModelCard

    card = card_text(copy.deepcopy(RECORD))
    assert body(card) == EXPECTED
    got = {r.metric_type: r.metric_value for r in ModelCard(card).data.eval_results}
    assert got == {"loss": 2.3831, "perplexity": 10.838450034057455, "bits_per_byte": 1.1091}


def test_a_hub_corpus_without_parts_and_missing_versions():
    record = copy.deepcopy(RECORD)
    record["config"]["data"].update(
        source="hub", hub_train="huggingface-course/codeparrot-ds-train"
    )
    del record["data"]["parts"], record["data"]["train_tokens"]
    record["environment"] = {"python": "3.11.9"}
    text = body(card_text(record))
    assert (
        "## Corpus\n\n"
        "Source `hub` (`huggingface-course/codeparrot-ds-train`): 1766 train and\n"
        "43 validation files, 0 train tokens, tokenizer of\n"
        "4096 entries. The files keep their own licenses.\n\n"
        "## Evaluation\n"
    ) in text
    assert "from the `huggingface-course/codeparrot-ds-train` dataset," in text
    assert text.endswith(
        "Python 3.11.9, torch None, transformers None,\ndatasets None; trained on None.\n"
    )


def test_record_text_is_data_not_template_code():
    record = copy.deepcopy(RECORD)
    record["name"] = "x{{ 7*7 }}{% raw %}<b>"
    record["profile"] = "{# c #}{{ config }}"
    text = body(card_text(record))
    assert text.startswith("\n# x{{ 7*7 }}{% raw %}<b>\n")
    assert "(profile `{# c #}{{ config }}`, config `0123456789abcdef`)" in text
