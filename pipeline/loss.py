"""The LM head's cross-entropy in chunks of tokens, without a [tokens x vocab] logits tensor.

GPT-2's loss upcasts every logit to float32 (tokens x 8192 x 4 bytes: 67 MB per CPU batch) and
walks it several times; on a 2-core CPU that was a third of each step. Here each chunk's logits
are made, turned into the loss and into the gradients of the hidden states and the head's
weight, and dropped, so a chunk stays in cache. The gradients are computed in the forward pass
(the backward only scales them), which is exact: the loss is linear in each chunk's terms.
"""

from __future__ import annotations

import torch

IGNORE = -100


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, labels, chunk):  # type: ignore[override]
        wide = torch.promote_types(hidden.dtype, torch.float32)
        loss = torch.zeros((), dtype=wide, device=hidden.device)
        grad_hidden = torch.empty_like(hidden)
        grad_weight = torch.zeros_like(weight, dtype=wide)
        for start in range(0, hidden.shape[0], chunk):
            h, y = hidden[start : start + chunk], labels[start : start + chunk]
            logits = h @ weight.t()  # under autocast the product runs in bf16
            logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
            valid = y != IGNORE
            target = y.clamp(min=0)
            lse = torch.logsumexp(logits, dim=-1)
            picked = logits.gather(1, target[:, None]).squeeze(1)
            loss += ((lse - picked) * valid).sum()
            # d(sum of losses)/d(logits) = softmax - one_hot, zero on ignored tokens
            grad = torch.exp(logits - lse[:, None])
            grad[torch.arange(len(y), device=y.device), target] -= 1.0
            grad *= valid[:, None]
            grad_hidden[start : start + chunk] = grad @ weight.to(grad.dtype)
            grad_weight += grad.t() @ h.to(grad.dtype)
        ctx.save_for_backward(grad_hidden, grad_weight)
        ctx.weight_dtype = weight.dtype
        return loss

    @staticmethod
    def backward(ctx, grad_loss):  # type: ignore[override]
        grad_hidden, grad_weight = ctx.saved_tensors
        return (
            grad_hidden * grad_loss.to(grad_hidden.dtype),
            (grad_weight * grad_loss).to(ctx.weight_dtype),
            None,
            None,
        )


def linear_cross_entropy_sum(
    hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, chunk: int = 128
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of next-token losses, number of tokens counted) for hidden [batch, seq, d], the
    head's weight [vocab, d] and labels [batch, seq] (unshifted, as the model takes them)."""
    h = hidden[:, :-1].reshape(-1, hidden.shape[-1])
    y = labels[:, 1:].reshape(-1)
    return _LinearCrossEntropy.apply(h, weight, y, chunk), (y != IGNORE).sum()
