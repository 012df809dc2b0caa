"""The experiment notebook really runs: a tiny GPT-2 saved with save_pretrained, a record that
points at it, the notebook written by the report and executed by `jupyter nbconvert --execute`.

Tests may import torch and transformers; report/ itself never does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipeline.record import RECORD_FILE
from report.outputs import make_report
from tests.fixtures.records import update_record, write_fixture_set

LINES = [
    "import numpy as np\n",
    "import pandas as pd\n",
    "import matplotlib.pyplot as plt\n",
    "x = np.random.randn(100)\n",
    "plt.scatter(x, y)\n",
    "df = pd.DataFrame({'x': x, 'y': y})\n",
    "df.groupby('name').mean()\n",
] * 20
EOS = "<|endoftext|>"


def save_tiny_model(folder: Path) -> None:
    """A 1-layer GPT-2 and a byte-level BPE tokenizer trained on a few lines."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=[EOS], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(LINES, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token=EOS, eos_token=EOS, pad_token=EOS
    )
    torch.manual_seed(0)
    eos = tokenizer.convert_tokens_to_ids(EOS)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=64, n_embd=16, n_layer=1, n_head=2,
        bos_token_id=eos, eos_token_id=eos,
    )  # fmt: skip
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def complete(folder: Path, prompts: list[dict[str, Any]]) -> None:
    """Fill the record's completions the way the pipeline does: greedy, from the saved folder."""
    from transformers import pipeline, set_seed

    pipe = pipeline("text-generation", model=str(folder))
    for p in prompts:
        p["decoding"] = {"max_new_tokens": 8, "do_sample": False, "seed": 42}
        set_seed(42)
        out = pipe(
            p["prompt"], return_full_text=False, pad_token_id=pipe.tokenizer.eos_token_id,
            max_new_tokens=8, do_sample=False,
        )  # fmt: skip
        p["completion"] = out[0]["generated_text"]


@pytest.mark.slow
def test_notebook_executes_and_regenerates_the_completions(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    fixture = write_fixture_set(tmp_path / "fixture", count=1)
    model = tmp_path / "model"
    save_tiny_model(model)

    def point_at_model(record: dict[str, Any]) -> None:
        record["weights"] = str(model)  # absolute: outside the project
        complete(model, record["prompts"])

    update_record(fixture.results, "baseline", point_at_model)
    make_report(fixture.results, tmp_path / "build", matrix=fixture.matrix, pdf=False)
    notebook = fixture.results / "baseline" / "experiment.ipynb"
    written = json.loads(notebook.read_text())

    jupyter = Path(sys.executable).parent / "jupyter"
    result = subprocess.run(
        [str(jupyter), "nbconvert", "--to", "notebook", "--execute", "--output", "executed.ipynb",
         "--ExecutePreprocessor.timeout=300", str(notebook)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    executed = json.loads((notebook.parent / "executed.ipynb").read_text())

    def text(cell: dict[str, Any]) -> str:
        return "".join("".join(o.get("text", "")) for o in cell["outputs"])

    errors = [o for c in executed["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert not [o for o in errors if o["output_type"] == "error"]
    # Cells the report filled from the record print exactly what a real kernel prints.
    for before, after in zip(written["cells"], executed["cells"], strict=True):
        if before["cell_type"] == "code" and before["outputs"] and "text" in before["outputs"][0]:
            assert text(before) == text(after), before["source"][:80]
    # The last cell reloads the weights and regenerates every recorded completion.
    regenerated = text(executed["cells"][-1])
    record = json.loads((fixture.results / "baseline" / RECORD_FILE).read_text())
    for p in record["prompts"]:
        assert f"=== {p['name']} (same as recorded) ===" in regenerated
