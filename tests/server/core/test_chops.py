"""Chop patterns cut a rendered bar: what a performer hears, measured on the samples."""
import numpy as np
import pytest

from vamen.server.core.chops import Chop, ChopPlan

RATE = 48000


def sixteenths(x, n=16):
    edges = [round(k * len(x) / n) for k in range(n + 1)]
    return [x[a:b] for a, b in zip(edges, edges[1:])]


def test_the_plain_order_is_the_loop_itself(tonal_bar, rng):
    loop = tonal_bar(rng)
    for steps in (1, 8, 16, 64):
        np.testing.assert_array_equal(Chop(tuple(range(steps))).apply(loop, RATE), loop)


def test_sixteen_zeros_repeat_the_first_sixteenth(tonal_bar, rng):
    loop = tonal_bar(rng)
    out = Chop((0,) * 16).apply(loop, RATE)
    first = sixteenths(loop)[0]
    fade = int(0.002 * RATE)
    for piece in sixteenths(out):
        # the middle of each step is the first sixteenth, untouched; the edges fade
        np.testing.assert_allclose(piece[fade:-fade], first[fade:len(piece) - fade], atol=1e-6)


def test_reversed_order_plays_the_sixteenths_backwards_in_time_order(tonal_bar, rng):
    loop = tonal_bar(rng)
    out = Chop(tuple(range(15, -1, -1))).apply(loop, RATE)
    fade = int(0.002 * RATE)
    for got, want in zip(sixteenths(out), reversed(sixteenths(loop))):
        n = min(len(got), len(want))
        np.testing.assert_allclose(got[fade:n - fade], want[fade:n - fade], atol=1e-6)


def test_a_reversed_step_plays_its_slice_backwards(tonal_bar, rng):
    loop = tonal_bar(rng)
    out = Chop(tuple(range(16)), reverse=frozenset({3})).apply(loop, RATE)
    got, want = sixteenths(out)[3], sixteenths(loop)[3][::-1]
    fade = int(0.002 * RATE)
    np.testing.assert_allclose(got[fade:-fade], want[fade:-fade], atol=1e-6)
    np.testing.assert_array_equal(sixteenths(out)[7], sixteenths(loop)[7])  # the others untouched


def test_a_roll_repeats_the_start_of_its_slice(tonal_bar, rng):
    loop = tonal_bar(rng)
    out = Chop(tuple(range(16)), rolls=((4, 4),)).apply(loop, RATE)
    step = sixteenths(out)[4]
    quarter = len(step) // 4
    a, b = step[:quarter], step[quarter:2 * quarter]
    f = min(int(0.002 * RATE), quarter // 4)
    np.testing.assert_allclose(a[f:-f], b[f:-f], atol=1e-6)  # the same 1/64, twice


@pytest.mark.parametrize("tempo", [60.0, 120.0, 200.0])
def test_rests_are_silent_and_no_join_clicks(tonal_bar, rng, tempo):
    loop = tonal_bar(rng, tempo)
    pattern = Chop((0, -1, 5, 5, 15, 2, -1, 9, 12, 12, 3, 0, 7, -1, 14, 1), reverse=frozenset({2, 8}),
                   rolls=((10, 2), (15, 4)))
    out = pattern.apply(loop, RATE)
    parts = sixteenths(out)
    assert np.abs(parts[1]).max() == 0.0 and np.abs(parts[13]).max() == 0.0
    # around every join, no sample-to-sample jump larger than the loop's own largest
    own = np.abs(np.diff(loop)).max()
    edges = [round(k * len(out) / 64) for k in range(65)]  # every 1/64: roll joins too
    twice = np.concatenate([out, out])
    for e in edges:
        jumps = np.abs(np.diff(twice[len(out) + e - 50:len(out) + e + 50]))
        assert jumps.max() <= own + 1e-6, (e, jumps.max(), own)


@pytest.mark.parametrize("bad, why", [
    (dict(steps=()), "1 to 64 steps"),
    (dict(steps=(0,) * 65), "1 to 64 steps"),
    (dict(steps=(0, 4)), "step 1 must be a slice 0..1"),
    (dict(steps=(0, -2)), "step 1"),
    (dict(steps=(0, 1), reverse=frozenset({2})), "reversed step"),
    (dict(steps=(0, 1), rolls=((1, 0),)), "1 to 16 times"),
])
def test_a_bad_pattern_is_one_sentence(bad, why):
    with pytest.raises(ValueError, match=why):
        Chop(**bad)


def test_the_plan_says_which_pattern_plays_at_each_beat():
    a, b = Chop((0, 0)), Chop((1, 0))
    plan = ChopPlan().then(4.0, a, 1.0).then(8.0, b, 2.0).then(12.0, None, 3.0)
    assert [plan.at(x) for x in (0.0, 4.0, 7.9, 8.0, 12.0)] == [None, a, a, b, None]
    # what started before now is kept (it is still playing); a later change replaces what was to come
    assert plan.then(6.0, b, 5.0).at(8.0) == b and plan.then(6.0, b, 5.0).at(5.0) == a
