"""The real pipeline end to end on the micro profile: data -> train -> record -> report PDF."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, record
from tests.fixtures.records import SPECS

pytestmark = pytest.mark.slow

MATRIX = """
[baseline]
description = "micro baseline"

[lr-x4]
description = "micro, four times the learning rate"
profile.micro.training.learning_rate = 2e-3
humaneval = {enabled = true, subset = 3, n = 2, temperature = 0.8, max_new_tokens = 16}
hub = {push = true, repo_id = "test-user/codegen-{name}"}  # offline here: the push must fail
"""


def cli(module: str, *args: str, tmp: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", module, *args]
    env = {"PATH": "/usr/bin:/bin", "PROFILE": "micro", "HF_HUB_OFFLINE": "1", "HOME": str(tmp)}
    env |= {"HF_TOKEN": "hf_test", "HF_ENDPOINT": "http://127.0.0.1:9"}  # a push fails at once
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    (tmp / "matrix.toml").write_text(MATRIX)
    common = ["--matrix", str(tmp / "matrix.toml"), "--results", str(tmp / "results")]
    first = cli("pipeline", *common, "--cache", str(tmp / "cache"), "run", tmp=tmp)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    return tmp, common, first


def test_records_are_complete_with_real_numbers(run):
    tmp, _, first = run
    for name in ("baseline", "lr-x4"):
        rec = record(tmp, name)
        assert rec["status"] == "complete" and rec["schema"] == 1
        ev = rec["evaluation"]
        assert set(ev["eval_results"]) >= {"eval_loss", "eval_runtime", "eval_accuracy"}
        assert math.isclose(
            ev["perplexity"], math.exp(ev["eval_results"]["eval_loss"]), rel_tol=1e-9
        )
        # The untrained model is near uniform over the vocabulary: loss ~ ln(vocab).
        assert abs(ev["step0_eval_loss"] - math.log(rec["data"]["vocab_size"])) < 0.5
        assert ev["eval_results"]["eval_loss"] < ev["step0_eval_loss"]  # it learned something
        steps = [e["step"] for e in rec["training"]["log_history"] if "loss" in e]
        assert steps == list(range(1, rec["config"]["training"]["max_steps"] + 1))
        course = [p["name"] for p in rec["prompts"] if p["group"] == "course"]
        assert course == ["scatter", "dataframe", "groupby", "random-forest"]
        assert sum(p["group"] == "heldout" for p in rec["prompts"]) >= 8  # beside the course's
        assert rec["evaluation"]["heldout_samples"]["samples"] > 0
        parts = rec["data"]["parts"]
        assert set(parts) == {"library", "doctests", "examples"}
        assert rec["data"]["filtered"]["contains_prompt"] == 0
        assert rec["model"]["parameters"]["total"] > 0
        data = rec["data"]
        assert data["train_rows"] == 150 and data["train_chunks"] > 0
        # the counts add up on the real corpus (issue 20): distinct files, then rows
        dropped = sum(data["filtered"].values())
        assert (
            data["files_seen"] - dropped - data["dedup_removed"] - data["files_left_out"]
            == data["files_kept"]
            == data["train_files"] + data["valid_files"]
        )
        assert data["train_files"] <= data["train_rows"]
        assert len(data["libraries"]) <= data["libraries_total"]
    assert record(tmp, "lr-x4")["overrides"]["training.learning_rate"] == 2e-3
    samples = record(tmp, "baseline")["evaluation"]["prompt_samples"]
    assert (
        samples["n"] == 2
        and 0 <= samples["syntax_valid_rate"] <= 1
        and "pass@1" in samples["pass_at_k"]
    )
    assert record(tmp, "baseline")["evaluation"]["humaneval"] is None  # not asked for
    humaneval = record(tmp, "lr-x4")["evaluation"]["humaneval"]
    assert (
        humaneval["problems"] == 3
        and humaneval["n"] == 2
        and 0 <= humaneval["pass_at_k"]["pass@1"] <= 1
    )
    assert sum(humaneval["outcomes"].values()) == 6
    assert "step-0 loss" in first.stdout  # the summary table


def test_saved_weights_load_with_stock_pipeline(run):
    from transformers import pipeline

    tmp, _, _ = run
    weights = tmp / "results" / record(tmp, "baseline")["weights"]  # relative to results/
    assert not Path(record(tmp, "baseline")["weights"]).is_absolute()
    pipe = pipeline("text-generation", model=str(weights))
    out = pipe("import numpy as np\n", max_new_tokens=5, do_sample=False)
    assert out[0]["generated_text"].startswith("import numpy as np\n")
    assert (weights / "model.safetensors").exists()


def test_each_model_folder_has_a_hub_model_card_with_the_records_numbers(run):
    """README.md beside the weights: huggingface_hub parses it, its model-index holds the
    record's own eval loss, perplexity and bits per byte, and pipeline() still loads the folder
    (test above)."""
    from huggingface_hub import ModelCard

    tmp, _, _ = run
    for name in ("baseline", "lr-x4"):
        rec = record(tmp, name)
        card = ModelCard.load(tmp / "results" / rec["weights"] / "README.md")
        assert card.data.license == "other" and "text-generation" in card.data.tags
        ev = rec["evaluation"]
        got = {r.metric_type: r.metric_value for r in card.data.eval_results}
        assert got == {
            "loss": ev["eval_results"]["eval_loss"],
            "perplexity": ev["perplexity"],
            "bits_per_byte": ev["bits_per_byte"],
        }
        assert card.data.model_name == name
        assert (
            f"{rec['training']['steps']} ({rec['training']['tokens_seen']:,} tokens)" in card.text
        )


def test_tensorboard_events_hold_the_eval_loss_of_each_evaluation(run):
    """results/<name>/runs, read back with TensorBoard's own event reader: eval/loss at every
    evaluation step (step 0, each eval_steps, the final evaluate()) equals the record's
    log_history, and train/loss is there at every logged step."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tmp, _, _ = run
    for name in ("baseline", "lr-x4"):
        history = record(tmp, name)["training"]["log_history"]
        events = EventAccumulator(str(tmp / "results" / name / "runs"))
        events.Reload()
        evals = [(e.step, e.value) for e in events.Scalars("eval/loss")]
        want = [(e["step"], e["eval_loss"]) for e in history if "eval_loss" in e]
        # the final evaluate() measures what the last step's evaluation did: logged once
        want = [w for i, w in enumerate(want) if w[0] not in {s for s, _ in want[:i]}]
        assert [step for step, _ in evals] == [step for step, _ in want]
        assert sorted({step for step, _ in want}) == [0, 3, 6]  # micro: eval_steps 3, 6 steps
        for (_, got), (_, expected) in zip(evals, want, strict=True):
            assert got == pytest.approx(expected, rel=1e-6)  # stored as float32
        train = [e.step for e in events.Scalars("train/loss")]
        assert train == [e["step"] for e in history if "loss" in e]


