"""Correct the H100 records for two measurement errors found after they were made (issue 12).

1. Loss normalization. transformers 5.17's Trainer divided the summed cross-entropy of the
   B·(T-1) predicted tokens by B·T label positions (GPT2LMHeadModel's loss_type is None, so
   position 0 of each block was counted although it is never predicted). Every loss the Trainer
   computed is low by exactly (T-1)/T = 127/128: eval loss, step-0 loss, train loss, the
   curves, eval_results. Bits per byte is linear in the eval loss; perplexity is its exp. The
   per-token key-token loss came from compute_metrics, which was right, and stays. The weights
   were trained on gradients scaled by 127/128 as well, which AdamW (scale-invariant but for
   its epsilon) barely notices; this script does not pretend to undo that.
2. MFU. N in 6N now leaves out the position embeddings (nanoGPT's estimate_mfu) and the peak
   is per device times world_size; recomputed from the record's own numbers.

Each corrected record says so in its `corrections` list; running the script again changes
nothing. Usage: python examples/gpu-h100/correct_records.py [records folder]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pipeline.record import (  # noqa: E402
    LOSS_NORMALIZATION,
    RECORD_FILE,
    perplexity,
    read_record,
    write_record,
)
from pipeline.throughput import mfu, peak_flops  # noqa: E402

MARK = "loss per predicted token"
LOSS_KEYS = ("loss", "eval_loss", "train_loss")


def correct(record: dict) -> bool:
    """Correct one record in place; False when it already was."""
    if any(c.get("what") == MARK for c in record.get("corrections", [])):
        return False
    context = record["config"]["chunking"]["context_length"]
    factor = context / (context - 1)
    training, evaluation = record["training"], record["evaluation"]
    for entry in training["log_history"]:
        for key in LOSS_KEYS:
            if isinstance(entry.get(key), float):
                entry[key] *= factor
    training["train_loss"] *= factor
    evaluation["eval_results"]["eval_loss"] *= factor
    evaluation["perplexity"] = perplexity(evaluation["eval_results"]["eval_loss"])
    evaluation["step0_eval_loss"] *= factor
    evaluation["step0_perplexity"] = perplexity(evaluation["step0_eval_loss"])
    evaluation["bits_per_byte"] *= factor
    evaluation["loss_normalization"] = LOSS_NORMALIZATION
    old_mfu = training["mfu"]
    training["mfu"] = mfu(
        training["tokens_per_second"],
        record["model"]["config"],
        record["model"]["parameters"]["total"],
        peak_flops(record["environment"]["device"]),
        training.get("world_size", 1),
    )
    record.setdefault("corrections", []).extend(
        [
            {
                "what": MARK,
                "factor": factor,
                "fields": "every loss in training.log_history, training.train_loss, "
                "evaluation.eval_results.eval_loss, step0_eval_loss, bits_per_byte; "
                "perplexities recomputed",
                "why": f"transformers {record['environment']['transformers']} divided the "
                f"loss summed over the {context - 1} predicted tokens of each block by "
                f"{context} (issue 12)",
                "by": "examples/gpu-h100/correct_records.py",
            },
            {
                "what": "mfu without position embeddings",
                "was": old_mfu,
                "why": "nanoGPT's N leaves out the position embeddings (issue 12)",
                "by": "examples/gpu-h100/correct_records.py",
            },
        ]
    )
    return True


def main(folder: Path) -> None:
    for path in sorted(folder.glob(f"*/{RECORD_FILE}")):
        record = read_record(path)
        changed = correct(record)
        if changed:
            write_record(path.parent, record)
        print(f"{path.parent.name}: {'corrected' if changed else 'already corrected'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "records")
