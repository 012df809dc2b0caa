"""The chunked LM-head loss gives the stock loss and gradients, in any chunking."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset
from transformers import Trainer

from pipeline.loss import linear_cross_entropy_sum
from pipeline.model import build_model, gpt2_config_values
from pipeline.train import make_trainer, resolve_speed


@pytest.mark.parametrize("chunk", [1, 7, 64, 4096])
def test_loss_and_gradients_match_full_logits(chunk: int) -> None:
    torch.manual_seed(chunk)
    hidden = torch.randn(3, 11, 16, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(50, 16, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 50, (3, 11))
    labels[0, 4] = labels[2, 9] = -100  # ignored tokens count for nothing
    total, counted = linear_cross_entropy_sum(hidden, weight, labels, chunk)
    (total * 0.37).backward()
    got = (total.item(), hidden.grad.clone(), weight.grad.clone())
    hidden.grad = weight.grad = None
    logits = hidden[:, :-1] @ weight.t()
    ref = torch.nn.functional.cross_entropy(
        logits.reshape(-1, 50), labels[:, 1:].reshape(-1), reduction="sum", ignore_index=-100
    )
    (ref * 0.37).backward()
    assert counted.item() == 3 * 10 - 2
    assert got[0] == pytest.approx(ref.item(), rel=1e-6)
    torch.testing.assert_close(got[1], hidden.grad, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(got[2], weight.grad, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(("num_items", "bf16"), [(None, False), (70, False), (None, True)])
def test_trainer_loss_matches_the_stock_trainer(tmp_path, num_items, bf16) -> None:
    values = gpt2_config_values("micro", 128, 16, 0, {"resid_pdrop": 0.0, "embd_pdrop": 0.0,
                                                      "attn_pdrop": 0.0})  # fmt: skip
    model = build_model(values, "sdpa")
    ids = torch.randint(1, 128, (4, 16))
    data = {k: Dataset.from_dict({"input_ids": ids.numpy()}) for k in ("train", "valid")}
    speed = resolve_speed({"bf16": bf16, "chunked_loss": True})
    train_cfg = {"max_steps": 1, "eval_steps": 1, "save_steps": 1, "logging_steps": 1}
    trainer = make_trainer(model, None, data, train_cfg, speed, tmp_path, 0)
    inputs = {"input_ids": ids, "labels": ids}
    model.train()
    results = []
    for compute in (trainer.compute_loss, lambda *a, **k: Trainer.compute_loss(trainer, *a, **k)):
        model.zero_grad()
        loss = compute(model, inputs, num_items_in_batch=num_items)
        loss.backward()
        results.append((loss.item(), [p.grad.clone() for p in model.parameters()]))
    (chunked, chunked_grads), (stock, stock_grads) = results
    # under bf16 autocast both paths round the same products to bf16, in other orders
    rel, atol = (2e-2, 2e-3) if bf16 else (1e-5, 1e-6)
    assert chunked == pytest.approx(stock, rel=rel)
    for a, b in zip(chunked_grads, stock_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=rel * 10, atol=atol)