def test_a_push_without_network_is_one_line_and_the_experiment_stays_complete(run):
    tmp, _, first = run
    rec = record(tmp, "lr-x4")
    assert rec["status"] == "complete"
    assert rec["hub"]["repo_id"] == "test-user/codegen-lr-x4" and rec["hub"]["pushed"] is False
    assert rec["hub"]["error"].startswith("cannot reach the Hub")
    (line,) = [x for x in first.stdout.splitlines() if "hub: push to" in x]
    assert "test-user/codegen-lr-x4 failed" in line and "python -m pipeline.hub" in line
    assert "Traceback" not in first.stderr
    assert "hub" not in record(tmp, "baseline")  # push is opt-in
    # the local folder is whole: the rerun below finds lr-x4 up to date (weights match)


def test_rerun_skips_and_experiment_forces_one(run):
    tmp, common, _ = run
    before = {n: record(tmp, n)["environment"]["started_at"] for n in ("baseline", "lr-x4")}
    again = cli("pipeline", *common, "--cache", str(tmp / "cache"), "run", tmp=tmp)
    assert again.returncode == 0 and again.stdout.count("up to date") == 2
    forced = cli("pipeline", *common, "--cache", str(tmp / "cache"), "experiment", "lr-x4", tmp=tmp)
    assert forced.returncode == 0, forced.stderr[-2000:]
    assert record(tmp, "baseline")["environment"]["started_at"] == before["baseline"]
    assert record(tmp, "lr-x4")["environment"]["ended_at"] >= before["lr-x4"]
    assert (
        "=== experiment lr-x4" in forced.stdout and "=== experiment baseline" not in forced.stdout
    )


