"""The Trainer's losses are the mean cross-entropy per predicted token, computed by hand.

A block of T tokens has T-1 predicted positions; transformers' Trainer counted all T for a
GPT2LMHeadModel, so every loss came out low by (T-1)/T (issue 12). These tests compute the
reference in plain torch and compare the Trainer's eval loss, its logged training loss and its
training_step loss, with and without the chunked LM-head loss, on blocks made by both chunking
modes, with a last evaluation batch shorter than the others."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from datasets import Dataset

from pipeline.chunks import course_chunks, pack
from pipeline.model import build_model, gpt2_config_values
from pipeline.train import make_trainer, resolve_speed

VOCAB, CONTEXT = 96, 16
NO_DROPOUT = {"resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0}


def blocks(mode: str, n_docs: int = 40) -> np.ndarray:
    rng = np.random.default_rng(0)
    docs = [rng.integers(1, VOCAB, rng.integers(5, 60)).tolist() for _ in range(n_docs)]
    made = pack(docs, 0, CONTEXT) if mode == "packed" else course_chunks(docs, CONTEXT)
    return made[0]


def hand_loss(model, ids: np.ndarray) -> float:
    """Mean next-token cross-entropy over every predicted position, one block at a time."""
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for row in torch.as_tensor(ids, dtype=torch.long):
            logits = model(input_ids=row[None]).logits[0, :-1].double()
            total += torch.nn.functional.cross_entropy(logits, row[1:], reduction="sum").item()
            count += len(row) - 1
    return total / count


def micro_trainer(tmp_path, train_ids, valid_ids, chunked: bool, **train_cfg):
    torch.manual_seed(0)
    values = gpt2_config_values("micro", VOCAB, CONTEXT, 0, NO_DROPOUT)
    model = build_model(values, "sdpa")
    data = {
        "train": Dataset.from_dict({"input_ids": train_ids}),
        "valid": Dataset.from_dict({"input_ids": valid_ids}),
    }
    cfg = {"max_steps": 1, "eval_steps": 100, "save_steps": 100, "logging_steps": 1,
           "per_device_eval_batch_size": 4, "per_device_train_batch_size": 2, **train_cfg}  # fmt: skip
    speed = resolve_speed({"bf16": False, "chunked_loss": chunked})
    return make_trainer(model, None, data, cfg, speed, tmp_path, 0)


@pytest.mark.parametrize("mode", ["packed", "course"])
def test_eval_loss_is_the_mean_per_predicted_token(tmp_path, mode) -> None:
    ids = blocks(mode)[:10]  # 10 blocks in batches of 4: the last batch holds 2
    assert len(ids) == 10
    trainer = micro_trainer(tmp_path, ids, ids, chunked=False)
    got = trainer.evaluate()["eval_loss"]
    assert got == pytest.approx(hand_loss(trainer.model, ids), rel=1e-5)


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("mode", ["packed", "course"])
def test_training_loss_is_the_mean_per_predicted_token(tmp_path, mode, chunked) -> None:
    """With a zero learning rate the weights stay put, so the logged loss of two accumulated
    steps over the whole (8-block) train set equals the hand loss of those blocks."""
    ids = blocks(mode)[:8]
    trainer = micro_trainer(
        tmp_path, ids, ids, chunked, learning_rate=0.0, max_steps=2, logging_steps=2,
        gradient_accumulation_steps=2, warmup_steps=0, weight_decay=0.0,
    )  # fmt: skip
    trainer.train()
    logged = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    assert logged[-1] == pytest.approx(hand_loss(trainer.model, ids), rel=1e-5)


@pytest.mark.parametrize("chunked", [False, True])
def test_training_step_divides_by_the_predicted_tokens(tmp_path, chunked) -> None:
    """One micro-batch through the Trainer's own counting and compute_loss (both loss paths)."""
    ids = blocks("packed")[:4]
    trainer = micro_trainer(tmp_path, ids, ids, chunked)
    batch = {"input_ids": torch.as_tensor(ids, dtype=torch.long)}
    batch["labels"] = batch["input_ids"]
    counted = trainer._get_num_items_in_batch([batch], torch.device("cpu"))
    assert int(counted) == 4 * (CONTEXT - 1)
    trainer.model.train()
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, batch, num_items_in_batch=counted).item()
    assert loss == pytest.approx(hand_loss(trainer.model, ids), rel=1e-5)


def test_a_record_from_before_the_fix_is_not_current(tmp_path) -> None:
    """Its losses are low by (T-1)/T: `make all` must retrain it, not keep it as up to date."""
    from pipeline.cache import write_json_atomic
    from pipeline.config import load_matrix
    from pipeline.record import LOSS_NORMALIZATION, RECORD_FILE, write_record
    from pipeline.runner import is_current
    from tests.fixtures.records import build_record, write_weights

    exp = load_matrix("micro", check_training_args=False)[0]
    record = build_record(exp, "complete")
    write_weights(tmp_path / exp.name / "model", exp.config_hash)
    record["weights"] = f"{exp.name}/model"
    record["evaluation"].pop("loss_normalization", None)
    write_json_atomic(tmp_path / exp.name / RECORD_FILE, record)  # as the old code wrote it
    assert not is_current(exp, tmp_path)
    record["evaluation"]["loss_normalization"] = LOSS_NORMALIZATION
    write_record(tmp_path / exp.name, record)
    assert is_current(exp, tmp_path)
