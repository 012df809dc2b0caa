"""What several test files share: the repository's root, and fixtures pytest finds here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.records import FixtureSet, write_fixture_set

ROOT = Path(__file__).resolve().parent.parent  # the repository (tests import it from here)


@pytest.fixture
def one_run(tmp_path: Path) -> FixtureSet:
    """A fixture results folder with one experiment's record, and its matrix."""
    return write_fixture_set(tmp_path / "fixture", count=1)


def record(tmp: Path, name: str) -> dict:
    """The record a run under `tmp` wrote for experiment `name` (tmp/results/<name>)."""
    return json.loads((tmp / "results" / name / "record.json").read_text())


def with_values(table: dict, **changes: object) -> dict:
    """`table` with nested values set in place: data__path="x" sets table["data"]["path"]."""
    for dotted, value in changes.items():
        *sections, last = dotted.split("__")
        node = table
        for part in sections:
            node = node[part]
        node[last] = value
    return table
