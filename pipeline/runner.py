"""One experiment end to end (data -> model -> train -> evaluate -> prompts -> record), and the
matrix: every experiment whose record is not complete and current."""

from __future__ import annotations

import fcntl
import math
import os
import shutil
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from pipeline.config import ROOT, Experiment
from pipeline.eta import ETA, tokens_per_step
from pipeline.hub import push_experiment
from pipeline.model_card import write_card
from pipeline.record import (
    LOSS_NORMALIZATION,
    RECORD_FILE,
    RecordError,
    read_record,
    write_json_atomic,
    write_record,
)
from pipeline.weights import (
    IDENTITY_FILE,
    last_checkpoint,
    save_weights,
    weights_folder,
    weights_problem,
)


def rank() -> int:
    """This process's rank under torchrun / accelerate launch (0 when not distributed)."""
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


@contextmanager
def main_process_first() -> Iterator[None]:
    """Under DDP the main process builds the data caches; the others then read them."""
    if "WORLD_SIZE" not in os.environ:
        yield
        return
    from accelerate import PartialState

    with PartialState().main_process_first():
        yield


def relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path.resolve())


PREVIOUS_FILE = "record.previous.json"  # the last complete record, kept when a rerun failed


def is_current(exp: Experiment, results: Path) -> bool:
    """True when the experiment has a complete record for this exact config, and its weights
    are whole (also when that record is the one a failed rerun set aside)."""
    return current_record(exp, results) is not None


def current_record(exp: Experiment, results: Path) -> Path | None:
    """record.json, else record.previous.json, when it is complete, made from this exact config
    and its weights load: a failed run whose config was then put back finds its results again."""
    for name in (RECORD_FILE, PREVIOUS_FILE):
        path = results / exp.name / name
        try:
            record = read_record(path)
        except RecordError:
            continue
        if record["status"] != "complete" or record["config_hash"] != exp.config_hash:
            continue
        # made before the loss fix (issue 12): its losses are low by (T-1)/T, so not current
        if (record.get("evaluation") or {}).get("loss_normalization") != LOSS_NORMALIZATION:
            continue
        if weights_problem(weights_folder(record, results), exp.config_hash) is None:
            return path
    return None


