"""Autopilot scenes are checked before anything starts: a mistake is one line and exit status 2."""
import os
import subprocess
import sys
import tomllib

import pytest

from vamen.server.core import commands as c
from vamen.server.config import ConfigError, read_config
from vamen.server.options import ServeOptions
from vamen.server.sources.osc import BadMessage, parse
from vamen.server.sources.scenes import flight_for, read_flight, resolve

GOOD = """
[autopilot]
order = "random"
seed = 3
idle = 10
[[autopilot.scene]]
name = "a"
bars = 8
anchors = [0, "loop-1"]
walk = 0.5
walk-rate = 1
morph-every = 2
curve = "slerp"
jump = 0.1
tempo = [160, 175]
weight = 2
[[autopilot.scene]]
name = "b"
bars = 4
centre = [1, 0, 0, 0]
radius = 0.5
tempo = 90
[[autopilot.schedule]]
from = "22:30"
to = "06:00"
gain = 0.5
scenes = ["b"]
"""


def table(text):
    return tomllib.loads(text)["autopilot"]


def test_a_good_flight_reads_as_written():
    flight = read_flight(table(GOOD))
    a, b = flight.scenes
    assert (flight.order, flight.seed, flight.idle, flight.on) == ("random", 3, 10.0, True)
    assert a.anchors == (0, "loop-1") and a.walk == 0.5 and a.morph_every == 2 and a.morph_bars == 2
    assert a.tempo == (160.0, 175.0) and b.tempo == (90.0, 90.0) and b.centre == (1.0, 0.0, 0.0, 0.0)
    (night,) = flight.schedule
    assert night.holds(23 * 60) and night.holds(5 * 60 + 59) and not night.holds(6 * 60)
    assert night.gain == 0.5 and night.scenes == ("b",)


@pytest.mark.parametrize("change, words", [
    (("bars = 8", "bars = 0"), "'a': bars must be within 1.."),
    (("bars = 8", "bars = 8.5"), "'a': bars must be a whole number"),
    (("bars = 8\n", ""), "'a': bars is missing"),
    (("walk = 0.5", "walk = 9"), "'a': walk must be within 0..4, got 9"),
    (("walk-rate = 1", "walkrate = 1"), "'a': unknown key 'walkrate'; did you mean walk-rate?"),
    (("curve = \"slerp\"", "curve = \"bouncy\""), "curve must be one of linear, smooth, slerp"),
    (("jump = 0.1", "jump = 1.5"), "jump must be within 0..1"),
    (("tempo = [160, 175]", "tempo = [175, 160]"), "tempo must be within 20..400 BPM, low first"),
    (("tempo = [160, 175]", "tempo = \"fast\""), "tempo must be a BPM or a [low, high] range"),
    (("anchors = [0, \"loop-1\"]", "anchors = [-1]"), "anchors must list anchor indices"),
    (("radius = 0.5", "radius = -1"), "radius must be within 0..8"),
    (("name = \"b\"", "name = \"a\""), "'a' is named twice"),
    (("order = \"random\"", "order = \"shuffle\""), "order must be one of sequence, random"),
    (("idle = 10", "idle = \"soon\""), "idle must be a number"),
    (("from = \"22:30\"", "from = \"25:00\""), "from must be a time of day such as \"22:00\""),
    (("to = \"06:00\"", "to = \"22:30\""), "to must differ from from"),
    (("scenes = [\"b\"]", "scenes = [\"c\"]"), "scenes names no scene 'c'"),
    (("gain = 0.5", "gain = 3"), "gain must be within 0..2"),
])
def test_mistakes_are_one_line_naming_the_place(change, words):
    old, new = change
    assert old in GOOD
    with pytest.raises(ConfigError) as caught:
        read_flight(table(GOOD.replace(old, new, 1)))
    message = str(caught.value)
    assert words in message and "\n" not in message


def test_no_scenes_is_a_mistake_too():
    with pytest.raises(ConfigError, match="has no scenes"):
        read_flight({"order": "sequence"})


class Presets(dict):
    def names(self):
        return sorted(self)


