"""session.json: saved every bar without an fsync storm, read back by old and new versions alike."""
import json
import os

import numpy as np

from vamen.server.core.control import Control
from vamen.server.ops.presets import PresetStore
from vamen.server.core import commands as c
from vamen.server.ops.session import SessionSaver, load_session, save_session


def control(tmp_path, dim=4) -> Control:
    return Control(dim, {"a": [1.0] * dim}, PresetStore(tmp_path / "p.json"), tempo=120.0)


def test_a_bar_line_save_holds_what_is_heard_there(tmp_path):
    ctl = control(tmp_path)
    ctl.apply(c.Morph(0, 8.0, "linear"), 0.0, 0.0)  # from the centre to anchor 0 over beats 0..8
    ctl.apply(c.Walk(0.5, 1.0, 3), 0.0, 0.0)
    path = tmp_path / "session.json"
    save_session(path, ctl, beat=4.0, latest=False, tempo=133.0)
    saved = load_session(path, 4)
    assert np.allclose(saved["centre"], 0.5) and np.allclose(saved["point"], 1.0)  # halfway there
    assert saved["move"] == {"beats": 4.0, "curve": "linear"}
    walk = saved["walk"]
    assert walk["depth"] == 0.5 and walk["seed"] == 3 and walk["phase"] == 1.0  # one cycle a bar
    assert walk["depth_now"] == 0.5  # the fade-in took the first bar
    assert saved["tempo"] == 133.0
    save_session(path, ctl, beat=4.0, latest=True)  # a clean stop: the latest intent
    saved = load_session(path, 4)
    assert np.allclose(saved["centre"], 1.0) and saved["move"] is None


def test_a_version_1_file_still_loads(tmp_path):
    path = tmp_path / "session.json"
    path.write_text(json.dumps({"format": "vamen-session", "version": 1, "point": [0.5] * 4,
                                "tempo": 97, "quantize": 1, "gain": 0.6, "quality": 20, "glide": 0,
                                "walk": {"depth": 0.5, "rate": 1, "seed": 4}}))
    saved = load_session(path, 4)
    assert saved["centre"] == saved["point"] == [0.5] * 4 and saved["move"] is None
    assert saved["walk"]["phase"] is None and saved["walk"]["depth_now"] == 0.5
    assert saved["autopilot"] is None


