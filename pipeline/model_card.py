"""A Hub model card (README.md) beside the saved weights, written from the experiment's record:
YAML metadata (license, tags, datasets, model-index with the evaluation results) and the
settings, corpus and framework versions in prose (templates/model_card.md.j2). huggingface_hub
writes the metadata, so the Hub and `ModelCard.load` read it back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from pipeline.cache import write_atomic
from pipeline.errors import ROOT

CARD_FILE = "README.md"
TEMPLATE = "model_card.md.j2"  # in templates/: the card's prose
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
    context = {
        "metadata": meta.to_yaml(),
        "record": record,
        "cfg": cfg,
        "t": cfg["training"],
        "env": env,
        "data": data,
        "training": training,
        "model": model,
        "hub": hub,
        "parts": data.get("parts") or {},
        "corpus": corpus_phrase(cfg["data"]),
        "eval_results": meta.eval_results,
    }
    return str(ModelCard(_environment().get_template(TEMPLATE).render(context)))


def _environment() -> jinja2.Environment:
    """Jinja2 for the card's Markdown: no autoescape (Markdown has none), record values passed
    as data, never spliced into template code; a missing value is an error, not a blank."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROOT / "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = format  # {{ n | fmt(",") }} is f"{n:,}": the spec language of f-strings
    return env


def write_card(record: dict[str, Any], folder: Path) -> Path:
    path = Path(folder) / CARD_FILE
    write_atomic(path, card_text(record).encode("utf-8"))
    return path