def test_names_are_checked_against_the_model_and_the_presets():
    anchors = {"loop-0": [0.0] * 4, "loop-1": [1.0] * 4}
    flight = resolve(read_flight(table(GOOD)), 4, anchors, Presets())
    assert flight.scenes[0].anchors == (0, 1)  # names become indices
    for old, new, words in [
        ("anchors = [0, \"loop-1\"]", "anchors = [5]", "no anchor 5; this model's anchors are 0..1"),
        ("anchors = [0, \"loop-1\"]", "anchors = [\"loop-2\"]", "no anchor named 'loop-2'"),
        ("centre = [1, 0, 0, 0]", "centre = [1, 0, 0, 0, 0, 0]",
         "centre has 6 coordinates; this model has 4"),
        ("centre = [1, 0, 0, 0]", "centre = \"chorus\"", "no preset or anchor named 'chorus'"),
        ("tempo = 90", "tempo = 90\npresets = [\"verse\"]", "no preset named 'verse'"),
    ]:
        with pytest.raises(ConfigError, match=words):
            resolve(read_flight(table(GOOD.replace(old, new, 1))), 4, anchors, Presets())
    named = resolve(read_flight(table(GOOD.replace("centre = [1, 0, 0, 0]", "centre = \"verse\""))), 4,
                    anchors, Presets(verse=[0.5] * 4))
    assert named.scenes[1].centre == (0.5,) * 4
    # fewer coordinates than the model has: the first ones, the rest 0, as /vamen/latent
    short = resolve(read_flight(table(GOOD.replace("centre = [1, 0, 0, 0]", "centre = [1, 2]"))), 4,
                    anchors, Presets())
    assert short.scenes[1].centre == (1.0, 2.0, 0.0, 0.0)


def test_osc_switch_parses_and_refuses():
    (cmd,) = parse("/vamen/autopilot", [1], None, None, 8)
    assert cmd == c.AutopilotSwitch(1) and parse(*cmd.to_osc(), None, None, 8) == [cmd]
    assert parse("/vamen/autopilot", [0.0], None, None, 8) == [c.AutopilotSwitch(0)]  # Pd sends floats
    assert parse("/vamen/autopilot", [], None, None, 8) == [c.AutopilotSwitch(None)]
    with pytest.raises(BadMessage, match="on must be 1"):
        parse("/vamen/autopilot", [2], None, None, 8)


@pytest.mark.parametrize("how", ["--autopilot", "--config"])
def test_serve_with_a_bad_scene_stops_before_it_starts(tmp_path, tiny_model, how):
    path = tmp_path / "vamen.toml"
    path.write_text(GOOD.replace("walk = 0.5", "walk = 9"))
    record = tmp_path / "set.wav"
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"))
    run = subprocess.run([sys.executable, "-m", "vamen.server.cli", "serve", "--model", str(tiny_model),
                          "--osc-port", "0", "--sink", "file", "--record", str(record), how, str(path)],
                         capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert lines == [f"vamen: {path}: [[autopilot.scene]] 'a': walk must be within 0..4, got 9"]
    assert not record.exists()  # nothing started: no recording


def test_scenes_from_vamen_toml_or_a_file_of_their_own(tmp_path):
    (tmp_path / "vamen.toml").write_text("tempo = 120\n" + GOOD)
    assert flight_for(ServeOptions(config=tmp_path / "vamen.toml")).scenes[0].name == "a"
    # a file of scenes named in vamen.toml, read from vamen.toml's folder, keys at its top level
    (tmp_path / "show").mkdir()
    (tmp_path / "show" / "scenes.toml").write_text(GOOD.replace("[autopilot]", "")
                                                   .replace("autopilot.", ""))
    (tmp_path / "show" / "vamen.toml").write_text('autopilot = "scenes.toml"\n')
    options = ServeOptions(**read_config(tmp_path / "show" / "vamen.toml"))
    assert options.autopilot == tmp_path / "show" / "scenes.toml"
    flight = flight_for(options)
    assert [s.name for s in flight.scenes] == ["a", "b"] and flight.schedule[0].gain == 0.5
    assert flight_for(ServeOptions()) is None  # no scenes, no autopilot
