"""tools.records (provenance, the one report shape, generated blocks) and the atomic writes of deblur.files."""

import json
import os

import numpy as np
import pytest

from deblur import files
from tools import records


def test_atomic_write_replaces_whole_files_and_keeps_the_old_one_on_failure(tmp_path):
    path = tmp_path / "sub" / "r.json"
    files.atomic_write_json(path, {"a": np.float32(0.5), "b": np.arange(3), "c": (1, 2)})
    assert json.loads(path.read_text()) == {"a": 0.5, "b": [0, 1, 2], "c": [1, 2]}

    def broken(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        files.atomic_save(path, broken)
    assert json.loads(path.read_text())["a"] == 0.5  # the old content, whole
    assert sorted(p.name for p in path.parent.iterdir()) == ["r.json"]  # no temporary file left


def test_atomic_save_keeps_every_suffix_for_writers_that_check_it(tmp_path):
    seen = []
    files.atomic_save(tmp_path / "cae.weights.h5", lambda tmp: (seen.append(tmp.name), tmp.write_bytes(b"x")))
    assert seen[0].endswith(".tmp.weights.h5") and (tmp_path / "cae.weights.h5").read_bytes() == b"x"


def test_targets_are_checked_before_writing(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        files.atomic_write_text(tmp_path, "x")
    with pytest.raises(ValueError, match="suffix"):
        records.write_report(tmp_path / "r.txt", about="", records={}, command="c")
    assert list(tmp_path.iterdir()) == []


def test_provenance_names_command_machine_and_date():
    p = records.provenance("python x.py --a 1")
    assert p["command"] == "python x.py --a 1" and p["date"].endswith("UTC")
    assert {"processor", "avx512", "cpu_count", "keras", "backend"} <= set(p["machine"])
    assert records.command_line(["--out", "a b"], prog="python t.py") == "python t.py --out 'a b'"


def test_reports_have_one_shape_and_update_one_record(tmp_path):
    path = tmp_path / "r.json"
    records.write_report(path, about="test", records={"a": {"x": 1}}, command="first")
    doc = records.update_report(path, {"b": {"x": 2, "date": "2026-01-01"}}, about="test", command="second")
    assert list(doc) == list(records.REPORT_KEYS) and doc["command"] == "second"
    assert doc["records"]["a"]["command"] == "first" and doc["records"]["a"]["x"] == 1
    assert doc["records"]["b"]["command"] == "second" and doc["records"]["b"]["date"] == "2026-01-01"
    doc = records.update_report(path, {}, about="test", command="third", drop={"a"})
    assert list(doc["records"]) == ["b"] and records.read_report(path) == doc
    path.write_text('{"rows": []}')
    with pytest.raises(ValueError, match="not a report"):
        records.read_report(path)


def test_replace_between_markers(tmp_path):
    begin, end = records.markers("t")
    path = tmp_path / "x.md"
    path.write_text(f"intro\n{begin}\nold\n{end}\noutro\n")
    new = records.replace_between_markers(path, "t", "| a |", write=False)
    assert path.read_text().count("old") == 1 and "| a |" in new
    records.replace_between_markers(path, "t", "| a |")
    assert path.read_text() == f"intro\n{begin}\n| a |\n{end}\noutro\n"
    with pytest.raises(ValueError, match="markers"):
        records.replace_between_markers(path, "other", "x")


def test_check_outputs_refuses_inputs_links_insides_and_collisions(tmp_path):
    image = tmp_path / "a.png"
    image.write_bytes(b"x")
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "link.png").symlink_to(image)
    os.link(image, tmp_path / "hard.png")
    for out in (image, tmp_path / "link.png", tmp_path / "hard.png", data / "results.json",
                tmp_path / "sub" / ".." / "a.png"):
        with pytest.raises(files.OutputConflictError, match="Nothing was written"):
            files.check_outputs([out], [image, data, None])
    with pytest.raises(files.OutputConflictError, match="same file"):
        files.check_outputs([tmp_path / "o.png", tmp_path / "o.png"])
    assert files.check_outputs([tmp_path / "o.png"], [image, data]) == [tmp_path / "o.png"]
    assert files.check_outputs([image], [image], allow=[image]) == [image]
