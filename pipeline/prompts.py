"""Prompt completions from a saved model, with simple checks on what it wrote."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from pipeline.config import ROOT, ConfigError, load_toml


def load_prompts(path: str | Path) -> list[dict[str, Any]]:
    """Read the prompts file; every problem is a one-line ConfigError naming the file."""
    path = Path(path)
    if not path.is_absolute():
        path = ROOT / path
    data = load_toml(path)
    prompts = data.get("prompt")
    if not isinstance(prompts, list) or not prompts:
        raise ConfigError(f"{path}: no prompts; add [[prompt]] tables with a name and a text")
    names = set()
    for i, p in enumerate(prompts, 1):
        if (
            not isinstance(p, dict)
            or not isinstance(p.get("name"), str)
            or not isinstance(p.get("text"), str)
            or not p["text"]
        ):
            raise ConfigError(f"{path}: prompt #{i} needs a string 'name' and a non-empty 'text'")
        if p["name"] in names:
            raise ConfigError(f"{path}: prompt name {p['name']!r} appears twice")
        names.add(p["name"])
        expect = p.get("expect", [])
        if not isinstance(expect, list) or not all(isinstance(x, str) for x in expect):
            raise ConfigError(f"{path}: prompt {p['name']!r}: 'expect' must be a list of regexes")
        for pattern in expect:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ConfigError(
                    f"{path}: prompt {p['name']!r}: bad regex {pattern!r} ({e})"
                ) from None
    return prompts


def complete_lines(code: str) -> str:
    """Cut generated code at its last complete line (a completion stops mid-line)."""
    return code[: code.rfind("\n") + 1] if "\n" in code else ""


def syntax_valid(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def checks(prompt: dict[str, Any], completion: str, room: bool = True) -> dict[str, Any]:
    """The completion's checks. With no room to generate (the prompt fills the context) nothing
    was written, and nothing may count as passing: the prompt alone often parses."""
    if not room:
        patterns = {p: False for p in prompt.get("expect", [])}
        return {"syntax_valid": False, "patterns": patterns, "no_room": True}
    return {
        "syntax_valid": syntax_valid(prompt["text"] + complete_lines(completion)),
        "patterns": {p: bool(re.search(p, completion)) for p in prompt.get("expect", [])},
    }


def complete(model_dir: Path, prompts: list[dict[str, Any]], gen: dict[str, Any]) -> list[dict]:
    """Complete each prompt from the saved model folder with pipeline("text-generation"):
    one main completion (greedy unless do_sample) and num_samples sampled ones."""
    import torch
    from transformers import pipeline

    device = 0 if torch.cuda.is_available() else -1
    pipe = pipeline("text-generation", model=str(model_dir), device=device)
    n_positions = pipe.model.config.n_positions
    out = []
    for p in prompts:
        prompt_tokens = len(pipe.tokenizer(p["text"])["input_ids"])
        # The model has no positions beyond its context: generate only what fits.
        max_new = max(0, min(int(gen["max_new_tokens"]), n_positions - prompt_tokens))
        if max_new == 0:
            print(
                f"    warning: prompt {p['name']!r} has {prompt_tokens} tokens, the context "
                f"{n_positions}: no room to generate; it is scored as failing"
            )
        decoding = {"max_new_tokens": max_new, "do_sample": bool(gen["do_sample"])}
        sampling = {"temperature": float(gen["temperature"]), "top_p": float(gen["top_p"])}
        if decoding["do_sample"]:
            decoding.update(sampling)
        n_samples = int(gen.get("num_samples", 0))

        seed = int(gen["seed"])
        completion = generate(pipe, p["text"], 1, seed, **decoding)[0]
        samples = generate(
            pipe, p["text"], n_samples, seed, do_sample=True, max_new_tokens=max_new, **sampling
        )
        out.append(
            {
                "name": p["name"],
                "prompt": p["text"],
                "completion": completion,
                "prompt_tokens": prompt_tokens,
                "decoding": {**decoding, "seed": int(gen["seed"])},
                "checks": checks(p, completion, max_new > 0),
                "samples": [
                    {"completion": c, "checks": checks(p, c, max_new > 0)} for c in samples
                ],
                "sampling": {**sampling, "n": n_samples, "max_new_tokens": max_new},
            }
        )
    return out


def sample_summary(completions: list[dict]) -> dict | None:
    """Syntax-valid rate, pattern-hit rate and pass@k over every prompt's sampled completions."""
    from pipeline.passk import summarize

    samples = [
        {"name": c["name"], **s["checks"]} for c in completions for s in c.get("samples", [])
    ]
    return summarize(samples) if samples else None


def generate(pipe, text: str, n: int, seed: int, **decoding) -> list[str]:
    """n completions of text; the seed is set first so sampling is reproducible."""
    from transformers import set_seed

    if n == 0 or decoding["max_new_tokens"] == 0:
        return [""] * n
    set_seed(seed)
    eos = pipe.tokenizer.eos_token_id
    result = pipe(
        text, return_full_text=False, pad_token_id=eos, num_return_sequences=n, **decoding
    )
    return [r["generated_text"] for r in result]