def test_every_bar_saves_but_fsyncs_once_a_minute(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    now = [0.0]
    saver = SessionSaver(tmp_path / "session.json", clock=lambda: now[0])
    ctl = control(tmp_path)
    for bar in range(120):  # four minutes of bars at 120 BPM
        now[0] = bar * 2.0
        assert saver.save(ctl, beat=4.0 * bar, latest=False)
    assert saver.saves == 120
    assert len(synced) == 4 * 2  # file and folder, at 0, 60, 120 and 180 s
    assert load_session(tmp_path / "session.json", 4) is not None
    assert not list(tmp_path.glob(".session.json.*"))  # no temporary files left behind
    synced.clear()
    assert saver.save(ctl, durable=True)  # a clean stop always reaches the disk
    assert synced


def test_a_save_that_fails_warns_once_and_plays_on(tmp_path, caplog):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    saver = SessionSaver(blocked / "session.json")
    ctl = control(tmp_path)
    assert not saver.save(ctl) and not saver.save(ctl)
    assert sum("cannot save the session" in r.message for r in caplog.records) == 1


def _session(path, **settings):
    data = {"format": "vamen-session", "version": 2, "point": [0.25] * 8, "centre": [0.25] * 8,
            "move": None, "tempo": 133.0, "quantize": 1.0, "gain": 0.5, "quality": 16, "glide": 0.0,
            "walk": {"depth": 0.0, "rate": 1.0, "seed": 0, "phase": 0.0, "depth_now": 0.0}}
    path.write_text(json.dumps({**data, **settings}))


def test_a_session_with_values_the_command_line_refuses_drops_them_and_keeps_the_rest(
        tmp_path, tiny_model, caplog):
    """gain 3 / quality 9999 / quantize -2 in session.json: one line each, dropped; the rest carries on."""
    from vamen.model.loopmodel import LoopModel
    from vamen.server.engine import Engine
    from vamen.server.options import ServeOptions

    from oscclient import Client, message

    _session(tmp_path / "session.json", gain=3.0, quality=9999, quantize=-2.0)
    options = ServeOptions(sinks=("file",), record=tmp_path / "rec.wav", osc_port=0,
                           sample_rate=22050, presets=tmp_path / "presets.json")
    with caplog.at_level("WARNING"):
        engine = Engine(options, LoopModel.load(tiny_model, "cpu")).start()
    client = Client(engine.osc)
    try:
        _, args = client.ask(message("/vamen/state"))
        state = dict(zip(args[::2], args[1::2]))
        assert state["gain"] == 1.0 and state["quality"] == 32 and state["quantize"] == 1.0  # defaults
        assert state["tempo"] == 133.0  # the good part of the session is kept
        assert np.allclose([float(v) for v in state["latent"].split(",")], 0.25)
        dropped = [r.getMessage() for r in caplog.records if "dropping" in r.getMessage()]
        assert len(dropped) == 3, dropped
        for words in ("gain = 3.0", "quality = 9999", "quantize = -2.0"):
            assert sum(words in line for line in dropped) == 1, (words, dropped)
        assert all("\n" not in line for line in dropped)
    finally:
        client.close()
        engine.close()
    saved = json.loads((tmp_path / "session.json").read_text())  # the clean stop saved good values
    assert saved["gain"] == 1.0 and saved["quality"] == 32 and saved["tempo"] == 133.0


def test_a_value_the_command_line_refuses_is_never_saved(tmp_path, caplog):
    from vamen.server.options import check_setting

    ctl = Control(4, {"a": [1.0] * 4}, PresetStore(tmp_path / "p.json"), tempo=120.0,
                  gain=3.0)  # as a bug, or an older version's file, might leave it
    saver = SessionSaver(tmp_path / "session.json", check=check_setting)
    with caplog.at_level("WARNING"):
        assert saver.save(ctl, beat=0.0) and saver.save(ctl, beat=4.0)
    assert "gain" not in json.loads((tmp_path / "session.json").read_text())
    assert len([r for r in caplog.records if "gain = 3.0" in r.getMessage()]) == 1  # once, not every bar
    assert "gain" not in load_session(tmp_path / "session.json", 4, check_setting)


def test_the_chop_heard_at_the_bar_line_is_saved_and_a_broken_one_dropped(tmp_path, caplog):
    ctl = control(tmp_path)
    ctl.apply(c.ChopSteps((0, 0, 1, 1)), 0.5, 0.0)  # lands on beat 1
    ctl.apply(c.ChopReverse((2,)), 4.5, 0.0)  # lands on beat 5, after the saved bar line
    path = tmp_path / "session.json"
    save_session(path, ctl, beat=4.0, latest=False)
    assert load_session(path, 4)["chop"].describe() == "0,0,1,1"  # as heard at beat 4
    save_session(path, ctl, beat=4.0, latest=True)
    assert load_session(path, 4)["chop"].describe() == "0,0,1,1 r2"  # a clean stop: the latest
    for broken in ({"steps": [0, 9]}, {"steps": "0 1"}, {"steps": [0, 1.5]}, {"reverse": [1]}):
        _session(path, chop=broken)
        with caplog.at_level("WARNING"):
            saved = load_session(path, 8)
        assert saved["chop"] is None and saved["tempo"] == 133.0  # the rest still loads
        assert "dropping the chop pattern" in caplog.text
        caplog.clear()


def _state(ctl, beat):
    args = ctl.state(beat)
    return dict(zip(args[::2], args[1::2]))


def _listening(tmp_path, dim=4) -> Control:
    return Control(dim, {"a": [1.0] * dim}, PresetStore(tmp_path / "p.json"), tempo=120.0, listening=True)


def _resumed(tmp_path, saved, dim=4) -> Control:
    from vamen.server.ops.session import resume_commands

    ctl = Control(dim, {"a": [1.0] * dim}, PresetStore(tmp_path / "p2.json"), tempo=120.0,
                  start=saved["centre"], listening=True)
    for cmd in resume_commands(saved):
        ctl.apply(cmd, 0.0, 0.0)
    return ctl


def test_following_the_input_is_saved_with_the_point_last_heard_and_goes_on_after_a_restart(tmp_path):
    ctl = _listening(tmp_path)
    ctl.apply(c.SetLatent((-1.0,) * 4), 0.0, 0.0)  # the performer's own point
    ctl.apply(c.Heard((2.0, 2.0, 2.0, 2.0), 0.0), 0.0, 0.0)  # a bar of the drummer, encoded
    ctl.apply(c.Follow(1.0), 0.0, 0.0)
    assert np.allclose([float(v) for v in _state(ctl, 4.0)["latent"].split(",")], 2.0)
    path = tmp_path / "session.json"
    save_session(path, ctl, beat=4.0, latest=False)
    saved = load_session(path, 4)
    assert saved["follow"] == {"amount": 1.0, "to": 1.0, "beats": 0.0, "heard": [2.0] * 4}
    assert np.allclose(saved["centre"], -1.0)  # the performer's own point stays theirs
    again = _resumed(tmp_path, saved)
    state = _state(again, 0.0)
    assert state["follow"] == 1.0
    assert np.allclose([float(v) for v in state["latent"].split(",")], 2.0)  # the first bar as saved
    assert np.allclose([float(v) for v in state["input_latent"].split(",")], 2.0)
    again.apply(c.Follow(0.0), 0.0, 0.0)  # following off: the performer's own point again
    assert np.allclose([float(v) for v in _state(again, 1.0)["latent"].split(",")], -1.0)


def test_a_follow_glide_saved_halfway_glides_on_and_a_clean_stop_saves_where_it_went(tmp_path):
    ctl = _listening(tmp_path)
    ctl.apply(c.Heard((2.0,) * 4, 0.0), 0.0, 0.0)
    ctl.apply(c.Follow(1.0, 8.0), 0.0, 0.0)  # glide from 0 to 1 over beats 0..8
    path = tmp_path / "session.json"
    save_session(path, ctl, beat=4.0, latest=False)
    saved = load_session(path, 4)
    assert saved["follow"]["amount"] == 0.5 and saved["follow"]["to"] == 1.0 and saved["follow"]["beats"] == 4.0
    again = _resumed(tmp_path, saved)
    assert _state(again, 0.0)["follow"] == 0.5 and _state(again, 4.0)["follow"] == 1.0
    save_session(path, ctl, beat=4.0, latest=True)
    assert load_session(path, 4)["follow"] == {"amount": 1.0, "to": 1.0, "beats": 0.0, "heard": [2.0] * 4}
    ctl.apply(c.Follow(0.0), 8.0, 0.0)  # not following: nothing about it saved
    save_session(path, ctl, beat=12.0, latest=False)
    assert load_session(path, 4)["follow"] is None


def test_a_broken_follow_is_dropped_and_the_rest_kept(tmp_path, caplog):
    path = tmp_path / "session.json"
    for broken in ({"amount": 1.5, "to": 1.0, "beats": 0.0}, {"amount": "all", "to": 1, "beats": 0},
                   {"amount": 1.0, "to": 1.0, "beats": 0.0, "heard": [1.0, 2.0]},
                   {"amount": 1.0, "to": 1.0, "beats": float("nan")}, {"to": 1.0}):
        _session(path, follow=broken)
        with caplog.at_level("WARNING"):
            saved = load_session(path, 8)
        assert saved["follow"] is None and saved["tempo"] == 133.0, broken
        assert "dropping the following of the live input" in caplog.text
        caplog.clear()
