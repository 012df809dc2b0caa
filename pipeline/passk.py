"""pass@k (Chen et al. 2021) and the summary of sampled prompt completions.

Torch-free: the report may import it.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of pass@k from n samples of which c pass: 1 - C(n-c, k) / C(n, k).

    Computed as the paper's product 1 - prod_{i=n-c+1}^{n} (1 - k/i): the binomials themselves
    overflow a float long before n = 200.
    """
    if not 1 <= k <= n:
        raise ValueError(f"pass@k needs 1 <= k <= n, got n={n}, k={k}")
    if not 0 <= c <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n passing samples, got n={n}, c={c}")
    if n - c < k:  # every draw of k samples holds a passing one
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def ks_up_to(n: int) -> list[int]:
    """The k to report for n samples: 1, 5, 10, 50, 100, 500, ... up to n."""
    ks, k, factor = [], 1, 5
    while k <= n:
        ks.append(k)
        k, factor = k * factor, 10 // factor  # alternate x5 and x2
    return ks


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Rates and pass@k over sampled completions of the prompts.

    `samples` holds one dict per completion: {"name": prompt name, "syntax_valid": bool,
    "patterns": {regex: bool}} (pipeline.prompts.sample_summary flattens the record's checks).
    A sample hits when every pattern of its prompt is found (a prompt with no pattern always
    hits); it passes when it is syntax valid and hits.

    Returns (JSON-serialisable):
        {"prompts": int, "samples": int,
         "n": int,                        # fewest samples of any prompt: pass@k needs k <= n
         "syntax_valid_rate": float,      # fraction in [0, 1], averaged over prompts
         "pattern_hit_rate": float,       #   (each prompt weighs the same, whatever its n;
         "pass_rate": float,              #    pass_rate equals pass@1)
         "pass_at_k": {"pass@1": float, "pass@5": float, ...},   # k from ks_up_to(n)
         "per_prompt": [{"name", "n", "syntax_valid", "pattern_hit", "passed"}]}  # counts
    """
    if not samples:
        raise ValueError("summarize needs at least one sample")
    per_prompt: dict[str, dict[str, Any]] = {}
    for sample in samples:
        row = per_prompt.setdefault(
            sample["name"],
            {"name": sample["name"], "n": 0, "syntax_valid": 0, "pattern_hit": 0, "passed": 0},
        )
        valid = bool(sample["syntax_valid"])
        hit = all(sample.get("patterns", {}).values())
        row["n"] += 1
        row["syntax_valid"] += valid
        row["pattern_hit"] += hit
        row["passed"] += valid and hit
    rows = list(per_prompt.values())
    n = min(r["n"] for r in rows)

    def mean_rate(key: str) -> float:
        return float(np.mean([r[key] / r["n"] for r in rows]))

    return {
        "prompts": len(rows),
        "samples": len(samples),
        "n": n,
        "syntax_valid_rate": mean_rate("syntax_valid"),
        "pattern_hit_rate": mean_rate("pattern_hit"),
        "pass_rate": mean_rate("passed"),
        "pass_at_k": {
            f"pass@{k}": float(np.mean([pass_at_k(r["n"], r["passed"], k) for r in rows]))
            for k in ks_up_to(n)
        },
        "per_prompt": rows,
    }
