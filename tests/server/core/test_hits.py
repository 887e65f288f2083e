"""Hits: the bar struck as a one-bar sample (vamen.server.core.hits), on a loop whose
every sample says where in the bar it came from."""
import numpy as np
import pytest

from vamen.server.core.chops import Chop, ChopPlan
from vamen.server.core.hits import Hit, HitPlan

RATE = 16000
LENGTH = 4 * 4000  # one bar, 4000 samples a beat
BEAT = LENGTH // 4


@pytest.fixture
def ramp():
    """A bar whose sample k is k + 1: what a cut plays says where it read."""
    return np.arange(1, LENGTH + 1, dtype=np.float32)


def plan(*hits):
    p = HitPlan()
    for h in hits:
        p = p.plus(h, 0.0)
    return p


def test_a_slice_on_each_beat_plays_that_slice_then_silence(ramp):
    hits = plan(*(Hit(float(b), 0.0, 1 / 16) for b in range(4)))
    out = hits.bar(0.0).apply(ramp, RATE)
    sixteenth = LENGTH // 16
    for b in range(4):
        piece = out[b * BEAT:b * BEAT + sixteenth]
        middle = slice(64, -64)  # away from the 2 ms fades
        np.testing.assert_array_equal(piece[middle], ramp[:sixteenth][middle])
        assert np.all(out[b * BEAT + sixteenth:(b + 1) * BEAT] == 0)  # the rest of the beat is silent
        assert 0 < piece[0] < ramp[0] * 0.5 + 1  # faded in: starts near zero


def test_consecutive_slices_in_order_are_the_loop_itself(ramp):
    # Tidal's chop 16, bar after bar: strikes that each carry on where the last stopped
    hits = plan(*(Hit(k / 4, k % 16 / 16, (k % 16 + 1) / 16) for k in range(-16, 32)))
    np.testing.assert_array_equal(hits.bar(0.0).apply(ramp, RATE), ramp)


def test_negative_speed_plays_backwards_and_speed_two_twice_as_fast(ramp):
    back = plan(Hit(0.0, 0.0, 0.25, speed=-1.0)).bar(0.0).apply(ramp, RATE)
    assert back[100] > back[200] > back[BEAT - 100]  # reading from the end toward the start
    fast = plan(Hit(0.0, 0.0, 0.5, speed=2.0)).bar(0.0).apply(ramp, RATE)
    assert np.all(fast[2 * BEAT:] == 0)  # half a bar at twice the speed: one beat... of two
    np.testing.assert_allclose(fast[500:600], ramp[1000:1200:2])


def test_legato_and_cut_groups_shorten_a_strike(ramp):
    short = plan(Hit(0.0, 0.0, 1.0, beats=1.0)).bar(0.0).apply(ramp, RATE)
    assert np.all(short[BEAT:] == 0) and short[BEAT // 2] != 0
    cut = plan(Hit(0.0, 0.0, 1.0, cut=1), Hit(2.0, 0.5, 0.75, cut=1)).bar(0.0).apply(ramp, RATE)
    # the first strike stops where the second begins, rather than sounding under it
    np.testing.assert_array_equal(cut[2 * BEAT + 100:3 * BEAT - 100], ramp[2 * BEAT + 100:3 * BEAT - 100])
    assert np.all(cut[3 * BEAT:] == 0)


def test_a_held_slice_rolls_until_released(ramp):
    held = HitPlan().plus(Hit(1.0, 0.0, 1 / 16, every=0.25), 0.0)
    out = held.bar(0.0).apply(ramp, RATE)
    sixteenth = LENGTH // 16
    assert np.all(out[:BEAT] == 0)
    for k in range(4, 16):
        np.testing.assert_array_equal(out[k * sixteenth + 64:(k + 1) * sixteenth - 64], ramp[64:sixteenth - 64])
    assert held.held()
    released = held.released(2.0)
    assert not released.held()
    out = released.bar(0.0).apply(ramp, RATE)
    assert out[BEAT + 500] != 0 and np.all(out[2 * BEAT:] == 0)


def test_hits_own_their_bar_and_the_next_then_the_loop_comes_back():
    p = ChopPlan().then(0.0, Chop((0, 0, 0, 0)), 0.0).with_hits(plan(Hit(5.0, 0.0, 0.25)))
    assert p.cut_at(1.0) == Chop((0, 0, 0, 0))  # before the first hit: the pattern
    assert len(p.cut_at(4.0).spans) == 1  # the bar with the hit
    assert p.cut_at(8.5).spans == ()  # the bar after: silent, as after TidalCycles' hush
    assert p.cut_at(12.0) == Chop((0, 0, 0, 0))  # then the loop, as it was cut before
    assert p.cut_at(4.0).describe() == "hits 1"


def test_a_strike_over_the_bar_line_carries_on_in_the_next_bar(ramp):
    p = plan(Hit(3.5, 0.0, 0.25))  # one beat long, from half past the last beat
    first, second = p.bar(0.0).apply(ramp, RATE), p.bar(4.0).apply(ramp, RATE)
    joined = np.concatenate([first[3 * BEAT + BEAT // 2:], second[:BEAT // 2]])
    np.testing.assert_array_equal(joined[100:-100], ramp[100:BEAT - 100])


@pytest.mark.parametrize("kwargs, needle", [
    (dict(begin=0.5, end=0.25), "must not be after end"),
    (dict(begin=-0.1), "fractions of the bar"),
    (dict(speed=float("nan")), "finite"),
    (dict(speed=100.0), "speed must be within"),
    (dict(beats=0.0), "above 0"),
    (dict(cut="a"), "whole number"),
])
def test_bad_hits_say_why(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        Hit(0.0, **kwargs)


def test_memory_is_bounded_under_a_flood():
    p = HitPlan()
    for k in range(5000):
        p = p.plus(Hit(k / 64, 0.0, 1 / 64), k / 64)
    assert len(p.hits) <= 2 * 4 * 64 + 8  # only the last two bars' are remembered


@pytest.mark.parametrize("tempo", [60.0, 120.0, 200.0])
def test_hits_are_click_free_at_any_tempo(tonal_bar, rng, tempo):
    loop = tonal_bar(rng, tempo, RATE)
    # every kind of edge: slices on an odd grid, backwards, slow and fast, a held roll, cut groups
    # and strikes over the bar line
    hits = plan(Hit(0.0, 0.0, 1 / 16), Hit(0.3, 5 / 16, 6 / 16, speed=-1.0), Hit(0.9, 0.5, 0.75, speed=0.5),
                Hit(1.7, 0.2, 0.3, speed=3.0, cut=1), Hit(1.8, 0.6, 0.7, cut=1), Hit(2.0, 0.75, 0.8125, every=0.25),
                Hit(3.6, 0.1, 0.3))
    hits = hits.released(3.0)
    first, second = hits.bar(0.0).apply(loop, RATE), hits.bar(4.0).apply(loop, RATE)
    played = np.concatenate([first, second])
    own = np.abs(np.diff(loop)).max()
    assert np.abs(np.diff(played)).max() <= own + 1e-6, (np.abs(np.diff(played)).max(), own)
    assert np.abs(first[int(0.26 * len(loop) / 4):int(0.29 * len(loop) / 4)]).max() == 0.0  # between strikes
