"""Record round trip, atomic writes, validation on read."""

import json
import math

import pytest

from pipeline.record import (
    RecordError,
    number,
    perplexity,
    read_record,
    write_record,
)
from tests.fixtures.records import fixture_record


def minimal(status="complete", **extra):
    """A record in the full schema (the fixtures' baseline), with a few values of its own."""
    record = fixture_record()
    record.update(status=status, error=None if status == "complete" else "boom", name="x")
    record.update(config_hash="h", weights="results/x/model")
    record["evaluation"].update(eval_results={"eval_loss": 2.0}, perplexity=math.inf)
    record.update(extra)
    return record


def test_round_trip_keeps_values_and_stores_inf_as_string(tmp_path):
    rec = minimal()
    rec["training"]["log_history"] = [{"loss": float("nan"), "step": 3}]
    path = write_record(tmp_path, rec)
    raw = json.loads(path.read_text())  # strict JSON
    assert raw["evaluation"]["perplexity"] == "inf"
    back = read_record(path)
    assert math.isinf(number(back["evaluation"]["perplexity"]))
    assert math.isnan(number(back["training"]["log_history"][0]["loss"]))
    assert back["evaluation"]["eval_results"] == {"eval_loss": 2.0}
    assert not list(tmp_path.glob(".record.json.*"))  # no temp file left behind


def test_invalid_record_is_not_written_and_old_one_survives(tmp_path):
    write_record(tmp_path, minimal())
    bad = minimal()
    del bad["evaluation"]["eval_results"]
    with pytest.raises(RecordError):
        write_record(tmp_path, bad)
    assert read_record(tmp_path / "record.json")["status"] == "complete"


def test_read_errors_name_the_file(tmp_path):
    p = tmp_path / "record.json"
    p.write_text('{"schema": 1, "status": ')
    with pytest.raises(RecordError, match=r"record.json: corrupt JSON at line 1"):
        read_record(p)
    p.write_text(json.dumps({"schema": 0}))
    with pytest.raises(RecordError, match="schema version 0"):
        read_record(p)
    with pytest.raises(RecordError, match="has not run"):
        read_record(tmp_path / "nope" / "record.json")


def test_failed_record_needs_an_error(tmp_path):
    with pytest.raises(RecordError, match="needs an error"):
        write_record(tmp_path, minimal("failed", error=None))
    write_record(tmp_path, minimal("diverged"))


def test_perplexity_overflows_to_inf():
    assert perplexity(0.0) == 1.0
    assert math.isclose(perplexity(2.0), math.e**2)
    assert perplexity(1e6) == math.inf


def test_the_writer_refuses_a_record_off_the_schema(tmp_path):
    """A key the schema does not name, or one it needs, is refused at any depth."""
    extra = minimal()
    extra["training"]["tokens_per_sec"] = 1.0
    with pytest.raises(RecordError, match="unknown key training.tokens_per_sec"):
        write_record(tmp_path, extra)
    missing = minimal()
    del missing["data"]["tokenizer"]["vocab_size"]
    with pytest.raises(RecordError, match="missing key data.tokenizer.vocab_size"):
        write_record(tmp_path, missing)
    optional = minimal()
    del optional["data"]["parts"]  # the installed source's only
    write_record(tmp_path, optional)
