"""What TensorBoard logging costs: the same training with and without report_to=["tensorboard"].

(Not named tensorboard.py: as a script its folder comes first on sys.path, and it would
shadow the tensorboard package.)

    python bench/tensorboard_cost.py [--profile cpu] [--steps N] [--repeats 2] [--json out.json]
    python bench/tensorboard_cost.py --hooks-only [--train-seconds 45]   # seconds, no training

The profile's baseline recipe through the project's make_trainer, on random tokens, with the
profile's logging_steps, eval_steps and evaluation set size (what a TensorBoard run writes at).
Runs alternate off, on, on, off, ... so that a machine whose speed drifts (other jobs on it)
weighs on both alike; the ratio is the median of train() wall times, on / off. On a shared
machine that ratio is noisy, so the time spent inside the TensorBoard callback is added up too
(its direct cost, as a share of train()). The one-time import of torch.utils.tensorboard, paid
once per process, is timed apart in a fresh process.
Goal: on / off < 1.02 (then [logging] tensorboard is on by default).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from datasets import Dataset
from transformers import set_seed
from transformers.trainer_callback import ProgressCallback

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.config import load_matrix  # noqa: E402
from pipeline.model import build_model, gpt2_config_values  # noqa: E402
from pipeline.train import make_trainer, resolve_speed  # noqa: E402

IMPORT_PROBE = (
    "import time, torch; t = time.perf_counter(); import torch.utils.tensorboard; "
    "print(time.perf_counter() - t)"
)


def time_callback(trainer) -> list[float]:
    """Wrap the TensorBoardCallback's hooks to add up their own seconds: what it costs
    directly, free of the run-to-run noise of a shared machine (its writer thread appends
    the few bytes of each event; that is left out)."""
    from transformers.integrations import TensorBoardCallback

    spent = [0.0]
    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback):
            for hook in ("on_train_begin", "on_log", "on_train_end"):
                original = getattr(callback, hook)

                def timed(*args, _original=original, **kwargs):
                    start = time.perf_counter()
                    try:
                        return _original(*args, **kwargs)
                    finally:
                        spent[0] += time.perf_counter() - start

                setattr(callback, hook, timed)
    return spent


def train_once(
    cfg: dict, steps: int, tensorboard: bool, tmp: Path, run: int
) -> tuple[float, float]:
    """Seconds of trainer.train() (evaluations included: they are logged too), and of them the
    seconds inside the TensorBoard callback."""
    context, vocab = cfg["chunking"]["context_length"], cfg["tokenizer"]["vocab_size"]
    values = gpt2_config_values(cfg["model"]["preset"], vocab, context, 0, cfg["model"])
    speed = resolve_speed(cfg["speed"])
    torch.set_num_threads(speed["threads"])  # as the runner does
    set_seed(0)
    model = build_model(values, speed["attn_implementation"])
    training = dict(cfg["training"], max_steps=steps, save_steps=10**6)
    per_step = training["per_device_train_batch_size"] * training["gradient_accumulation_steps"]
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(1, vocab, (per_step * steps, context), generator=gen).numpy()
    n_eval = int(training.get("max_eval_samples", 64))
    data = {"train": Dataset.from_dict({"input_ids": ids}),
            "valid": Dataset.from_dict({"input_ids": ids[:n_eval]})}  # fmt: skip
    out = tmp / f"run{run}"
    runs = out / "runs" if tensorboard else None
    trainer = make_trainer(model, None, data, training, speed, out, 0, [], tensorboard_dir=runs)
    trainer.args.save_strategy = "no"
    trainer.remove_callback(ProgressCallback)
    spent = time_callback(trainer)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    if tensorboard:
        assert any(runs.glob("events.out.tfevents.*")), "no event file written"
    return seconds, spent[0]


def hooks_only(cfg: dict, steps: int, tmp: Path) -> float:
    """Seconds of the TensorBoardCallback's own work for one experiment, without training: its
    hooks called with the real arguments and model, one log per logging step and one per
    evaluation (step 0, each eval_steps, the final one), as the Trainer calls them. On a
    machine too busy for the wall-time ratio this is the cost that matters, against a
    training time measured elsewhere (--train-seconds)."""
    from transformers import TrainerControl, TrainerState
    from transformers.integrations import TensorBoardCallback

    from pipeline.train import training_arguments

    t, speed = cfg["training"], resolve_speed(cfg["speed"])
    values = gpt2_config_values(
        cfg["model"]["preset"], cfg["tokenizer"]["vocab_size"],
        cfg["chunking"]["context_length"], 0, cfg["model"],
    )  # fmt: skip
    model = build_model(values, speed["attn_implementation"])
    args = training_arguments(dict(t, max_steps=steps), speed, tmp / "hooks", 0, True)
    state, control = TrainerState(), TrainerControl()
    callback = TensorBoardCallback()
    callback.logging_dir = str(tmp / "hooks" / "runs")
    train_log = {"loss": 3.21, "grad_norm": 0.5, "learning_rate": 1e-3, "epoch": 0.1}
    eval_log = {"eval_loss": 3.3, "eval_accuracy": 0.4, "eval_key_token_loss": 2.0,
                "eval_key_token_accuracy": 0.5, "eval_runtime": 1.0,
                "eval_samples_per_second": 100.0, "eval_steps_per_second": 2.0, "epoch": 0.1}  # fmt: skip
    start = time.perf_counter()
    callback.on_train_begin(args, state, control, model=model)
    for step in range(0, steps + 1):
        state.global_step = step
        if step and step % t["logging_steps"] == 0:
            callback.on_log(args, state, control, logs=train_log)
        if step % t["eval_steps"] == 0:
            callback.on_log(args, state, control, logs=eval_log)
    callback.on_log(args, state, control, logs=eval_log)  # the final evaluate()
    callback.on_train_end(args, state, control)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--profile", default="cpu")
    p.add_argument("--steps", type=int, default=None, help="default: the profile's max_steps")
    p.add_argument("--repeats", type=int, default=2, help="pairs of (off, on) runs")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--hooks-only", action="store_true",
                   help="time the callback's hooks alone (no training), against --train-seconds")  # fmt: skip
    p.add_argument("--train-seconds", type=float, default=45.0,
                   help="training time per experiment to compare with (cpu profile: ~45 s)")  # fmt: skip
    args = p.parse_args()
    cfg = load_matrix(args.profile)[0].config
    steps = args.steps or cfg["training"]["max_steps"]
    if args.hooks_only:
        with tempfile.TemporaryDirectory(prefix="bench-tensorboard-") as tmp:
            import torch.utils.tensorboard  # noqa: F401  (the import is not the hooks' cost)

            runs = [hooks_only(cfg, steps, Path(tmp) / str(i)) for i in range(5)]
        best = min(runs)  # the least disturbed of five
        print(f"profile {args.profile}: the TensorBoard hooks of one {steps}-step experiment take "
              f"{best:.3f} s (min of 5: {', '.join(f'{r:.3f}' for r in runs)}); against "
              f"{args.train_seconds:g} s of training: {best / args.train_seconds * 100:.2f} %")  # fmt: skip
        return
    probe = subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True)
    import_s = float(probe.stdout.strip().splitlines()[-1]) if probe.returncode == 0 else None
    import torch.utils.tensorboard  # noqa: F401  (paid once per process: measured above)

    t = cfg["training"]
    print(f"profile {args.profile}: {steps} steps, logging every {t['logging_steps']}, "
          f"evaluation every {t['eval_steps']} on {t['max_eval_samples']} blocks")  # fmt: skip
    times: dict[bool, list[float]] = {False: [], True: []}
    inside: list[float] = []  # share of each TensorBoard run's train() spent in the callback
    with tempfile.TemporaryDirectory(prefix="bench-tensorboard-") as tmp:
        train_once(cfg, min(steps, 10), False, Path(tmp), -1)  # warm-up: first-run costs
        order = [False, True, True, False] * args.repeats
        for i, tensorboard in enumerate(order[: 2 * args.repeats]):
            seconds, callback_s = train_once(cfg, steps, tensorboard, Path(tmp), i)
            times[tensorboard].append(seconds)
            note = f"  (in the callback: {callback_s:.3f} s)" if tensorboard else ""
            print(
                f"  tensorboard {'on ' if tensorboard else 'off'}  {seconds:7.2f} s{note}",
                flush=True,
            )
            if tensorboard:
                inside.append(callback_s / seconds)
    off, on = statistics.median(times[False]), statistics.median(times[True])
    ratio = on / off
    shown = f"{import_s:.2f} s" if import_s is not None else "not measured"
    print(f"median train(): off {off:.2f} s, on {on:.2f} s")
    print(f"ratio tensorboard on / off: {ratio:.4f} ({(ratio - 1) * 100:+.2f} %; goal < +2 %)")
    share = statistics.median(inside)
    print(f"time inside the TensorBoard callback: {share * 100:.3f} % of train() (median)")
    print(f"one-time import of torch.utils.tensorboard: {shown} per process")
    if args.json:
        args.json.write_text(json.dumps({"profile": args.profile, "steps": steps,
                                         "seconds": {"off": times[False], "on": times[True]},
                                         "ratio": ratio, "callback_share": share,
                                         "import_s": import_s}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
