"""Issue 24: config values that used to pass `validate` and then fail with a traceback, or
after training, are one line and exit 2 before any work; legal but costly inputs are warned
about first."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT


def pipeline(tmp: Path, text: str, *args: str, env: dict | None = None, profile: str = "micro"):
    (tmp / "matrix.toml").write_text(text)
    cmd = [sys.executable, "-m", "pipeline", "--profile", profile, "--matrix",
           str(tmp / "matrix.toml"), "--results", str(tmp / "results"), *args]  # fmt: skip
    base = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(tmp)}
    return subprocess.run(cmd, cwd=ROOT, env={**base, **(env or {})}, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


BAD = [
    ("training = 5", "training must be a table ([training] or training.<key> = ...), got 5"),
    ('model = "x"', "model must be a table"),
    ("data = []", "data must be a table"),
    ("profile.micro = 5", "profile.micro must be a table"),
    ("profile = 5", "profile must be a table of profiles"),
    ("profile.mikro.seed = 5", "profile.mikro: no such profile; choose one of"),
    ("seed = -5", "seed must be a whole number in [0, 4294967295]"),
    ("generation.seed = -1", "generation.seed must be a whole number in [0, 4294967295]"),
    ("humaneval.timeout = 1e30", "humaneval.timeout must be a number in (0, 600]"),
]


@pytest.mark.parametrize(("line", "message"), BAD)
def test_a_bad_value_is_one_line_before_any_work(tmp_path: Path, line: str, message: str) -> None:
    done = pipeline(tmp_path, f"[x]\n{line}\n", "validate")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr


@pytest.mark.parametrize("profile", ["../defaults", str(ROOT / "experiments/profiles/cpu")])
def test_a_profile_is_a_name_not_a_path(tmp_path: Path, profile: str) -> None:
    done = pipeline(tmp_path, "[x]\n", "validate", profile=profile)
    assert done.returncode == 2 and done.stderr.startswith("error: unknown profile"), done.stderr


def test_a_unicode_digit_in_jobs_is_one_line(tmp_path: Path) -> None:
    done = pipeline(tmp_path, "[x]\n", "run", env={"JOBS": "²"})  # "²".isdigit() is true
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.count("\n") == 1 and "--jobs (or $JOBS) must be" in done.stderr
    assert not (tmp_path / "results" / "x").exists()


def test_a_repo_id_with_a_trailing_newline_is_refused() -> None:
    from pipeline.config import load_matrix
    from pipeline.rules import check_rules

    cfg = load_matrix("micro", check_training_args=False)[0].config
    cfg["hub"].update(push=True, repo_id="user/model\n")  # $ in a regex matches before a \n
    (problem,) = check_rules(cfg)
    assert "is not a Hub repo id" in problem


def prompts_matrix(tmp: Path, prompts: list[tuple[str, str]]) -> str:
    body = "".join(f'[[prompt]]\nname = "{n}"\ntext = """{t}"""\n' for n, t in prompts)
    (tmp / "prompts.toml").write_text(body)
    return f'[x]\ngeneration.prompts_file = "{tmp / "prompts.toml"}"\n'


def test_a_huge_prompt_is_refused_past_the_stated_limit(tmp_path: Path) -> None:
    from pipeline.prompts import MAX_PROMPT_CHARS

    text = prompts_matrix(tmp_path, [("big", "# x\n" * (MAX_PROMPT_CHARS // 4 + 1))])
    done = pipeline(tmp_path, text, "validate")
    assert done.returncode == 2
    assert f"the limit is {MAX_PROMPT_CHARS:,}" in done.stderr and done.stderr.count("\n") == 1


def test_many_prompts_are_warned_about_before_the_work(tmp_path: Path) -> None:
    text = prompts_matrix(tmp_path, [(f"p{i}", "# plot\n") for i in range(150)])
    text += 'generation.heldout_prompts_file = ""\ngeneration.num_samples = 2\n'
    done = pipeline(tmp_path, text, "validate")
    assert done.returncode == 0, done.stderr
    assert "warning: 150 prompts: 450 generations per experiment after training" in done.stderr


def test_a_backtracking_pattern_is_cut_off_by_a_time_limit() -> None:
    from pipeline.prompts import CHECK_TIMEOUT_S, checks

    prompt = {"text": "# a\n", "expect": [r"(a|a)+b", r"a"]}
    start = time.perf_counter()
    result = checks(prompt, "a" * 40 + "\n")
    assert time.perf_counter() - start < 20 * CHECK_TIMEOUT_S  # re.search: 2**40 steps
    assert result["patterns"] == {r"(a|a)+b": False, r"a": True}


def test_a_file_in_place_of_an_experiment_folder_stops_run_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "x").write_text("not a folder")
    done = pipeline(tmp_path, "[x]\n", "--cache", str(tmp_path / "cache"), "run")
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.count("\n") == 1 and "x is a file, not a folder" in done.stderr
    assert not (tmp_path / "cache" / "corpus").exists()


def test_a_read_only_cache_is_one_line_before_the_corpus(tmp_path: Path, monkeypatch) -> None:
    """As root chmod does not stop a write: the read-only filesystem is simulated."""
    import errno

    import pipeline.__main__ as cli
    from pipeline.config import ConfigError

    cache = tmp_path / "cache"
    cache.mkdir()
    real = Path.write_text

    def read_only(self, *args, **kwargs):
        if self.parent == cache:
            raise OSError(errno.EROFS, "Read-only file system")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", read_only)
    with pytest.raises(ConfigError, match=r"cache folder .* is not writable \(Read-only"):
        cli.check_writable(cache, "cache")


@pytest.mark.parametrize("offline", [True, False])
def test_a_hub_tokenizer_without_the_hub_is_one_line(tmp_path: Path, offline: bool) -> None:
    """Offline, tokenizer.pretrained = "gpt2" waited 47 s of retries after the corpus."""
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": "http://127.0.0.1:9"}
    if not offline:
        env["HF_HUB_OFFLINE"] = "0"
    start = time.perf_counter()
    done = pipeline(tmp_path, '[x]\ntokenizer.pretrained = "gpt2"\n', "validate", env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "the Hub cannot be reached" in done.stderr
    assert time.perf_counter() - start < 40  # the Python start and imports; no retries


def test_a_full_disk_in_the_data_stage_is_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    import errno

    import pipeline.__main__ as cli

    def full(argv=None):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "cache" / "x"))

    monkeypatch.setattr(cli, "_main", full)
    assert cli.main(["data"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device; free space" in err
