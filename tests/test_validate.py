"""Issue 13: every wrong value or input file stops before any work, exit 2, one line per problem
naming the key, never a traceback (`python -m pipeline validate` and every run alike)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def validate(tmp: Path, text: str, *extra: str) -> subprocess.CompletedProcess:
    (tmp / "matrix.toml").write_bytes(text.encode() if isinstance(text, str) else text)
    cmd = [sys.executable, "-m", "pipeline", "--profile", "micro", "--matrix",
           str(tmp / "matrix.toml"), "--results", str(tmp / "results"), *extra]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(tmp)}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


BAD = [
    ('humaneval.enabled = "false"', "humaneval.enabled must be true or false"),
    ('speed.bf16 = "false"', 'speed.bf16 must be true, false or "auto"'),
    ('data.filters.dedup = "no"', "data.filters.dedup must be true or false"),
    ('data.usage_comments = "yes"', "data.usage_comments must be"),
    ('generation.do_sample = "false"', "generation.do_sample must be true or false"),
    ("humaneval.n = 0", "humaneval.n must be a whole number >= 1"),
    ("humaneval.temperature = -0.5", "humaneval.temperature must be a number >= 0"),
    ("humaneval.subset = 500", "humaneval.subset must be a whole number in [0, 164]"),
    ("generation.temperature = -1", "generation.temperature must be a positive number"),
    ("generation.top_p = 1.5", "generation.top_p must be a number in (0, 1]"),
    ("generation.max_new_tokens = 0", "generation.max_new_tokens must be"),
    ("model.n_head = 7", "model.n_embd 32 must be divisible by model.n_head 7"),
    ("model.n_layer = 0", "model.n_layer must be a whole number >= 1"),
    ("tokenizer.vocab_size = 200", "tokenizer.vocab_size 200 leaves no merges"),
    (
        'tokenizer.pre_tokenizer = "gpt4"',
        "tokenizer.pre_tokenizer 'gpt4' is unknown; choose one of gpt2, grouped",
    ),
    ("chunking.context_length = 100000", "chunking.context_length must be a whole number in"),
    ("chunking.context_length = 1", "chunking.context_length must be a whole number in"),
    ('training.lr_scheduler_type = "cosinus"', "training.lr_scheduler_type 'cosinus' is unknown"),
    ('training.eval_strategy = "no"', "training.eval_strategy is set by the project"),
    ('training.save_strategy = "no"', "training.save_strategy is set by the project"),
    ('training.report_to = "wandb"', "training.report_to is set by the project"),
    ("training.seed = 1", "training.seed is set by the project and would be ignored"),
    ('training.output_dir = "/tmp/x"', "training.output_dir is set by the project"),
    ('data.keywords = "pandas"', "data.keywords must be a list of non-empty strings"),
    ("data.train_subset = -5", "data.train_subset must be a whole number >= 0"),
    ("data.filters.min_alphanum_fraction = 2", "data.filters.min_alphanum_fraction must be"),
    ('data.filters.max_line_length = "long"', "data.filters.max_line_length must be a number"),
    ('speed.threads = "many"', "speed.threads must be a whole number >= 0"),
    ('data.source = "path"\ndata.path = "/nonexistent/code"', "data.path '/nonexistent/code'"),
    ('tokenizer.pretrained = "./no/such/tokenizer"', "tokenizer.pretrained"),
]


@pytest.mark.parametrize("line, message", BAD)
def test_bad_value_is_one_line_naming_the_key(tmp_path: Path, line: str, message: str) -> None:
    from pipeline.config import ConfigError, load_matrix

    (tmp_path / "matrix.toml").write_text(f"[a]\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        load_matrix("micro", matrix_file=tmp_path / "matrix.toml")
    assert message in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1, str(caught.value)


def test_the_cli_exits_2_with_one_line(tmp_path: Path) -> None:
    out = validate(tmp_path, '[a]\nhumaneval.enabled = "false"\n', "validate")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == (
        "error: experiment 'a': humaneval.enabled must be true or false "
        "(a TOML boolean, no quotes), got 'false'"
    )


def test_context_that_cannot_fit_in_memory_is_refused_before_any_work(tmp_path: Path) -> None:
    from pipeline.config import load_matrix
    from pipeline.inputs import check_memory

    (tmp_path / "m.toml").write_text("[a]\nchunking.context_length = 16384\n")
    exp = load_matrix("cpu", matrix_file=tmp_path / "m.toml", check_training_args=False)[0]
    errors = check_memory(exp.config, available=8 << 30)
    assert errors and "chunking.context_length 16384 needs at least" in errors[0]
    assert check_memory(load_matrix("cpu", check_training_args=False)[0].config, 8 << 30) == []


def test_run_stops_before_any_work(tmp_path: Path) -> None:
    out = validate(tmp_path, "[a]\nhumaneval.n = 0\n", "run")
    assert out.returncode == 2 and "humaneval.n" in out.stderr
    assert not (tmp_path / "results").exists()


def test_matrix_not_utf8_or_a_folder(tmp_path: Path) -> None:
    out = validate(tmp_path, b'[a]\ndescription = "\xff\xfe"\n', "validate")
    assert out.returncode == 2 and "not UTF-8" in out.stderr and "Traceback" not in out.stderr
    (tmp_path / "folder.toml").mkdir()
    out = validate(tmp_path, "[a]\n", "--matrix", str(tmp_path / "folder.toml"), "validate")
    assert out.returncode == 2 and "is a folder" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "content, message",
    [
        (b'[[prompt]]\nname = "a"\ntext = "\xff"\n', "not UTF-8"),
        (b'[[prompt]]\nname = "a"\ntext = "x"\nexpect = "plt"\n', "'expect' must be a list"),
        (b"prompt = [1, 2]\n", "needs a string 'name'"),
        (None, "is a folder"),
    ],
)
def test_bad_prompts_file(tmp_path: Path, content: bytes | None, message: str) -> None:
    prompts = tmp_path / "prompts.toml"
    prompts.mkdir() if content is None else prompts.write_bytes(content)
    out = validate(tmp_path, f'[a]\ngeneration.prompts_file = "{prompts}"\n', "validate")
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_a_file_where_the_results_or_cache_folder_belongs(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    out = validate(tmp_path, "[a]\n", "--results", str(tmp_path / "file"), "run")
    assert out.returncode == 2 and "is a file, not a folder" in out.stderr
    out = validate(tmp_path, "[a]\n", "--cache", str(tmp_path / "file" / "c"), "run")
    assert out.returncode == 2 and "is a file, not a folder" in out.stderr


def test_a_prompt_with_no_room_to_generate_never_passes() -> None:
    from pipeline.passk import summarize
    from pipeline.prompts import checks

    prompt = {"name": "long", "text": "import numpy as np\n", "expect": []}
    no_room = checks(prompt, "", room=False)
    assert no_room["syntax_valid"] is False and no_room["no_room"]
    assert summarize([{"name": "long", **no_room}])["pass_rate"] == 0.0
