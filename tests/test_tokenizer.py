"""Tokenizer training, caching and loading."""

from itertools import pairwise

import pytest
from datasets import Dataset, DatasetDict

from pipeline.config import ConfigError, load_matrix
from pipeline.tokenizer import EOS, build_tokenizer, load_pretrained, train_bpe

CODE = [
    "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2]})\nprint(df.mean())\n",
    "import matplotlib.pyplot as plt\nplt.scatter(x, y)\nplt.show()\n",
    "from sklearn.ensemble import RandomForestRegressor\nmodel = RandomForestRegressor()\n",
] * 10


@pytest.fixture()
def corpus():
    ds = Dataset.from_dict({"content": CODE})
    return DatasetDict({"train": ds, "valid": ds.select(range(3))})


def test_trains_byte_level_bpe_with_eos_as_bos_eos_pad(tmp_path, corpus):
    tok, info = build_tokenizer({"vocab_size": 300, "pretrained": ""}, corpus, "c1", 128, tmp_path)
    assert tok.eos_token == tok.bos_token == tok.pad_token == EOS
    assert len(tok) == info["vocab_size"] <= 300
    assert info["kind"] == "trained-bpe" and info["chars_per_token"] > 1
    text = "df = pd.DataFrame()\n\tü→ 😀"
    assert tok.decode(tok(text)["input_ids"]) == text  # byte-level: nothing is ever unknown
    assert tok.model_max_length == 128
    assert "".join(info["sample_tokens"]) == info["sample_line"]  # the split the report shows
    assert EOS in info["special_tokens"]


def test_not_retrained_when_inputs_unchanged(tmp_path, corpus):
    cfg = {"vocab_size": 300, "pretrained": ""}
    build_tokenizer(cfg, corpus, "c1", 128, tmp_path)
    info_file = next(tmp_path.glob("tokenizer-*/tokenizer_info.json"))
    mtime = info_file.stat().st_mtime_ns
    build_tokenizer(cfg, corpus, "c1", 128, tmp_path)
    assert info_file.stat().st_mtime_ns == mtime
    assert len(list(tmp_path.glob("tokenizer-*"))) == 1
    build_tokenizer({**cfg, "vocab_size": 280}, corpus, "c1", 128, tmp_path)  # new inputs: new one
    build_tokenizer(cfg, corpus, "c2", 128, tmp_path)
    assert len(list(tmp_path.glob("tokenizer-*"))) == 3


def test_pretrained_by_path(tmp_path, corpus):
    tok, _ = build_tokenizer({"vocab_size": 300, "pretrained": ""}, corpus, "c1", 128, tmp_path)
    tok.save_pretrained(tmp_path / "mine")
    tok2, info = build_tokenizer(
        {"vocab_size": 300, "pretrained": str(tmp_path / "mine")}, corpus, "c1", 128, tmp_path / "c"
    )
    assert info["kind"] == "pretrained" and tok2.get_vocab() == tok.get_vocab()


def test_pretrained_errors_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match="no such folder"):
        load_pretrained(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="is not a loadable tokenizer") as e:
        load_pretrained(str(tmp_path / "empty"))
    assert "\n" not in str(e.value)


def words(tok, text: str) -> list[str]:
    """Each token of text, decoded on its own."""
    return [tok.decode([i]) for i in tok(text)["input_ids"]]


def test_grouped_newlines_make_a_blank_line_one_token():
    # GPT-2's regex cuts "\n\n" before top-level code into two lone newlines; grouped keeps
    # whitespace that ends in a newline as one word. Indented lines split as in GPT-2.
    text = ["x = 1\n\nplt.show()\n    return x\n\n\ny = 2\n"] * 20
    gpt2 = train_bpe(iter([text]), vocab_size=257, pre_tokenizer="gpt2")  # bytes only: no merges
    grouped = train_bpe(iter([text]), vocab_size=300, pre_tokenizer="grouped-newlines")
    assert words(gpt2, "1\n\nx") == ["1", "\n", "\n", "x"]
    assert words(grouped, "1\n\nx")[:3] == ["1", "\n\n", "x"]
    split = grouped.backend_tokenizer.pre_tokenizer.pre_tokenize_str
    # Indented code splits as in GPT-2: the newlines and all but one space, then " y".
    assert [w for w, _ in split("1\n\n    y\n")] == ["1", "ĊĊĠĠĠ", "Ġy", "Ċ"]
    sample = "def f():\n\n    return 1  \n\n\nx = 'ü'\n"
    assert grouped.decode(grouped(sample)["input_ids"]) == sample  # still byte-level, lossless
    # A lone newline token is never followed by another newline token.
    ids = grouped("\n\n".join(["a = 1", "b = 2\n", "c"]))["input_ids"]
    pieces = [grouped.decode([i]) for i in ids]
    assert not any(a.endswith("\n") and b.startswith("\n") for a, b in pairwise(pieces))


def test_unknown_pre_tokenizer_is_a_config_error():
    from pipeline.rules import check_rules

    cfg = load_matrix("micro", check_training_args=False)[0].config
    cfg["tokenizer"]["pre_tokenizer"] = "gpt4"
    (problem,) = check_rules(cfg)
    assert problem.startswith("tokenizer.pre_tokenizer 'gpt4' is unknown; choose one of gpt2")


def test_the_pre_tokenizer_is_part_of_the_cache_key_and_the_info(tmp_path, corpus):
    cfg = {"vocab_size": 300, "pretrained": ""}
    _, a = build_tokenizer({**cfg, "pre_tokenizer": "gpt2"}, corpus, "c1", 128, tmp_path)
    _, b = build_tokenizer(
        {**cfg, "pre_tokenizer": "grouped-newlines"}, corpus, "c1", 128, tmp_path
    )
    assert a["key"] != b["key"]
    assert (a["pre_tokenizer"], b["pre_tokenizer"]) == ("gpt2", "grouped-newlines")
