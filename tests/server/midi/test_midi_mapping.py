"""MIDI without ports: mapping math, soft takeover, the byte parser, config checks, learn files."""
from __future__ import annotations

import math
import subprocess
import sys
import tomllib

import mido
import pytest

from vamen.server.core import commands as c
from vamen.server.config import ConfigError
from vamen.server.midi.commands import Learned
from vamen.server.midi.learned import dumps, read_learned, toml_value, write_learned
from vamen.server.midi.mapping import (CCMapping, parse_action, parse_cc, parse_settings,
                                       relative_steps, shape, unshape)
from vamen.server.midi.router import Router
from vamen.server.midi.takeover import Pickup
from vamen.server.midi.wire import Tokenizer

DIM = 8


def cc(number, value, channel=0):
    return mido.Message("control_change", channel=channel, control=number, value=value)


def note(number, channel=0, velocity=100):
    return mido.Message("note_on", channel=channel, note=number, velocity=velocity)


def settings(text_table: dict, dim: int = DIM):
    return parse_settings(text_table, dim)


# -- ranges and curves ------------------------------------------------------------------


@pytest.mark.parametrize("raw, expected", [(0, -3.0), (127, 3.0), (63.5, 0.0)])
def test_linear_range(raw, expected):
    m = parse_cc(1, {"target": "latent/0", "min": -3, "max": 3})
    assert m.value(raw) == pytest.approx(expected)


def test_a_reversed_range_turns_the_knob_round():
    m = parse_cc(1, {"target": "gain", "min": 1.5, "max": 0})
    assert m.value(0) == 1.5 and m.value(127) == 0.0


