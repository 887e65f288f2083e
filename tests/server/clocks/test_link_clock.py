"""The Link clock on the offline clock: an in-memory Link session, the test playing the sound card.

The session (``tests/linkfake.py``) has Link's timeline arithmetic; the
engine is real (a tiny model, the worker rendering between blocks). Time is
the test's: each block the "sound card" calls the player at exactly
``T0 + position / RATE`` and the follower looks twice a block, so the
figures are exact and nothing sleeps. A downbeat is *heard* at the time the
callback writes it plus the output latency plus ``link_offset_ms``; the
assertions put those times on the session's bar lines.
"""
import pytest

from vamen.model.loopmodel import LoopModel
from vamen.server.core import commands as c
from vamen.server.clocks.link import TOLERANCE, LinkClock, SampleClock

from linkfake import FakeLink, Session, downbeat_error
from offline import BLOCK, RATE, offline_engine

T0 = 1000.0  # seconds on the test's clock when the first block is written


@pytest.fixture(scope="module")
def model(tiny_model):
    return LoopModel.load(tiny_model, "cpu")


@pytest.fixture
def engine(model, tmp_path):
    e = offline_engine(model, tmp_path, fresh=True)
    yield e
    e.close()


class Rig:
    """An engine, a Link session on the test's clock, and vamen's Link clock between them."""

    def __init__(self, engine, peers: int = 1, offset_ms: float = 0.0, phase: float = 0.0):
        self.engine = engine
        self.t = T0
        self.session = Session(lambda: self.t, 120.0)
        self.peers = [FakeLink(self.session, 120.0) for _ in range(peers)]
        self.session.beat0 = phase  # the session's bar lines are not vamen's
        engine.clock.close()
        self.clock = LinkClock(lambda bpm: FakeLink(self.session, bpm), offset_ms,
                               now=lambda: self.t)
        engine.clock = self.clock.start(engine, background=False)

    @property
    def follower(self):
        return self.clock.follower

    def run(self, seconds: float) -> None:
        e = self.engine
        for _ in range(int(seconds * RATE / BLOCK)):
            self.t = T0 + e.player.position / RATE  # the callback runs now
            e.step()  # the control thread's turn (the clock looks) follows the block
            self.t += BLOCK / RATE / 2
            e.turn()  # and once more in the middle of the next
            self.t += BLOCK / RATE / 2

    def heard(self, sample: float) -> float:
        """Session microseconds when ``sample`` is heard."""
        e = self.engine
        latency = e.output.latency + self.clock.offset_ms / 1000.0
        return (T0 + sample / RATE + latency) * 1e6

    def bar_errors(self) -> list[float]:
        """Seconds from each queued loop's downbeats to the session's nearest bar line."""
        now = self.engine.player.position
        errors = []
        for cue in self.engine.player.schedule:
            first = cue.bar + -(-(max(cue.start, now) - cue.bar) // cue.length) * cue.length
            errors.append(downbeat_error(self.session, self.heard(first)))
        return errors

    def peer_sets_tempo(self, bpm: float, ahead: float = 0.0) -> None:
        """A peer changes the tempo, pivoting ``ahead`` seconds from now (Link keeps that beat)."""
        self.session.set_tempo(bpm, self.session.micros() + int(ahead * 1e6))


def assert_on_the_bar(rig, within=TOLERANCE + 2 / RATE):
    errors = rig.bar_errors()
    assert errors, "nothing queued"
    worst = max(errors, key=abs)
    assert abs(worst) <= within, f"a downbeat is heard {worst * 1000:+.2f} ms from the session's bar line"


def test_vamen_takes_the_session_bar_and_follows_a_peer_tempo(engine):
    rig = Rig(engine, phase=1.3)  # the session's bar starts 1.3 beats from vamen's
    assert abs(rig.bar_errors()[0]) > 0.1  # not by chance
    renders = engine.worker.renders
    rig.run(1.5)
    assert_on_the_bar(rig)
    assert engine.worker.renders == renders  # moving bar lines needs no new audio
    health = engine.health()
    assert health["clock"] == "link" and health["link_peers"] == 1 and health["link_tempo"] == 120.0
    assert abs(health["link_phase_ms"]) <= 1.0
    assert engine.status_line().endswith("link 1 peer")
    commits = rig.session.commits
    rig.peer_sets_tempo(137.0)
    rig.run(2.0)
    assert abs(engine.control.tempo - 137.0) < 1e-6
    assert rig.session.commits == commits  # followed, not proposed back
    assert engine.tempo_map.tempo_at(engine.now_beat()) == pytest.approx(137.0)
    assert_on_the_bar(rig)
    # the loops are rendered at the session's tempo: a bar lasts 4 beats of 137 BPM
    assert engine.player.schedule[-1].length == round(4 * 60 / 137 * RATE)
    assert engine.health()["link_aligns"] <= 3  # one to find the bar, one for the tempo (+1 spare)
    assert engine.player.starved == 0


def test_output_latency_and_the_offset_are_heard_on_the_bar(engine):
    engine.output.latency = 0.0213
    rig = Rig(engine, offset_ms=4.0, phase=0.7)
    rig.run(1.5)
    assert_on_the_bar(rig)
    # so the downbeat leaves vamen 25.3 ms before the session's bar line
    now = engine.player.position
    cue = engine.player.schedule[-1]
    first = cue.bar + -(-(max(cue.start, now) - cue.bar) // cue.length) * cue.length
    written = (T0 + first / RATE) * 1e6
    assert downbeat_error(rig.session, written) == pytest.approx(-0.0253, abs=TOLERANCE + 2 / RATE)


def test_a_tempo_set_in_vamen_goes_to_the_session_once_and_neither_side_jumps(engine):
    rig = Rig(engine, phase=2.2)
    rig.run(1.5)
    assert_on_the_bar(rig)
    here = engine.player.position
    before = engine.tempo_map.beat_at(here)
    commits = rig.session.commits
    aligns = engine.health()["link_aligns"]
    engine.take(c.Tempo(137.0))  # as /vamen/tempo 137 would
    rig.run(2.0)
    assert rig.session.tempo == pytest.approx(137.0)
    assert rig.session.commits == commits + 1  # proposed once, never echoed back
    assert engine.health()["link_aligns"] == aligns + 1  # vamen changed where the session pivoted
    assert engine.tempo_map.beat_at(here) == pytest.approx(before, abs=1e-9)  # no bar moved
    assert_on_the_bar(rig)


def test_a_pivot_still_ahead_is_met_there_without_a_jump(engine):
    rig = Rig(engine, phase=0.4)
    rig.run(1.5)
    here = engine.player.position
    before = engine.tempo_map.beat_at(here)
    rig.peer_sets_tempo(150.0, ahead=0.45)  # as another vamen proposes: where it can still change
    pivot = (rig.session.time0 / 1e6 - T0 - engine.output.latency) * RATE
    rig.run(2.0)
    assert engine.tempo_map.beat_at(here) == pytest.approx(before, abs=1e-9)
    changed = engine.tempo_map.samples[engine.tempo_map.tempos.index(150.0)]
    assert abs(changed - pivot) <= 2
    assert_on_the_bar(rig)


def test_alone_vamen_keeps_its_bar_and_the_session_takes_it(engine):
    rig = Rig(engine, peers=0, phase=1.0)
    here = engine.player.position
    before = engine.tempo_map.beat_at(here)
    rig.run(1.5)
    assert engine.tempo_map.beat_at(here) == pytest.approx(before, abs=1e-9)
    assert engine.health()["link_aligns"] == 0 and engine.health()["link_peers"] == 0
    assert_on_the_bar(rig)


def test_start_and_stop_go_both_ways(engine):
    rig = Rig(engine)
    rig.run(0.5)
    assert engine.control.playing and not rig.session.playing
    rig.session.playing, rig.session.playing_time = True, rig.session.micros()
    rig.run(0.5)
    assert engine.control.playing
    rig.session.playing, rig.session.playing_time = False, rig.session.micros() + 200_000
    rig.run(1.5)
    assert not engine.control.playing
    engine.take(c.Play())
    rig.run(1.0)
    assert engine.control.playing and rig.session.playing
    engine.take(c.Stop())
    rig.run(1.0)
    assert not rig.session.playing


def test_sample_clock_sees_through_late_readings(rng):
    rate, block = 48000, 256  # a JACK card's figures
    clock = SampleClock(rate)
    t = 50.0
    for n in range(400):
        callback = t + n * block / rate
        for k in range(3):  # three looks a block, each late by up to a block and a half
            clock.add((n + 1) * block, callback + float(rng.uniform(0, 1.5 * block / rate)) + k * 1e-4)
    # the callback that writes block n runs at ``callback``: within 0.3 ms, not 8 ms
    n = 399
    assert clock.time_of(n * block) == pytest.approx(t + n * block / rate, abs=3e-4)
    assert clock.sample_at(clock.time_of(12345.0)) == pytest.approx(12345.0)


def test_switching_clocks_mid_performance(engine):
    pytest.importorskip("link", reason="the Link binding (pip install 'vamen[link]')")
    from vamen.server.core.commands import UseClock

    def run(seconds):
        engine.step(int(seconds * RATE / BLOCK))

    engine.take(UseClock("link"))
    assert engine.clock.name == "link" and "link_peers" in engine.health()
    link = engine.clock.link
    run(0.3)
    engine.take(UseClock("midi"))  # no MIDI input: refused, Link keeps the lead
    assert engine.clock.name == "link" and "MIDI input" in engine.last_error
    engine.take(UseClock("internal"))
    assert engine.clock.name == "internal" and not link.enabled
    run(0.3)
    assert engine.player.starved == 0 and engine.worker.late == 0


def test_the_ensemble_example_is_two_link_instances_that_keep_apart():
    from pathlib import Path

    from vamen.server.config import read_config

    folder = Path(__file__).resolve().parents[3] / "patches" / "link"
    drums, bass = (read_config(folder / name) for name in ("drums.toml", "bass.toml"))
    assert drums["clock"] == bass["clock"] == "link"
    assert drums["osc_port"] != bass["osc_port"]
    assert drums["presets"].parent != bass["presets"].parent  # session.json sits beside presets


def test_config_and_command_line_choose_the_clock(tmp_path):
    from click.testing import CliRunner

    from vamen.server.cli import main
    from vamen.server.config import ConfigError, read_config

    path = tmp_path / "vamen.toml"
    path.write_text("link = true\nlink-offset-ms = 12.5\n")
    assert read_config(path) == {"clock": "link", "link_offset_ms": 12.5}
    path.write_text('clock = "link"\n')
    assert read_config(path) == {"clock": "link"}
    path.write_text('link = "yes"\n')
    with pytest.raises(ConfigError, match="link must be true or false"):
        read_config(path)
    path.write_text('clock = "ableton"\n')
    with pytest.raises(ConfigError, match="clocks are internal, midi, link"):
        read_config(path)
    result = CliRunner().invoke(main, ["serve", "--link", "--clock", "midi"])
    assert result.exit_code == 2 and "--link and --clock midi disagree" in result.output
