"""One experiment end to end: data -> model -> train -> evaluate -> prompts -> record.

Imports torch and transformers; the matrix (pipeline.runner) imports this module only when an
experiment has to run, so `list` stays fast."""

from __future__ import annotations

import logging
import math
import os
import shutil
import traceback
from pathlib import Path
from typing import Any

import torch
from transformers import set_seed

from pipeline import wandb_logs
from pipeline.cache import write_json_atomic
from pipeline.config import ROOT, Experiment
from pipeline.data import PreparedData, prepare_data, stage
from pipeline.environment import environment, is_main, main_process_first, now, running_beside
from pipeline.eta import MatrixEta, tokens_per_step
from pipeline.evaluation import evaluation_section
from pipeline.hub import push_experiment
from pipeline.humaneval import evaluate_humaneval
from pipeline.model import build_model, gpt2_config_values, parameter_breakdown
from pipeline.model_card import write_card
from pipeline.precision import choose_precision
from pipeline.prompts import complete, evaluation_prompts, sample_summary
from pipeline.record import (
    PREVIOUS_FILE,
    RECORD_FILE,
    Record,
    RecordError,
    new_record,
    read_record,
    write_record,
)
from pipeline.tensorboard_logs import (
    checkpoint_step,
    no_repeated_final_eval,
    runs_folder,
    settle_runs,
)
from pipeline.throughput import StepClock, training_section
from pipeline.train import DivergenceStop, TimeBudget, make_trainer, resolve_speed
from pipeline.weights import IDENTITY_FILE, last_checkpoint, save_weights


def relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path.resolve())


def run_experiment(
    exp: Experiment, results: Path, cache: Path, eta: MatrixEta | None = None
) -> Record:
    """Train, evaluate and record one experiment. Returns the record it wrote. `eta`: the
    matrix's finish estimate, which the Trainer updates once the first steps have run."""
    folder = results / exp.name
    record = new_record(exp, environment())
    try:
        if not _run(exp, record, results, cache, eta):
            return record  # a DDP rank other than 0: rank 0 writes the one record
    except Exception as e:  # recorded, and the matrix goes on with the next experiment
        message = str(e).strip().splitlines()[0] if str(e).strip() else ""
        record["error"] = f"{type(e).__name__}: {message}"
        traceback.print_exc()
    finally:
        wandb_logs.finish()  # the next experiment gets a W&B run of its own
    return push_experiment(finish(record, folder), results, write_record)  # [hub] after the record


def _run(
    exp: Experiment, record: Record, results: Path, cache: Path, eta: MatrixEta | None
) -> bool:
    """Fill `record` stage by stage; False on a process that must not write it."""
    cfg, folder = exp.config, results / exp.name
    prompts = evaluation_prompts(cfg["generation"])  # fail before training
    with main_process_first():
        data = prepare_data(cfg, cache)
    record["data"] = data.stats
    speed = resolve_speed(cfg["speed"])
    model = _model(cfg, data, speed, record)
    speed, precision = choose_precision(
        cfg["speed"].get("bf16", "auto"), speed, record["model"]["config"],
        cfg["training"]["per_device_train_batch_size"], cache,
    )  # fmt: skip
    trainer, diverged_at = _train(exp, model, data, speed, folder, record, eta)
    record["training"]["precision"] = precision
    if diverged_at is not None:
        record["status"] = "diverged"
        record["error"] = f"loss became NaN/inf at step {diverged_at}; try a lower learning rate"
        return True
    history = trainer.state.log_history
    step0 = next((e["eval_loss"] for e in history if "eval_loss" in e and e["step"] == 0), None)
    no_repeated_final_eval(trainer)  # TensorBoard / W&B: no step twice
    eval_results = trainer.evaluate()
    record["evaluation"] = evaluation_section(
        eval_results, step0, trainer.eval_dataset, data.tokenizer
    )
    if not math.isfinite(eval_results["eval_loss"]):
        record["status"] = "diverged"
        record["error"] = "evaluation loss is NaN/inf; try a lower learning rate"
        return True
    if not is_main():  # one record, one set of weights: rank 0 writes them
        record["status"] = "complete"
        return False
    save_weights(trainer.model, data.tokenizer, folder / "model", exp.config_hash)
    record["weights"] = (folder / "model").relative_to(results).as_posix()
    _generate(cfg, prompts, folder / "model", record)
    write_card(record, folder / "model")  # a Hub model card beside the weights
    record["status"] = "complete"
    shutil.rmtree(folder / "checkpoints", ignore_errors=True)  # weights saved; checkpoints are big
    return True


