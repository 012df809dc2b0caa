"""Which cpu recipe learns the most code in the same wall clock? Candidates at equal time.

    python bench/cpu_recipe.py [--minutes 2] [--only a,b] [--bf16] [--json out.json]
    python bench/cpu_recipe.py --curve [--minutes-list 2,5,10,20]

Each candidate is the cpu profile's baseline with a few values changed (model width and depth,
vocabulary, batch, learning rate, corpus mix). Its throughput is probed first (random tokens,
bench/throughput.py), then it trains for that many steps as fill `--minutes` of training, through
the real pipeline (run_matrix into a temporary folder), with the full cosine schedule. Printed
per candidate: tokens/s, bits per byte on one fixed evaluation text (the default corpus's
validation split, the same bytes for every vocabulary), and the prompt checks: course greedy
hits, the share of sampled completions with the expected call in their first three lines, the
share that parse, and the held-out prompts' greedy hits. --curve runs the default recipe for
each budget instead: what more CPU time buys. float32 by default (--bf16 to allow it), so the
numbers are those of a CPU without bf16, the slower kind. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import tomllib
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import measure, project_recipe  # noqa: E402

from pipeline.config import ROOT, load_matrix, merge  # noqa: E402
from pipeline.corpus import build_corpus  # noqa: E402
from pipeline.evaluation import token_byte_lengths  # noqa: E402
from pipeline.prompts import early_hit, evaluation_prompts  # noqa: E402
from pipeline.runner import run_matrix  # noqa: E402

# name -> values changed from the cpu profile (TOML, dotted keys). The first is the reference.
W128 = {"n_layer": 4, "n_head": 4, "n_embd": 128}
CANDIDATES = {
    "profile": {},
    "tiny-v8k-lr1e-3": {"model": {"n_layer": 4, "n_head": 4, "n_embd": 192},
                        "tokenizer": {"vocab_size": 8192}, "training": {"learning_rate": 1e-3}},
    "w128-l4-v4k-lr2e-3": {"model": W128, "tokenizer": {"vocab_size": 4096},
                           "training": {"learning_rate": 2e-3}},
    "w128-l4-v2k-lr2e-3": {"model": W128, "tokenizer": {"vocab_size": 2048},
                           "training": {"learning_rate": 2e-3}},
    "w128-l2-v4k-lr3e-3": {"model": {**W128, "n_layer": 2}, "tokenizer": {"vocab_size": 4096},
                           "training": {"learning_rate": 3e-3}},
    "w128-l4-v4k-lr4e-3": {"model": W128, "tokenizer": {"vocab_size": 4096},
                           "training": {"learning_rate": 4e-3}},
    "w128-l4-v4k-usage-only": {"model": W128, "tokenizer": {"vocab_size": 4096},
                               "training": {"learning_rate": 2e-3},
                               "data": {"parts": {"library": 0}}},
    "w128-l4-v4k-b32": {"model": W128, "tokenizer": {"vocab_size": 4096},
                        "training": {"learning_rate": 2e-3, "per_device_train_batch_size": 32}},
    "w128-l2-v4k-lr3e-3-usage": {"model": {**W128, "n_layer": 2},
                                 "tokenizer": {"vocab_size": 4096},
                                 "training": {"learning_rate": 3e-3},
                                 "data": {"parts": {"library": 0}}},
    "w128-l2-v4k-lr6e-3": {"model": {**W128, "n_layer": 2}, "tokenizer": {"vocab_size": 4096},
                           "training": {"learning_rate": 6e-3}},
    "w128-l2-v2k-lr3e-3": {"model": {**W128, "n_layer": 2}, "tokenizer": {"vocab_size": 2048},
                           "training": {"learning_rate": 3e-3}},
    "w128-l2-v4k-lr3e-3-lib01": {"model": {**W128, "n_layer": 2},
                                 "tokenizer": {"vocab_size": 4096},
                                 "training": {"learning_rate": 3e-3},
                                 "data": {"parts": {"library": 0.1, "examples": 3}}},
    "w128-l4-v4k-prose": {"model": W128, "tokenizer": {"vocab_size": 4096},
                          "training": {"learning_rate": 2e-3}, "data": {"examples_prose": True}},
    "gpt2-newlines": {"tokenizer": {"pre_tokenizer": "gpt2"}},
    "no-usage-comments": {"data": {"usage_comments": False}},
}  # fmt: skip
FIXED_TEXT_BYTES = 200_000  # of the default corpus's validation split: the fixed evaluation text


def toml_table(name: str, values: dict) -> str:
    """One matrix entry; values as inline tables (json gives valid TOML for these types)."""
    lines = [f"[{name}]", f'description = "bench candidate {name}"']
    for section, table in values.items():
        items = ", ".join(f"{k} = {inline(v)}" for k, v in table.items())
        lines.append(f"{section} = {{{items}}}")
    return "\n".join(lines) + "\n"


def inline(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {inline(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def fixed_text() -> str:
    """The default cpu profile's validation text (first FIXED_TEXT_BYTES): every candidate is
    scored on these same bytes, whatever its vocabulary or corpus mix."""
    cfg = load_matrix("cpu")[0].config
    exclude = tuple(p["text"] for p in evaluation_prompts(cfg["generation"]))  # as the data stage
    corpus, _ = build_corpus(
        cfg["data"], ROOT / "cache", cfg["data"]["subset_seed"], exclude=exclude
    )
    text, size = [], 0
    for content in corpus["valid"]["content"]:
        text.append(content)
        size += len(content.encode())
        if size >= FIXED_TEXT_BYTES:
            break
    return "\n".join(text)


@torch.no_grad()
def bits_per_byte_on(model_dir: Path, text: str, context: int = 128) -> float:
    """Bits per byte of the predicted tokens of text, cut in blocks of `context` tokens."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    ids = np.asarray(tok(text)["input_ids"])
    n = len(ids) // context * context
    blocks = torch.as_tensor(ids[:n].reshape(-1, context))
    nats = 0.0
    for batch in blocks.split(64):
        logits = model(batch).logits[:, :-1].float()
        nats += torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), reduction="sum"
        ).item()
    n_bytes = int(token_byte_lengths(tok)[blocks[:, 1:].numpy()].sum())
    return nats / math.log(2) / n_bytes


