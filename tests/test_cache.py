"""Cache folders are complete or absent."""

import pytest

from pipeline.cache import publish


def test_publish_renames_a_complete_folder(tmp_path):
    folder = tmp_path / "stage-abc"
    publish(
        folder,
        "done.json",
        lambda tmp: ((tmp / "data").write_text("x"), (tmp / "done.json").write_text("{}")),
    )
    assert (folder / "data").read_text() == "x" and (folder / "done.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["stage-abc"]  # no temp folder left


def test_failed_build_leaves_nothing_and_keeps_the_old_entry(tmp_path):
    folder = tmp_path / "stage-abc"

    def half(tmp):
        (tmp / "data").write_text("half")
        raise KeyboardInterrupt  # a Ctrl-C in the middle of writing

    with pytest.raises(KeyboardInterrupt):
        publish(folder, "done.json", half)
    assert list(tmp_path.iterdir()) == []


def test_stale_temp_folder_of_a_dead_process_is_removed(tmp_path):
    stale = tmp_path / ".stage-abc.999999999.x"  # no such pid
    stale.mkdir()
    publish(tmp_path / "stage-abc", "done.json", lambda tmp: (tmp / "done.json").write_text("{}"))
    assert not stale.exists()


def test_debris_without_marker_is_replaced(tmp_path):
    folder = tmp_path / "stage-abc"
    folder.mkdir()
    (folder / "junk").write_text("from a half copy by hand")
    publish(folder, "done.json", lambda tmp: (tmp / "done.json").write_text("{}"))
    assert not (folder / "junk").exists() and (folder / "done.json").exists()
