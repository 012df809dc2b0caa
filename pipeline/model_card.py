"""A Hub model card (README.md) beside the saved weights, written from the experiment's record:
YAML metadata (license, tags, datasets, model-index with the evaluation results) and the
settings, corpus and framework versions in prose. huggingface_hub writes the metadata, so the
Hub and `ModelCard.load` read it back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.cache import write_atomic

CARD_FILE = "README.md"
TAGS = ["gpt2", "text-generation", "code", "python", "codegen-report"]


def eval_results(record: dict[str, Any]) -> list:
    """model-index entries: eval loss, perplexity and bits per byte, as the record has them."""
    from huggingface_hub import EvalResult

    ev, data = record["evaluation"], record["data"]
    dataset = dataset_id(record)
    values = {
        "loss": ev["eval_results"]["eval_loss"],
        "perplexity": ev["perplexity"],
        "bits_per_byte": ev["bits_per_byte"],
    }
    return [
        EvalResult(
            task_type="text-generation",
            dataset_type=dataset,
            dataset_name=f"{dataset} (validation split, {data.get('valid_files')} files)",
            dataset_split="validation",
            metric_type=metric,
            metric_value=value,
        )
        for metric, value in values.items()
        if isinstance(value, int | float)
    ]


def dataset_id(record: dict[str, Any]) -> str:
    """The hub id of the training data, or what the local corpus was."""
    data_cfg = record["config"]["data"]
    if data_cfg["source"] == "hub":
        return data_cfg["hub_train"]
    return f"local/{data_cfg['source']}-python-code"


def corpus_phrase(data_cfg: dict[str, Any]) -> str:
    """What the model was trained on, from the config that built the corpus: the codeparrot-ds
    wording only where its keyword filter ran (a user's own folder trains without it)."""
    keywords = [str(k) for k in data_cfg.get("keywords") or []]
    source = data_cfg.get("source")
    if source == "hub":
        where = f"the `{data_cfg.get('hub_train')}` dataset"
    elif source == "path":
        where = (
            "the user's own code (`" + Path(str(data_cfg.get("path"))).name.replace("`", "") + "`)"
        )
    else:
        where = "the installed Python packages' sources, docstring examples and example scripts"
    if not keywords:
        return f"Python code from {where}, every file kept by the quality filters"
    return f"Python code that mentions {', '.join(keywords)}, from {where}"


def card_metadata(record: dict[str, Any]) -> Any:
    """The card's YAML metadata, as huggingface_hub's ModelCardData."""
    from huggingface_hub import ModelCardData

    data_cfg = record["config"]["data"]
    return ModelCardData(
        license="other",  # trained on code under many licenses (see the corpus below)
        library_name="transformers",
        pipeline_tag="text-generation",
        tags=TAGS,
        datasets=[data_cfg["hub_train"]] if data_cfg["source"] == "hub" else None,
        model_name=record["name"],
        eval_results=eval_results(record),
    )


def card_text(record: dict[str, Any]) -> str:
    from huggingface_hub import ModelCard

    cfg, env, data = record["config"], record["environment"], record["data"]
    training, model = record["training"], record["model"]
    hub = cfg["data"]["source"] == "hub"
    meta = card_metadata(record)
    t = cfg["training"]
    parts = data.get("parts") or {}
    part_lines = "".join(
        f"- `{name}`: weight {p['weight']:g}, {p['train_files']} train files "
        f"({p['train_bytes'] / 1e6:.1f} MB)\n"
        for name, p in parts.items()
    )
    body = f"""
# {record["name"]}

A GPT-2 ({model["config"]["n_layer"]} layers, {model["config"]["n_embd"]} wide,
{model["parameters"]["total"]:,} parameters) trained from scratch on {corpus_phrase(cfg["data"])},
by codegen-report (profile `{record["profile"]}`, config `{record["config_hash"]}`). A small research model: expect plausible-looking code, not
correct programs.

## Training

| setting | value |
|---|---|
| optimizer | {t["optim"]}, learning rate {t["learning_rate"]:g}, {t["lr_scheduler_type"]} schedule, {t["warmup_steps"]} warm-up steps, weight decay {t["weight_decay"]:g} |
| batch | {t["per_device_train_batch_size"]} blocks x {t["gradient_accumulation_steps"]} accumulation x {cfg["chunking"]["context_length"]} tokens |
| steps | {training["steps"]} ({training["tokens_seen"]:,} tokens) |
| seed | {record["seed"]} |

## Corpus

Source `{cfg["data"]["source"]}`{f" (`{cfg['data']['hub_train']}`)" if hub else ""}: {data["train_files"]} train and
{data["valid_files"]} validation files, {data.get("train_tokens", 0):,} train tokens, tokenizer of
{data["vocab_size"]} entries. The files keep their own licenses.
{part_lines}
## Evaluation

On the validation split: {", ".join(f"{r.metric_type} {r.metric_value:.4g}" for r in meta.eval_results)}
(loss in nats per predicted token).

## Use

```python
from transformers import pipeline

pipe = pipeline("text-generation", model="path/to/this/folder")
print(pipe("# create some data\\nx = np.random.randn(100)\\n", max_new_tokens=40)[0]["generated_text"])
```

## Framework versions

Python {env.get("python")}, torch {env.get("torch")}, transformers {env.get("transformers")},
datasets {env.get("datasets")}; trained on {env.get("device")}.
"""
    # Plain concatenation, no template engine: record text is data, never template code.
    return str(ModelCard(f"---\n{meta.to_yaml()}\n---\n{body}"))


def write_card(record: dict[str, Any], folder: Path) -> Path:
    path = Path(folder) / CARD_FILE
    write_atomic(path, card_text(record).encode("utf-8"))
    return path
