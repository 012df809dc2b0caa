"""Training callbacks and evaluation measures on hand-made inputs with known values."""

import math
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from datasets import Dataset

from pipeline.evaluation import bits_per_byte, key_token_ids, token_byte_lengths
from pipeline.throughput import StepClock, flops_per_token, mfu, peak_flops
from pipeline.tokenizer import train_bpe
from pipeline.train import (
    DivergenceStop,
    TimeBudget,
    shrink_logits,
    token_metrics,
    whole_batches,
)


def control():
    return SimpleNamespace(should_training_stop=False)


def test_divergence_stops_on_nan_and_remembers_the_step():
    cb, state = DivergenceStop(), SimpleNamespace(global_step=7)
    c = cb.on_log(None, state, control(), logs={"loss": 2.5})
    assert not c.should_training_stop and cb.diverged_at is None
    c = cb.on_log(None, state, control(), logs={"loss": float("nan")})
    assert c.should_training_stop and cb.diverged_at == 7


def test_time_budget_stops_after_the_budget_only(tmp_path):
    state, args = SimpleNamespace(global_step=3), SimpleNamespace(output_dir=str(tmp_path))
    off = TimeBudget(0)
    off.on_train_begin(args, state, control())
    assert not off.on_step_end(None, state, control()).should_training_stop
    cb = TimeBudget(0.05)
    cb.on_train_begin(args, state, control())
    assert not cb.on_step_end(None, state, control()).should_training_stop
    time.sleep(0.06)
    assert cb.on_step_end(None, state, control()).should_training_stop and cb.stopped_at == 3


def test_step_clock_leaves_out_warm_up_evaluations_and_checkpoints(monkeypatch):
    """Steps 1..20 take 1 s, except step 1 (compilation, 30 s), step 8 (after an evaluation,
    10 s) and step 15 (after a checkpoint, 10 s): the steady rate sees 1-s steps only."""
    durations = {1: 30.0, 8: 10.0, 15: 10.0}
    clock, now = StepClock(), [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])
    for step in range(1, 21):
        state = SimpleNamespace(global_step=step)
        clock.on_step_begin(None, state, control())
        now[0] += durations.get(step, 1.0)
        clock.on_step_end(None, state, control())
        # as in Trainer: evaluation and saving run after on_step_end, inside the next interval
        if step == 7:
            clock.on_evaluate(None, state, control())
        if step == 14:
            clock.on_save(None, state, control())
    seconds, steps = clock.steady(skip_fraction=0.1, min_skip=5)
    # steps 6..20 are past the warm-up; 8 and 15 followed an evaluation / a checkpoint
    assert steps == 13 and seconds == pytest.approx(13.0)
    assert StepClock().steady() is None


def test_whole_batches_drops_only_the_short_last_batch():
    data = Dataset.from_dict({"input_ids": [[i] for i in range(1003)]})
    cut = whole_batches(data, 256)
    assert len(cut) == 768 and cut[767]["input_ids"] == [767]
    assert len(whole_batches(data.select(range(512)), 256)) == 512
    assert len(whole_batches(data.select(range(100)), 256)) == 100  # less than a batch: keep all


def test_token_metrics_exact_on_hand_made_logits():
    vocab = 4
    labels = torch.tensor([[0, 1, 2, 3], [3, 3, 1, -100]])
    # Logits that predict token (t+1) correctly at some positions: one-hot with a margin.
    logits = torch.zeros(2, 4, vocab)
    logits[0, 0, 1] = 10  # predicts 1, next is 1: right
    logits[0, 1, 0] = 10  # predicts 0, next is 2: wrong
    logits[0, 2, 3] = 10  # predicts 3, next is 3: right
    logits[1, 0, 3] = 10  # predicts 3, next is 3: right
    logits[1, 1, 1] = 10  # predicts 1, next is 1: right
    logits[1, 2, 2] = 10  # next is -100: ignored
    preds, losses = shrink_logits(logits, labels)
    assert preds.shape == (2, 3) and losses.shape == (2, 3)
    right = -math.log(math.exp(10) / (math.exp(10) + 3))
    wrong = -math.log(1 / (math.exp(10) + 3))
    assert torch.allclose(losses[0], torch.tensor([right, wrong, right]), atol=1e-5)
    assert losses[1, 2] == 0  # ignored position
    eval_pred = SimpleNamespace(
        predictions=(preds.numpy(), losses.numpy()), label_ids=labels.numpy()
    )
    m = token_metrics([3])(eval_pred)
    assert m["accuracy"] == pytest.approx(4 / 5)
    # Targets are [1, 2, 3] and [3, 1]: key token 3 is the target twice, predicted right both times.
    assert m["key_token_accuracy"] == 1.0
    assert m["key_token_loss"] == pytest.approx(right, abs=1e-5)


