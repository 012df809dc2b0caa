"""Training stage: transformers.Trainer over the chunked dataset.

An experiment's [training] table is passed to TrainingArguments as it is; this module adds
only what every run needs (evaluation at step 0, TensorBoard when [logging] asks, checkpoints
for resume) and the [speed] settings.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from pipeline.evaluation import key_token_ids
from pipeline.rules import LOCAL_TRAINING_KEYS


def collate(features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Blocks are full, so no padding: labels are the inputs (the model shifts them).

    DataCollatorForLanguageModeling would set labels of pad tokens to -100, and since pad is
    EOS here that would hide every document boundary from the loss."""
    ids = torch.stack([torch.as_tensor(f["input_ids"], dtype=torch.long) for f in features])
    return {"input_ids": ids, "labels": ids}


def bf16_supported() -> bool:
    """A GPU with native bf16 (not emulated: a T4 "supports" it at a fraction of fp16). On a
    CPU no flag says whether bf16 is faster: pipeline.precision times it instead."""
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)


def resolve_speed(speed: dict[str, Any]) -> dict[str, Any]:
    """The [speed] table as concrete values for this machine (recorded in the record).

    bf16 = "auto" on a CPU comes out float32 here; pipeline.precision.choose_precision then
    times both on the experiment's model, which is not known yet."""
    cuda = torch.cuda.is_available()
    bf16 = speed.get("bf16", "auto")
    bf16 = bf16_supported() if bf16 == "auto" else bool(bf16)
    return {
        "device": "cuda" if cuda else "cpu",
        "bf16": bf16,
        "fp16": cuda and not bf16 and speed.get("fp16_fallback", True),
        # TF32 exists from Ampere on; TrainingArguments refuses tf32=True before (a T4)
        "tf32": bool(speed.get("tf32")) and cuda and torch.cuda.get_device_capability()[0] >= 8,
        "torch_compile": bool(speed.get("torch_compile")),
        # "reduce-overhead": CUDA graphs (bench/gpu-notes.md); None: inductor's default
        "torch_compile_mode": speed.get("torch_compile_mode") or None,
        # AdamW's fused CUDA kernel: one launch for every parameter instead of one per tensor.
        "fused_optimizer": bool(speed.get("fused_optimizer", True)) and cuda,
        "chunked_loss": bool(speed.get("chunked_loss", False)),
        "attn_implementation": speed.get("attn_implementation", "sdpa"),
        "dataloader_num_workers": int(speed.get("dataloader_num_workers", 0)),
        "threads": int(speed.get("threads") or torch.get_num_threads()),
    }


class TimeBudget(TrainerCallback):
    """Stop after a wall-clock budget of training (evaluation time included), for comparing
    recipes at equal time rather than equal steps. 0 disables it.

    The time spent is saved in each checkpoint, so a run resumed from one goes on counting
    from there instead of being granted the whole budget again."""

    FILE = "time_spent.json"

    def __init__(self, seconds: float) -> None:
        self.seconds, self.start, self.stopped_at = seconds, None, None
        self.spent_before = 0.0  # seconds of the resumed checkpoint's earlier runs

    def spent(self) -> float:
        return self.spent_before + time.perf_counter() - self.start

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter()
        saved = Path(args.output_dir) / f"checkpoint-{state.global_step}" / self.FILE
        if state.global_step and saved.exists():
            self.spent_before = float(json.loads(saved.read_text())["seconds"])

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and folder.is_dir():
            (folder / self.FILE).write_text(json.dumps({"seconds": self.spent()}))

    def on_step_end(self, args, state, control, **kwargs):
        if self.seconds and self.spent() > self.seconds:
            self.stopped_at = state.global_step
            control.should_training_stop = True
        return control


class DivergenceStop(TrainerCallback):
    """Stop as soon as a logged loss is NaN or inf; the curve up to there is kept."""

    def __init__(self) -> None:
        self.diverged_at: int | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.diverged_at = state.global_step
            control.should_training_stop = True
        return control


def shrink_logits(logits: torch.Tensor, labels: torch.Tensor):
    """Per batch, keep the argmax and the per-token loss instead of [batch, seq, vocab] logits,
    so evaluation never holds every logit of the evaluation set in memory."""
    logits, labels = logits[:, :-1], labels[:, 1:]  # position t predicts token t+1
    losses = torch.nn.functional.cross_entropy(
        logits.float().transpose(1, 2), labels, reduction="none", ignore_index=-100
    )
    return logits.argmax(dim=-1), losses


def token_metrics(key_ids: list[int]):
    """compute_metrics: next-token accuracy and the loss on the course's key tokens."""

    def compute(eval_pred) -> dict[str, float]:
        preds, losses = eval_pred.predictions
        labels = eval_pred.label_ids[:, 1:]
        mask = labels != -100
        metrics = {"accuracy": float((preds[mask] == labels[mask]).mean())}
        key = np.isin(labels, key_ids) & mask
        if key.any():
            metrics["key_token_loss"] = float(losses[key].mean())
            metrics["key_token_accuracy"] = float((preds[key] == labels[key]).mean())
        return metrics

    return compute


