"""codeparrot-ds on the hub path, offline: local datasets of its shape (repo_name, path, copies,
size, content, license) written here stand in for the hub, with exact counts; the fallback to the
offline corpus where the hub is out of reach (monkeypatched), and its one printed line; the run
time estimate against a hand computation of the course run."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from pipeline import data as data_stage
from pipeline import hub_data
from pipeline.config import ConfigError, load_matrix, merge
from pipeline.corpus import build_corpus, sources
from pipeline.run_estimate import confirm_run_time, estimate_seconds
from tests.conftest import ROOT

TRAIN_ROWS, VALID_ROWS = 40, 12
CODEPARROT_TRAIN = "huggingface-course/codeparrot-ds-train"
CODEPARROT_VALID = "huggingface-course/codeparrot-ds-valid"
FALLBACK_LINE = (
    "data: the HuggingFace hub is out of reach, so this run trains on the offline corpus (the "
    "installed packages' code), not on codeparrot-ds (docs/data.md)"
)


def codeparrot_rows(split: str, n: int) -> list[dict[str, str]]:
    """Rows of codeparrot-ds's shape, each a distinct file every default filter keeps."""
    rows = []
    for i in range(n):
        content = (
            "import pandas as pd\n\n\n"
            f"def summary_{split}_{i}(path):\n"
            f"    frame = pd.read_csv(path)\n"
            f"    return frame.describe() * {i}\n"
        )
        rows.append({
            "repo_name": f"user{i % 7}/analysis", "path": f"src/{split}_{i}.py", "copies": "1",
            "size": str(len(content.encode())), "content": content, "license": "mit",
        })  # fmt: skip
    return rows