def prompt_scores(record: dict) -> dict[str, float]:
    """Greedy hits per group, and over the course's samples: expected call in the first three
    lines, and parses."""
    expect = {(p["group"], p["name"]): p.get("expect", []) for p in
              evaluation_prompts(record["config"]["generation"])}  # fmt: skip
    out: dict[str, float] = {}
    for group in ("course", "heldout"):
        prompts = [p for p in record["prompts"] if p.get("group", "course") == group]
        out[f"{group}_greedy"] = sum(all(p["checks"]["patterns"].values()) for p in prompts)
        out[f"{group}_n"] = len(prompts)
        samples = [(p, s) for p in prompts for s in p["samples"]]
        out[f"{group}_early"] = float(np.mean([
            early_hit(expect[(group, p["name"])], s["completion"]) for p, s in samples
        ])) if samples else 0.0  # fmt: skip
        out[f"{group}_valid"] = float(np.mean([
            s["checks"]["syntax_valid"] for _, s in samples])) if samples else 0.0  # fmt: skip
    return out


def run(
    candidates: dict[str, dict], minutes: float, bf16: bool, tmp: Path, fixed_steps: int = 0
) -> list[dict]:
    base = load_matrix("cpu")[0].config
    text = fixed_text()
    rows = []
    for name, delta in candidates.items():
        cfg = merge(base, delta)
        recipe = project_recipe(cfg)
        recipe["speed"]["bf16"] = bf16
        per_step = cfg["training"]["per_device_train_batch_size"] * 128
        if (
            fixed_steps
        ):  # equal steps: a fair comparison of data and learning rate on a busy machine
            steps = fixed_steps
        else:  # two probes, the faster one kept: a busy moment only ever slows a probe down
            rate = max(
                measure(name, recipe, cfg["tokenizer"]["vocab_size"], 12, 3, tmp)[
                    "tokens_per_second"
                ]
                for _ in range(2)
            )
            steps = max(20, round(minutes * 60 * rate / per_step))
        delta = merge(delta, {
            "training": {"max_steps": steps, "warmup_steps": max(10, steps // 15),
                         "eval_steps": steps, "save_steps": 10**6},
            "speed": {"bf16": bf16},
        })  # fmt: skip
        matrix = tmp / f"{name}.toml"
        matrix.write_text(toml_table(name, delta))
        tomllib.loads(matrix.read_text())  # fail early on a malformed candidate
        exp = load_matrix("cpu", matrix_file=matrix)
        run_matrix(exp, tmp / "results", ROOT / "cache")
        record = json.loads((tmp / "results" / name / "record.json").read_text())
        if record["status"] != "complete":
            print(f"{name}: {record['status']} ({record['error']})")
            continue
        training, model = record["training"], record["model"]
        parts = model["parameters"]
        row = {
            "name": name,
            "non_embedding_params": parts["total"] - parts["embeddings"],
            "params": parts["total"],
            "tokens_per_second": training["tokens_per_second"],
            "steps": training["steps"],
            "tokens_seen": training["tokens_seen"],
            "train_s": training["train_only_s"],
            "bpb_fixed": bits_per_byte_on(tmp / "results" / record["weights"], text),
            **prompt_scores(record),
            "completions": {p["name"]: p["completion"] for p in record["prompts"]},
        }
        rows.append(row)
        print_table(rows, minutes)
    return rows


def print_table(rows: list[dict], minutes: float) -> None:
    print(f"\n== candidates at {minutes:g} min of training each (float32 unless --bf16)")
    print(f"{'candidate':<26} {'non-emb':>8} {'tok/s':>7} {'steps':>6} {'tokens':>7} "
          f"{'bpb':>6} {'course':>6} {'early3':>6} {'parses':>6} {'heldout':>7} {'h-early':>7}")  # fmt: skip
    for r in rows:
        print(f"{r['name']:<26} {r['non_embedding_params'] / 1e6:>7.2f}M "
              f"{r['tokens_per_second']:>7,.0f} {r['steps']:>6} {r['tokens_seen'] / 1e6:>6.2f}M "
              f"{r['bpb_fixed']:>6.3f} {r['course_greedy']:>4}/{r['course_n']} "
              f"{r['course_early']:>6.0%} {r['course_valid']:>6.0%} "
              f"{r['heldout_greedy']:>4}/{r['heldout_n']} {r['heldout_early']:>7.0%}", flush=True)  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--minutes", type=float, default=2.0)
    p.add_argument("--only", default="", help="comma-separated candidate names")
    p.add_argument("--bf16", action="store_true", help="allow bf16 (default: float32)")
    p.add_argument("--curve", action="store_true", help="the profile's recipe at several budgets")
    p.add_argument("--minutes-list", default="2,5,10,20")
    p.add_argument("--steps", type=int, default=0, help="equal steps instead of equal time")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    torch.manual_seed(0)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-cpu-recipe-") as tmp:
        if args.curve:
            for minutes in map(float, args.minutes_list.split(",")):
                name = f"profile-{minutes:g}min"
                results[name] = run({name: {}}, minutes, args.bf16, Path(tmp) / name)
        else:
            names = args.only.split(",") if args.only else list(CANDIDATES)
            unknown = [n for n in names if n not in CANDIDATES]
            if unknown:
                raise SystemExit(f"unknown candidates {unknown}; known: {', '.join(CANDIDATES)}")
            chosen = {n: CANDIDATES[n] for n in names}
            results["candidates"] = run(chosen, args.minutes, args.bf16, Path(tmp), args.steps)
    if args.curve:
        print("\n== what more CPU time buys (the cpu profile's recipe)")
        for rows in results.values():
            for r in rows:
                print(f"{r['name']:<18} bpb {r['bpb_fixed']:.3f}  course greedy "
                      f"{r['course_greedy']}/{r['course_n']}  early3 {r['course_early']:.0%}  "
                      f"parses {r['course_valid']:.0%}  held-out greedy "
                      f"{r['heldout_greedy']}/{r['heldout_n']}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