@pytest.mark.parametrize("curve", ["linear", "exp", "log"])
@pytest.mark.parametrize("x", [0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_curves_run_end_to_end_and_invert(curve, x):
    assert shape(0.0, curve) == pytest.approx(0.0, abs=1e-12)
    assert shape(1.0, curve) == pytest.approx(1.0)
    assert unshape(shape(x, curve), curve) == pytest.approx(x, abs=1e-9)


def test_exp_starts_slow_and_log_fast():
    assert shape(0.5, "exp") < 0.15 < 0.85 < shape(0.5, "log")
    gain = parse_cc(7, {"target": "gain", "min": 0, "max": 1.5, "curve": "exp"})
    values = [gain.value(v) for v in range(128)]
    assert values == sorted(values) and values[0] == 0.0 and values[-1] == pytest.approx(1.5)
    # 40 dB of travel: the first step is far below the last one
    assert values[1] < 0.01 * values[-1]


def test_values_are_clamped_to_the_targets_limits():
    quality = parse_cc(3, {"target": "quality", "min": 4, "max": 128})
    assert quality.value(64) == round(quality.value(64)) and 4 <= quality.value(64) <= 128
    m = CCMapping(1, "gain", 0.0, 5.0)  # built past the checks: still clamped
    assert m.value(127) == c.MAX_GAIN


def test_position_and_raw_invert_value():
    m = parse_cc(7, {"target": "gain", "min": 0, "max": 1.5, "curve": "exp"})
    for raw in (0, 1, 40, 100, 127):
        assert m.raw(m.value(raw)) == raw
    assert m.position(99.0) == 1.0 and m.position(-5) == 0.0


# -- relative encoders and 14 bits ------------------------------------------------------


@pytest.mark.parametrize("mode, value, steps", [
    ("relative2c", 1, 1), ("relative2c", 5, 5), ("relative2c", 127, -1), ("relative2c", 65, -63),
    ("relative2c", 64, -64),
    ("relative64", 65, 1), ("relative64", 63, -1), ("relative64", 64, 0), ("relative64", 0, -64),
    ("relativesb", 1, 1), ("relativesb", 65, -1), ("relativesb", 70, -6),
])
def test_relative_modes(mode, value, steps):
    assert relative_steps(value, mode) == steps


def test_an_encoder_nudges_and_steps_add_up_within_a_poll():
    router = Router(settings({"cc": {"16": {"target": "latent/3", "mode": "relative2c", "step": 0.1}}}))
    out = router.feed([(cc(16, 1), 0.0), (cc(16, 2), 0.001), (cc(16, 127), 0.002)])
    assert out == [c.Nudge(3, pytest.approx(0.2))]


def test_an_encoder_on_gain_steps_from_the_state():
    state = {"gain": 1.0}
    router = Router(settings({"cc": {"20": {"target": "gain", "mode": "relative64", "step": 0.05}}}),
                    state=state.get)
    assert router.feed([(cc(20, 66), 0.0)]) == [c.Gain(pytest.approx(1.1))]
    # a moment later the state has not caught up yet: steps go on from what was sent
    assert router.feed([(cc(20, 66), 0.05)]) == [c.Gain(pytest.approx(1.2))]
    assert router.feed([(cc(20, 0), 10.0)]) == [c.Gain(0.0)]  # clamped at the bottom


def test_fourteen_bit_pairs():
    router = Router(settings({"takeover": False, "cc": {"1": {"target": "latent/0", "bits": 14,
                                                              "min": 0, "max": 1}}}))
    assert router.feed([(cc(33, 5), 0.0)]) == []  # fine before coarse means nothing
    out = router.feed([(cc(1, 64), 0.0)])
    assert out == [c.SetCoord(0, pytest.approx(64 * 128 / 16383))]
    out = router.feed([(cc(33, 127), 0.01)])
    assert out == [c.SetCoord(0, pytest.approx((64 * 128 + 127) / 16383))]
    assert router.feed([(cc(1, 127), 0.02), (cc(33, 127), 0.02)]) == [c.SetCoord(0, 1.0)]


def test_fourteen_bit_needs_a_free_lsb():
    with pytest.raises(ConfigError, match="midi.cc.33: CC 33 is the LSB"):
        settings({"cc": {"1": {"target": "gain", "bits": 14}, "33": "glide"}})
    with pytest.raises(ConfigError, match="0..31"):
        settings({"cc": {"40": {"target": "gain", "bits": 14}}})


# -- soft takeover ------------------------------------------------------------------------


def test_pickup_waits_until_the_knob_passes_the_state():
    p = Pickup(window=0.02, grace=0.3)
    assert not p.offer(0.1, 0.5, 0.0)
    assert not p.offer(0.3, 0.5, 0.1)
    assert p.offer(0.6, 0.5, 0.2)  # crossed 0.5 between two messages
    assert p.offer(0.7, 0.5, 0.21)  # the state lags behind: still within grace
    assert p.offer(0.8, 0.7, 0.6)


def test_pickup_catches_within_the_window_and_lets_go_when_the_state_moves_on():
    p = Pickup(window=0.02, grace=0.3)
    assert p.offer(0.51, 0.5, 0.0)  # within the window
    assert p.offer(0.52, 0.52, 1.0)
    # a preset moved the state to 0.9; the knob sits at 0.52: it must catch up again
    assert not p.offer(0.53, 0.9, 2.0)
    assert not p.offer(0.6, 0.9, 2.1)
    assert p.offer(0.95, 0.9, 2.2)


def test_takeover_in_the_router_reads_the_control_state():
    state = {"latent/0": 2.0}
    router = Router(settings({"cc": {"1": "latent/0"}}), state=state.get)
    assert router.feed([(cc(1, 10), 0.0)]) == []  # the knob says -2.5, the state 2
    assert router.feed([(cc(1, 60), 0.1)]) == []
    out = router.feed([(cc(1, 110), 0.2)])  # passed 2.0 (raw ~105.8)
    assert out == [c.SetCoord(0, pytest.approx(-3 + 6 * 110 / 127))]
    off = Router(settings({"takeover": False, "cc": {"1": "latent/0"}}), state=state.get)
    assert off.feed([(cc(1, 10), 0.0)]) == [c.SetCoord(0, pytest.approx(-3 + 60 / 127))]


# -- the router: channels, pads, learn, folding ---------------------------------------------


def test_a_sweep_in_one_poll_is_one_command_and_order_is_kept():
    router = Router(settings({"takeover": False, "cc": {"1": "latent/0", "2": "gain"},
                              "note": {"36": "preset/load verse"}}))
    events = [(cc(1, v), 0.0) for v in range(0, 100, 10)] + [(note(36), 0.0), (cc(2, 64), 0.0)]
    out = router.feed(events)
    assert out == [c.SetCoord(0, pytest.approx(-3 + 6 * 90 / 127)), c.PresetLoad("verse"),
                   c.Gain(pytest.approx(2 * 64 / 127))]


def test_channel_filters():
    router = Router(settings({"channel": 2, "takeover": False,
                              "cc": {"1": "latent/0", "2": {"target": "gain", "channel": 3}}}))
    assert router.feed([(cc(1, 0, channel=0), 0.0)]) == []
    assert router.feed([(cc(1, 0, channel=2), 0.0)]) == [c.SetCoord(0, -3.0)]
    assert router.feed([(cc(2, 0, channel=2), 0.0)]) == []  # the port listens on 2 only


@pytest.mark.parametrize("text, command", [
    ("preset/load verse", c.PresetLoad("verse")),
    ("preset/load \"my verse\" 4", c.PresetLoad("my verse", 4.0)),
    ("random", c.Random()),
    ("random 0.5 7", c.Random(0.5, 7)),
    ("anchor 12", c.Anchor(12)),
    ("anchor chorus", c.Anchor("chorus")),
    ("morph chorus 8", c.Morph("chorus", 8.0)),
    ("play", c.Play()),
    ("/vamen/stop", c.Stop()),
])
def test_note_actions_are_osc_commands(text, command):
    assert parse_action(36, text, DIM).command == command


@pytest.mark.parametrize("text, words", [
    ("explode", "unknown address"),
    ("anchor", "expects"),
    ("latent/9 1", "within 0..7"),
    ("walk/toggle loud", "walk/toggle takes one depth"),
    ("preset/load \"open", "cannot read action"),
])
def test_bad_note_actions_are_one_line(text, words):
    with pytest.raises(ConfigError, match=words) as info:
        settings({"note": {"36": text}})
    assert "midi.note.36" in str(info.value) and "\n" not in str(info.value)


def test_walk_toggle_and_random_spread():
    state = {"walk/depth": 0.0}
    router = Router(settings({"takeover": False, "note": {"39": "walk/toggle", "37": "random"},
                              "cc": {"5": "random/spread"}}), state=state.get)
    assert router.feed([(note(39), 0.0)]) == [c.Walk(1.0)]
    state["walk/depth"] = 1.7
    assert router.feed([(note(39), 0.0)]) == [c.Walk(0.0)]
    state["walk/depth"] = 0.0
    assert router.feed([(note(39), 0.0)]) == [c.Walk(1.7)]  # back at the depth it had
    assert router.feed([(note(39, velocity=0), 0.0)]) == []  # a note-off
    assert router.feed([(cc(5, 127), 0.0), (note(37), 0.0)]) == [c.Random(2.0)]


def test_a_held_slice_is_let_go_on_note_off_or_a_button_release():
    router = Router(settings({"takeover": False, "note": {"40": "chop/hold 4", "41": "random"},
                              "button": {"64": "chop/hold 3 8"}}))
    assert router.feed([(note(40), 0.0)]) == [c.ChopHold(4, 16)]
    assert router.feed([(note(40, velocity=0), 0.0)]) == [c.ChopRelease(4, 16)]  # note-on 0 is note-off
    assert router.feed([(mido.Message("note_off", note=40), 0.0)]) == [c.ChopRelease(4, 16)]
    assert router.feed([(mido.Message("note_off", note=41), 0.0)]) == []  # other pads: nothing on release
    assert router.feed([(cc(64, 127), 0.0)]) == [c.ChopHold(3, 8)]
    assert router.feed([(cc(64, 0), 0.0)]) == [c.ChopRelease(3, 8)]


def test_learn_turns_the_next_cc_into_a_binding_once():
    pending = ["latent/3"]
    router = Router(settings({"cc": {"1": "gain"}}), learning=lambda: pending[0])
    assert router.feed([(cc(1, 20, channel=4), 0.0), (cc(1, 21, channel=4), 0.0)]) == [Learned(1, 4)]
    assert router.feed([(cc(2, 5), 0.1)]) == []  # the binding is on its way: nothing acts
    pending[0] = None
    assert router.feed([(cc(1, 127), 0.2)]) != []


def test_garbage_values_never_raise():
    router = Router(settings({"cc": {"1": "latent/0"}, "note": {"36": "random"}}))
    assert router.feed([(object(), 0.0), (mido.Message("sysex", data=[1, 2]), 0.0),
                        (mido.Message("pitchwheel", pitch=100), 0.0)]) == []
    assert router.ignored == 3


# -- the byte parser -------------------------------------------------------------------------


def test_tokenizer_running_status_realtime_and_sysex():
    t = Tokenizer()
    got = t.feed([0xB0, 1, 64, 2, 10, 0xF8, 3]) + t.feed([11])
    assert [m.type for m in got] == ["control_change", "control_change", "clock", "control_change"]
    assert [(m.control, m.value) for m in got if m.type == "control_change"] == [(1, 64), (2, 10), (3, 11)]
    # an unterminated sysex interrupted by a CC: the CC survives; realtime inside sysex passes
    got = t.feed([0xF0, 1, 2, 0xF8, 3, 0xB1, 7, 100, 0xF0] + [5] * 10000 + [0xF7, 0xFA])
    assert [m.type for m in got] == ["clock", "control_change", "start"]
    assert got[1].channel == 1 and got[1].value == 100


def test_a_stray_end_of_exclusive_cancels_running_status():
    """MIDI 1.0: every status byte but a real-time one ends an unfinished message and running status.

    An 0xF7 with no sysex before it used to be skipped, so the data bytes after
    it finished the CC it interrupted, or made a new one in running status: a
    knob moved by garbage (found by ``make fuzz`` over JACK MIDI).
    """
    t = Tokenizer()
    assert t.feed([0xB2, 3]) + t.feed([0xF7]) + t.feed([110]) == []  # inside a message
    assert t.feed([0xBE, 3, 1]) != [] and t.feed([0xF7]) + t.feed([3, 27]) == []  # in running status
    assert t.feed([0xF7, 0xF8]) == [mido.Message("clock")]  # real-time bytes still pass
    got = t.feed([0xB0, 1, 5, 1, 6, 0xF0, 1, 2, 0xF7, 1, 7])  # a whole message reads as ever
    assert [(m.control, m.value) for m in got] == [(1, 5), (1, 6)]


def test_tokenizer_drops_garbage_and_undefined_status():
    t = Tokenizer()
    assert t.feed([5, 6, 7, 0xF4, 1, 2, 0xF9, 0xFD]) == []
    assert t.feed([0xF2, 0x10, 0x01]) == [mido.Message("songpos", pos=0x10 + (0x01 << 7))]
    assert t.feed([300, -1, "x", 0x90, 60, 100]) == [mido.Message("note_on", note=60, velocity=100)]
    assert t.dropped >= 5


# -- config validation --------------------------------------------------------------------------


@pytest.mark.parametrize("table, words", [
    ({"cc": {"7": {"target": "volume"}}}, "midi.cc.7: unknown target 'volume'"),
    ({"cc": {"7": "latent/8"}}, "midi.cc.7: latent index 8 is beyond this model's 0..7"),
    ({"cc": {"7": {"target": "gain", "max": 3}}}, "max 3 is outside gain's 0..2"),
    ({"cc": {"7": {"target": "gain", "curve": "cubic"}}}, "unknown curve 'cubic'"),
    ({"cc": {"7": {"target": "gain", "mode": "relative"}}}, "unknown mode 'relative'"),
    ({"cc": {"7": {"target": "gain", "min": 1, "max": 1}}}, "would do nothing"),
    ({"cc": {"7": {"target": "gain", "colour": 1}}}, "unknown key 'colour'"),
    ({"cc": {"128": "gain"}}, "CC '128' is not a number within 0..127"),
    ({"channel": 16}, "channel .* within 0..15"),
    ({"prot": "nano"}, "unknown key 'prot'"),
    ({"takeover": "yes"}, "takeover must be true or false"),
])
def test_bad_mappings_are_one_clear_line(table, words):
    with pytest.raises(ConfigError, match=words) as info:
        parse_settings(table, DIM, "v.toml")
    assert str(info.value).startswith("v.toml: ") and "\n" not in str(info.value)


def test_the_issue_example_parses():
    text = """
[midi]
port = "nanoKONTROL"
channel = 0
[midi.cc]
1 = { target = "latent/0", min = -3, max = 3 }
7 = { target = "gain", min = 0, max = 1.5, curve = "exp" }
16 = { target = "latent/3", mode = "relative2c" }
2 = { target = "interp/fraction", a = "verse", b = 12 }
[midi.note]
36 = "preset/load verse"
37 = "random"
38 = "anchor 12"
39 = "walk/toggle"
"""
    s = parse_settings(tomllib.loads(text)["midi"], DIM)
    assert s.port == "nanoKONTROL" and s.channel == 0 and set(s.cc) == {1, 2, 7, 16}
    assert s.cc[16].relative and s.cc[7].curve == "exp" and (s.cc[2].a, s.cc[2].b) == ("verse", 12)
    assert s.notes[38].command == c.Anchor(12) and s.notes[39].command is None


def test_the_shipped_controller_files_parse():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[3] / "patches" / "midi"
    files = sorted(folder.glob("*.toml"))
    assert len(files) >= 3
    for path in files:
        s = parse_settings(tomllib.loads(path.read_text())["midi"], 16, str(path))
        if path.name in ("chop-pads.toml", "slice-pads.toml"):  # pads for any controller: every one a chop
            assert sorted(s.notes) == list(range(36, 52))
            assert all(n.command.address.startswith("/vamen/chop") for n in s.notes.values())
            if path.name == "slice-pads.toml":  # MPC style: pad k holds slice k
                assert [n.command.slice for _, n in sorted(s.notes.items())] == list(range(16))
        else:
            assert s.port and len(s.cc) >= 8, path


def test_serve_stops_on_a_bad_mapping_with_one_line(tmp_path, tiny_model):
    path = tmp_path / "vamen.toml"
    path.write_text('[midi]\nport = "nano"\n[midi.cc]\n7 = { target = "volume" }\n')
    run = subprocess.run([sys.executable, "-m", "vamen.server.cli", "serve", "--config", str(path),
                          "--model", str(tiny_model), "--sink", "file", "--record",
                          str(tmp_path / "x.wav"), "--osc-port", "0"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().splitlines() == [run.stderr.strip()]
    assert "midi.cc.7: unknown target 'volume'" in run.stderr


# -- the learned file ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["plain", 'quo"te', "back\\slash", "tab\tnew\nline", "ünï", "\x7f\x01",
                                   0, -3, 1.5, 1e-05, 123456789.25, True, False])
def test_toml_values_read_back(value):
    assert tomllib.loads(f"v = {toml_value(value)}")["v"] == value


def test_toml_refuses_what_it_cannot_hold():
    with pytest.raises(ValueError):
        toml_value(math.nan)
    with pytest.raises(TypeError):
        toml_value([1])


def test_learned_file_round_trip_and_bad_entries(tmp_path):
    mappings = {21: parse_cc(21, {"target": "latent/3", "channel": 2}),
                7: parse_cc(7, {"target": "gain", "curve": "exp", "max": 1.5}),
                2: parse_cc(2, {"target": "interp/fraction", "a": "my \"verse\"", "b": 3}),
                16: parse_cc(16, {"target": "latent/1", "mode": "relative64", "step": 0.25})}
    path = tmp_path / "midi-learned.toml"
    write_learned(path, mappings)
    assert tomllib.loads(path.read_text())["midi"]["cc"]["21"]["target"] == "latent/3"
    assert read_learned(path, DIM) == mappings
    path.write_text(dumps(mappings).replace('"latent/3"', '"volume"'))
    assert set(read_learned(path, DIM)) == {2, 7, 16}  # the bad one is skipped, the rest kept
    path.write_text("not [toml")
    assert read_learned(path, DIM) == {}


def test_cc_buttons_act_on_the_press_only():
    router = Router(settings({"button": {"41": "play", "42": "stop"}, "cc": {"1": "gain"}}))
    assert router.feed([(cc(42, 127), 0.0)]) == [c.Stop()]
    assert router.feed([(cc(42, 127), 0.1), (cc(42, 0), 0.2)]) == []  # held, then released
    assert router.feed([(cc(41, 127), 0.3), (cc(41, 0), 0.4), (cc(41, 100), 0.5)]) == [c.Play(), c.Play()]
    with pytest.raises(ConfigError, match="midi.button.1: CC 1 is a knob"):
        settings({"button": {"1": "play"}, "cc": {"1": "gain"}})


def test_the_clock_option_in_the_file(tmp_path):
    from vamen.server.config import read_config

    path = tmp_path / "vamen.toml"
    path.write_text('clock = "midi"\n[midi]\nport = "x"\n')
    assert read_config(path)["clock"] == "midi"
    path.write_text('clock = "drum"\n')
    with pytest.raises(ConfigError, match="unknown clock 'drum'; clocks are internal, midi"):
        read_config(path)