@pytest.fixture(scope="module")
def tokenizer():
    return train_bpe(
        iter([["import pandas as pd\nplt.plot(x)\nmodel.fit(X, y)\n"] * 50]), vocab_size=300
    )


def test_key_tokens_are_single_token_words_only(tokenizer):
    ids = key_token_ids(tokenizer)
    for word, idx in ids.items():
        assert tokenizer.convert_ids_to_tokens(idx).replace("Ġ", " ") == word
    assert " pd" in ids or "pd" in ids


def test_bits_per_byte_from_known_bytes(tokenizer):
    """By hand: the text's bytes, less the first token's (position 0 is never predicted), found
    by decoding, not through token_byte_lengths; 1.5 nats per token over them, in bits."""
    text = "import pandas as pd\n"  # 20 bytes
    ids = tokenizer(text)["input_ids"]
    assert token_byte_lengths(tokenizer)[ids].sum() == 20
    assert token_byte_lengths(tokenizer)[tokenizer.eos_token_id] == 0
    first = len(tokenizer.decode(ids[:1]).encode())
    assert text.startswith(tokenizer.decode(ids[:1])) and 0 < first < 20
    data = Dataset.from_dict({"input_ids": [ids, ids]})
    nats = 1.5 * 2 * (len(ids) - 1)  # two blocks, len(ids) - 1 predictions each
    assert bits_per_byte(1.5, data, tokenizer) == pytest.approx(
        nats / math.log(2) / (2 * (20 - first))
    )
    assert bits_per_byte(float("nan"), data, tokenizer) is None


def test_mfu_uses_nanogpt_flops_without_position_embeddings():
    """nanoGPT's estimate_mfu takes N = get_num_params(), which leaves out the position
    embeddings (a lookup, no multiply); the tied token embedding stays (it is the LM head)."""
    cfg = {"n_layer": 12, "n_head": 12, "n_embd": 768, "n_positions": 128}
    per_token = flops_per_token(cfg, 124_000_000)
    assert per_token == 6 * (124_000_000 - 128 * 768) + 12 * 12 * 12 * 64 * 128
    assert mfu(100_000, cfg, 124_000_000, 989e12) == pytest.approx(100_000 * per_token / 989e12)
    assert mfu(100_000, cfg, 124_000_000, None) is None
    assert np.isfinite(per_token)


def test_mfu_of_a_ddp_run_counts_every_device():
    """tokens/s of a DDP run sums its processes: the peak is world_size devices' peak."""
    cfg = {"n_layer": 12, "n_head": 12, "n_embd": 768, "n_positions": 128}
    one = mfu(100_000, cfg, 124_000_000, 989e12)
    assert mfu(400_000, cfg, 124_000_000, 989e12, devices=4) == pytest.approx(one)


@pytest.mark.parametrize(
    ("device", "peak"),
    [
        ("NVIDIA H100 80GB HBM3", 989e12),
        ("NVIDIA H100 PCIe", 756e12),
        ("NVIDIA H100 NVL", 835e12),
        ("NVIDIA H200", 989e12),
        ("NVIDIA A100-SXM4-80GB", 312e12),
        ("NVIDIA A100 80GB PCIe", 312e12),
        ("NVIDIA RTX A1000", None),
        ("NVIDIA L4", 121e12),
        ("NVIDIA L40S", 362e12),
        ("NVIDIA A10G", 70e12),
        ("CPU: AMD EPYC 7B13", None),
    ],
)
def test_peak_flops_matches_whole_device_names(device, peak):
    assert peak_flops(device) == peak
