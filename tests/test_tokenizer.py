"""Tokenizer training, caching and loading."""

import pytest
from datasets import Dataset, DatasetDict

from pipeline.config import ConfigError
from pipeline.tokenizer import EOS, build_tokenizer, load_pretrained

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
