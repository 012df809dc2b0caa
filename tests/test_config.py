"""Config merge, per-profile values, identity hash and validation."""

import shutil
from pathlib import Path

import pytest

from pipeline.config import EXPERIMENTS_DIR, ConfigError, config_hash, load_matrix, merge, select


def test_merge_is_deep_and_does_not_touch_inputs():
    base = {"training": {"lr": 1, "steps": 10}, "seed": 1}
    out = merge(base, {"training": {"lr": 2}})
    assert out == {"training": {"lr": 2, "steps": 10}, "seed": 1}
    assert base["training"]["lr"] == 1


def test_default_matrix_has_baseline_and_one_change_each():
    exps = load_matrix("cpu")
    names = [e.name for e in exps]
    assert names[0] == "baseline" and len(names) >= 4
    assert exps[0].overrides == {}
    changed = {k for e in exps[1:] for k in e.overrides}
    for key in ("learning_rate", "optim", "gradient_accumulation_steps", "max_steps"):
        assert f"training.{key}" in changed


def test_profile_specific_values_apply_to_that_profile_only():
    cpu = select(load_matrix("cpu"), "steps-half").config["training"]["max_steps"]
    gpu = select(load_matrix("gpu"), "steps-half").config["training"]["max_steps"]
    assert cpu == load_matrix("cpu")[0].config["training"]["max_steps"] // 2
    assert gpu == load_matrix("gpu")[0].config["training"]["max_steps"] // 2


def test_gpu_profile_is_the_course_model():
    cfg = load_matrix("gpu")[0].config
    assert cfg["model"]["preset"] == "gpt2-small"
    assert cfg["chunking"]["context_length"] == 128
    # the course's effective batch (32 x accumulation 8) as one micro-batch of 256
    training = cfg["training"]
    assert training["per_device_train_batch_size"] * training["gradient_accumulation_steps"] == 256
    assert cfg["speed"]["torch_compile"] and cfg["speed"]["fused_optimizer"]


def test_hash_ignores_speed_but_not_training():
    cfg = load_matrix("cpu")[0].config
    assert config_hash(cfg) == config_hash(merge(cfg, {"speed": {"torch_compile": True}}))
    assert config_hash(cfg) != config_hash(merge(cfg, {"training": {"learning_rate": 7e-3}}))


def matrix_dir(tmp_path: Path, matrix: str) -> Path:
    d = tmp_path / "experiments"
    shutil.copytree(EXPERIMENTS_DIR, d)
    (d / "matrix.toml").write_text(matrix)
    return d


def test_all_errors_reported_together_with_hints(tmp_path):
    d = matrix_dir(
        tmp_path,
        """
[a]
training.learning_rat = 1e-3
[b]
training.optim = "adamw_bogus"
training.max_steps = 0
[c]
model.preset = "huge"
training.gradient_accumulation_steps = 0
["bad name/.."]
""",
    )
    with pytest.raises(ConfigError) as e:
        load_matrix("cpu", experiments_dir=d)
    msg = str(e.value)
    assert "'training.learning_rat'" in msg and "learning_rate" in msg  # closest key suggested
    assert "adamw_bogus" in msg and "adafactor" in msg  # valid optimizers listed
    assert "training.max_steps must be a positive whole number" in msg
    assert "model.preset 'huge'" in msg and "gpt2-small" in msg
    assert "gradient_accumulation_steps" in msg
    assert "becomes a folder name" in msg
    assert len(msg.splitlines()) >= 6


def test_unknown_section_key_suggests(tmp_path):
    d = matrix_dir(tmp_path, "[a]\nchunking.context_lenght = 64\n")
    with pytest.raises(ConfigError, match="did you mean 'chunking.context_length'"):
        load_matrix("cpu", experiments_dir=d)


def test_unknown_profile_and_experiment():
    with pytest.raises(ConfigError, match="unknown profile 'tpu'"):
        load_matrix("tpu")
    with pytest.raises(ConfigError, match="did you mean 'baseline'"):
        select(load_matrix("cpu"), "baseline2")


def test_malformed_toml_names_file(tmp_path):
    d = matrix_dir(tmp_path, "[a\n")
    with pytest.raises(ConfigError, match="matrix.toml: not valid TOML"):
        load_matrix("cpu", experiments_dir=d)


def test_model_table_fields_override_the_preset_and_count_in_the_identity(tmp_path):
    from pipeline.model import gpt2_config_values

    cfg = load_matrix("cpu")[0].config
    assert cfg["model"]["attn_pdrop"] == 0.0  # the cpu profile turns dropout off
    values = gpt2_config_values("tiny", 4096, 128, 0, cfg["model"])
    assert values["attn_pdrop"] == 0.0 and values["n_embd"] == 128 and "preset" not in values
    changed = merge(cfg, {"model": {"attn_pdrop": 0.1}})
    assert config_hash(changed) != config_hash(cfg)
    matrix = tmp_path / "m.toml"
    matrix.write_text("[x]\nmodel.n_embed = 64\n")
    with pytest.raises(
        ConfigError, match=r"unknown key 'model.n_embed' \(did you mean 'model.n_embd'\?\)"
    ):
        load_matrix("cpu", matrix_file=matrix)


def test_learning_rate_scale_is_a_multiple_of_the_profiles_rate(tmp_path):
    for profile, rate in (("cpu", 3e-3), ("gpu", 5e-4)):  # the profile files' values, by hand
        lr_x4 = select(load_matrix(profile, check_training_args=False), "lr-x4")
        assert lr_x4.config["training"]["learning_rate"] == pytest.approx(4 * rate)
        # written out as the number: the identity and the report's overrides stay the literal's
        assert lr_x4.overrides == {"training.learning_rate": 4 * rate}
    # it follows the profile when the profile's rate changes
    d = matrix_dir(tmp_path, "[base]\n[x]\ntraining.learning_rate_scale = 0.5\n")
    cpu = d / "profiles" / "cpu.toml"
    cpu.write_text(cpu.read_text().replace("learning_rate = 3e-3", "learning_rate = 8e-3"))
    assert load_matrix("cpu", d, check_training_args=False)[1].config["training"][
        "learning_rate"
    ] == pytest.approx(4e-3)


@pytest.mark.parametrize(
    "line, message",
    [
        ('training.learning_rate_scale = "4"', "learning_rate_scale must be a positive number"),
        ("training.learning_rate_scale = 0", "learning_rate_scale must be a positive number"),
        (
            "training.learning_rate_scale = 4\ntraining.learning_rate = 1e-3",
            "training.learning_rate or training.learning_rate_scale, not both",
        ),
    ],
)
def test_bad_learning_rate_scale_is_one_line(tmp_path, line, message):
    matrix = tmp_path / "m.toml"
    matrix.write_text(f"[x]\n{line}\n")
    with pytest.raises(ConfigError, match=f"experiment 'x': .*{message}"):
        load_matrix("cpu", matrix_file=matrix, check_training_args=False)