@contextmanager
def experiment_lock(folder: Path) -> Iterator[None]:
    """One process per experiment folder; a second one waits and says who holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            print(f"    {folder.name}: waiting for the lock held by {holder}", flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} since {time.strftime('%H:%M:%S')}")
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()
            fcntl.flock(f, fcntl.LOCK_UN)


def run_experiment(exp: Experiment, results: Path, cache: Path) -> dict[str, Any]:
    """Train, evaluate and record one experiment. Returns the record it wrote."""
    import torch
    from transformers import set_seed

    from pipeline.data import prepare_data
    from pipeline.environment import environment
    from pipeline.evaluate import evaluation_section
    from pipeline.humaneval import evaluate_humaneval
    from pipeline.model import build_model, gpt2_config_values, parameter_breakdown
    from pipeline.prompts import complete, evaluation_prompts, sample_summary
    from pipeline.stages import stage
    from pipeline.tensorboard_logs import runs_folder
    from pipeline.throughput import training_section
    from pipeline.train import (
        DivergenceStop,
        StepClock,
        TimeBudget,
        make_trainer,
        resolve_speed,
    )

    folder = results / exp.name
    cfg = exp.config
    record: dict[str, Any] = {
        "schema": 1,
        "status": "failed",
        "error": None,
        "name": exp.name,
        "description": exp.description,
        "profile": exp.profile,
        "config": cfg,
        "config_hash": exp.config_hash,
        "overrides": exp.overrides,
        "seed": cfg["seed"],
        "environment": environment(),
        "data": None,
        "model": None,
        "training": None,
        "evaluation": None,
        "prompts": [],
        "weights": None,
    }
    try:
        prompts = evaluation_prompts(cfg["generation"])  # fail before training
        with main_process_first():
            data = prepare_data(cfg, cache)
        record["data"] = data.stats
        speed = resolve_speed(cfg["speed"])
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

        ckpt_dir = folder / "checkpoints"
        with main_process_first():
            resume = last_checkpoint(ckpt_dir, exp.config_hash)
            if is_main():
                write_json_atomic(ckpt_dir / IDENTITY_FILE, {"config_hash": exp.config_hash})
        divergence = DivergenceStop()
        budget = TimeBudget(float(cfg["training"].get("time_budget_s", 0)))
        clock = StepClock()
        trainer = make_trainer(
            model, data.tokenizer, data.chunks, cfg["training"], speed, ckpt_dir, cfg["seed"],
            callbacks=[divergence, budget, clock, ETA.callback(tokens_per_step(cfg))],
            tensorboard_dir=runs_folder(cfg, folder, bool(resume)) if is_main() else None,
        )  # fmt: skip
        if resume:
            print(f"    resuming from the last checkpoint in {relative(ckpt_dir)}")
        train_out = trainer.train(resume_from_checkpoint=True if resume else None)
        record["training"] = training_section(
            trainer,
            train_out.metrics,
            cfg,
            values,
            params["total"],
            record["environment"]["device"],
            clock,
        )
        record["training"].update(
            speed=speed,
            resumed=resume,
            stopped_by_time_budget_at=budget.stopped_at,
            time_spent_before_resume_s=budget.spent_before,
        )
        if divergence.diverged_at is not None:
            record["status"] = "diverged"
            record["error"] = (
                f"loss became NaN/inf at step {divergence.diverged_at}; try a lower learning rate"
            )
            return finish(record, folder)

        history = trainer.state.log_history
        step0 = next((e["eval_loss"] for e in history if "eval_loss" in e and e["step"] == 0), None)
        eval_results = trainer.evaluate()
        record["evaluation"] = evaluation_section(
            eval_results, step0, trainer.eval_dataset, data.tokenizer
        )
        if not math.isfinite(eval_results["eval_loss"]):
            record["status"] = "diverged"
            record["error"] = "evaluation loss is NaN/inf; try a lower learning rate"
            return finish(record, folder)
        if not is_main():  # one record, one set of weights: rank 0 writes them
            record["status"] = "complete"
            return record
        save_weights(trainer.model, data.tokenizer, folder / "model", exp.config_hash)
        record["weights"] = (folder / "model").relative_to(results).as_posix()
        record["prompts"] = complete(folder / "model", prompts, cfg["generation"])
        record["evaluation"]["prompt_samples"] = sample_summary(record["prompts"])
        record["evaluation"]["heldout_samples"] = sample_summary(record["prompts"], "heldout")
        record["evaluation"]["humaneval"] = None
        if cfg["humaneval"]["enabled"] is True:  # runs model-written code: only when asked
            with stage("humaneval"):
                record["evaluation"]["humaneval"] = evaluate_humaneval(
                    folder / "model", cfg["humaneval"]
                )
        write_card(record, folder / "model")  # a Hub model card beside the weights
        record["status"] = "complete"
        shutil.rmtree(ckpt_dir, ignore_errors=True)  # the weights are saved; checkpoints are big
    except Exception as e:  # recorded, and the matrix goes on with the next experiment
        message = str(e).strip().splitlines()[0] if str(e).strip() else ""
        record["error"] = f"{type(e).__name__}: {message}"
        traceback.print_exc()
    return push_experiment(finish(record, folder), results)  # [hub] push: after the record


def finish(record: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Write the record (rank 0). A failed rerun keeps the last complete record beside it, as
    record.previous.json, instead of overwriting the only copy of those results."""
    from pipeline.environment import now

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
    return record


def run_matrix(
    experiments: list[Experiment], results: Path, cache: Path, force: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Run what is not current (and what `force` names); returns one summary row each."""
    summary = []
    if is_main():
        to_run = [e for e in experiments if e.name in force or not is_current(e, results)]
        ETA.start([e.config for e in to_run])
    for exp in experiments:
        folder = results / exp.name
        with experiment_lock(folder) if is_main() else nullcontext():
            found = None if exp.name in force else current_record(exp, results)
            if found is not None:
                if found.name == PREVIOUS_FILE:  # the config is back to that run's
                    os.replace(found, folder / RECORD_FILE)
                    print(f"--- {exp.name}: restored its complete record from {PREVIOUS_FILE}")
                record = read_record(folder / RECORD_FILE)
                print(f"--- {exp.name}: up to date (config {exp.config_hash}), skipped")
            else:
                start = time.perf_counter()
                print(f"=== experiment {exp.name} ({exp.profile}): {exp.description}", flush=True)
                record = run_experiment(exp, results, cache)
                elapsed = time.perf_counter() - start
                print(f"=== {exp.name}: {record['status']} in {elapsed:.1f} s")
                training = record.get("training") or {}
                ETA.finished_one(elapsed - training.get("train_runtime_s", elapsed))
        summary.append(summary_row(record))
    return summary


def summary_row(record: dict[str, Any]) -> dict[str, Any]:
    evaluation = record.get("evaluation") or {}
    return {
        "name": record["name"],
        "status": record["status"],
        "step0_eval_loss": evaluation.get("step0_eval_loss"),
        "eval_loss": (evaluation.get("eval_results") or {}).get("eval_loss"),
        "perplexity": evaluation.get("perplexity"),
        "bits_per_byte": evaluation.get("bits_per_byte"),
        "error": record.get("error"),
    }
