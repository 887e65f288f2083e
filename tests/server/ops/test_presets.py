"""Presets: persistence, atomic writes, corrupt files kept aside."""
import json
import logging
import os
import threading

import numpy as np
import pytest

from vamen.server.ops import presets as p


def test_round_trip(tmp_path):
    path = tmp_path / "sub" / "presets.json"
    store = p.PresetStore(path)
    assert store.names() == [] and not path.exists()
    store.save("verse", np.arange(4, dtype=np.float32) / 3)
    store.save("Drop", [1.0, -2.0, 3.5, 0.0])
    again = p.PresetStore(path)
    assert again.names() == ["Drop", "verse"]
    np.testing.assert_allclose(again["verse"], np.arange(4) / 3, rtol=1e-6)
    assert again.get("verse").dtype == np.float32
    assert again.get("missing") is None and "missing" not in again
    with pytest.raises(KeyError):
        again["missing"]
    data = json.loads(path.read_text())
    assert data["format"] == "vamen-presets" and data["version"] == 1
    assert again.delete("Drop") and not again.delete("Drop")
    assert p.PresetStore(path).names() == ["verse"]


def test_overwrite_replaces(tmp_path):
    store = p.PresetStore(tmp_path / "p.json")
    store.save("a", [1.0, 2.0])
    store.save("a", [3.0, 4.0])
    assert p.PresetStore(tmp_path / "p.json")["a"].tolist() == [3.0, 4.0]


@pytest.mark.parametrize("name", ["", "   ", "a/b", "a\\b", "x" * 65, "tab\there", "nul\x00", 3, None])
def test_bad_names_refused(tmp_path, name):
    store = p.PresetStore(tmp_path / "p.json")
    with pytest.raises(ValueError):
        store.save(name, [1.0])
    assert store.names() == [] and not (tmp_path / "p.json").exists()


@pytest.mark.parametrize("values", [[], [1.0, float("nan")], [float("inf")], ["a"], [True], "abc"])
def test_bad_values_refused(tmp_path, values):
    store = p.PresetStore(tmp_path / "p.json")
    with pytest.raises(ValueError):
        store.save("a", values)


def test_unicode_names_are_fine(tmp_path):
    store = p.PresetStore(tmp_path / "p.json")
    store.save("Amen — brother ✦", [0.5])
    assert p.PresetStore(tmp_path / "p.json").names() == ["Amen — brother ✦"]


@pytest.mark.parametrize("content", [
    "{not json", "", "[1, 2]", '{"format": "other"}',
    '{"format": "vamen-presets", "version": 99, "presets": {}}',
    '{"format": "vamen-presets", "version": 1, "presets": {"a": ["x"]}}',
    '{"format": "vamen-presets", "version": 1, "presets": {"a/b": [1.0]}}',
])
def test_corrupt_file_is_kept_aside(tmp_path, caplog, content):
    path = tmp_path / "presets.json"
    path.write_text(content)
    with caplog.at_level(logging.WARNING, logger="vamen.server.ops.presets"):
        store = p.PresetStore(path)
    assert store.names() == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "unreadable" in warnings[0].getMessage()
    aside = list(tmp_path.glob("presets.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text() == content
    # the store works again, and the user's old file is still there
    store.save("new", [1.0])
    assert p.PresetStore(path).names() == ["new"]
    assert aside[0].exists()


def test_failed_write_keeps_old_file_and_state(tmp_path, monkeypatch):
    path = tmp_path / "p.json"
    store = p.PresetStore(path)
    store.save("a", [1.0])
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(p.os, "replace", boom)
    with pytest.raises(OSError):
        store.save("b", [2.0])
    assert path.read_bytes() == before
    assert store.names() == ["a"]
    assert [f.name for f in tmp_path.iterdir()] == ["p.json"]  # no temporary file left behind


def test_file_is_always_valid_json_while_saving(tmp_path):
    """A reader polling the file while saves happen never sees a partial file."""
    path = tmp_path / "p.json"
    store = p.PresetStore(path)
    store.save("seed", [0.0] * 32)
    done = threading.Event()
    seen, problems = [], []

    def reader():
        while not done.is_set():
            try:
                data = json.loads(path.read_text())
                seen.append(len(data["presets"]))
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                problems.append(repr(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(60):
            store.save(f"p{i}", np.full(32, i / 7.0))
    finally:
        done.set()
        thread.join()
    assert problems == []
    assert seen and seen == sorted(seen)
    assert len(p.PresetStore(path)) == 61


def test_default_path_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert p.default_path() == tmp_path / "vamen" / "presets.json"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert p.default_path() == tmp_path / ".local" / "share" / "vamen" / "presets.json"
    assert p.PresetStore().path == p.default_path()


def test_unreadable_path_warns_and_starts_empty(tmp_path, caplog):
    folder = tmp_path / "p.json"
    os.mkdir(folder)  # a folder where the file should be: reading fails with an OSError
    with caplog.at_level(logging.WARNING, logger="vamen.server.ops.presets"):
        assert p.PresetStore(folder).names() == []
    assert folder.is_dir() and "cannot read" in caplog.text


def test_two_corrupt_files_in_a_row_are_both_kept(tmp_path):
    path = tmp_path / "presets.json"
    for content in ("{bad one", "{bad two"):
        path.write_text(content)
        p.PresetStore(path)
    kept = sorted(f.read_text() for f in tmp_path.glob("presets.json.corrupt-*"))
    assert kept == ["{bad one", "{bad two"]
