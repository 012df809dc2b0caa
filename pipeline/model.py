"""GPT-2 model presets and the parameter breakdown the report shows.

PRESETS is torch-free so that config validation and the report can read it.
"""

from __future__ import annotations

from typing import Any

# GPT2Config values per preset; vocab_size and n_positions come from the tokenizer and context.
PRESETS: dict[str, dict[str, Any]] = {
    # The course model: GPT2Config defaults (GPT-2 small, 124M parameters at vocab 50257).
    "gpt2-small": {"n_layer": 12, "n_head": 12, "n_embd": 768},
    # Fits 2 CPU cores: 0.4M non-embedding parameters (0.93M with a 4096 vocabulary). At about
    # a minute per experiment, the fastest model learns most (bench/cpu_recipe.py: at equal
    # time, 2 x 128 reached 2.09 bits per byte where 4 x 128 reached 2.24 and 4 x 192 2.46).
    "tiny": {"n_layer": 2, "n_head": 4, "n_embd": 128},
    # For tests only: seconds per run.
    "micro": {"n_layer": 2, "n_head": 2, "n_embd": 32},
}


# GPT2Config fields a [model] table may set on top of its preset.
MODEL_FIELDS = (
    "n_layer", "n_head", "n_embd", "n_inner", "activation_function", "resid_pdrop",
    "embd_pdrop", "attn_pdrop", "layer_norm_epsilon", "initializer_range",
)  # fmt: skip


def gpt2_config_values(
    preset: str,
    vocab_size: int,
    context_length: int,
    eos_id: int,
    overrides: dict[str, Any] | None = None,
) -> dict:
    """GPT2Config values: the preset, then the [model] table's own fields, then what the
    tokenizer and the context fix."""
    model_table = {k: v for k, v in (overrides or {}).items() if k in MODEL_FIELDS}
    return {
        **PRESETS[preset],
        **model_table,
        "vocab_size": vocab_size,
        "n_positions": context_length,
        "bos_token_id": eos_id,
        "eos_token_id": eos_id,
        "pad_token_id": eos_id,  # as the tokenizer: generation then needs no config fix-up
    }


def sdpa_fp32(module, query, key, value, attention_mask, **kwargs):
    """SDPA computed in float32 inside a bf16 autocast region. On CPUs, PyTorch's bf16 attention
    backward is ~3x slower than float32's (16 x 4 heads x 128 x 48: 22 ms against 7.8 ms, fwd +
    bwd), while the matrix products around it gain from bf16: this keeps both fast."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    dtype = query.dtype
    with torch.autocast(query.device.type, enabled=False):
        out, weights = sdpa_attention_forward(
            module, query.float(), key.float(), value.float(), attention_mask, **kwargs
        )
    return out.to(dtype), weights


def build_model(values: dict[str, Any], attn_implementation: str = "sdpa"):
    """A freshly initialised GPT2LMHeadModel (weights from the seed set by the caller)."""
    from transformers import AttentionInterface, GPT2Config, GPT2LMHeadModel

    AttentionInterface.register("sdpa_fp32", sdpa_fp32)
    config = GPT2Config(**values)
    config._attn_implementation = attn_implementation
    model = GPT2LMHeadModel(config)
    # transformers derives loss_type from the class name, and "GPT2LMHeadModel" matches no
    # LOSS_MAPPING key, so it is None. The Trainer then counts every label position in
    # num_items_in_batch, position 0 of each block included although it is never predicted: each
    # loss (train, eval, eval_results) came out low by (T-1)/T. Naming the loss makes it count
    # labels[:, 1:]; GPT-2's forward computes the same ForCausalLM loss either way.
    model.loss_type = "ForCausalLM"
    return model


def parameter_breakdown(model) -> dict[str, int]:
    """Parameters per part. The LM head is tied to the token embedding, so it adds none:
    counting it again would double the embedding (we report it as 0 and say why)."""
    parts = {"embeddings": 0, "attention": 0, "mlp": 0, "norms": 0, "head": 0}
    seen: set[int] = set()
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen:
            continue
        seen.add(id(p))
        if ".wte." in name or ".wpe." in name:
            parts["embeddings"] += p.numel()
        elif ".attn." in name:
            parts["attention"] += p.numel()
        elif ".mlp." in name:
            parts["mlp"] += p.numel()
        elif ".ln_" in name:
            parts["norms"] += p.numel()
        else:
            parts["head"] += p.numel()
    parts["total"] = sum(parts.values())
    return parts


def analytic_parameters(values: dict[str, Any]) -> dict[str, int]:
    """The same breakdown from the config alone (no torch): used by the report and by tests."""
    d, L, V, T = values["n_embd"], values["n_layer"], values["vocab_size"], values["n_positions"]
    inner = values.get("n_inner") or 4 * d
    parts = {
        "embeddings": V * d + T * d,
        "attention": L * (d * 3 * d + 3 * d + d * d + d),
        "mlp": L * (d * inner + inner + inner * d + d),
        "norms": L * 2 * 2 * d + 2 * d,
        "head": 0,  # tied to the token embedding
    }
    parts["total"] = sum(parts.values())
    return parts