def training_arguments(
    train_cfg: dict[str, Any],
    speed: dict[str, Any],
    out_dir: Path,
    seed: int,
    tensorboard: bool = False,
    wandb: bool = False,
    resume_step: int = 0,
) -> TrainingArguments:
    values = {k: v for k, v in train_cfg.items() if k not in LOCAL_TRAINING_KEYS}
    if speed.get("fused_optimizer") and values.get("optim", "adamw_torch") == "adamw_torch":
        values["optim"] = "adamw_torch_fused"  # the same update, computed in one kernel
    values.update(
        output_dir=str(out_dir),
        seed=seed,
        data_seed=seed,
        eval_strategy="steps",
        # the untrained model's loss is the reference point of every curve; a resumed run has it
        # in its restored log_history already (evaluating again would log its step twice)
        eval_on_start=not resume_step,
        logging_strategy="steps",
        save_strategy="steps",
        logging_nan_inf_filter=False,  # a NaN must show, so divergence is seen and recorded
        # [logging]: the record is the log; TensorBoard and W&B only when asked for
        report_to=[n for n, on in (("tensorboard", tensorboard), ("wandb", wandb)) if on] or "none",
        run_name=out_dir.parent.name,  # results/<name>/checkpoints: the experiment's name
        use_cpu=speed["device"] == "cpu",
        bf16=speed["bf16"],
        fp16=speed["fp16"],
        tf32=speed["tf32"] or None,
        torch_compile=speed["torch_compile"],
        torch_compile_mode=speed.get("torch_compile_mode"),
        dataloader_num_workers=speed["dataloader_num_workers"],
        dataloader_pin_memory=speed["device"] == "cuda",
        disable_tqdm=False,
        remove_unused_columns=False,
    )
    return TrainingArguments(**values)


class ProjectTrainer(Trainer):
    """Trainer with one change when `chunked_loss` is on: the training loss comes from
    pipeline.loss (the LM head's cross-entropy in chunks, no full float32 logits). It needs the
    bare model, so it stays off under torch.compile and DDP, whose wrappers own the forward;
    evaluation always takes the stock path (it needs the logits for its metrics)."""

    def __init__(self, *args, chunked_loss: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.chunked_loss = chunked_loss

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        bare = model is self.model and not self.args.torch_compile and self.args.world_size == 1
        if not (self.chunked_loss and bare and model.training and not return_outputs):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        # accelerate puts bf16 autocast around model.forward only: this path needs it too
        with self.accelerator.autocast():
            total, counted = chunked_loss_sum(model, inputs["input_ids"], inputs["labels"])
        # As the stock loss: over the whole accumulated batch when the Trainer counted it (it
        # then skips its own division by the accumulation steps), else a mean of this batch.
        # Both counts are of predicted tokens (labels[:, 1:]): build_model names the loss type.
        scaled = self.model_accepts_loss_kwargs and num_items_in_batch is not None
        return total / (num_items_in_batch if scaled else counted)


# Tokens per chunk: 128 x 8192 float32 logits = 4 MB. Measured on 2 cores, fwd + bwd of the
# tiny model: stock 6.2k tokens/s, chunks of 128 7.5k, 512 7.2k, 2048 6.1k.
LOSS_CHUNK = 128


def chunked_loss_sum(model, input_ids: torch.Tensor, labels: torch.Tensor):
    """(summed loss, predicted tokens) of a bare GPT2LMHeadModel, the LM head's cross-entropy
    computed LOSS_CHUNK tokens at a time (pipeline/loss.py)."""
    from pipeline.loss import linear_cross_entropy_sum

    hidden = model.transformer(input_ids=input_ids).last_hidden_state
    return linear_cross_entropy_sum(hidden, model.lm_head.weight, labels, LOSS_CHUNK)


def training_loss(model, input_ids: torch.Tensor, chunked: bool) -> torch.Tensor:
    """The mean training loss of one batch as ProjectTrainer computes it (labels = inputs), for
    timing a step outside the Trainer (pipeline/precision.py)."""
    if not chunked:
        return model(input_ids=input_ids, labels=input_ids).loss
    total, counted = chunked_loss_sum(model, input_ids, input_ids)
    return total / counted


def whole_batches(dataset, batch: int):
    """The dataset cut to a multiple of the batch size. Under torch.compile the short last batch
    of an epoch is a new shape, and recompiling for it cost ~40 s of a one-minute H100 run; the
    blocks dropped (fewer than one batch) are the last ones, the rest keep their shuffled order."""
    keep = len(dataset) - len(dataset) % batch
    return dataset if keep in (0, len(dataset)) else dataset.select(range(keep))


def make_trainer(
    model,
    tokenizer,
    chunks,
    train_cfg: dict[str, Any],
    speed: dict[str, Any],
    out_dir: Path,
    seed: int,
    callbacks: list | None = None,
    tensorboard_dir: Path | None = None,
    resume_step: int = 0,
    wandb: bool = False,
) -> Trainer:
    from pipeline.tensorboard_logs import attach

    tensorboard = tensorboard_dir is not None
    args = training_arguments(train_cfg, speed, out_dir, seed, tensorboard, wandb, resume_step)
    train = chunks["train"]
    if speed["torch_compile"]:
        train = whole_batches(train, args.per_device_train_batch_size * args.world_size)
    valid = chunks["valid"]
    eval_n = min(len(valid), int(train_cfg.get("max_eval_samples", len(valid))))
    # Evenly spaced blocks: the first N would all come from the first few validation files.
    eval_rows = np.unique(np.linspace(0, len(valid) - 1, eval_n).round().astype(int))
    trainer = ProjectTrainer(
        chunked_loss=bool(speed.get("chunked_loss")),
        model=model,
        args=args,
        data_collator=collate,
        train_dataset=train,
        eval_dataset=valid.select(eval_rows),
        processing_class=tokenizer,
        compute_metrics=token_metrics(list(key_token_ids(tokenizer).values()))
        if tokenizer
        else None,
        preprocess_logits_for_metrics=shrink_logits if tokenizer else None,
        callbacks=callbacks or [],
    )
    return attach(trainer, tensorboard_dir, resume_step)  # results/<name>/runs
