"""Bring the H200 records up to two changes made after they were written, on the same day:

1. The data's seed moved from `data.seed` to the existing `data.subset_seed` (issue 12's last
   commit). Both were 42 in these runs and meant the same thing (the filters' random drops and
   the split), so the key is dropped from each record's resolved config and its config_hash is
   recomputed from what is left: the hash of the config these runs would have today.
2. Records now say how their losses are normalized (`evaluation.loss_normalization`). These
   runs already had the fix (`loss_type = "ForCausalLM"`): the untrained model's step-0 eval
   loss is 10.549 nats per predicted token, ln(32768) = 10.397 plus the initialisation's excess,
   not 127/128 of it.

No number changes. Each record lists what was done in `corrections`; running the script again
changes nothing. Usage: python examples/gpu-h200/update_records.py
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from pipeline.config import config_hash  # noqa: E402
from pipeline.record import LOSS_NORMALIZATION, RECORD_FILE, read_record, write_record  # noqa: E402

MARK = "data.seed renamed to data.subset_seed; loss normalization stated"


def update(record: dict) -> bool:
    if any(c.get("what") == MARK for c in record.get("corrections", [])):
        return False
    data = record["config"]["data"]
    assert data.pop("seed") == data["subset_seed"] == 42
    old = record["config_hash"]
    record["config_hash"] = config_hash(record["config"])
    record["evaluation"]["loss_normalization"] = LOSS_NORMALIZATION
    record.setdefault("corrections", []).append(
        {"what": MARK, "config_hash_before": old, "numbers_changed": False}
    )
    return True


def main() -> None:
    for path in sorted((HERE / "records").glob(f"*/{RECORD_FILE}")):
        record = read_record(path)
        if update(record):
            write_record(path.parent, record)
            print(f"updated {path.parent.name}")


if __name__ == "__main__":
    main()
