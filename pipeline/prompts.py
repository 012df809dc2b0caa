"""Prompt completions from a saved model, with simple checks on what it wrote."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path
from typing import Any

from pipeline.errors import ROOT, ConfigError
from pipeline.inputs import load_toml

# A prompt past this cannot fit any context the config allows (32,768 tokens) and is only
# costly: the report highlights every prompt into its HTML (a 10 MB one took minutes).
MAX_PROMPT_CHARS = 100_000
MANY_PROMPTS = 100  # past this, a warning: each prompt is 1 + num_samples generations
CHECK_TIMEOUT_S = 1.0  # per `expect` pattern: a backtracking regex must not hang the checks


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
        if len(p["text"]) > MAX_PROMPT_CHARS:
            raise ConfigError(
                f"{path}: prompt {p['name']!r} has {len(p['text']):,} characters; the limit is "
                f"{MAX_PROMPT_CHARS:,} (no context holds more)"
            )
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


PROMPT_GROUPS = {"course": "prompts_file", "heldout": "heldout_prompts_file"}


def evaluation_prompts(gen: dict[str, Any]) -> list[dict[str, Any]]:
    """The course's prompts, then the held-out ones (a check that the model did not learn the
    four course prompts only), each tagged with its group. An empty file name skips a group."""
    out = []
    for group, key in PROMPT_GROUPS.items():
        if gen.get(key):
            out += [{**p, "group": group} for p in load_prompts(gen[key])]
    if len(out) > MANY_PROMPTS:  # legal, but costly: said before the work, once per matrix
        per = 1 + int(gen.get("num_samples") or 0)
        print(
            f"warning: {len(out):,} prompts: {len(out) * per:,} generations per experiment "
            f"after training ({per} each)",
            file=sys.stderr,
        )
    return out


def complete_lines(code: str) -> str:
    """Cut generated code at its last complete line (a completion stops mid-line)."""
    return code[: code.rfind("\n") + 1] if "\n" in code else ""


def syntax_valid(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


EARLY_LINES = 3


def early_hit(patterns: list[str], completion: str, lines: int = EARLY_LINES) -> bool:
    """Every expected pattern within the completion's first lines: the model answered the
    comment right away rather than somewhere later. False without patterns."""
    head = "\n".join(completion.splitlines()[:lines])
    return bool(patterns) and all(found(p, head) for p in patterns)


def found(pattern: str, text: str) -> bool:
    """re.search with a time limit (the `regex` module, which transformers installs): a
    pattern that backtracks without end, `(\\s+)+\\(`, counts as not found after
    CHECK_TIMEOUT_S instead of hanging the run after training."""
    try:
        import regex
    except ImportError:
        return bool(re.search(pattern, text))
    try:
        return bool(regex.search(pattern, text, timeout=CHECK_TIMEOUT_S))
    except TimeoutError:
        print(f"    warning: pattern {pattern!r} gave up after {CHECK_TIMEOUT_S:g} s (not found)")
        return False


def checks(prompt: dict[str, Any], completion: str, room: bool = True) -> dict[str, Any]:
    """Syntax and expected patterns, both on one text: the completion's complete lines.

    A completion stops mid-line wherever max_new_tokens falls, so its last partial line is cut
    (`plt.show(` after a complete statement is fine). The lines must parse after the prompt and
    hold each pattern themselves. An empty or newline-less completion has no complete line: it
    is no code, and fails both checks (the prompt alone would parse). With no room to generate
    (the prompt fills the context) nothing was written, and nothing may count as passing."""
    if not room:
        patterns = {p: False for p in prompt.get("expect", [])}
        return {"checked": "", "syntax_valid": False, "patterns": patterns, "early_hit": False,
                "no_room": True}  # fmt: skip
    code = complete_lines(completion)
    has_code = bool(code.strip())
    return {
        "checked": code,
        "syntax_valid": has_code and syntax_valid(prompt["text"] + code),
        "patterns": {p: has_code and found(p, code) for p in prompt.get("expect", [])},
        "early_hit": has_code and early_hit(prompt.get("expect", []), code),
    }


def decoding_settings(
    do_sample: bool, temperature: float, top_p: float, max_new_tokens: int
) -> dict[str, Any]:
    """Every decoding parameter, set explicitly, as generate() and the record take them.

    Left unset, transformers fills in its defaults, top_k = 50 among them: a hidden top-k cut
    under the top-p that the reference protocol (Chen et al. 2021; codeparrot) uses alone. So
    top_k = 0 (off) and the other filters at their neutral values; greedy decoding takes no
    sampling parameters (transformers warns when it gets some)."""
    settings: dict[str, Any] = {
        "max_new_tokens": int(max_new_tokens),
        "do_sample": bool(do_sample),
        "num_beams": 1,
        "repetition_penalty": 1.0,
        "no_repeat_ngram_size": 0,
    }
    if do_sample:
        settings.update(
            temperature=float(temperature),
            top_p=float(top_p),
            top_k=0,
            typical_p=1.0,
            epsilon_cutoff=0.0,
            eta_cutoff=0.0,
        )
    return settings


def complete(model_dir: Path, prompts: list[dict[str, Any]], gen: dict[str, Any]) -> list[dict]:
    """Complete each prompt from the saved model folder with pipeline("text-generation"):
    one main completion (greedy unless do_sample) and num_samples sampled ones."""
    import torch
    from transformers import pipeline

    device = 0 if torch.cuda.is_available() else -1
    pipe = pipeline("text-generation", model=str(model_dir), device=device)
    n_positions = pipe.model.config.n_positions
    temperature, top_p = float(gen["temperature"]), float(gen["top_p"])
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
        decoding = decoding_settings(bool(gen["do_sample"]), temperature, top_p, max_new)
        sampling = decoding_settings(True, temperature, top_p, max_new)
        n_samples = int(gen.get("num_samples", 0))

        seed = int(gen["seed"])
        completion = generate(pipe, p["text"], 1, seed, **decoding)[0]
        samples = generate(pipe, p["text"], n_samples, seed, **sampling)
        out.append(
            {
                "name": p["name"],
                "group": p.get("group", "course"),
                "prompt": p["text"],
                "completion": completion,
                "prompt_tokens": prompt_tokens,
                "decoding": {**decoding, "seed": seed},
                "checks": checks(p, completion, max_new > 0),
                "samples": [
                    {"completion": c, "checks": checks(p, c, max_new > 0)} for c in samples
                ],
                "sampling": {**sampling, "seed": seed, "n": n_samples},
            }
        )
    return out


def sample_summary(completions: list[dict], group: str = "course") -> dict | None:
    """Syntax-valid rate, pattern-hit rate and pass@k over one group's sampled completions."""
    from pipeline.passk import summarize

    samples = [
        {"name": c["name"], **s["checks"]}
        for c in completions
        if c.get("group", "course") == group
        for s in c.get("samples", [])
    ]
    if not samples:
        return None
    summary = summarize(samples)
    summary["early_hit_rate"] = sum(bool(s.get("early_hit")) for s in samples) / len(samples)
    return summary


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
