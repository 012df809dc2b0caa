"""pass@k against hand-computed values, and the summary of sampled prompt checks."""

import json
from math import comb

import pytest

from pipeline.passk import ks_up_to, pass_at_k, summarize


@pytest.mark.parametrize(
    "n, c, k, expected",
    [
        (5, 2, 1, 0.4),  # pass@1 is the pass rate c/n
        (10, 3, 5, 1 - 21 / 252),  # 1 - C(7,5)/C(10,5)
        (10, 0, 1, 0.0),
        (10, 0, 10, 0.0),
        (10, 8, 3, 1.0),  # n - c = 2 < k: every draw of 3 holds a passing sample
        (10, 10, 1, 1.0),
        (1, 1, 1, 1.0),
        (4, 1, 2, 0.5),  # 1 - C(3,2)/C(4,2) = 1 - 3/6
    ],
)
def test_pass_at_k_hand_computed(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_matches_the_binomial_form_and_stays_finite_at_large_n():
    for n, c, k in [(20, 3, 5), (50, 7, 10), (100, 1, 10), (200, 13, 100)]:
        exact = 1 - comb(n - c, k) / comb(n, k)
        assert pass_at_k(n, c, k) == pytest.approx(exact, rel=1e-9)
    assert 0.0 < pass_at_k(2000, 1, 1000) < 1.0  # C(2000, 1000) overflows a float


@pytest.mark.parametrize(
    "n, c, k, message", [(5, 1, 0, "1 <= k <= n"), (5, 1, 6, "1 <= k <= n"), (5, 6, 1, "c <= n")]
)
def test_pass_at_k_rejects_undefined_arguments(n, c, k, message):
    with pytest.raises(ValueError, match=message):
        pass_at_k(n, c, k)


def test_ks_up_to():
    assert ks_up_to(1) == [1]
    assert ks_up_to(4) == [1]
    assert ks_up_to(10) == [1, 5, 10]
    assert ks_up_to(200) == [1, 5, 10, 50, 100]


def sample(name, valid, **patterns):
    return {"name": name, "syntax_valid": valid, "patterns": patterns}


def test_summarize_hand_made():
    # "a": 5 samples, 4 valid, 3 hit both patterns, 2 of those valid -> passes 2/5
    # "b": 5 samples, no patterns (all hit), 1 valid -> passes 1/5
    samples = [
        sample("a", True, p=True, q=True),
        sample("a", True, p=True, q=True),
        sample("a", False, p=True, q=True),
        sample("a", True, p=True, q=False),
        sample("a", True, p=False, q=False),
    ] + [sample("b", i == 0) for i in range(5)]
    s = summarize(samples)
    assert s["prompts"] == 2 and s["samples"] == 10 and s["n"] == 5
    assert s["syntax_valid_rate"] == pytest.approx((4 / 5 + 1 / 5) / 2)
    assert s["pattern_hit_rate"] == pytest.approx((3 / 5 + 5 / 5) / 2)
    assert s["pass_rate"] == pytest.approx((2 / 5 + 1 / 5) / 2)
    assert list(s["pass_at_k"]) == ["pass@1", "pass@5"]
    assert s["pass_at_k"]["pass@1"] == pytest.approx(s["pass_rate"])
    assert s["pass_at_k"]["pass@5"] == 1.0  # each prompt has a passing sample among its 5
    assert s["per_prompt"] == [
        {"name": "a", "n": 5, "syntax_valid": 4, "pattern_hit": 3, "passed": 2},
        {"name": "b", "n": 5, "syntax_valid": 1, "pattern_hit": 5, "passed": 1},
    ]
    assert json.loads(json.dumps(s)) == s


def test_summarize_takes_the_fewest_samples_as_n():
    entries = [
        {"name": "x", "syntax_valid": True, "patterns": {}},
        {"name": "x", "syntax_valid": False, "patterns": {}},
        {"name": "y", "syntax_valid": True, "patterns": {"r": 0}},
    ]
    s = summarize(entries)
    assert s["n"] == 1 and list(s["pass_at_k"]) == ["pass@1"]
    assert s["pass_at_k"]["pass@1"] == pytest.approx((1 / 2 + 0 / 1) / 2)
    assert s["pattern_hit_rate"] == pytest.approx(0.5)


def test_summarize_needs_samples():
    with pytest.raises(ValueError, match="at least one sample"):
        summarize([])
