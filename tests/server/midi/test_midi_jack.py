"""MIDI for real: a controller on JACK MIDI sends bytes, a running engine follows.

The controller is a python-rtmidi virtual output on the JACK dummy server
(``vamen-test-ctl``); the engine finds it by that substring, as it would a
nanoKONTROL. The engine runs its threads against a timer output, so the
player counts blocks in real time without a sound card.
"""
from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest

from waiting import wait_for

pytestmark = pytest.mark.jack

JACK_MIDI = "mido.backends.rtmidi/UNIX_JACK"
RATE = 24000
PORT = "vamen-test-ctl"


class Controller:
    """A MIDI controller on JACK: a virtual output port that sends raw bytes."""

    def __init__(self, name: str = PORT):
        self.name = name
        self.lock = threading.Lock()  # rtmidi's JACK output has one writer at a time
        self.out = None
        self.plug()

    def plug(self):
        import rtmidi

        self.out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="vamen-tests-ctl")
        self.out.open_virtual_port(self.name)

    def unplug(self):
        """As a USB cable pulled out: the port and its client go (rtmidi deletes virtual ports so)."""
        self.out.close_port()
        self.out.delete()
        self.out = None

    def send(self, *messages):
        with self.lock:
            for message in messages:
                self.out.send_message(list(message))

    def cc(self, number, value, channel=0):
        self.send([0xB0 | channel, number, value])

    def close(self):
        if self.out is not None:
            self.unplug()


@pytest.fixture
def controller(jack, monkeypatch):
    monkeypatch.setenv("MIDO_BACKEND", JACK_MIDI)
    ctl = Controller()
    yield ctl
    ctl.close()


@pytest.fixture(scope="module")
def model(tiny_model):
    from vamen.model.loopmodel import LoopModel

    return LoopModel.load(tiny_model, "cpu")


def start_engine(model, tmp_path, config: str, **options):
    from vamen.server.engine import Engine
    from vamen.server.options import ServeOptions
    from vamen.server.audio.output import TimerOutput

    path = tmp_path / "vamen.toml"
    path.write_text(config)
    values = dict(sinks=(), sample_rate=RATE, osc_port=0, presets=tmp_path / "p.json", fresh=True,
                  config=path, midi=PORT)
    values.update(options)
    engine = Engine(ServeOptions(**values), model,
                    output_factory=lambda player: TimerOutput(player, 256)).start()
    try:
        wait_for(lambda: engine.midi.connected is not None, 5, "the engine to open the MIDI input")
    except AssertionError:
        engine.close()
        raise
    return engine


def latent_raw(value: float) -> int:
    return int(round((value + 3) / 6 * 127))


def knob(ctl, engine, number, value, index, expected, channel=0):
    """Turn a knob from where the state is to ``value`` (catching it first: soft takeover)."""
    here = latent_raw(float(engine.control.target[index]))
    for raw in (here, value):
        ctl.cc(number, raw, channel)
        time.sleep(0.02)
    wait_for(lambda: abs(engine.control.target[index] - expected) < 1e-6, 3, f"latent {index} = {expected}")


MAPPINGS = """
[midi]
[midi.cc]
1 = { target = "latent/0", min = -3, max = 3 }
7 = { target = "gain", min = 0, max = 1.5, curve = "exp" }
16 = { target = "latent/3", mode = "relative2c", step = 0.25 }
[midi.note]
36 = "preset/load verse"
37 = "random"
"""


