"""bf16 = "auto" on a CPU is chosen by timing (pipeline/precision.py, issue 22): the faster
precision wins, the measurement is cached per machine and model shape, and the record says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.model import gpt2_config_values
from pipeline.precision import FOLDER, choose_precision, interleaved_seconds, measure_rates
from pipeline.record import write_record
from tests.fixtures.records import write_fixture_set

TINY = gpt2_config_values("tiny", 4096, 128, 0)
CPU = {"device": "cpu", "bf16": False, "fp16": False, "attn_implementation": "sdpa_fp32",
       "chunked_loss": True, "torch_compile": False, "threads": 1}  # fmt: skip


class StubTimer:
    """A measure() that returns fixed rates and counts its calls."""

    def __init__(self, bf16: float, float32: float) -> None:
        self.rates, self.calls = {"bf16": bf16, "float32": float32}, 0

    def __call__(self, values, batch, speed):
        self.calls += 1
        return dict(self.rates)


def test_the_faster_precision_is_chosen_and_both_rates_are_kept(tmp_path: Path) -> None:
    """The issue's Xeon without AMX: float32 10,129 tokens/s against bf16 7,396."""
    timer = StubTimer(bf16=7396.0, float32=10129.0)
    speed, section = choose_precision("auto", CPU, TINY, 16, tmp_path, timer)
    assert speed["bf16"] is False and section["chosen"] == "float32"
    assert section["how"] == "measured" and timer.calls == 1
    assert section["bf16_tokens_per_second"] == 7396.0
    assert section["float32_tokens_per_second"] == 10129.0
    # A Zen 4 (or a Xeon with AMX): bf16 the faster one. Another cache, another machine.
    zen = StubTimer(bf16=10500.0, float32=7500.0)
    speed, section = choose_precision("auto", CPU, TINY, 16, tmp_path / "zen4", zen)
    assert speed["bf16"] is True and section["chosen"] == "bf16"


def test_the_measurement_is_cached_per_model_shape(tmp_path: Path) -> None:
    timer = StubTimer(bf16=7396.0, float32=10129.0)
    _, first = choose_precision("auto", CPU, TINY, 16, tmp_path, timer)
    speed, again = choose_precision("auto", CPU, TINY, 16, tmp_path, StubTimer(9e9, 1.0))
    assert again["how"] == "cached" and again["measure_s"] == 0.0
    assert speed["bf16"] is False and again["key"] == first["key"]  # the cache, not the stub
    assert again["float32_tokens_per_second"] == 10129.0
    saved = json.loads((tmp_path / FOLDER / f"{first['key']}.json").read_text())
    assert saved["identity"]["model"]["n_embd"] == 128 and saved["identity"]["batch"] == 16
    # Another width, another batch or other threads: measured again.
    wider = gpt2_config_values("tiny", 4096, 128, 0, {"n_embd": 256})
    for values, batch, speed_table in ((wider, 16, CPU), (TINY, 32, CPU),
                                       (TINY, 16, {**CPU, "threads": 2})):  # fmt: skip
        _, section = choose_precision("auto", speed_table, values, batch, tmp_path, timer)
        assert section["how"] == "measured" and section["key"] != first["key"]
    assert timer.calls == 4


def test_an_unreadable_cache_file_is_measured_again(tmp_path: Path) -> None:
    _, first = choose_precision("auto", CPU, TINY, 16, tmp_path, StubTimer(1.0, 2.0))
    (tmp_path / FOLDER / f"{first['key']}.json").write_text("{ half a fi")
    speed, section = choose_precision("auto", CPU, TINY, 16, tmp_path, StubTimer(3.0, 2.0))
    assert section["how"] == "measured" and speed["bf16"] is True


@pytest.mark.parametrize("setting", [True, False])
def test_explicit_settings_are_kept_and_nothing_is_timed(tmp_path: Path, setting: bool) -> None:
    timer = StubTimer(1.0, 2.0)
    speed, section = choose_precision(setting, {**CPU, "bf16": setting}, TINY, 16, tmp_path, timer)
    assert speed["bf16"] is setting and section["how"] == "set" and timer.calls == 0
    assert section["bf16_tokens_per_second"] is None and not (tmp_path / FOLDER).exists()


def test_auto_on_a_gpu_is_the_device_s_answer(tmp_path: Path) -> None:
    gpu = {**CPU, "device": "cuda", "bf16": False, "fp16": True}  # a T4: no native bf16
    timer = StubTimer(1.0, 2.0)
    _, section = choose_precision("auto", gpu, TINY, 16, tmp_path, timer)
    assert section["chosen"] == "fp16" and section["how"] == "device" and timer.calls == 0


def test_interleaved_medians_ignore_a_slow_spell() -> None:
    """bf16 steps take 1.0 s and float32 0.8 s, but in round 2 another user's job makes both
    10x slower: the medians still give 1.0 and 0.8, and each round alternates the order."""
    now, order = [0.0], []

    def step(bf16: bool) -> None:
        order.append(bf16)
        slow = 10.0 if len(order) in (5, 6) else 1.0  # round 2 (the third)
        now[0] += (1.0 if bf16 else 0.8) * slow

    seconds = interleaved_seconds(step, rounds=5, clock=lambda: now[0], budget_s=1e9)
    assert seconds == {True: pytest.approx(1.0), False: pytest.approx(0.8)}
    assert order == [True, False, False, True, True, False, False, True, True, False]


def test_a_slow_model_stops_after_the_minimum_rounds() -> None:
    now, calls = [0.0], []

    def step(bf16: bool) -> None:
        calls.append(bf16)
        now[0] += 5.0

    interleaved_seconds(step, rounds=5, clock=lambda: now[0], budget_s=6.0)
    assert len(calls) == 2 * 3


def test_the_real_timer_runs_the_training_step_in_both_precisions() -> None:
    values = gpt2_config_values("micro", 512, 32, 0)
    for chunked in (False, True):
        rates = measure_rates(values, 4, {**CPU, "chunked_loss": chunked})
        assert rates["bf16"] > 0 and rates["float32"] > 0


def test_the_choice_is_written_through_the_record_schema(tmp_path: Path) -> None:
    """training.precision as choose_precision makes it passes write_record's key check."""
    _, section = choose_precision("auto", CPU, TINY, 16, tmp_path, StubTimer(7396.0, 10129.0))
    fixture = write_fixture_set(tmp_path / "fixture", count=1)
    path = fixture.results / fixture.names[0] / "record.json"
    record = json.loads(path.read_text())
    record["training"]["precision"] = section
    write_record(path.parent, record)
    assert json.loads(path.read_text())["training"]["precision"]["chosen"] == "float32"
    record["training"]["precision"]["extra"] = 1
    with pytest.raises(ValueError, match="unknown key training.precision.extra"):
        write_record(path.parent, record)
