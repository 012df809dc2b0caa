"""Decoding runs with the settings it records, and nothing else: no hidden top_k = 50 (issue 12).

transformers fills in top_k = 50 when it is not given; the prompts' samples and HumanEval set
every parameter explicitly, with top_k = 0 (off). The test watches which top-k warpers
generate() builds, on a real (untrained) micro model."""

from __future__ import annotations

import pytest
import torch
import transformers.generation.utils as generation_utils
from transformers.generation.logits_process import TopKLogitsWarper

from pipeline.humaneval import generate as humaneval_generate
from pipeline.model import build_model, gpt2_config_values
from pipeline.prompts import complete, decoding_settings
from pipeline.tokenizer import train_bpe

GEN = {"max_new_tokens": 6, "do_sample": True, "num_samples": 3, "temperature": 0.8,
       "top_p": 0.95, "seed": 1}  # fmt: skip


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("micro-model")
    tokenizer = train_bpe(iter([["import numpy as np\nx = np.zeros(3)\n"] * 20]), vocab_size=300)
    torch.manual_seed(0)
    values = gpt2_config_values("micro", len(tokenizer), 64, tokenizer.eos_token_id)
    build_model(values).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def top_k_cuts(monkeypatch) -> list[int]:
    """The top_k of every TopKLogitsWarper that generate() builds."""
    made: list[int] = []

    class Watched(TopKLogitsWarper):
        def __init__(self, top_k: int, **kwargs) -> None:
            made.append(top_k)
            super().__init__(top_k, **kwargs)

    monkeypatch.setattr(generation_utils, "TopKLogitsWarper", Watched)
    return made


def test_settings_are_explicit_and_top_k_is_off():
    sampled = decoding_settings(True, 0.8, 0.95, 10)
    assert sampled["top_k"] == 0 and sampled["top_p"] == 0.95 and sampled["temperature"] == 0.8
    assert sampled["num_beams"] == 1 and sampled["repetition_penalty"] == 1.0
    greedy = decoding_settings(False, 0.8, 0.95, 10)
    assert greedy["do_sample"] is False and "top_k" not in greedy and "temperature" not in greedy


def test_prompt_samples_use_top_p_only_and_record_it(model_dir, top_k_cuts):
    prompts = [{"name": "np", "text": "import numpy as np\n", "expect": ["np"]}]
    [out] = complete(model_dir, prompts, GEN)
    assert len(out["samples"]) == 3 and top_k_cuts == []
    assert out["sampling"]["top_k"] == 0 and out["decoding"]["top_k"] == 0
    assert out["sampling"]["top_p"] == 0.95 and out["sampling"]["temperature"] == 0.8


def test_humaneval_samples_use_top_p_only_and_record_it(model_dir, top_k_cuts):
    problems = [{"task_id": "HumanEval/0", "prompt": "def f(x):\n"}]
    [out] = humaneval_generate(model_dir, problems, 2, 0.8, 0.95, 6, 0)
    assert len(out["completions"]) == 2 and top_k_cuts == []
    assert out["decoding"]["top_k"] == 0 and out["decoding"]["top_p"] == 0.95