def test_knobs_and_pads_move_the_state_and_presets_land_on_the_bar(controller, model, tmp_path):
    from vamen.server.ops.presets import PresetStore

    dim = model.latent_dim
    PresetStore(tmp_path / "p.json").save("verse", np.full(dim, 1.25))
    engine = start_engine(model, tmp_path, MAPPINGS, quantize=4.0)
    try:
        start = float(engine.control.target[3])  # the model's centre
        knob(controller, engine, 1, 127, 0, 3.0)
        controller.send([0xB0, 16, 1], [16, 1], [16, 1])  # an encoder, in running status
        wait_for(lambda: abs(engine.control.target[3] - (start + 0.75)) < 1e-6, 3, "three nudges")
        controller.cc(7, 0)  # far from the gain: soft takeover holds it
        time.sleep(0.3)
        assert engine.control.gain == 1.0
        asked = engine.now_beat()
        controller.send([0x90, 36, 100], [0x80, 36, 0])
        wait_for(lambda: np.allclose(engine.control.target, 1.25), 3, "the preset")
        trajectory = engine.control.trajectory
        beats = asked + np.arange(0, 8, 1 / 32)
        landed = next(b for b in beats if np.allclose(trajectory.at(b), 1.25, atol=1e-4))
        assert landed % 4 < 1 / 32 + 1e-9, f"the preset landed at beat {landed}, not on a bar line"
        assert not np.allclose(trajectory.at(landed - 1 / 32), 1.25, atol=1e-4)
        # and the player follows: a loop of the preset is queued at that bar line
        wait_for(lambda: any(abs(c.start - engine.tempo_map.sample_at(landed // 4 * 4)) <= 256
                             for c in engine.player.schedule), 5, "a cue on the bar")
        assert engine.worker.error is None and engine.last_error == ""
    finally:
        engine.close()


CHOP_PADS = """
[midi]
[midi.note]
36 = "chop 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0"
37 = "chop"
"""


def test_a_pad_plays_its_chop_from_the_next_grid_step(controller, model, tmp_path):
    engine = start_engine(model, tmp_path, CHOP_PADS, quantize=0.25)
    try:
        asked = engine.now_beat()
        controller.send([0x99, 36, 100], [0x89, 36, 0])  # a drum pad, on MIDI channel 10
        wait_for(lambda: engine.control.chop is not None, 3, "the pad's chop")
        plan = engine.control.chops
        landed = plan.changes[-1][0]  # where the pattern takes over
        assert landed > asked and plan.at(landed - 1e-6) is None
        assert abs(landed / 0.25 - round(landed / 0.25)) < 1e-9, f"landed at beat {landed}, off the grid"
        assert plan.at(landed).steps == (0,) * 16
        # the loop queued from that step on is the chopped one
        wait_for(lambda: any(s.chop == plan.at(landed) and s.beat >= landed for s in engine.worker.slots),
                 5, "a chopped loop queued")
        controller.send([0x99, 37, 100], [0x89, 37, 0])
        wait_for(lambda: engine.control.chop is None, 3, "the plain loop again")
        assert engine.worker.error is None and engine.last_error == ""
    finally:
        engine.close()


SLICE_PADS = """
[midi]
[midi.note]
40 = "chop/hold 4"
"""


def test_a_slice_pad_strikes_at_the_next_grid_step_and_rolls_while_held(controller, model, tmp_path):
    engine = start_engine(model, tmp_path, SLICE_PADS, quantize=0.25)
    try:
        asked = engine.now_beat()
        controller.send([0x99, 40, 100])  # pressed, and held
        wait_for(lambda: engine.control.chops.hits.held(), 3, "the pad's slice")
        (held,) = engine.control.chops.hits.held()
        assert held.at > asked and abs(held.at / 0.25 - round(held.at / 0.25)) < 1e-9, held.at
        assert (held.begin, held.end, held.every) == (4 / 16, 5 / 16, 0.25)  # slice 4, every 16th
        # the loop queued from that step on is the struck bar: slice 4, again and again
        wait_for(lambda: any(s.chop is not None and hasattr(s.chop, "spans") and s.chop.spans
                             for s in engine.worker.slots), 5, "a struck bar queued")
        controller.send([0x89, 40, 0])  # let go
        wait_for(lambda: not engine.control.chops.hits.held(), 3, "the roll to stop")
        (let_go,) = engine.control.chops.hits.hits
        assert let_go.until is not None and let_go.until >= held.at
        assert engine.worker.error is None and engine.last_error == ""
    finally:
        engine.close()


def test_learn_binds_the_next_knob_saves_it_and_a_restart_keeps_it(controller, model, tmp_path):
    import socket

    from oscclient import message

    config = '[midi]\nport = "vamen-test-ctl"\n'
    engine = start_engine(model, tmp_path, config, midi=None)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:  # as a performer would, over OSC
            sock.sendto(message("/vamen/midi/learn", "latent/2").dgram, ("127.0.0.1", engine.osc.port))
        wait_for(lambda: engine.control.midi_learn_target == "latent/2", 3, "the learn request")
        controller.cc(21, 100, channel=3)
        # (the binding clears the request, then saves, then reports what it bound)
        wait_for(lambda: engine.health()["midi_learned"] == "CC 21 channel 3 -> latent/2", 3, "the binding")
        assert engine.control.midi_learn_target is None
        learned = (tmp_path / "midi-learned.toml").read_text()
        assert "21 = {" in learned and 'target = "latent/2"' in learned and "channel = 3" in learned
        assert (tmp_path / "vamen.toml").read_text() == config  # the performer's file is untouched
        knob(controller, engine, 21, 127, 2, 3.0, channel=3)
    finally:
        engine.close()
    again = start_engine(model, tmp_path, config, midi=None)
    try:
        assert again.control.target[2] == np.float32(model.prior[0][2])  # a new start: the centre
        knob(controller, again, 21, 0, 2, -3.0, channel=3)
    finally:
        again.close()


def _cli(args, result):
    from click.testing import CliRunner

    from vamen.server.cli import main

    result.append(CliRunner().invoke(main, args))


def test_the_learn_command_talks_to_the_server(controller, model, tmp_path):
    engine = start_engine(model, tmp_path, "")
    try:
        result: list = []
        cli = threading.Thread(target=_cli, args=(["midi", "learn", "gain", "--osc-port",
                                                   str(engine.osc.port), "--json"], result))
        cli.start()
        wait_for(lambda: engine.control.midi_learn_target == "gain", 5, "the CLI's learn request")
        controller.cc(9, 64)
        cli.join(10)
        assert result and result[0].exit_code == 0, result and result[0].output
        assert '"learned": "CC 9 channel 0 -> gain"' in result[0].output
    finally:
        engine.close()


def test_the_learn_command_without_a_server_writes_the_file(controller, tmp_path):
    import socket
    import tomllib

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # a port nobody answers on
        s.bind(("127.0.0.1", 0))
        idle = s.getsockname()[1]
    config = tmp_path / "vamen.toml"
    config.write_text('[midi]\nport = "vamen-test-ctl"\n')
    result: list = []
    cli = threading.Thread(target=_cli, args=(["midi", "learn", "walk/depth", "--config", str(config),
                                               "--osc-port", str(idle)], result))
    cli.start()
    deadline = time.monotonic() + 10
    while cli.is_alive() and time.monotonic() < deadline:
        controller.cc(30, 5, channel=1)
        time.sleep(0.1)
    cli.join(5)
    assert result and result[0].exit_code == 0, result and result[0].output
    assert "CC 30 channel 1 -> walk/depth" in result[0].output
    table = tomllib.loads((tmp_path / "midi-learned.toml").read_text())["midi"]["cc"]
    assert table["30"]["target"] == "walk/depth" and table["30"]["channel"] == 1


class ClockSender(threading.Thread):
    """A drum machine's MIDI clock: 24 ticks per beat, on time by the wall clock."""

    def __init__(self, ctl, bpm):
        super().__init__(daemon=True)
        self.ctl, self.interval = ctl, 60.0 / bpm / 24
        self.ticks = 0
        self.start_at: float | None = None  # time.time() of the Start message
        self._start = threading.Event()
        self._halt = threading.Event()

    def send_start(self):
        self._start.set()

    def run(self):
        due = time.monotonic()
        while not self._halt.is_set():
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if self._start.is_set() and self.start_at is None and self.ticks % 24 == 0:
                # where this tick belongs on the clock's grid (the thread may wake late; vamen
                # follows the grid the ticks keep, not one late tick)
                self.start_at = time.time() - (time.monotonic() - due)
                self.ctl.send([0xFA])  # Start, then the tick that is beat 0
            self.ctl.send([0xF8])
            self.ticks += 1
            due += self.interval

    def stop(self):
        self._halt.set()
        self.join(2)


def test_an_external_clock_leads_tempo_and_bar(controller, model, tmp_path):
    engine = start_engine(model, tmp_path, "", clock="midi")
    clock = ClockSender(controller, 128.0)
    try:
        assert engine.control.tempo == 120.0
        clock.start()
        wait_for(lambda: clock.ticks >= 2 * 96, 10, "two bars of clock")
        wait_for(lambda: abs(engine.control.tempo - 128.0) < 0.5, 3,
                 "the tempo to follow the clock to 128 BPM")
        wait_for(lambda: abs(engine.tempo_map.tempo_at(engine.now_beat()) - 128.0) < 0.5, 3,
                 "the tempo map to follow")
        controller.send([0xFC])  # Stop
        wait_for(lambda: not engine.control.playing, 3, "stop")
        clock.send_start()
        wait_for(lambda: clock.start_at is not None and engine.control.playing, 3, "start")
        time.sleep(0.5)
        beat = engine.tempo_map.beat_at(engine.sample_at_time(clock.start_at))
        phase = beat % 4
        assert min(phase, 4 - phase) < 0.08, f"the Start fell on beat {beat:.3f}, not on a bar line"
        time.sleep(1.0)  # a few beats on, it is still in phase
        beat = engine.tempo_map.beat_at(engine.sample_at_time(clock.start_at))
        assert min(beat % 4, 4 - beat % 4) < 0.08
        assert abs(engine.control.tempo - 128.0) < 0.5
    finally:
        clock.stop()
        engine.close()


def test_unplug_replug_and_garbage(controller, model, tmp_path, caplog):
    engine = start_engine(model, tmp_path, MAPPINGS)
    try:
        knob(controller, engine, 1, 127, 0, 3.0)
        blocks = engine.player.blocks
        with caplog.at_level(logging.WARNING, logger="vamen"):
            controller.unplug()
            wait_for(lambda: engine.midi.connected is None, 3, "the engine to notice")
            time.sleep(1.2)  # a few scans while it is gone: said once, not every time
            assert engine.player.blocks > blocks + 50  # the audio never stopped
            controller.plug()
            wait_for(lambda: engine.midi.connected is not None, 3, "the engine to re-open it")
            # (it says so just after re-opening, from its own thread)
            wait_for(lambda: any(r.getMessage().endswith("is back") for r in caplog.records), 3,
                     "the engine to say it is back")
        gone = [r for r in caplog.records if "went away" in r.getMessage()]
        back = [r for r in caplog.records if r.getMessage().endswith("is back")]
        assert len(gone) == 1 and len(back) == 1
        knob(controller, engine, 1, 0, 0, -3.0)  # the knob works again (caught again first)

        # garbage: stray data, undefined status bytes, an unterminated sysex, a sysex flood
        controller.send([5, 6, 7], [0xF4], [0xFD], [0xF0, 1, 2], [0xF7], [0xB0, 1], [0xF5, 1])
        for i in range(200):
            controller.send([0xF0] + [0x11] * 500 + [0xF7])
            if i % 8 == 7:
                time.sleep(0.006)  # JACK carries a period's worth at a time
        time.sleep(0.3)  # the sender's own buffer drains (a stalled jackd can fill it)
        controller.send([0xF0, 0x7E, 0xB0, 1, 4, 0xF7])  # a CC that interrupts a sysex still counts
        wait_for(lambda: abs(engine.control.target[0] - (-3 + 6 * 4 / 127)) < 1e-6, 3, "the CC in the sysex")
        knob(controller, engine, 1, 127, 0, 3.0)
        controller.send([0xB0, 1, 120], [1, 110], [1, 100])  # running status across packets
        wait_for(lambda: abs(engine.control.target[0] - (-3 + 6 * 100 / 127)) < 1e-6, 3, "running status")
        assert engine.worker.error is None and engine.last_error == ""
        assert engine.player.blocks > blocks + 150
        assert engine.health()["midi_input"].endswith(PORT)
    finally:
        engine.close()


def test_feedback_echoes_what_moved_by_other_means(controller, model, tmp_path):
    import rtmidi

    from vamen.server.core import commands as c

    lights = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="vamen-tests-leds")
    lights.open_virtual_port("vamen-test-leds")
    try:
        config = MAPPINGS.replace("[midi]\n", '[midi]\nfeedback = "test-leds"\n')
        engine = start_engine(model, tmp_path, config)
        try:
            wait_for(lambda: engine.midi.feedback_port is not None, 3, "the feedback port")
            engine.commands.put(c.SetCoord(0, 1.5))  # as an OSC client would move it
            engine.commands.put(c.Gain(0.5))
            seen = {}
            gain = engine.midi.settings.cc[7]

            def lit():
                while (got := lights.get_message()) is not None:
                    status, number, value = got[0]
                    seen[number] = value
                # the two commands may be echoed apart: the gain's ring may show 1.0 first
                return seen.get(1) == latent_raw(1.5) and seen.get(7) == gain.raw(0.5)

            wait_for(lit, 3, "the CC values on the feedback port")
            time.sleep(0.3)
            lit()
            seen.clear()
            # a knob swept up and back: what it sends is not echoed back to it, nor the value it
            # had a moment before (a motor fader would be pulled back against the hand)
            for value in [*range(96, 128), *range(127, 60, -1)]:
                controller.cc(1, value)
                time.sleep(0.004)
            time.sleep(1.0)  # and once it is still, the state it set is what it shows: no correction
            lit()
            assert 1 not in seen, seen
            assert engine.control.target[0] == pytest.approx(-3 + 6 * 61 / 127)
        finally:
            engine.close()
    finally:
        lights.close_port()
        lights.delete()