def write_dataset(folder: Path, rows: list[dict[str, str]]) -> Path:
    folder.mkdir(parents=True)
    with open(folder / "data.jsonl", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return folder


@pytest.fixture
def hub(tmp_path):
    """(train folder, valid folder) of codeparrot-ds's shape."""
    return (
        write_dataset(tmp_path / "ds-train", codeparrot_rows("train", TRAIN_ROWS)),
        write_dataset(tmp_path / "ds-valid", codeparrot_rows("valid", VALID_ROWS)),
    )


@pytest.fixture
def online(monkeypatch):
    """A hub that answers (no test reaches the real one)."""
    monkeypatch.delenv(hub_data.DATA_ENV, raising=False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(sources, "hub_reachable", lambda: True)


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.delenv(hub_data.DATA_ENV, raising=False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(sources, "hub_reachable", lambda: False)


def micro_config(data: dict) -> dict:
    base = load_matrix("micro", check_training_args=False)[0].config
    return merge(base, {"data": {"train_subset": 0, "valid_subset": 0, **data}})


def hub_config(hub, train_files: int, valid_files: int, seed: int = 42) -> dict:
    return micro_config({
        "source": "hub", "hub_train": str(hub[0]), "hub_valid": str(hub[1]),
        "hub_train_files": train_files, "hub_valid_files": valid_files, "subset_seed": seed,
    })  # fmt: skip


def test_streamed_subset_has_exactly_the_files_asked_for(hub, tmp_path, online, capsys):
    config = hub_config(hub, 25, 5)
    data_cfg, tok_cfg, info = hub_data.resolve(config, tmp_path / "cache")
    assert info == {"corpus": "hub", "fallback": None}  # local folders: not codeparrot-ds by name
    assert tok_cfg is config["tokenizer"]
    out = capsys.readouterr().out
    train_bytes = (hub[0] / "data.jsonl").stat().st_size
    assert f"data: streaming 25 train files of {hub[0]}; the whole split is " in out
    assert f"{train_bytes / 1e3:,.1f} kB" in out  # the size, said before the stream
    assert "data: streaming 5 valid files" in out and "data: streamed 25 train files" in out

    dsd, stats = build_corpus(data_cfg, tmp_path / "cache", seed=42)
    assert (stats["source"], stats["files_seen"], stats["files_kept"]) == ("hub", 30, 30)
    assert (stats["train_files"], stats["valid_files"]) == (25, 5)
    assert (len(dsd["train"]), len(dsd["valid"])) == (25, 5)
    train_paths = dsd["train"]["path"]
    assert len(set(train_paths)) == 25
    assert set(train_paths) <= {r["path"] for r in codeparrot_rows("train", TRAIN_ROWS)}
    assert dsd["train"].column_names == list(sources.COLUMNS)
    assert stats["train_bytes"] == sum(len(c.encode()) for c in dsd["train"]["content"])

    # A second run reads the copy: nothing streamed, the same files.
    again, _, _ = hub_data.resolve(config, tmp_path / "cache")
    assert again == data_cfg and "streaming" not in capsys.readouterr().out
    # Another seed draws other files (a shuffle buffer, not the stream's first 25).
    other, _, _ = hub_data.resolve(hub_config(hub, 25, 5, seed=7), tmp_path / "cache")
    other_rows = datasets.load_dataset(other["hub_train"], split="train")
    assert len(other_rows) == 25 and set(other_rows["path"]) != set(train_paths)


def test_a_subset_larger_than_the_split_keeps_every_file(hub, tmp_path, online, capsys):
    data_cfg, _, _ = hub_data.resolve(hub_config(hub, 100, 5), tmp_path / "cache")
    assert f"data: streamed {TRAIN_ROWS} train files (the split has only {TRAIN_ROWS})" in (
        capsys.readouterr().out
    )
    assert len(datasets.load_dataset(data_cfg["hub_train"], split="train")) == TRAIN_ROWS


def test_a_whole_split_is_announced_with_its_size(hub, tmp_path, online, capsys):
    config = hub_config(hub, 0, 0)
    data_cfg, _, _ = hub_data.resolve(config, tmp_path / "cache")
    assert data_cfg == config["data"]  # load_dataset reads the split as it is
    valid_bytes = (hub[1] / "data.jsonl").stat().st_size
    assert (
        f"data: loading the whole valid split of {hub[1]} ({valid_bytes / 1e3:,.1f} kB); "
        "data.hub_valid_files = n streams only n files"
    ) in capsys.readouterr().out
    _, stats = build_corpus(data_cfg, tmp_path / "cache", seed=42)
    assert (stats["train_files"], stats["valid_files"]) == (TRAIN_ROWS, VALID_ROWS)


def test_codeparrot_ids_stream_and_are_cached_for_a_later_offline_run(
    hub, tmp_path, online, monkeypatch, capsys
):
    """The real dataset ids, with the hub's answers served from the local folders."""
    real_load = datasets.load_dataset
    local = {CODEPARROT_TRAIN: str(hub[0]), CODEPARROT_VALID: str(hub[1])}
    monkeypatch.setattr(
        datasets, "load_dataset", lambda name, **kw: real_load(local.get(name, name), **kw)
    )
    monkeypatch.setattr(hub_data, "split_info", lambda name, split: (606_720, 4_200_000_000))
    config = micro_config({"source": "hub", "hub_train_files": 20, "hub_valid_files": 4})
    data_cfg, _, info = hub_data.resolve(config, tmp_path / "cache")
    assert info == {"corpus": "codeparrot-ds", "fallback": None}
    assert (
        f"data: streaming 20 train files of {CODEPARROT_TRAIN}; "
        "the whole split is 606,720 files, 4,200.0 MB"
    ) in capsys.readouterr().out
    _, stats = build_corpus(data_cfg, tmp_path / "cache", seed=42)
    assert (stats["train_files"], stats["valid_files"]) == (20, 4)

    capsys.readouterr()
    monkeypatch.setattr(sources, "hub_reachable", lambda: False)  # the network goes
    cached, _, info = hub_data.resolve(config, tmp_path / "cache")
    assert cached == data_cfg and info["fallback"] is None
    assert capsys.readouterr().out == ""  # no stream, no fallback line


def test_unreachable_hub_falls_back_with_one_line(tmp_path, offline, capsys):
    config = load_matrix("colab", check_training_args=False)[0].config
    assert config["data"]["source"] == "hub"
    data_cfg, tok_cfg, info = hub_data.resolve(config, tmp_path / "cache")
    assert capsys.readouterr().out == FALLBACK_LINE + "\n"
    assert info == {"corpus": "offline", "fallback": "the HuggingFace hub is out of reach"}
    # the profile's other settings, on the offline source
    assert data_cfg == {**config["data"], "source": "installed"}
    assert tok_cfg == config["tokenizer"]
    assert not list((tmp_path / "cache").glob("hub-*"))  # nothing half-streamed


def test_fallback_trains_a_tokenizer_where_the_course_one_is_out_of_reach(
    tmp_path, offline, capsys
):
    config = load_matrix("colab", check_training_args=False)[0].config
    config = merge(
        config, {"tokenizer": {"pretrained": "huggingface-course/code-search-net-tokenizer"}}
    )
    _, tok_cfg, _ = hub_data.resolve(config, tmp_path)
    assert tok_cfg == {**config["tokenizer"], "pretrained": ""}
    assert capsys.readouterr().out == (
        "data: the HuggingFace hub is out of reach, so this run trains on the offline corpus "
        "(the installed packages' code) and a BPE trained on it instead of "
        "huggingface-course/code-search-net-tokenizer, not on codeparrot-ds (docs/data.md)\n"
    )


def test_lab_data_offline_skips_the_hub(tmp_path, monkeypatch, capsys):
    def no_network():
        raise AssertionError("LAB_DATA=offline must not try the hub")

    monkeypatch.setattr(sources, "hub_reachable", no_network)
    monkeypatch.setenv("LAB_DATA", "offline")
    config = load_matrix("gpu", check_training_args=False)[0].config
    data_cfg, _, info = hub_data.resolve(config, tmp_path)
    assert data_cfg["source"] == "installed"
    assert info == {"corpus": "offline", "fallback": "LAB_DATA=offline"}
    assert capsys.readouterr().out.startswith("data: LAB_DATA=offline, so this run trains on")
    monkeypatch.setenv("LAB_DATA", "codeparot")
    with pytest.raises(
        ConfigError, match="LAB_DATA='codeparot' is unknown; choose codeparrot-ds or offline"
    ):
        hub_data.resolve(config, tmp_path)


def test_hf_hub_offline_counts_as_out_of_reach(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("LAB_DATA", raising=False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    config = load_matrix("colab", check_training_args=False)[0].config
    _, _, info = hub_data.resolve(config, tmp_path)
    assert info["fallback"] == "HF_HUB_OFFLINE is set"


def test_the_course_profile_has_no_fallback(tmp_path, offline):
    config = load_matrix("course", check_training_args=False)[0].config
    with pytest.raises(ConfigError, match="trains on codeparrot-ds only"):
        hub_data.resolve(config, tmp_path)


def test_other_sources_pass_through(tmp_path):
    config = micro_config({})
    data_cfg, tok_cfg, info = hub_data.resolve(config, tmp_path)
    assert (data_cfg, tok_cfg) == (config["data"], config["tokenizer"])
    assert info == {"corpus": "offline", "fallback": None}


def test_prepare_data_records_the_corpus_it_used(tmp_path, offline, monkeypatch):
    """The hook: build_corpus gets the fallback's [data], the record's data says so."""
    seen = {}

    def corpus(data_cfg, cache_dir, seed, exclude):
        seen["data"] = data_cfg
        return "corpus", {
            "train_files": 1,
            "valid_files": 1,
            "cache_key": "k",
            "source": data_cfg["source"],
        }

    def tokenizer(tok_cfg, corpus, key, context, cache_dir):
        return "tok", {"vocab_size": 9, "chars_per_token": 3.0, "key": "t"}

    def chunks(cfg, tok, corpus, key, cache_dir):
        return "chunks", {"train_chunks": 1, "valid_chunks": 1, "tokens_dropped": 0}

    monkeypatch.setattr(data_stage, "build_corpus", corpus)
    monkeypatch.setattr(data_stage, "build_tokenizer", tokenizer)
    monkeypatch.setattr(data_stage, "build_chunks", chunks)
    config = load_matrix("colab", check_training_args=False)[0].config
    stats = data_stage.prepare_data(config, tmp_path).stats
    assert seen["data"]["source"] == "installed"
    assert (stats["source"], stats["corpus"]) == ("installed", "offline")
    assert stats["fallback"] == "the HuggingFace hub is out of reach"


def test_record_schema_takes_the_corpus_fields(tmp_path):
    from pipeline.record import read_record, write_record
    from tests.fixtures.records import fixture_record

    record = fixture_record()
    record["data"].update(corpus="offline", fallback="the HuggingFace hub is out of reach")
    read = read_record(write_record(tmp_path, record))
    assert read["data"]["fallback"] == "the HuggingFace hub is out of reach"


# ---- the course profile's time estimate ----

# GPT-2 small at the code-search-net tokenizer's 52,000 tokens and context 128, by hand:
# per layer c_attn 768*2304+2304, attn c_proj 768*768+768, c_fc 768*3072+3072, mlp c_proj
# 3072*768+768, two layer norms 4*768: 7,087,872; x 12 = 85,054,464; wte 52,000*768 =
# 39,936,000; ln_f 1,536. The matrix products: 124,992,000 (wpe, 98,304, is a lookup).
COURSE_FLOPS_PER_TOKEN = 6 * 124_992_000 + 12 * 12 * 12 * 64 * 128  # 764,107,776
COURSE_TRAIN_TOKENS = 65_242 * 32 * 8 * 128  # one epoch: 2,137,808,896
COURSE_EVAL_TOKENS = (65_242 // 5000 + 1) * 93_164 * 128  # 14 evaluations of the valid split


def course_config() -> dict:
    return load_matrix("course", check_training_args=False)[0].config


def test_course_estimate_on_a_t4_is_the_hand_computation():
    seconds, tokens, basis = estimate_seconds([course_config()], "Tesla T4")
    t4 = 0.25 * 65e12  # bench/t4_estimate.py's MFU x the T4's fp16 peak
    work = (COURSE_TRAIN_TOKENS + COURSE_EVAL_TOKENS / 3) * COURSE_FLOPS_PER_TOKEN
    assert tokens == COURSE_TRAIN_TOKENS
    assert seconds == pytest.approx(work / t4 + 60, rel=1e-12)
    assert 28 * 3600 < seconds < 29 * 3600  # the day nobody should start by accident
    assert basis == "25% of 65 TFLOP/s, assumed"


def test_a_measured_rate_replaces_the_table(tmp_path):
    from pipeline.record import write_record
    from tests.fixtures.records import fixture_record

    record = fixture_record()
    record["environment"]["device"] = "Tesla T4"
    record["model"]["config"].update(
        n_layer=12, n_head=12, n_embd=768, vocab_size=52_000, n_positions=128
    )
    record["training"]["tokens_per_second"] = 20_000.0
    write_record(tmp_path / "results" / "baseline", record)
    seconds, _, basis = estimate_seconds([course_config()], "Tesla T4", tmp_path / "results")
    assert seconds == pytest.approx(
        (COURSE_TRAIN_TOKENS + COURSE_EVAL_TOKENS / 3) / 20_000 + 60, rel=1e-12
    )
    assert basis == "20,000 tokens/s measured by earlier records"
    other, _, _ = estimate_seconds([course_config()], "NVIDIA L4", tmp_path / "results")
    assert other != seconds  # another device: the table


def test_a_long_run_needs_lab_max_hours(monkeypatch, capsys):
    monkeypatch.delenv("LAB_MAX_HOURS", raising=False)
    with pytest.raises(ConfigError) as e:
        confirm_run_time([course_config()], "Tesla T4")
    assert "about 28.7 h on Tesla T4, more than LAB_MAX_HOURS=2 h: set LAB_MAX_HOURS=29" in str(
        e.value
    )
    assert (
        "estimate: 1 experiment(s), 2,137.8M training tokens at 764 MFLOP each: about 28.7 h"
        in (capsys.readouterr().out)
    )
    monkeypatch.setenv("LAB_MAX_HOURS", "29")
    assert confirm_run_time([course_config()], "Tesla T4") == pytest.approx(
        (COURSE_TRAIN_TOKENS + COURSE_EVAL_TOKENS / 3) * COURSE_FLOPS_PER_TOKEN / (0.25 * 65e12)
        + 60
    )
    # An H100 does it in under two hours: no question asked.
    monkeypatch.delenv("LAB_MAX_HOURS")
    assert confirm_run_time([course_config()], "NVIDIA H100 80GB HBM3") < 2 * 3600
    monkeypatch.setenv("LAB_MAX_HOURS", "soon")
    with pytest.raises(ConfigError, match="LAB_MAX_HOURS='soon'"):
        confirm_run_time([course_config()], "Tesla T4")


def test_the_cli_stops_a_course_run_on_a_cpu_before_any_work(tmp_path, monkeypatch, capsys):
    from pipeline import inputs
    from pipeline.__main__ import main

    monkeypatch.delenv("LAB_MAX_HOURS", raising=False)
    # as on a box that reaches the hub: the course tokenizer passes validation, the time does not
    monkeypatch.setattr(inputs, "_hub_tokenizer_available", lambda repo_id: True)
    code = main([
        "--profile", "course", "--results", str(tmp_path / "results"),
        "--cache", str(tmp_path / "cache"), "experiment", "baseline",
    ])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: this run would take about ") and "LAB_MAX_HOURS=" in err
    cache = tmp_path / "cache"  # the writability check may make the folder: nothing in it
    assert not cache.exists() or not any(cache.iterdir())  # no download, no data stage


def test_the_report_says_when_a_run_fell_back():
    from report.render import environment, module

    templates = ROOT / "templates"
    text = module(environment(templates), "text.j2", {"experiments": [], "best": None})
    view = {"source": "installed", "keywords": ["pandas"], "corpus": "offline"}
    fell_back = str(text.data_intro({**view, "fallback": "HF_HUB_OFFLINE is set"}, "baseline"))
    assert (
        "The profile asks for codeparrot-ds from the Hugging Face hub; this run fell back to the "
        "offline corpus (HF\\_HUB\\_OFFLINE is set)."  # record text, Markdown-escaped
    ) in fell_back
    assert "fell back" not in str(text.data_intro({**view, "fallback": None}, "baseline"))


def test_the_course_profile_is_the_courses_run():
    """The course's TrainingArguments and model: GPT-2 small with GPT2Config's own dropout,
    32 x 8 blocks of 128 tokens per step, one epoch of its 16,702,061 training blocks."""
    config = course_config()
    t, model = config["training"], config["model"]
    assert model == {"preset": "gpt2-small"}  # GPT2Config defaults, dropout 0.1 included
    assert config["chunking"] == {"context_length": 128, "mode": "course"}
    assert config["tokenizer"]["pretrained"] == "huggingface-course/code-search-net-tokenizer"
    course = {
        "per_device_train_batch_size": 32, "gradient_accumulation_steps": 8,
        "learning_rate": 5e-4, "lr_scheduler_type": "cosine", "warmup_steps": 1000,
        "weight_decay": 0.1, "eval_steps": 5000, "save_steps": 5000,
    }  # fmt: skip
    assert {k: t[k] for k in course} == course
    blocks = 16_702_061  # the course's tokenized train split
    assert t["max_steps"] == blocks // 256 and blocks - t["max_steps"] * 256 < 256
    data = config["data"]
    assert (data["source"], data["fallback"], data["hub_train_files"]) == ("hub", "", 0)
    assert data["hub_train"] == CODEPARROT_TRAIN and data["hub_valid"] == CODEPARROT_VALID