def _model(cfg: dict[str, Any], data: PreparedData, speed: dict[str, Any], record: Record) -> Any:
    """A freshly initialised GPT-2 for this experiment; its shape goes into the record."""
    torch.set_num_threads(speed["threads"])
    if speed["torch_compile"]:
        # Each experiment's new model adds guards to the same forward; past dynamo's
        # recompile limit it would silently run eager. The on-disk cache keeps this cheap.
        torch._dynamo.reset()
    values = gpt2_config_values(
        cfg["model"]["preset"],
        len(data.tokenizer),
        cfg["chunking"]["context_length"],
        data.tokenizer.eos_token_id,
        cfg["model"],
    )
    set_seed(cfg["seed"])
    model = build_model(values, speed["attn_implementation"])
    params = parameter_breakdown(model)
    record["model"] = {"preset": cfg["model"]["preset"], "config": values, "parameters": params}
    print(f"    model: {params['total'] / 1e6:.2f}M parameters, {values}")
    return model


def _train(
    exp: Experiment,
    model: Any,
    data: PreparedData,
    speed: dict[str, Any],
    folder: Path,
    record: Record,
    eta: MatrixEta | None,
) -> tuple[Any, int | None]:
    """Train (resuming from a checkpoint of the same config); returns the trainer and the step
    at which the loss diverged, if it did."""
    cfg = exp.config
    ckpt_dir = folder / "checkpoints"
    with main_process_first():
        resume = last_checkpoint(ckpt_dir, exp.config_hash)
        if is_main():
            write_json_atomic(ckpt_dir / IDENTITY_FILE, {"config_hash": exp.config_hash})
    divergence = DivergenceStop()
    budget = TimeBudget(float(cfg["training"].get("time_budget_s", 0)))
    clock = StepClock()
    resume_step = checkpoint_step(ckpt_dir) if resume else 0
    callbacks = [divergence, budget, clock]
    if eta is not None:
        callbacks.append(eta.callback(tokens_per_step(cfg)))
    trainer = make_trainer(
        model, data.tokenizer, data.chunks, cfg["training"], speed, ckpt_dir, cfg["seed"],
        callbacks=callbacks,
        tensorboard_dir=runs_folder(cfg, folder, bool(resume)) if is_main() else None,
        resume_step=resume_step,
        wandb=wandb_logs.setup(cfg, folder, bool(resume)) if is_main() else False,
    )  # fmt: skip
    if resume:
        print(f"    resuming from the last checkpoint (step {resume_step}) in {relative(ckpt_dir)}")
        quiet_tied_weights(model)
    beside = running_beside(folder)  # sampled at the start and the end of training
    train_out = trainer.train(resume_from_checkpoint=True if resume else None)
    beside = max(beside, running_beside(folder))
    n_params = record["model"]["parameters"]["total"]
    record["training"] = training_section(
        trainer, train_out.metrics, cfg, record["model"]["config"], n_params,
        record["environment"]["device"], clock,
    )  # fmt: skip
    record["training"].update(
        speed=speed,
        resumed=resume,
        stopped_by_time_budget_at=budget.stopped_at,
        time_spent_before_resume_s=budget.spent_before,
        experiments_beside=beside,
    )
    return trainer, divergence.diverged_at


class TiedWeightsNote(logging.Filter):
    """Drops the Trainer's "missing keys in the checkpoint model loaded: ['lm_head.weight']" on
    resume. It reads like corruption but is not: the LM head is tied to the token embedding, so
    the checkpoint stores that tensor once (safetensors refuses shared tensors), and loading
    the embedding restores the head, which is the same Parameter. Any other key still warns."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not ("missing keys in the checkpoint" in text and "['lm_head.weight']" in text)


def quiet_tied_weights(model: Any) -> None:
    if getattr(model.config, "tie_word_embeddings", False) and (
        model.lm_head.weight is model.transformer.wte.weight
    ):
        log = logging.getLogger("transformers.trainer")
        if not any(isinstance(f, TiedWeightsNote) for f in log.filters):
            log.addFilter(TiedWeightsNote())


def _generate(
    cfg: dict[str, Any], prompts: list[dict[str, Any]], model_dir: Path, record: Record
) -> None:
    """The saved model completes the prompts (and HumanEval, when asked for)."""
    record["prompts"] = complete(model_dir, prompts, cfg["generation"])
    record["evaluation"]["prompt_samples"] = sample_summary(record["prompts"])
    record["evaluation"]["heldout_samples"] = sample_summary(record["prompts"], "heldout")
    record["evaluation"]["humaneval"] = None
    if cfg["humaneval"]["enabled"] is True:  # runs model-written code: only when asked
        with stage("humaneval"):
            record["evaluation"]["humaneval"] = evaluate_humaneval(model_dir, cfg["humaneval"])


def finish(record: Record, folder: Path) -> Record:
    """Write the record (rank 0). A failed rerun keeps the last complete record beside it, as
    record.previous.json, instead of overwriting the only copy of those results."""
    record["environment"]["ended_at"] = record["environment"]["ended_at"] or now()
    if is_main():
        path = folder / RECORD_FILE
        if record["status"] != "complete" and path.exists():
            try:
                if read_record(path)["status"] == "complete":
                    os.replace(path, folder / PREVIOUS_FILE)
            except RecordError:
                pass  # nothing worth keeping
        write_record(folder, record)
        settle_runs(folder, record["status"] == "complete")
    return record
