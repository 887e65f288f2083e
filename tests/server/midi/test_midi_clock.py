"""MIDI clock without ports: tempo from synthetic tick times, transport, and the engine's re-anchoring."""
from __future__ import annotations

import time

import numpy as np
import pytest

from vamen.server.core import commands as c
from vamen.server.midi.clock import TICKS_PER_BEAT, ClockFollower, TickTempo
from vamen.server.midi.commands import Align

from offline import BLOCK, RATE, offline_engine  # noqa: E402

PERIOD = 256 / 48000  # JACK delivers MIDI once per audio period


def ticks(bpm: float, count: int, rng, start: float = 100.0, jitter: float = 0.001) -> np.ndarray:
    """Tick arrival times: exact times plus sender jitter, delivered at the next audio period."""
    exact = start + np.arange(count) * 60.0 / bpm / TICKS_PER_BEAT
    sent = exact + rng.uniform(0, jitter, count)
    return np.maximum.accumulate(np.ceil(sent / PERIOD) * PERIOD)


@pytest.mark.parametrize("bpm", [72.0, 128.0, 174.0, 240.0])
def test_tempo_within_half_a_bpm_after_two_bars(bpm, rng):
    est = TickTempo()
    for t in ticks(bpm, 2 * 4 * TICKS_PER_BEAT, rng):
        est.add(float(t))
    assert abs(est.bpm - bpm) < 0.5
    assert abs(est.bpm - bpm) < 0.15  # in fact much closer once a bar is in the window


def test_an_estimate_after_one_beat_and_none_before(rng):
    est = TickTempo()
    times = ticks(128.0, 30, rng)
    for t in times[:23]:
        est.add(float(t))
    assert est.bpm is None
    for t in times[23:]:
        est.add(float(t))
    assert abs(est.bpm - 128.0) < 2.0


def test_a_tempo_jump_is_followed_within_a_beat_and_a_half(rng):
    est = TickTempo()
    first = ticks(120.0, 192, rng)
    for t in first:
        est.add(float(t))
    second = ticks(140.0, 36, rng, start=float(first[-1]) + 60 / 140 / 24)
    for t in second:
        est.add(float(t))
    assert abs(est.bpm - 140.0) < 1.0


def test_a_gap_restarts_the_fit(rng):
    est = TickTempo()
    for t in ticks(100.0, 96, rng):
        est.add(float(t))
    for t in ticks(150.0, 48, rng, start=200.0):
        est.add(float(t))
    assert abs(est.bpm - 150.0) < 1.0


def test_the_latest_tick_is_smoothed(rng):
    est = TickTempo()
    times = ticks(128.0, 400, rng)
    exact = 100.0 + np.arange(400) * 60 / 128 / 24
    fitted = []
    for t in times:
        est.add(float(t))
        fitted.append(est.latest)
    raw_error = (times - exact)[100:]
    fit_error = (np.array(fitted[100:]) - exact[100:])
    assert np.std(fit_error) < np.std(raw_error) / 3  # the period's jitter is smoothed away
    assert abs(np.mean(fit_error) - np.mean(raw_error)) < 0.0005  # and nothing is added


def follower(rng, bpm=128.0):
    f = ClockFollower(wall=lambda t: t + 1000.0)
    return f, ticks(bpm, 8 * 96, rng)


def test_a_steady_clock_sends_few_tempo_commands(rng):
    f, times = follower(rng)
    tempos = [cmd for t in times for cmd in f.feed("clock", float(t)) if isinstance(cmd, c.Tempo)]
    assert 1 <= len(tempos) <= 6
    assert abs(tempos[-1].bpm - 128.0) < 0.2
    assert all(round(cmd.bpm, 2) == cmd.bpm for cmd in tempos)


def test_start_aligns_beat_zero_and_every_beat_after(rng):
    f, times = follower(rng)
    for t in times[:96]:
        f.feed("clock", float(t))
    start = float(times[96]) - 0.001
    out = f.feed("start", start)
    assert out == [Align(0.0, 0.010, at=start + 1000.0), c.Play()]
    aligns = []
    for k, t in enumerate(times[96:]):
        aligns += [(k, cmd) for cmd in f.feed("clock", float(t)) if isinstance(cmd, Align)]
    assert [k for k, _ in aligns] == list(range(0, len(times) - 96, 24))
    assert [cmd.beat for _, cmd in aligns[:5]] == [0.0, 1.0, 2.0, 3.0, 4.0]
    delay = PERIOD / 2 + 0.0005  # ticks arrive at the next audio period after they are sent
    for k, cmd in aligns[4:]:  # on the fitted line: within a ms of the tick's mean arrival
        assert abs(cmd.at - 1000.0 - (100.0 + (96 + k) * 60 / 128 / 24) - delay) < 0.001


def test_stop_song_position_and_continue(rng):
    f, times = follower(rng)
    for t in times[:48]:
        f.feed("clock", float(t))
    f.feed("start", 1.0)
    assert f.feed("stop", 2.0) == [c.Stop()]
    assert f.feed("songpos", 3.0, pos=18) == []  # 18 sixteenths: beat 4.5
    out = f.feed("continue", 4.0)
    assert out == [Align(4.5, 0.010, at=1004.0), c.Play()]
    assert f.feed("sysex", 5.0) == []


# -- the engine's side: re-anchoring the tempo map -----------------------------------------

@pytest.fixture
def engine(tiny_model, tmp_path):
    from vamen.model.loopmodel import LoopModel

    e = offline_engine(LoopModel.load(tiny_model, "cpu"), tmp_path, fresh=True)
    yield e
    e.close()


def play(engine, seconds):
    engine.step(int(seconds * RATE / BLOCK))


def test_align_puts_the_sample_on_the_bar_and_replans_the_loops(engine):
    play(engine, 1.3)  # beat 2.6 at 120 BPM
    sample = engine.player.position + 1000
    before = engine.tempo_map.beat_at(sample)
    assert engine.align(sample, 0.0)
    after = engine.tempo_map.beat_at(sample)
    assert after % 4 == pytest.approx(0.0, abs=1e-9) or after % 4 == pytest.approx(4.0)
    assert abs(after - before) <= 2.0  # the nearest bar line, not a jump back to the start
    assert engine.tempo_map.tempo_at(after) == 120.0
    replanned_from = engine.player.position
    play(engine, 2.5)
    cues = [cue for cue in engine.player.schedule if cue.start >= replanned_from]
    assert cues
    for cue in cues:  # each new loop sits in its bar where the new grid says
        in_loop = (cue.start - cue.bar) % cue.length / cue.length * 4
        in_map = engine.tempo_map.beat_at(cue.start) % 4
        assert min(abs(in_loop - in_map), 4 - abs(in_loop - in_map)) < 0.01


def test_align_within_tolerance_leaves_the_map(engine):
    play(engine, 0.5)
    sample = engine.tempo_map.sample_at(4.0) + 50  # 50 samples late: 2 ms
    old = engine.tempo_map
    assert not engine.align(sample, 0.0, tolerance=0.005 * RATE)
    assert engine.tempo_map is old
    assert engine.align(sample, 0.0, tolerance=0.001 * RATE)
    assert engine.tempo_map.beat_at(sample) == pytest.approx(4.0)


def test_an_align_command_goes_through_the_queue_path(engine):
    play(engine, 0.7)
    at = time.time()
    engine.handle(Align(1.0, at=at))  # "now is beat 1 of the bar"
    beat = engine.tempo_map.beat_at(engine.sample_at_time(at))
    assert beat % 4 == pytest.approx(1.0, abs=0.01)
