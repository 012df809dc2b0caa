"""The rules table (pipeline/rules.py): one rule per config key, each applied before any work,
and nothing checked again at data time."""

from __future__ import annotations

import copy

import pytest

from pipeline.config import EXPERIMENTS_DIR, ConfigError, load_matrix, profile_config
from pipeline.inputs import load_toml
from pipeline.matrix_values import flatten
from pipeline.rules import RELATIONS, RULES, Rule, check_rules
from tests.conftest import ROOT, with_values


def defaults() -> dict:
    return load_toml(EXPERIMENTS_DIR / "defaults.toml")


def test_every_key_of_defaults_has_a_rule_and_every_rule_a_key():
    keys = set(flatten(defaults()))
    required = {k for k, r in RULES.items() if not r.optional}
    assert keys == required, (keys - required, required - keys)
    optional = {k for k, r in RULES.items() if r.optional}
    assert {k.split(".")[0] for k in optional} == {"model"}  # GPT2Config fields besides preset


def test_every_rule_says_what_its_key_means():
    assert all(rule.meaning and len(rule.meaning) > 8 for rule in RULES.values())


def test_the_defaults_and_every_profile_follow_the_rules():
    assert check_rules(defaults()) == []
    for profile in sorted(p.stem for p in (EXPERIMENTS_DIR / "profiles").glob("*.toml")):
        assert check_rules(profile_config(profile)) == [], profile


def test_choices_are_the_implementations():
    from pipeline.corpus import SOURCES
    from pipeline.corpus.usage import PARTS
    from pipeline.model import MODEL_FIELDS, PRESETS
    from pipeline.tokenizer import PRE_TOKENIZERS

    assert set(RULES["model.preset"].choices) == set(PRESETS)
    assert set(RULES["tokenizer.pre_tokenizer"].choices) == set(PRE_TOKENIZERS)
    assert set(RULES["data.source"].choices) == set(SOURCES)
    assert {k for k in RULES if k.startswith("data.parts.")} == {f"data.parts.{p}" for p in PARTS}
    assert {k.split(".")[1] for k in RULES if k.startswith("model.")} == {"preset", *MODEL_FIELDS}


@pytest.mark.parametrize(
    "rule, good, bad, message",
    [
        (Rule("flag", "x"), [True, False], ["false", 0, None], "must be true or false (a TOML"),
        (Rule("flag_or_auto", "x"), [True, "auto"], ["yes", 1], 'must be true, false or "auto"'),
        (Rule("whole", "x", 1), [1, 10**9], [0, 1.0, True, "2"], "must be a whole number >= 1"),
        (Rule("whole", "x", 0, 164), [0, 164], [165, -1], "must be a whole number in [0, 164]"),
        (Rule("number", "x", 0, low_open=True), [1e-9, 3], [0, -1, float("inf")], "a positive"),
        (Rule("number", "x", 0, 1, low_open=True), [1, 0.5], [0, 1.01, float("nan")], "in (0, 1]"),
        (Rule("choice", "x", choices=("a", "")), ["a", ""], ["b", None], "'b' is unknown; choose"),
        (Rule("words", "x"), [[], ["a"]], ["a", [""], [1]], "a list of non-empty strings"),
        (Rule("text", "x", nonempty=True), ["p"], ["", " ", 5], "must be a non-empty string"),
    ],
)
def test_each_kind_of_rule(rule, good, bad, message):
    for value in good:
        assert rule.problem("k", value) is None, value
    for value in bad:
        problem = rule.problem("k", value)
        assert problem and problem.startswith("k ") and repr(value) in problem, value
    assert message in rule.problem("k", "b" if rule.kind == "choice" else bad[0])


def resolved(**changes) -> dict:
    return with_values(copy.deepcopy(profile_config("cpu")), **changes)


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"data__source": "path", "data__path": ""}, "data.source is 'path' but data.path is"),
        ({"tokenizer__vocab_size": 200}, "tokenizer.vocab_size 200 leaves no merges"),
        ({"model__n_head": 7}, "must be divisible by model.n_head 7"),
        ({"humaneval__temperature": 0}, "humaneval.temperature 0 is greedy"),
        (
            {"data__parts__library": 0, "data__parts__doctests": 0, "data__parts__examples": 0},
            "data.parts: every weight is 0",
        ),
        ({"hub__push": True, "hub__repo_id": "no-slash"}, "is not a Hub repo id"),
    ],
)
def test_relations(changes, expected):
    (problem,) = check_rules(resolved(**changes))
    assert expected in problem


def test_a_relation_is_silent_where_its_keys_are_wrong_themselves():
    problems = check_rules(resolved(tokenizer__vocab_size="big", model__n_head=0))
    assert problems == [
        "tokenizer.vocab_size must be a whole number >= 1, got 'big'",
        "model.n_head must be a whole number >= 1, got 0",
    ]
    assert len(RELATIONS) == 6


def test_a_pretrained_tokenizer_needs_no_merges():
    assert check_rules(resolved(tokenizer__vocab_size=200, tokenizer__pretrained="gpt2")) == []


def test_a_wrong_profile_value_is_said_once_with_its_file(tmp_path):
    experiments = tmp_path / "experiments"
    (experiments / "profiles").mkdir(parents=True)
    (experiments / "defaults.toml").write_text((EXPERIMENTS_DIR / "defaults.toml").read_text())
    (experiments / "profiles" / "mine.toml").write_text('[speed]\ntf32 = "no"\n')
    (experiments / "matrix.toml").write_text("[a]\n[b]\n")
    with pytest.raises(ConfigError) as info:
        load_matrix("mine", experiments, check_training_args=False)
    assert str(info.value) == (
        "profiles/mine.toml: speed.tf32 must be true or false (a TOML boolean, no quotes), got 'no'"
    )


def test_nothing_checks_a_value_again_at_data_time():
    """The data stage trusts what validation passed: its modules raise no value errors."""
    root = ROOT / "pipeline"
    for name in ("corpus/__init__.py", "corpus/filters.py", "corpus/usage.py", "tokenizer.py"):
        text = (root / name).read_text()
        assert "must be true or false" not in text and "is unknown; choose" not in text, name