def test_report_pdf_holds_names_and_perplexities(run):
    from pypdf import PdfReader

    tmp, common, _ = run
    out = tmp / "build"
    rendered = cli("report", *common, "--out", str(out), tmp=tmp)
    assert rendered.returncode == 0, rendered.stderr[-3000:]
    text = "\n".join(page.extract_text() for page in PdfReader(out / "report.pdf").pages)
    for name in ("baseline", "lr-x4"):
        ppl = record(tmp, name)["evaluation"]["perplexity"]
        assert name in text
        assert f"{ppl:.2f}" in text or f"{ppl:.1f}" in text, f"perplexity of {name} not in the PDF"
    assert (out / "report.html").stat().st_size > 0 and (out / "report.md").stat().st_size > 0
    # no word drawn over another, no header cut inside a word (issue 20; needs poppler-utils)
    from tests.pdf_words import PDFTOTEXT, broken_headers, overlaps, words

    if PDFTOTEXT is not None:
        found = words(out / "report.pdf")
        assert [(a.page, a.text, b.text) for a, b in overlaps(found)] == []
        assert broken_headers((out / "report.html").read_text(), found) == set()


def test_record_losses_match_a_plain_torch_recomputation(run):
    """Eval loss, perplexity and bits per byte, recomputed from the saved weights alone: plain
    torch, the same evenly spaced validation blocks, mean cross-entropy per predicted token.
    Within 0.2 % (the run may evaluate under bf16 autocast; this is float32)."""
    import numpy as np
    import torch
    from transformers import GPT2LMHeadModel

    from pipeline.data import prepare_data
    from pipeline.evaluation import token_byte_lengths

    tmp, _, _ = run
    for name in ("baseline", "lr-x4"):
        rec = record(tmp, name)
        data = prepare_data(rec["config"], tmp / "cache")  # the run's cached chunks
        valid = data.chunks["valid"]
        n = min(len(valid), int(rec["config"]["training"]["max_eval_samples"]))
        rows = np.unique(np.linspace(0, len(valid) - 1, n).round().astype(int))
        ids = torch.as_tensor(np.asarray(valid.select(rows)["input_ids"]), dtype=torch.long)
        assert len(ids) == rec["evaluation"]["eval_blocks"]
        weights = tmp / "results" / rec["weights"]  # relative to the results folder
        model = GPT2LMHeadModel.from_pretrained(weights).float().eval()
        total = 0.0
        with torch.no_grad():
            for batch in ids.split(16):
                logits = model(input_ids=batch).logits[:, :-1].double()
                total += torch.nn.functional.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), reduction="sum"
                ).item()
        predicted = ids[:, 1:]
        loss = total / predicted.numel()
        n_bytes = int(token_byte_lengths(data.tokenizer)[predicted.numpy()].sum())
        ev = rec["evaluation"]
        assert ev["eval_results"]["eval_loss"] == pytest.approx(loss, rel=2e-3)
        assert ev["perplexity"] == pytest.approx(math.exp(loss), rel=2e-3)
        assert ev["bits_per_byte"] == pytest.approx(total / (n_bytes * math.log(2)), rel=2e-3)


def test_fixture_records_have_exactly_the_keys_of_a_real_record(run, tmp_path):
    """The report's tests read tests/fixtures/records.py: it must not drift from what the
    pipeline writes (the schema in pipeline/record.py names the keys of both)."""
    from tests.fixtures.records import key_paths, write_fixture_set

    tmp, _, _ = run
    real = set().union(*(key_paths(record(tmp, name)) for name in ("baseline", "lr-x4")))
    fixture = write_fixture_set(tmp_path, count=len(SPECS))
    complete = [
        json.loads((fixture.results / n / "record.json").read_text()) for n in fixture.names
    ]
    made = set().union(*(key_paths(r) for r in complete if r["status"] == "complete"))
    assert made == real, (sorted(made - real), sorted(real - made))
